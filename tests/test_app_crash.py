"""Crash safety: a worker process SIGKILLed mid-job; a second process completes the job.

Each test enqueues one analyze job into a fresh SQLite queue file, starts
tests/crash_worker.py (the real `Workers` and `run_analysis`, against a fake GitHub that
keeps every call in a fsynced JSON-lines file) paused right after one GitHub call, kills
it with SIGKILL there, starts a second worker process on the same files and waits for it
to finish. The log of GitHub calls, across both processes, must then show exactly-once
publication: one check run, completed `failure`; one review with one suggestion; and
the queue must show the job done after two claims.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis_server import redis_server
from support import HEAD_SHA, make_job

from failclosed.app.review import publish
from failclosed.app.run.distributed import Distributed, RedisLedger
from failclosed.app.run.queue import SqliteJobQueue

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = WORKER.parent.parent
STARTUP_TIMEOUT = 20.0  # until the first process reaches its pause
FINISH_TIMEOUT = 30.0  # until the second process has finished the job
LEASE_SECONDS = 1.0  # crash_worker's lease: how long a dead worker holds the job

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


@dataclass
class Files:
    """The files the two worker processes share, under the test's tmp_path."""

    root: Path

    @property
    def queue(self) -> Path:
        return self.root / "jobs.sqlite3"

    @property
    def github_log(self) -> Path:
        return self.root / "github.jsonl"

    def marker(self, n: int) -> Path:
        return self.root / f"paused-{n}"

    def output(self, n: int) -> Path:
        return self.root / f"worker-{n}.log"

    def calls(self) -> list[dict[str, Any]]:
        lines = self.github_log.read_text().splitlines() if self.github_log.exists() else []
        return [json.loads(line) for line in lines if line]

    def names(self) -> list[str]:
        return [call["call"] for call in self.calls()]

    def called(self, name: str) -> list[dict[str, Any]]:
        return [call for call in self.calls() if call["call"] == name]

    def job_row(self) -> sqlite3.Row:
        conn = sqlite3.connect(self.queue)
        conn.row_factory = sqlite3.Row
        try:
            (row,) = conn.execute(
                "SELECT state, attempts, check_run_id, reason, lease_until FROM jobs"
            ).fetchall()
        finally:
            conn.close()
        return row


@pytest.fixture
def files(tmp_path: Path) -> Files:
    files = Files(tmp_path)
    queue = SqliteJobQueue(files.queue)
    try:
        assert queue.enqueue(make_job("crash-1"))
    finally:
        queue.close()
    return files


def start_worker(
    files: Files,
    n: int,
    pause_after: str | None = None,
    redis_url: str | None = None,
    *extra: str,
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(WORKER),
        "--queue",
        str(files.queue),
        "--github-log",
        str(files.github_log),
        "--lease-seconds",
        str(LEASE_SECONDS),
        "--timeout",  # it says so itself, before the test gives up on it
        str(FINISH_TIMEOUT - 5),
    ]
    if pause_after:
        command += ["--pause-after", pause_after, "--marker", str(files.marker(n))]
    if redis_url:
        command += ["--redis-url", redis_url]
    command += extra
    with files.output(n).open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)


def output_of(files: Files, n: int) -> str:
    return files.output(n).read_text(errors="replace")


def kill_when_paused(
    files: Files, process: subprocess.Popen[bytes], n: int, hold: float = 0.0
) -> None:
    """Wait until the worker pauses at its call, then SIGKILL it and see it dead.

    With `hold`, first leave it paused that long and check that its heartbeat kept the
    lease alive meanwhile: only the kill makes the job claimable again.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not files.marker(n).exists():
        if process.poll() is not None:
            pytest.fail(
                f"worker exited {process.returncode} before its pause:\n{output_of(files, n)}"
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"worker did not reach its pause:\n{output_of(files, n)}")
        time.sleep(0.02)
    if hold:
        time.sleep(hold)
        row = files.job_row()
        assert row["state"] == "running"
        assert row["lease_until"] > time.time(), "a live worker's lease ran out"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def run_to_completion(files: Files, n: int) -> None:
    process = start_worker(files, n)
    try:
        returncode = process.wait(timeout=FINISH_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"worker did not finish the job:\n{output_of(files, n)}")
    assert returncode == 0, output_of(files, n)


def crash_then_restart(files: Files, pause_after: str, hold: float = 0.0) -> list[dict[str, Any]]:
    """Kill a first worker right after `pause_after`; let a second one finish. The calls
    the first one made."""
    first = start_worker(files, 1, pause_after)
    try:
        kill_when_paused(files, first, 1, hold)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    before = files.calls()
    assert before[-1]["call"] == pause_after  # it died right there
    row = files.job_row()
    assert (row["state"], row["attempts"]) == ("running", 1)  # the queue still holds it
    run_to_completion(files, 2)
    return before


def assert_published_exactly_once(files: Files) -> None:
    """What GitHub saw across both processes: one check run, one review, nothing twice."""
    names = files.names()
    created = files.called("create_check_run")
    assert len(created) == 1, f"check runs created: {[c['args']['id'] for c in created]}"
    check_run_id = created[0]["args"]["id"]
    assert created[0]["args"]["head_sha"] == HEAD_SHA
    assert created[0]["args"]["name"] == publish.CHECK_NAME
    reviews = files.called("create_review")
    assert len(reviews) == 1, f"{len(reviews)} reviews posted"
    comments = reviews[0]["args"]["body"]["comments"]
    assert len(comments) == 1, f"{len(comments)} comments in the review"
    comment = comments[0]
    assert "```suggestion" in comment["body"]
    assert publish.fingerprints_in(comment["body"])
    assert "reply_to_review_comment" not in names  # the finding is not "fixed"
    assert "comment_on_pull_request" not in names
    updates = files.called("update_check_run")
    assert updates, names
    assert {u["args"]["check_run_id"] for u in updates} == {check_run_id}
    last = updates[-1]["args"]["body"]
    assert (last["status"], last["conclusion"]) == ("completed", "failure")
    assert names[-1] == "update_check_run"  # the check run's completion is the last word
    row = files.job_row()
    assert (row["state"], row["attempts"]) == ("done", 2), row["reason"]
    assert row["check_run_id"] == check_run_id


# -- the tests -----------------------------------------------------------------------------


def test_without_a_crash_one_process_publishes_once(files: Files) -> None:
    """The harness itself: one run, the job's full sequence of calls."""
    run_to_completion(files, 1)
    assert files.names() == [
        "create_check_run",
        "read_pull_requests",  # with the review comments already there
        "list_changed_files",
        "read_files",  # head and base together
        "create_review",
        "update_check_run",
    ]
    row = files.job_row()
    assert (row["state"], row["attempts"]) == ("done", 1)


def test_killed_after_posting_the_review_completes_without_a_second_review(
    files: Files,
) -> None:
    before = crash_then_restart(files, "create_review", hold=2.5 * LEASE_SECONDS)
    assert "update_check_run" not in [call["call"] for call in before]  # still in progress
    assert_published_exactly_once(files)
    # the second process completed the first one's check run and found its comment
    first_pid = before[0]["pid"]
    after = [call for call in files.calls() if call["pid"] != first_pid]
    assert [call["call"] for call in after] == [
        # no create_check_run: the recorded one is reused; finds the first process's
        # comment by its fingerprint
        "read_pull_requests",
        "list_changed_files",
        "read_files",  # head and base together
        "update_check_run",
    ]


def test_killed_after_the_check_run_was_recorded_reuses_it(files: Files) -> None:
    """Killed right after `create_check_run` returned (and the queue recorded its id):
    the next call of the job is the first one logged after it."""
    crash_then_restart(files, "read_pull_requests")
    assert_published_exactly_once(files)


def test_killed_after_completing_the_check_run_but_before_the_job_was_done(
    files: Files,
) -> None:
    """GitHub has the whole verdict, the queue still says running: the re-run repeats the
    completion on the same check run and posts nothing new."""
    before = crash_then_restart(files, "update_check_run")
    assert [call["call"] for call in before].count("create_review") == 1
    assert_published_exactly_once(files)
    assert len(files.called("update_check_run")) == 2  # the same completion, twice


def test_killed_while_creating_the_check_run_creates_no_second_one(files: Files) -> None:
    """Killed after GitHub created the check run but before its id reached the queue: the
    take-over finds the run by its tag (the delivery id in `external_id`) and adopts it."""
    crash_then_restart(files, "create_check_run")
    assert_published_exactly_once(files)
    (found,) = files.called("find_check_run")
    assert found["args"]["external_id"] == "crash-1"


# -- the scale-out mode: dramatiq workers over a real redis-server --------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_a_killed_redis_mode_worker_loses_nothing_and_publishes_once(
    tmp_path: Path, redis_url: str
) -> None:
    """SIGKILL a `failclosed worker`-like process after it posted the review; dramatiq
    gives its unacknowledged message to a second worker process, which completes the
    same check run and finds the comment."""
    redis.Redis.from_url(redis_url).flushdb()
    files = Files(tmp_path)
    job = make_job("crash-redis-1")
    Distributed(redis_url).enqueue(job)  # what a web replica does before answering 202

    first = start_worker(files, 1, "create_review", redis_url=redis_url)
    try:
        kill_when_paused(files, first, 1)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    second = start_worker(files, 2, redis_url=redis_url)
    try:
        assert second.wait(timeout=FINISH_TIMEOUT) == 0, output_of(files, 2)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        pytest.fail(f"worker did not finish the job:\n{output_of(files, 2)}")

    assert len(files.called("create_check_run")) == 1
    assert len(files.called("create_review")) == 1
    last = files.called("update_check_run")[-1]["args"]["body"]
    assert (last["status"], last["conclusion"]) == ("completed", "failure")
    (row,) = RedisLedger(redis.Redis.from_url(redis_url)).jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_sigterm_releases_a_running_job_that_another_worker_then_finishes(
    tmp_path: Path, redis_url: str
) -> None:
    """`failclosed worker` on SIGTERM: no new jobs, a grace period, then the unfinished
    job's lease is cut short (not handed back while its thread may still publish), and
    another worker takes it over with its check run: not lost, nothing twice."""
    redis.Redis.from_url(redis_url).flushdb()
    files = Files(tmp_path)
    job = make_job("sigterm-1")
    Distributed(redis_url).enqueue(job)
    first = start_worker(files, 1, "create_review", redis_url, "--until-sigterm")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not files.marker(1).exists():
        assert first.poll() is None, output_of(files, 1)
        assert time.monotonic() < deadline, output_of(files, 1)
        time.sleep(0.02)

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0, output_of(files, 1)
    ledger = RedisLedger(redis.Redis.from_url(redis_url))
    (row,) = ledger.jobs()
    # Still its job, with a lease cut short: its thread was still running at the exit.
    assert (row.state, row.attempts) == ("running", 1)
    assert row.started_at is not None

    second = start_worker(files, 2, redis_url=redis_url)
    assert second.wait(timeout=FINISH_TIMEOUT) == 0, output_of(files, 2)
    assert len(files.called("create_check_run")) == 1
    assert len(files.called("create_review")) == 1
    (row,) = ledger.jobs()
    assert (row.state, row.attempts) == ("done", 2)


# -- failclosed serve: SIGTERM -----------------------------------------------------------------


def test_sigterm_lets_serve_finish_the_running_job(tmp_path: Path) -> None:
    """uvicorn turns SIGTERM into a shutdown and then re-raises it: the workers are stopped
    in the app's shutdown, so the running job finishes before the process ends."""
    from redis_server import free_port
    from support import github_headers, load_payload

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "serve_child.py"), str(tmp_path), str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert child.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        body = json.dumps(load_payload("pull_request.opened")).encode()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhook",
            content=body,
            headers=github_headers("pull_request", body),
        )
        assert answer.status_code == 202
        while not (tmp_path / "job-started").exists():
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (tmp_path / "job-finished").exists(), (tmp_path / "serve.log").read_text()
    (row,) = SqliteJobQueue(tmp_path / "jobs.sqlite3").jobs()
    assert row.state == "done"
