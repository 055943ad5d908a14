"""The `failclosed` command: scan files, scan a git diff, or list the rules.

Exit codes fail closed: 0 only when nothing blocking was found and everything could be
analysed; 1 for blocking findings; 2 for usage errors, bad configuration, files that could
not be analysed, and the tool's own crashes (never a bare traceback with exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from failclosed.analyzers.config import ConfigError, load_config
from failclosed.analyzers.engine import analyze_paths, decode
from failclosed.analyzers.model import Report
from failclosed.analyzers.output import (
    REPORT_FORMATS,
    RULES_FORMATS,
    SourceReader,
    format_report,
    format_rules,
    tool_version,
)
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.settings import Config

PROG = "failclosed"
USAGE_ERROR = 2


class UsageError(Exception):
    """A problem with how the tool was called or configured; the message says which."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    try:
        return args.run(args)
    except UsageError as exc:
        return fail(str(exc))
    except Exception as exc:  # a bug must not look like "nothing found"
        return fail(
            f"internal error: {type(exc).__name__}: {exc} "
            "(this is a bug in failclosed; nothing was checked reliably)"
        )


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Find permission code that fails open and propose fail-closed patches.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {tool_version()}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    scan = commands.add_parser("scan", help="analyse files and folders")
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="default: .")
    add_report_options(scan)
    scan.add_argument(
        "--jobs", type=job_count, default=0, metavar="N", help="processes (default: one per core)"
    )
    scan.set_defaults(run=run_scan)

    diff = commands.add_parser("diff", help="report only findings new or changed since BASE")
    diff.add_argument("base", metavar="BASE", help="git revision to compare against")
    diff.add_argument("head", nargs="?", metavar="HEAD", help="git revision (default: HEAD)")
    add_report_options(diff)
    diff.set_defaults(run=run_diff)

    rules = commands.add_parser("rules", help="list the rules; markdown prints their docs")
    rules.add_argument("--format", choices=RULES_FORMATS, default="text")
    rules.set_defaults(run=run_rules)
    return parser


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=REPORT_FORMATS, default="text")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file with [tool.failclosed] (default: nearest pyproject.toml)",
    )


def job_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def read_config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def run_scan(args: argparse.Namespace) -> int:
    report = analyze_paths(args.paths, read_config(args.config), jobs=args.jobs)
    return emit(report, args.format)


def run_diff(args: argparse.Namespace) -> int:
    """Delegate to analyzers.gitdiff, imported here so the rest works without it."""
    config = read_config(args.config)
    try:
        gitdiff = importlib.import_module("failclosed.analyzers.gitdiff")
    except ModuleNotFoundError as exc:
        if exc.name != "failclosed.analyzers.gitdiff":
            raise
        raise UsageError("the diff command is not available in this installation") from exc
    try:
        report = gitdiff.diff_report(args.base, args.head, config)
    except gitdiff.GitError as exc:
        raise UsageError(str(exc)) from exc
    return emit(report, args.format, git_source_reader(args.head or "HEAD"))


def git_source_reader(revision: str) -> SourceReader:
    """Read files as they are at `revision` (not on disk), which is what was analysed."""

    def read(path: str) -> str | None:
        try:
            shown = subprocess.run(
                ["git", "show", f"{revision}:./{path}"], capture_output=True, check=True
            )
            return decode(shown.stdout)
        except (OSError, subprocess.CalledProcessError, SyntaxError, LookupError, ValueError):
            return None

    return read


def run_rules(args: argparse.Namespace) -> int:
    sys.stdout.write(format_rules(all_rules(), args.format))
    return 0


def emit(report: Report, fmt: str, reader: SourceReader | None = None) -> int:
    """Print the report (rendered in full first, so a crash never leaves half a JSON)."""
    sys.stdout.write(format_report(report, fmt, reader))
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
