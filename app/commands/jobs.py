"""`failclosed jobs`: what the queue holds, for operators.

Counts per state, then the running, pending and failed jobs with their reasons (newest
first). It reads the queue file the App uses (`FAILCLOSED_QUEUE_PATH`, from the
environment or `.env`, or `--queue`) and never creates one: a wrong path is an error, not
an empty queue.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from pydantic_settings import BaseSettings, SettingsConfigDict

from failclosed.app.model import STATES, JobRow
from failclosed.app.run.queue import QueueError, SqliteJobQueue
from failclosed.app.settings import ENV_PREFIX, Settings

PROG = "failclosed jobs"
EXIT_NO_QUEUE = 2
SHOWN_STATES = ("running", "pending", "failed")


class QueueSettings(BaseSettings):
    """Only where the queue is: listing jobs needs no App credentials."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    queue_path: Path = Settings.model_fields["queue_path"].default
    queue_url: str | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Show the App's job queue.")
    parser.add_argument("--queue", type=Path, help="the queue file (default: the settings')")
    parser.add_argument("--queue-url", help="the Redis mode's redis:// URL (default: settings')")
    parser.add_argument(
        "--state", choices=STATES, action="append", help="only these states (repeatable)"
    )
    parser.add_argument("--limit", type=int, default=20, help="jobs listed per state")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = QueueSettings()
    url = args.queue_url or (None if args.queue else settings.queue_url)
    where: Path | str
    try:
        if url:
            queue: Listing = redis_ledger(url)
            where = url.split("@")[-1]  # never print a password in the URL
        else:
            where = args.queue or settings.queue_path
            if not Path(where).is_file():
                print(
                    f"{PROG}: no job queue at {where} (set FAILCLOSED_QUEUE_PATH)", file=sys.stderr
                )
                return EXIT_NO_QUEUE
            queue = SqliteJobQueue(where, readonly=True)
        counts = queue.counts()
        states = args.state or list(SHOWN_STATES)
        listed = {state: queue.jobs([state], limit=args.limit) for state in states}
    except (QueueError, ConnectionError, OSError) as exc:
        print(f"{PROG}: cannot read the queue: {exc}", file=sys.stderr)
        return EXIT_NO_QUEUE
    path = where
    if args.json:
        document = {
            "queue": str(path),
            "counts": counts,
            "jobs": {state: [asdict(row) for row in rows] for state, rows in listed.items()},
        }
        print(json.dumps(document, indent=2))
    else:
        print(render(path, counts, listed, now=time.time()))
    return 0


class Listing(Protocol):
    """What both queues answer: `SqliteJobQueue` and the Redis mode's ledger."""

    def counts(self) -> dict[str, int]: ...

    def jobs(self, states: Iterable[str] = STATES, limit: int = 100) -> list[JobRow]: ...


def redis_ledger(url: str) -> Listing:
    """The Redis mode's ledger (imported late: the embedded mode needs no Redis client)."""
    import redis

    from failclosed.app.run.distributed import RedisLedger

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(f"Redis at {url.split('@')[-1]}: {exc}") from None
    return RedisLedger(client)


def render(
    path: Path | str, counts: dict[str, int], listed: dict[str, list[JobRow]], now: float
) -> str:
    """The text report: counts, then one line per job under its state."""
    lines = [f"queue: {path}", " · ".join(f"{state} {counts[state]}" for state in STATES)]
    for state, rows in listed.items():
        if not rows:
            continue
        more = counts.get(state, 0) - len(rows)
        lines += ["", state.upper() + (f" (newest {len(rows)}, {more} more)" if more > 0 else "")]
        lines += [f"  {describe(row, now)}" for row in rows]
    return "\n".join(lines)


def describe(row: JobRow, now: float) -> str:
    """One job: id, kind, where, head, attempts, age and reason."""
    where = row.repository + "".join(f"#{n}" for n in row.pull_requests)
    parts = [f"#{row.id}", row.kind, where, row.head_sha[:7], f"attempts {row.attempts}"]
    if row.state == "running" and row.started_at:
        parts.append(f"running {ago(now - row.started_at)} on {row.owner}")
    elif row.finished_at:
        parts.append(f"{row.state} {ago(now - row.finished_at)} ago")
    else:
        parts.append(f"queued {ago(now - row.created_at)} ago")
    if row.state == "pending" and row.run_after > now:
        parts.append(f"next try in {ago(row.run_after - now)}")
    if row.reason:
        parts.append(f"— {row.reason}")
    return " ".join(parts)


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


if __name__ == "__main__":
    sys.exit(main())
