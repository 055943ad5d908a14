"""`failclosed jobs`: the queue as operators see it, from a real queue file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import make_job

from failclosed.app.commands.cli import main
from failclosed.app.run.queue import SqliteJobQueue


@pytest.fixture
def queue_file(tmp_path: Path) -> Path:
    """One job of each interesting state: running, pending (backing off), failed, done."""
    path = tmp_path / "jobs.sqlite3"
    queue = SqliteJobQueue(path)
    for i, delivery in enumerate(["d-failed", "d-done", "d-retry", "d-running"], start=1):
        queue.enqueue(make_job(delivery, f"{i:x}" * 40, (i,), action="opened"))
    failed, done, retry = (queue.claim("w-1", 60) for _ in range(3))
    assert failed and done and retry
    queue.finish(failed.id, "w-1", "failed", "GitHubError: 502 Bad Gateway, 4 times")
    queue.finish(done.id, "w-1", "done")
    queue.retry(retry.id, "w-1", 300, "rate limited")
    assert queue.claim("host:1:abc", 60) is not None  # d-running
    return path


def test_jobs_lists_running_pending_and_failed_with_reasons(
    queue_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "--queue", str(queue_file)]) == 0
    out = capsys.readouterr().out
    assert "pending 1 · running 1 · done 1 · failed 1 · superseded 0" in out
    running = out[out.index("RUNNING") : out.index("PENDING")]
    assert "octo/app#4" in running and "on host:1:abc" in running
    pending = out[out.index("PENDING") : out.index("FAILED")]
    assert "octo/app#3" in pending and "next try in" in pending and "rate limited" in pending
    failed = out[out.index("FAILED") :]
    assert "octo/app#1" in failed and "GitHubError: 502 Bad Gateway, 4 times" in failed
    assert "d-done" not in out and "octo/app#2" not in out  # done jobs are only counted


def test_jobs_json_has_every_field(queue_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--queue", str(queue_file), "--json", "--state", "failed"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["counts"]["failed"] == 1
    (row,) = document["jobs"]["failed"]
    assert (row["delivery_id"], row["attempts"]) == ("d-failed", 1)


def test_a_missing_queue_is_an_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.sqlite3"
    monkeypatch.setenv("FAILCLOSED_QUEUE_PATH", str(missing))
    assert main(["jobs"]) == 2
    assert "no job queue at" in capsys.readouterr().err
    assert not missing.exists()
