"""Runs the App under uvicorn: `python -m failclosed.app.commands.serve [--host H] [--port P]`.

Logs go to stderr as one JSON object per line. The default host is loopback: listening on
all interfaces (as the container does) has to be asked for.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any, TypedDict

import uvicorn

from failclosed.app.github.client import GitHubApp
from failclosed.app.receive.connections import HeaderDeadlineProtocol
from failclosed.app.receive.server import create_app
from failclosed.app.review.analyze import run_analysis
from failclosed.app.review.apply_fixes import run_apply_fixes
from failclosed.app.review.merge_group import run_merge_group
from failclosed.app.run.execute import Runner
from failclosed.app.run.queue import QueueError, SqliteJobQueue
from failclosed.app.run.worker import Workers
from failclosed.app.settings import Settings, SettingsError, get_settings

PROG = "failclosed serve"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
EXIT_BAD_SETTINGS = 2

# LogRecord attributes that are not `extra=` fields (uvicorn adds an ANSI-coloured copy).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, handler: logging.Handler | None = None) -> None:
    """Send every logger (uvicorn's too) to stderr, or `handler`, as JSON lines at `level`."""
    handler = handler or logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


# The event loop answering GitHub shares the GIL with the worker threads' analyses; at
# Python's default 5 ms switch interval a webhook waits several intervals behind them.
# bench/load.py measured p99 acknowledgements of ~105-120 ms at 5 ms and ~85 ms at 1 ms.
GIL_SWITCH_INTERVAL = 0.001


def configure_interpreter() -> None:
    """Let the event loop take the GIL back quickly from CPU-bound worker threads, and keep
    the garbage collector's full collections off what the process is made of: call it once
    everything is loaded and built, right before serving.

    A full collection walks every tracked object while holding the GIL: with the App's
    modules loaded (~130k objects), bench/load.py saw 100-260 ms pauses in a burst, every
    acknowledgement waiting behind them. `gc.freeze` moves what exists now to a permanent
    generation that collections skip (after one collection, so that no garbage is kept);
    what the process makes later is collected as usual."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()


class JobRunners(TypedDict):
    """The runner keywords `Workers` and `Distributed` take."""

    run: Runner
    apply_fixes: Runner
    merge_group: Runner


def job_runners(settings: Settings) -> JobRunners:
    """The analyze, apply-fixes and merge-group jobs, with the configured per-file budget
    (and, for the analyze job, the limit on a review's inline comments)."""
    budget = settings.file_budget_seconds
    return JobRunners(
        run=partial(
            run_analysis,
            file_budget_seconds=budget,
            max_inline_comments=settings.max_inline_comments,
        ),
        apply_fixes=partial(run_apply_fixes, file_budget_seconds=budget),
        merge_group=partial(run_merge_group, file_budget_seconds=budget),
    )


def serve(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, settings: Settings | None = None
) -> None:
    """Validate the settings, then serve the App until interrupted."""
    settings = settings if settings is not None else get_settings()
    settings.validate_for_serving()  # before touching the process's logging
    # The embedded queue's file is opened (and checked writable) before anything starts.
    queue = None if settings.queue_url else SqliteJobQueue(settings.queue_path)
    configure_logging(settings.log_level)
    github_app = GitHubApp(
        settings.app_id, settings.private_key_pem().get_secret_value(), settings.github_api_url
    )
    if queue is None:  # scale-out: this replica only accepts; `failclosed worker` runs
        from failclosed.app.run.distributed import Distributed

        assert settings.queue_url  # no embedded queue: the Redis mode's URL is set
        app = create_app(settings, Distributed(settings.queue_url))
        configure_interpreter()
        run_uvicorn(app, host, port)
        return
    workers = Workers(queue, github_app, threads=settings.workers, **job_runners(settings))
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown of the server, which stops the
    # workers: no new jobs, running ones finish (or are taken over after a short lease).
    app = create_app(settings, workers, on_shutdown=workers.stop)
    configure_interpreter()
    run_uvicorn(app, host, port)


# How `failclosed serve` runs uvicorn (bench/load.py too): our logging, no Server header,
# bounds on the connections still sending their headers (`app.receive.connections`: a time limit
# and a cap, which uvicorn itself does not have), and no access log: a JSON line per
# request written on the event loop, which every acknowledgement waits behind; each
# delivery is logged anyway ("webhook accepted" and the like, with its ids).
UVICORN_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "server_header": False,
    "http": HeaderDeadlineProtocol,
    "access_log": False,
}


def run_uvicorn(app: Any, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, with `UVICORN_OPTIONS`."""
    uvicorn.run(app, host=host, port=port, **UVICORN_OPTIONS)


def work(
    settings: Settings | None = None,
    metrics_port: int | None = None,
    metrics_host: str = DEFAULT_HOST,
) -> None:
    """`failclosed worker`: run the Redis mode's jobs until SIGTERM (see app.run.distributed)."""
    from failclosed.app.run.distributed import Distributed, run_worker_process

    settings = settings if settings is not None else get_settings()
    settings.validate_for_serving()
    if not settings.queue_url:
        raise SettingsError(
            [
                "FAILCLOSED_QUEUE_URL is not set: `failclosed worker` is for the Redis mode; "
                "the embedded mode runs its workers inside `failclosed serve`"
            ]
        )
    configure_logging(settings.log_level)
    github_app = GitHubApp(
        settings.app_id, settings.private_key_pem().get_secret_value(), settings.github_api_url
    )
    distributed = Distributed(settings.queue_url, github_app, **job_runners(settings))
    if metrics_port is not None:  # this process's job and GitHub counters, and the queue's
        from prometheus_client import start_http_server

        from failclosed.app import metrics

        metrics.watch_queue(distributed.counts)
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.REGISTRY)
    run_worker_process(distributed, settings.workers, 20.0)


def worker_main(argv: Sequence[str] | None = None) -> int:
    """`failclosed worker`; exit 2 with the list of problems when the settings are unsafe."""
    parser = argparse.ArgumentParser(
        prog="failclosed worker",
        description="Run the Redis mode's jobs (FAILCLOSED_QUEUE_URL) until SIGTERM.",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument("--metrics-host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    args = parser.parse_args(argv)
    try:
        work(metrics_port=args.metrics_port, metrics_host=args.metrics_host)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Serve the failclosed GitHub App.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve; exit 2 with the list of problems when the settings are unsafe, or with the
    reason when the queue file cannot be used (not writable, not a queue): bad
    configuration, as the CLI's exit status 2 means."""
    args = build_parser().parse_args(argv)
    try:
        serve(args.host, args.port)
    except (SettingsError, QueueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


if __name__ == "__main__":
    sys.exit(main())
