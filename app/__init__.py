"""The failclosed GitHub App: webhook -> job -> fetch PR -> analyze -> publish.

Data flows in that one direction, and the folders follow it:

- `receive/`: the HTTP service; a delivery becomes a `Job` and is queued.
- `run/`: the queues that keep jobs durable and the runtime that runs them.
- `github/`: what a job needs from GitHub (`port`) and the one module that talks to it
  (`client`).
- `review/`: what each kind of job does: fetch, analyse (through `analyzers`), publish.
- `commands/`: `failclosed` and its subcommands, and the GitHub Action's script.

Shared by all of them: `model` (what a job is), `settings`, `metrics`. `app/` never touches
libcst itself: it calls `analyzers`.
"""
