"""Inside the process: a signed delivery becomes a durable job, a worker thread runs it.

Every test uses a real SQLite queue file under pytest's tmp_path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    BASE_SHA,
    NOTHING,
    FakeGitHub,
    OneInstallation,
    analysis_with_a_budget,
    deliver,
    fake_for,
    fake_with_a_file_that_never_finishes,
    github_headers,
    job_for,
    load_payload,
    make_settings,
    request,
    ticking,
    workers,
)

from failclosed.app.github.client import GitHubError
from failclosed.app.github.port import PullRequest
from failclosed.app.model import Job, JobKind, RetryableError
from failclosed.app.receive.server import create_app
from failclosed.app.review.analyze import JobResult, run_analysis
from failclosed.app.review.publish import FAILED_TITLE
from failclosed.app.run.execute import LeaseLost
from failclosed.app.run.queue import QueueError, SqliteJobQueue
from failclosed.app.run.worker import Workers


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqliteJobQueue]:
    queue = SqliteJobQueue(tmp_path / "jobs.sqlite3")
    yield queue
    queue.close()


def run_until_idle(queue: SqliteJobQueue, github: FakeGitHub, **options: Any) -> None:
    """Start workers on the queue, let them finish every job, stop them."""
    sink = workers(queue, OneInstallation(github), **options)
    try:
        sink.join()
    finally:
        sink.stop()


def test_signed_pull_request_delivery_ends_in_a_review_and_a_failing_check(
    queue: SqliteJobQueue,
) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    installations = OneInstallation(github)
    sink = workers(queue, installations)
    app = create_app(make_settings(), sink=sink)
    try:
        response = deliver(app, "pull_request", payload)
        assert response.status_code == 202
        sink.join()
    finally:
        sink.stop()
    assert installations.asked == [payload["installation"]["id"]]
    assert github.names()[:3] == [
        "create_check_run",
        "read_pull_requests",
        "list_changed_files",
    ]
    (review,) = github.reviews()
    assert "```suggestion" in review["comments"][0]["body"]
    assert github.conclusion() == "failure"


def test_a_failing_job_does_not_stop_the_worker(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    broken = fake_for(payload)
    broken.fail["list_changed_files"] = RuntimeError("GitHub is down")
    sink = workers(queue, OneInstallation(broken))
    job = job_for(payload)
    try:
        sink.enqueue(job)
        sink.enqueue(job.model_copy(update={"delivery_id": "d-2"}))  # "Re-run"
        sink.join()
    finally:
        sink.stop()
    # both jobs ran, and each failed its own check run instead of leaving it in progress
    assert broken.names().count("create_check_run") == 2
    assert [u["conclusion"] for u in broken.check_updates()] == ["failure", "failure"]
    # not retried (not a transient GitHub error), and the queue says why
    assert [(r.state, r.reason) for r in queue.jobs()] == [
        ("failed", "RuntimeError: GitHub is down")
    ] * 2


def test_apply_fixes_jobs_commit_the_fixes(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    github.prs_for_commit = [payload["pull_request"]["number"]]
    installations = OneInstallation(github)
    sink = workers(queue, installations)
    job = job_for(payload, "d-2", kind=JobKind.APPLY_FIXES, check_run_id=5, pull_requests=())
    try:
        sink.enqueue(job)
        sink.join()
    finally:
        sink.stop()
    assert installations.asked == [1]
    assert github.names() == [
        "pull_requests_for_commit",
        "get_pull_request",
        "list_changed_files",
        "read_files",  # head and base together
        "commit_files",
    ]
    (_, branch, expected, files, message) = github.called("commit_files")[0]
    assert (branch, expected) == ("feature", payload["pull_request"]["head"]["sha"])
    assert b"return False" in files["app/perms.py"]
    assert message.startswith("failclosed: make 1 permission path fail closed")


def test_each_kind_of_job_goes_to_its_runner(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    ran: list[str] = []
    sink = workers(
        queue,
        OneInstallation(fake_for(payload)),
        run=lambda job, gh: ran.append("analyze") or NOTHING,
        apply_fixes=lambda job, gh: ran.append("apply_fixes") or NOTHING,
    )
    base = {
        "delivery_id": "d-4",
        "event": "check_run",
        "action": "requested_action",
        "installation_id": 1,
        "repository": payload["repository"]["full_name"],
        "head_sha": payload["pull_request"]["head"]["sha"],
    }
    try:
        sink.enqueue(Job(kind="apply_fixes", **base))
        sink.enqueue(Job(kind="analyze", **{**base, "delivery_id": "d-5"}))
        sink.join()
    finally:
        sink.stop()
    assert ran == ["apply_fixes", "analyze"]


class Transient(RetryableError):
    """Like GitHubError for a 502: a `RetryableError`."""


def test_a_transient_failure_is_retried_until_the_job_publishes(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    attempts: list[int] = []

    def flaky(job: Job, gh: FakeGitHub) -> JobResult:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise Transient("502 Bad Gateway")
        return run_analysis(job, gh)

    sink = workers(queue, OneInstallation(github), run=flaky, retry_delays=(0.01, 0.01, 0.01))
    try:
        sink.enqueue(job_for(payload, "d-4"))
        sink.join()
    finally:
        sink.stop()
    assert attempts == [1, 2, 3]
    assert github.conclusion() == "failure"  # the fail-open PR, analysed on the 3rd attempt
    assert len(github.reviews()) == 1


def test_retries_stop_after_the_last_delay_and_permanent_errors_are_not_retried(
    tmp_path: Path,
) -> None:
    payload = load_payload("pull_request.opened")
    calls: list[str] = []

    def always(kind: str) -> Any:
        def run(job: Job, gh: FakeGitHub) -> JobResult:
            calls.append(kind)
            raise Transient("down") if kind == "transient" else ValueError("bad input")

        return run

    for kind, expected in (("transient", 3), ("permanent", 1)):
        calls.clear()
        queue = SqliteJobQueue(tmp_path / f"{kind}.sqlite3")
        sink = workers(
            queue, OneInstallation(fake_for(payload)), run=always(kind), retry_delays=(0.01, 0.01)
        )
        try:
            sink.enqueue(job_for(payload, "d-4"))
            sink.join()
        finally:
            sink.stop()
        assert len(calls) == expected, kind


def test_a_check_run_github_could_not_complete_is_taken_up_by_the_retry(
    queue: SqliteJobQueue,
) -> None:
    """GitHub fails the job (a 502, a `RetryableError`) and completing its check run too:
    the run is left in progress, so the retry completes that one, not a second."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    down = GitHubError(502, "Bad Gateway")
    github.fail.update(read_pull_requests=down, update_check_run=down)
    attempts: list[int] = []

    def flaky(job: Job, gh: FakeGitHub) -> JobResult:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 2:
            github.fail.clear()  # GitHub is back
        return run_analysis(job, gh)

    sink = workers(queue, OneInstallation(github), run=flaky, retry_delays=(0.01,))
    try:
        sink.enqueue(job_for(payload, "d-4"))
        sink.join()
    finally:
        sink.stop()
    assert attempts == [1, 2]
    assert github.names().count("create_check_run") == 1
    assert github.conclusion() == "failure"  # the fail-open PR, on the run of attempt 1
    (row,) = queue.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_a_runner_that_answers_no_result_fails_its_job(queue: SqliteJobQueue) -> None:
    """What a runner answers is read, not guessed at: anything but a `RunResult` fails."""
    payload = load_payload("pull_request.opened")
    sink = workers(queue, OneInstallation(fake_for(payload)), run=lambda job, gh: None)
    try:
        sink.enqueue(job_for(payload, "d-4"))
        sink.join()
    finally:
        sink.stop()
    (row,) = queue.jobs()
    assert row.state == "failed"
    assert "final_state" in row.reason


def test_a_rate_limited_job_waits_as_long_as_github_asked(
    queue: SqliteJobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    payload = load_payload("pull_request.opened")
    attempts: list[int] = []

    class RateLimited(RetryableError):
        retry_after = 0.2

    def limited_once(job: Job, gh: FakeGitHub) -> JobResult:
        attempts.append(1)
        if len(attempts) == 1:
            raise RateLimited("403 secondary rate limit")
        return NOTHING

    sink = workers(
        queue, OneInstallation(fake_for(payload)), run=limited_once, retry_delays=(0.01,)
    )
    with caplog.at_level("WARNING", logger="failclosed.app.run.execute"):
        try:
            sink.enqueue(job_for(payload, "d-4"))
            sink.join()
        finally:
            sink.stop()
    assert len(attempts) == 2
    (retry,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retry.retry_in_seconds == 0.2  # GitHub's Retry-After, not the 0.01 s schedule


# -- durability -------------------------------------------------------------------------------


def test_a_redelivered_webhook_runs_one_job(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    sink = workers(queue, OneInstallation(github))
    app = create_app(make_settings(), sink=sink)
    body = json.dumps(payload).encode()
    headers = github_headers("pull_request", body)
    try:
        statuses = [request(app, "POST", "/webhook", body, headers).status_code for _ in "12"]
        sink.join()
    finally:
        sink.stop()
    assert statuses == [202, 202]  # GitHub must not see the redelivery fail
    assert len(queue.jobs()) == 1
    assert github.names().count("create_check_run") == 1
    assert len(github.reviews()) == 1


def test_a_job_accepted_before_the_process_died_runs_after_restart(tmp_path: Path) -> None:
    payload = load_payload("pull_request.opened")
    path = tmp_path / "jobs.sqlite3"
    never_started = Workers(SqliteJobQueue(path), OneInstallation(fake_for(payload)), start=False)
    never_started.enqueue(job_for(payload, "d-4"))  # accepted; then the process is gone

    github = fake_for(payload)
    restarted = workers(SqliteJobQueue(path), OneInstallation(github))
    try:
        restarted.join()
    finally:
        restarted.stop()
    assert github.conclusion() == "failure"
    assert [r.state for r in restarted.queue.jobs()] == ["done"]


def died_mid_job(queue: SqliteJobQueue, job: Job, check_run_id: int | None) -> None:
    """A worker claimed the job, made its check run, and was killed: its lease is over."""
    queue.enqueue(job)
    claim = queue.claim("killed-worker", lease_seconds=0)
    assert claim is not None
    if check_run_id is not None:
        queue.record_check_run(claim.id, "killed-worker", check_run_id)


def test_a_job_taken_over_from_a_dead_worker_completes_the_same_check_run(
    queue: SqliteJobQueue,
) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    died_mid_job(queue, job_for(payload, "d-4"), check_run_id=4242)

    run_until_idle(queue, github)
    assert "create_check_run" not in github.names()  # no second check run
    assert {args[1] for args in github.called("update_check_run")} == {4242}
    assert github.conclusion() == "failure"
    (row,) = queue.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_a_taken_over_job_whose_head_moved_closes_the_left_over_check_run(
    queue: SqliteJobQueue,
) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    github.pr = PullRequest(github.pr.number, "f" * 40, BASE_SHA, "feature", github.pr.head_repo)
    died_mid_job(queue, job_for(payload, "d-4"), check_run_id=4242)

    run_until_idle(queue, github)
    ((_, check_run_id, body),) = github.called("update_check_run")
    assert check_run_id == 4242
    assert (body["status"], body["conclusion"]) == ("completed", "cancelled")
    assert body["output"]["title"] == "Superseded"
    assert [r.state for r in queue.jobs()] == ["superseded"]


def test_a_job_that_keeps_killing_its_workers_fails_with_its_check_run(
    queue: SqliteJobQueue,
) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    died_mid_job(queue, job_for(payload, "d-4"), check_run_id=4242)
    ran: list[Job] = []

    run_until_idle(queue, github, max_attempts=1, run=lambda j, g: ran.append(j) or NOTHING)
    assert ran == []
    ((_, check_run_id, body),) = github.called("update_check_run")
    assert (check_run_id, body["conclusion"]) == (4242, "failure")
    assert body["output"]["title"].startswith(FAILED_TITLE)
    (row,) = queue.jobs()
    assert (row.state, row.reason) == ("failed", "the job stopped 1 times before finishing")


def test_stop_hands_a_still_running_job_over_only_after_a_short_lease(
    queue: SqliteJobQueue,
) -> None:
    """Its thread may still publish: it is not handed back at once, but its lease is cut
    short so that another worker takes it over soon after this process is gone."""
    payload = load_payload("pull_request.opened")
    started, release = threading.Event(), threading.Event()

    def slow(job: Job, gh: FakeGitHub) -> JobResult:
        started.set()
        release.wait(5)
        return NOTHING

    sink = workers(queue, OneInstallation(fake_for(payload)), run=slow)
    sink.enqueue(job_for(payload, "d-4"))
    assert started.wait(5)
    sink.stop(grace_seconds=0.05)
    (row,) = queue.jobs()
    assert row.state == "running"
    assert queue.claim("other-process", 60) is None  # not yet: the lease still runs
    release.set()


def test_a_failed_apply_fixes_is_said_once_and_not_repeated(queue: SqliteJobQueue) -> None:
    """A commit request that got a 502 may have landed: no second try, no second comment."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    github.fail["commit_files"] = Transient("502 Bad Gateway")
    queue.enqueue(job_for(payload, "d-apply", kind=JobKind.APPLY_FIXES, check_run_id=5))

    run_until_idle(queue, github, retry_delays=(0.01, 0.01, 0.01))

    assert github.names().count("commit_files") == 1
    (comment,) = github.pr_comments()
    assert "could not apply the fixes" in comment
    assert [r.state for r in queue.jobs()] == ["failed"]


def test_an_interrupted_apply_fixes_is_not_repeated_blindly(queue: SqliteJobQueue) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    died_mid_job(
        queue,
        job_for(payload, "d-apply", kind=JobKind.APPLY_FIXES, check_run_id=5),
        check_run_id=None,
    )

    run_until_idle(queue, github)

    assert "commit_files" not in github.names()
    (comment,) = github.pr_comments()
    assert "interrupted while applying the fixes" in comment
    (row,) = queue.jobs()
    assert row.state == "failed" and "may have landed" in row.reason


def test_each_finished_job_is_logged_with_its_outcome(
    queue: SqliteJobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    payload = load_payload("pull_request.opened")
    queue.enqueue(job_for(payload, "d-4"))
    with caplog.at_level("INFO", logger="failclosed.app.run.execute"):
        run_until_idle(queue, fake_for(payload))
    (line,) = [r for r in caplog.records if r.getMessage() == "job finished"]
    assert (line.delivery_id, line.pull_requests, line.state) == ("d-4", [2], "done")
    assert (line.result_status, line.result_findings, line.result_blocking) == (
        "published",
        1,
        True,
    )
    assert line.result_api_calls == 6


def test_an_attempt_that_was_taken_over_writes_nothing_more(queue: SqliteJobQueue) -> None:
    """A worker that stalled past its lease and was taken over must not publish beside the
    attempt that took over: every write first asks the queue who holds the job."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    refused: list[BaseException] = []
    done = threading.Event()

    def stalled_then_taken_over(job: Job, gh: Any) -> JobResult:
        try:
            gh.create_check_run(job.repository, job.head_sha, "failclosed")
            with queue._write() as conn:  # meanwhile another worker took the job over
                conn.execute("UPDATE jobs SET owner = 'another-worker'")
            gh.create_review(job.repository, 2, {"event": "COMMENT"})
        except LeaseLost as exc:
            refused.append(exc)
            raise
        finally:
            done.set()
        return NOTHING

    queue.enqueue(job_for(payload, "d-4"))
    sink = workers(queue, OneInstallation(github), run=stalled_then_taken_over)
    try:
        assert done.wait(5)
    finally:
        sink.stop(grace_seconds=1)
    assert len(refused) == 1
    assert github.names() == ["create_check_run"]  # the review was never sent
    (row,) = queue.jobs()
    assert (row.state, row.owner) == ("running", "another-worker")  # left to its holder


def test_two_attempts_in_one_process_are_told_apart(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole process stalled past the lease (SIGSTOP, a suspended VM): its other
    thread takes the job over, and the stalled attempt, waking up, writes nothing."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    monkeypatch.setattr(queue, "renew", lambda *args: set())  # no heartbeat: stalled
    attempts: list[str] = []
    refused: list[BaseException] = []
    second_done = threading.Event()

    def run(job: Job, gh: Any) -> JobResult:
        attempts.append("attempt")
        if len(attempts) == 1:
            second_done.wait(5)  # stalled while the other thread takes over
            try:
                gh.create_review(job.repository, 2, {"event": "COMMENT", "body": "late"})
            except LeaseLost as exc:
                refused.append(exc)
                raise
            return NOTHING
        gh.create_review(job.repository, 2, {"event": "COMMENT", "body": "take-over"})
        second_done.set()
        return NOTHING

    queue.enqueue(job_for(payload, "d-4"))
    run_until_idle(queue, github, threads=2, lease_seconds=0.3, run=run)

    assert len(attempts) == 2 and len(refused) == 1
    assert [body["body"] for body in github.reviews()] == ["take-over"]
    (row,) = queue.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_a_queue_that_cannot_record_the_check_run_does_not_fail_the_job(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording is for take-overs, which find the run by its tag anyway: the job goes
    on and completes its check run instead of failing with it in progress."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)

    def locked(*args: Any) -> None:
        raise QueueError("job queue is locked")

    monkeypatch.setattr(queue, "record_check_run", locked)
    queue.enqueue(job_for(payload, "d-4"))
    run_until_idle(queue, github)

    assert github.conclusion() == "failure"  # completed: the fail-open finding
    (row,) = queue.jobs()
    assert row.state == "done"


class FailsOnce(FakeGitHub):
    """GitHub answers 502 to the file list and then to the check run's update, once each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed: set[str] = set()

    def _record(self, name: str, *args: Any) -> None:
        super()._record(name, *args)
        if name in ("list_changed_files", "update_check_run") and name not in self.failed:
            self.failed.add(name)
            raise Transient(f"502 on {name}")


def test_a_check_run_the_failed_attempt_could_not_close_is_taken_up_by_the_retry(
    queue: SqliteJobQueue,
) -> None:
    payload = load_payload("pull_request.opened")
    like = fake_for(payload)  # the fail-open PR, served by a fake that fails twice
    github = FailsOnce(pr=like.pr, files=like.files, contents=like.contents)
    queue.enqueue(job_for(payload, "d-4"))

    run_until_idle(queue, github, retry_delays=(0.01, 0.01))

    assert github.names().count("create_check_run") == 1  # the open one was taken up
    assert github.conclusion() == "failure"
    (row,) = queue.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_a_job_that_hangs_is_failed_with_its_check_run_and_its_thread_replaced(
    queue: SqliteJobQueue,
) -> None:
    """Something other than a file's analysis (which is killed past its budget) can hang
    a job, a GitHub call that never answers, say: past max_run_seconds the job fails
    closed and the pool gets a thread back."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    hang = threading.Event()
    came_back = threading.Event()

    def hangs_on_the_first(job: Job, gh: Any) -> JobResult:
        if job.delivery_id == "d-4":
            gh.create_check_run(job.repository, job.head_sha, "failclosed")
            hang.wait(10)  # a file the analyzer never finishes
            try:
                gh.create_review(job.repository, 2, {"body": "too late"})
            finally:
                came_back.set()
            return NOTHING
        # The next job is quick: a real analysis that had to start the process's pool of
        # analysis children first (this test alone, say) could itself run over 0.5 s.
        return NOTHING

    queue.enqueue(job_for(payload, "d-4"))
    queue.enqueue(job_for(payload, "d-5"))
    sink = workers(
        queue,
        OneInstallation(github),
        threads=1,
        run=hangs_on_the_first,
        lease_seconds=0.3,
        max_run_seconds=0.5,
    )
    try:
        sink.join(timeout=10)
        hang.set()  # the hung thread wakes up: fenced, it writes nothing
        assert came_back.wait(5), "the hung thread never tried to write"
    finally:
        sink.stop(grace_seconds=1)
    rows = {row.delivery_id: row for row in queue.jobs()}
    assert rows["d-4"].state == "failed" and "ran over 0.5 s" in rows["d-4"].reason
    assert rows["d-5"].state == "done"  # the replacement thread ran the next job
    failed = [u for u in github.check_updates() if u.get("conclusion") == "failure"]
    assert any(u["output"]["title"].startswith(FAILED_TITLE) for u in failed)
    assert all(review.get("body") != "too late" for review in github.reviews())


def test_a_file_that_never_finishes_fails_its_check_once_and_freezes_nothing(
    queue: SqliteJobQueue,
) -> None:
    """Issue 11 item 1. In-process, such a file held the GIL: the heartbeat stopped, the
    lease ran out, the other worker thread claimed the job again and froze too. Now its
    analysis runs in a child killed past the per-file budget (1 s, over three leases):
    this process keeps running (a thread ticks, the heartbeat keeps the lease, so the
    other worker never takes the job over) and the job ends once, its check run failed."""
    payload = load_payload("pull_request.opened")
    github = fake_with_a_file_that_never_finishes(payload)
    run = analysis_with_a_budget(1.0)
    queue.enqueue(job_for(payload, "d-4"))

    with ticking() as ticks:
        run_until_idle(queue, github, threads=2, run=run, lease_seconds=0.3)

    (row,) = queue.jobs()
    assert (row.state, row.attempts) == ("done", 1)  # never claimed again
    assert github.names().count("create_check_run") == 1
    (completed,) = [u for u in github.check_updates() if u.get("status") == "completed"]
    assert completed["conclusion"] == "failure"
    assert completed["output"]["title"].startswith(FAILED_TITLE)
    assert "analysis ran past 1 s" in completed["output"]["summary"]
    assert ticks[0] >= 10  # at most one tick in that second if the GIL were held


def test_an_attempt_the_queue_cannot_confirm_for_a_lease_stops_writing(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut off from the queue (a Redis worker losing its connection, say), an attempt
    keeps writing only within a lease of its last confirmation: after that another
    worker may have taken the job over."""
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    refused: list[BaseException] = []

    def cut_off(*args: Any) -> bool:
        raise QueueError("database is locked")

    def slow_then_write(job: Job, gh: Any) -> JobResult:
        gh.create_check_run(job.repository, job.head_sha, "failclosed")  # within the lease
        monkeypatch.setattr(queue, "holds", cut_off)
        time.sleep(0.5)  # longer than the lease
        try:
            gh.create_review(job.repository, 2, {"body": "unconfirmed"})
        except LeaseLost as exc:
            refused.append(exc)
            raise
        return NOTHING

    queue.enqueue(job_for(payload, "d-4"))
    sink = workers(
        queue, OneInstallation(github), run=slow_then_write, lease_seconds=0.3, threads=1
    )
    try:
        deadline = time.monotonic() + 5
        while not refused and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sink.stop(grace_seconds=1)
    assert len(refused) == 1 and "not confirmed" in str(refused[0])
    assert github.reviews() == []


def test_a_method_the_fence_does_not_know_is_fenced_as_a_write() -> None:
    """Only the named reads pass unchecked: a write added to the port later (here
    `delete_branch`) is refused once the attempt lost the job, without being listed."""
    from failclosed.app.run.execute import AttemptPort

    class Port:
        def read_files(self, repo: str, wanted: list[tuple[str, str]]) -> dict[Any, bytes]:
            return dict.fromkeys(wanted, b"")

        def delete_branch(self, repo: str, name: str) -> None:
            raise AssertionError("a write went through after the lease was lost")

    port = AttemptPort(Port(), claim=None, record=lambda _: None, still_held=lambda: False)  # type: ignore[arg-type]
    assert port.read_files("o/r", [("sha", "a.py")]) == {("sha", "a.py"): b""}
    with pytest.raises(LeaseLost):
        port.delete_branch("o/r", "main")


def test_a_deleted_queue_file_answers_503_and_fails_the_health_check(
    queue: SqliteJobQueue,
) -> None:
    """The file deleted under `failclosed serve`: GitHub must see the delivery fail (so it
    can be redelivered), and the orchestrator must see the service unhealthy, and why."""
    payload = load_payload("pull_request.opened")
    sink = Workers(queue, OneInstallation(fake_for(payload)), start=False)
    app = create_app(make_settings(), sink=sink)
    assert request(app, "GET", "/healthz").status_code == 200
    queue.path.unlink()

    response = deliver(app, "pull_request", payload)
    health = request(app, "GET", "/healthz")

    assert response.status_code == 503
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert "deleted or replaced" in health.json()["reason"]
    assert "0 jobs accepted earlier" in health.json()["reason"]  # nor kept in the old file
