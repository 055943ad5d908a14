"""A worker process for the crash tests (tests/test_app_crash.py): run it, SIGKILL it.

    python tests/crash_worker.py --queue jobs.sqlite3 --github-log github.jsonl \
        [--pause-after create_review --marker paused]

It runs the real `Workers` (one thread, a short lease) and the real `run_analysis` over
the SQLite queue file, against a fake GitHub that keeps everything it was told in a file,
so that a second process sees what a first, killed one published:

- every call is appended to `--github-log` as one JSON line, flushed and fsynced before
  the call returns: a SIGKILL right after a call cannot lose what "reached GitHub";
- `read_pull_requests` (and `review_comments`) answers with the inline comments of every
  review created so far (written by the App, with ids), so a re-run finds its earlier
  comments by fingerprint;
- `create_check_run` answers 77 for the first check run, 78 for a second one, and so on.

It serves one pull request (#7 of octo/app) whose one file adds a fail-open path.

With `--pause-after CALL`, the first CALL is logged, then `--marker` is written and the
process sleeps, so the test can kill it at exactly that point of the job.

It enqueues nothing (the test does), runs until the queue has no pending or running job,
stops and exits 0; 3 if the queue is still busy after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from support import BASE_SHA, FAIL_OPEN, HEAD_SHA, NUMBER, REPO, SAFE, OneInstallation, patch_of

from failclosed.app.github.port import (
    ChangedFile,
    Comparison,
    GitTree,
    Link,
    PullRequest,
    PullRequestRead,
    ReviewComment,
    ReviewThread,
)
from failclosed.app.run.distributed import Distributed, run_worker_process
from failclosed.app.run.queue import SqliteJobQueue
from failclosed.app.run.worker import Workers

PATH = "app/perms.py"
FIRST_CHECK_RUN_ID = 77
FIRST_COMMENT_ID = 5000
LEASE_SECONDS = 1.0
POLL_SECONDS = 0.05
PAUSE_SECONDS = 600.0  # "forever": the test kills the process long before


class FileBackedGitHub:
    """A `GitHubPort` for one PR whose every call, and so every write, is kept on disk."""

    def __init__(self, log: Path, pause_after: str | None, marker: Path | None) -> None:
        self.log = log
        self.pause_after = pause_after
        self.marker = marker
        self.files = {
            (HEAD_SHA, PATH): FAIL_OPEN.encode(),
            (BASE_SHA, PATH): SAFE.encode(),
        }

    # -- the log ---------------------------------------------------------------------

    def calls(self) -> list[dict[str, Any]]:
        """Every call logged so far, by this process and the ones before it."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def _record(self, call: str, **args: Any) -> None:
        line = json.dumps({"call": call, "pid": os.getpid(), "args": args}, sort_keys=True)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        if call == self.pause_after:
            self.pause_after = None  # once
            if self.marker is not None:
                self.marker.write_text(call)
            time.sleep(PAUSE_SECONDS)

    # -- reads -----------------------------------------------------------------------

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        self._record("get_pull_request", repo=repo, number=number)
        return PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "feature", REPO, changed_files=1)

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        self._record("list_changed_files", repo=repo, number=number)
        return [ChangedFile(PATH, "modified", patch=patch_of(SAFE, FAIL_OPEN))]

    def compare_commits(self, repo: str, base_sha: str, head_sha: str) -> Comparison:
        self._record("compare_commits", repo=repo, base_sha=base_sha, head_sha=head_sha)
        return Comparison(BASE_SHA, tuple(self.list_changed_files(repo, NUMBER)))

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | Link | None]:
        self._record("read_files", repo=repo, wanted=[list(key) for key in wanted])
        return {key: self.files.get(key) for key in wanted}

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        self._record("pull_requests_for_commit", repo=repo, sha=sha)
        return [NUMBER] if sha == HEAD_SHA else []

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        """The one PR (when asked for, or when `head_sha` is its head), with the inline
        comments of every review created so far."""
        self._record("read_pull_requests", repo=repo, numbers=list(numbers), head_sha=head_sha)
        if NUMBER not in numbers and head_sha != HEAD_SHA:
            return []
        pr = PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "feature", REPO, changed_files=1)
        return [PullRequestRead(pr, tuple(self._posted(NUMBER)))]

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        """The inline comments of every review created so far, as GitHub lists them."""
        comments = self._posted(number)
        self._record("review_comments", repo=repo, number=number)
        return comments

    def _posted(self, number: int) -> list[ReviewComment]:
        posted = [
            comment
            for call in self.calls()
            if call["call"] == "create_review" and call["args"]["number"] == number
            for comment in call["args"]["body"].get("comments", [])
        ]
        return [
            ReviewComment(FIRST_COMMENT_ID + i, c["body"], c["path"], by_app=True)
            for i, c in enumerate(posted)
        ]

    # -- writes ----------------------------------------------------------------------

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        created = sum(call["call"] == "create_check_run" for call in self.calls())
        check_run_id = FIRST_CHECK_RUN_ID + created
        self._record(
            "create_check_run",
            repo=repo,
            head_sha=head_sha,
            name=name,
            id=check_run_id,
            external_id=external_id,
        )
        return check_run_id

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        """As GitHub lists a head's check runs by name: the newest with this tag."""
        tagged = [
            call["args"]["id"]
            for call in self.calls()
            if call["call"] == "create_check_run"
            and call["args"]["head_sha"] == head_sha
            and call["args"]["name"] == name
            and call["args"]["external_id"] == external_id
        ]
        self._record("find_check_run", repo=repo, head_sha=head_sha, external_id=external_id)
        return max(tagged) if tagged else None

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        self._record("update_check_run", repo=repo, check_run_id=check_run_id, body=body)

    def read_tree(self, repo: str, sha: str) -> GitTree:
        self._record("read_tree", repo=repo, sha=sha)
        return GitTree(())

    def upload_sarif(self, repo: str, body: dict[str, Any]) -> str:
        self._record("upload_sarif", repo=repo, commit_sha=body.get("commit_sha"))
        return "sarif-1"

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        self._record("create_review", repo=repo, number=number, body=body)

    def reply_to_review_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        self._record(
            "reply_to_review_comment", repo=repo, number=number, comment_id=comment_id, body=body
        )

    def review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        self._record("review_threads", repo=repo, number=number)
        return []

    def resolve_review_threads(self, repo: str, thread_ids: Sequence[str]) -> None:
        self._record("resolve_review_threads", repo=repo, thread_ids=list(thread_ids))

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        self._record("comment_on_pull_request", repo=repo, number=number, body=body)

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        self._record("commit_files", repo=repo, branch=branch, paths=sorted(files))
        raise AssertionError("the analyze job never commits")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=Path, required=True)
    parser.add_argument("--github-log", type=Path, required=True)
    parser.add_argument("--pause-after", help="the port call to stop after, e.g. create_review")
    parser.add_argument("--marker", type=Path, help="written when the pause begins")
    parser.add_argument("--lease-seconds", type=float, default=LEASE_SECONDS)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--redis-url", help="run the Redis mode's dramatiq worker instead")
    parser.add_argument(
        "--until-sigterm",
        action="store_true",
        help="Redis mode: run as `failclosed worker` does, until SIGTERM (grace 1 s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(process)d %(levelname)s %(message)s"
    )

    github = FileBackedGitHub(args.github_log, args.pause_after, args.marker)
    if args.redis_url:
        return run_redis_worker(args, github)
    queue = SqliteJobQueue(args.queue)
    workers = Workers(
        queue,
        OneInstallation(github),
        threads=1,
        lease_seconds=args.lease_seconds,
        poll_seconds=POLL_SECONDS,
    )
    try:
        workers.join(timeout=args.timeout)
    except TimeoutError as exc:
        print(f"crash_worker: {exc}", file=sys.stderr)
        return 3
    finally:
        workers.stop(grace_seconds=1.0)
        queue.close()
    return 0


def run_redis_worker(args: argparse.Namespace, github: FileBackedGitHub) -> int:
    """The scale-out mode: a dramatiq worker over Redis. Its broker checks for dead
    workers on every fetch and counts one dead after 1.5 s without a heartbeat, so the
    second process takes the first one's message back quickly."""
    distributed = Distributed(
        args.redis_url,
        OneInstallation(github),
        lease_seconds=args.lease_seconds,
        heartbeat_timeout_ms=1_500,
        maintenance_chance=1_000_000,
        shutdown_lease_seconds=0.5,
    )
    if args.until_sigterm:
        run_worker_process(distributed, threads=1, grace_seconds=1.0)
        return 0
    distributed.start_workers(threads=1)
    try:
        distributed.join(timeout=args.timeout)
    except TimeoutError as exc:
        print(f"crash_worker: {exc}", file=sys.stderr)
        return 3
    finally:
        distributed.stop_workers(grace_seconds=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
