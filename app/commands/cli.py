"""The `failclosed` command: `setup` registers the GitHub App, `serve` runs it, `worker` runs
its jobs in the Redis mode, `jobs` shows its queue, everything else is the analyzer's.

The dispatch lives in `app/` because `analyzers/` must not know about the App; the
analyzer's own CLI (`scan`, `diff`, `rules`) is reached unchanged. `pip install failclosed`
is the analyzer alone (libcst): the App's commands need the `app` extra, and say so (exit 2)
when it is missing, before importing anything of the App.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence

APP_EXTRA_HINT = "pip install 'failclosed[app]'"

# The top-level modules of the `app` extra's packages ([project.optional-dependencies] in
# pyproject.toml) that the App imports; uvloop and httptools are optional for uvicorn.
APP_MODULES = (
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "unidiff",
    "httpx",
    "githubkit",
    "jwt",
    "dramatiq",
    "prometheus_client",
    "yaml",
    "dotenv",
)

APP_COMMANDS = ("setup", "serve", "worker", "jobs")


def missing_app_modules() -> list[str]:
    """The App's modules that cannot be imported here (found without importing them)."""
    missing = []
    for name in APP_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def app_command(name: str) -> Callable[[list[str]], int]:
    """The App command's entry point; its imports are the App's, so they come only now."""
    if name == "setup":
        from failclosed.app.commands.setup import main as setup_main

        return setup_main
    if name == "serve":
        from failclosed.app.commands.serve import main as serve_main

        return serve_main
    if name == "worker":
        from failclosed.app.commands.serve import worker_main

        return worker_main
    from failclosed.app.commands.jobs import main as jobs_main

    return jobs_main


def needs_app_extra(command: str, missing: Sequence[str]) -> int:
    print(
        f"failclosed {command}: the GitHub App's dependencies are not installed "
        f"(missing: {', '.join(missing)}); `pip install failclosed` is the analyzer alone "
        f"(scan, diff, rules). Install the App with: {APP_EXTRA_HINT}",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """`failclosed setup`, `serve [--host H] [--port P]`, `worker`, `jobs`, or the analyzer's."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] and args[0] in APP_COMMANDS:
        command = args[0]
        missing = missing_app_modules()
        if missing:
            return needs_app_extra(command, missing)
        try:
            entry = app_command(command)
        except ModuleNotFoundError as exc:
            # Found but not importable (a broken or partial install): the same advice, not a
            # traceback. Our own modules failing to import is a bug and is not hidden.
            top = (exc.name or "").partition(".")[0]
            if not top or top == "failclosed":
                raise
            return needs_app_extra(command, [top])
        return entry(args[1:])
    from failclosed.analyzers.cli import main as analyzer_main

    return analyzer_main(args)


if __name__ == "__main__":
    sys.exit(main())
