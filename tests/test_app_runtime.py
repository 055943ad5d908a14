"""The job runtime both queue modes share (`app.run.runtime`), over a ledger in memory: what
the SQLite queue and the Redis ledger each do is tested in their own modes' tests."""

from __future__ import annotations

import threading
from typing import Any

from support import NOTHING, FakeGitHub, OneInstallation, make_job, wait_for

from failclosed.app.model import Claim, Job, RetryableError, State
from failclosed.app.review.analyze import JobResult
from failclosed.app.review.publish import FAILED_TITLE
from failclosed.app.run.execute import JobExecutor, Runner
from failclosed.app.run.runtime import JobRuntime


class MemoryLedger:
    """A `Ledger` in a dict: which attempt holds which job, and how each job was settled."""

    def __init__(self) -> None:
        self.holder: dict[int, str] = {}
        self.settled: dict[int, tuple[str, str]] = {}
        self.renewed: list[str] = []
        self.expired: dict[int, float] = {}

    def take(self, claim: Claim, token: str) -> None:
        self.holder[claim.id] = token

    def holds(self, claim: Claim, token: str) -> bool:
        return self.holder.get(claim.id) == token

    def renew(self, claim: Claim, token: str, lease_seconds: float) -> bool:
        self.renewed.append(token)
        return self.holds(claim, token)

    def record_check_run(self, claim: Claim, token: str, check_run_id: int) -> None:
        pass

    def _settle(self, claim: Claim, token: str, state: str, reason: str) -> bool:
        if not self.holds(claim, token):
            return False
        del self.holder[claim.id]
        self.settled[claim.id] = (state, reason)
        return True

    def finish(self, claim: Claim, token: str, state: State, reason: str) -> bool:
        return self._settle(claim, token, state, reason)

    def retry(
        self, claim: Claim, token: str, delay: float, reason: str, open_check_run: int | None
    ) -> bool:
        return self._settle(claim, token, "pending", reason)

    def expire(self, claim: Claim, token: str, in_seconds: float) -> bool:
        if not self.holds(claim, token):
            return False
        self.expired[claim.id] = in_seconds
        return True


def claim_of(job_id: int = 1) -> Claim:
    return Claim(id=job_id, job=make_job(), attempt=1, recovered=False, check_run_id=None)


def runtime_for(
    run: Runner, github: FakeGitHub | None = None, **options: Any
) -> tuple[JobRuntime, MemoryLedger]:
    ledger = MemoryLedger()
    executor = JobExecutor(OneInstallation(github or FakeGitHub()), run=run, retry_delays=(5.0,))
    return JobRuntime(ledger, executor, **options), ledger


def run_in_a_thread(
    runtime: JobRuntime, ledger: MemoryLedger, claim: Claim
) -> tuple[str, threading.Thread]:
    """Start the heartbeat, and one attempt at the claim on a thread of its own."""
    token = runtime.new_token()
    ledger.take(claim, token)
    runtime.start()
    attempt = threading.Thread(target=runtime.run, args=(claim, token), daemon=True)
    attempt.start()
    return token, attempt


def test_a_job_is_settled_as_its_outcome_says() -> None:
    def transient_then_done(job: Job, gh: Any) -> JobResult:
        if job.delivery_id == "d-transient":
            raise RetryableError("502 Bad Gateway")
        return JobResult("superseded", reason="the head moved on")

    runtime, ledger = runtime_for(transient_then_done)
    superseded = claim_of(1)
    transient = Claim(2, make_job("d-transient"), 1, False, None)
    for claim in (superseded, transient):
        token = runtime.new_token()
        ledger.take(claim, token)
        runtime.run(claim, token)
    assert ledger.settled == {
        1: ("superseded", "the head moved on"),
        2: ("pending", "RetryableError: 502 Bad Gateway"),
    }


def test_a_hung_attempt_is_failed_with_its_check_run_and_fenced_off() -> None:
    """The heartbeat renews the lease while the job runs; past max_run_seconds the job
    fails closed, the mode is told, and the attempt, coming back, settles nothing."""
    github = FakeGitHub()
    release = threading.Event()

    def hangs(job: Job, gh: Any) -> JobResult:
        gh.create_check_run(job.repository, job.head_sha, "failclosed")
        release.wait(10)
        return NOTHING

    hung: list[str] = []
    runtime, ledger = runtime_for(
        hangs, github, lease_seconds=0.15, max_run_seconds=0.5, on_hung=hung.append
    )
    token, attempt = run_in_a_thread(runtime, ledger, claim_of())
    try:
        wait_for(lambda: bool(github.called("update_check_run")) and bool(hung))
        assert ledger.settled == {1: ("failed", "the job ran over 0.5 s")}
        assert hung == [token]
        assert token in ledger.renewed  # its lease was kept while it ran
        assert github.conclusion() == "failure"
        assert github.title().startswith(FAILED_TITLE)
    finally:
        release.set()
        attempt.join(5)
        runtime.stop(lambda: None)
    assert ledger.settled == {1: ("failed", "the job ran over 0.5 s")}  # nothing more


def test_stop_cuts_the_lease_of_a_job_still_running_short() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(job: Job, gh: Any) -> JobResult:
        started.set()
        release.wait(10)
        return NOTHING

    runtime, ledger = runtime_for(slow, shutdown_lease_seconds=5.0)
    _, attempt = run_in_a_thread(runtime, ledger, claim_of())
    try:
        assert started.wait(5)
        runtime.stop(lambda: None)  # the grace period is over at once
        assert runtime.stopping.is_set()
        assert ledger.expired == {1: 5.0}  # taken over 5 s from now, not handed back
        assert ledger.settled == {}
    finally:
        release.set()
        attempt.join(5)
    assert ledger.settled == {1: ("done", "")}  # it still held the job: its result counts
