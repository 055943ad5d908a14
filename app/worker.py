"""Runs the durable queue's jobs in worker threads: the link from the webhook to GitHub.

`Workers` is the webhook's `JobSink` too: `enqueue` commits the job to the queue file
before the webhook answers, and wakes a worker. Each worker thread claims one job at a
time under a lease; a heartbeat thread renews the leases of the jobs in hand, so a job
stays claimed while its worker lives and is claimed again once a killed worker's lease
runs out (see `app.queue`).

Exactly one check run per attempt chain: the first `create_check_run` of a job is written
down in the queue, and an attempt that takes over from a dead worker completes that same
check run instead of creating a second one (`RememberedCheckRun`); if the pull request
moved on meanwhile, the job completes that run as superseded rather than leave it in
progress. Comments are not repeated either: the job finds its earlier ones by their
fingerprints.

An analyze job that fails with a transient GitHub error (no answer, 5xx, 429:
`retryable`) is put back with a back-off (longer if GitHub asked for a longer wait); any
other failure, or running out of retries, fails it with the reason. Apply-fixes jobs are
not repeated, neither after an error nor after their worker died: a commit request that
got no answer may have landed, so the pull request is told to check and press again.
A failed analyze job has already failed its check run, so nothing is left green. A job
whose workers keep dying is failed after `MAX_ATTEMPTS` claims, and its check run with it.

Shutdown (`stop`, on SIGTERM through uvicorn): no new claims; running jobs get
`grace_seconds` to finish, and those still running are released to run again later.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from app.apply_fixes import interrupted_message, run_apply_fixes
from app.job import failure_reason, run_analysis
from app.ports import GitHubPort
from app.publish import FAILED_TITLE, failed_check_run_payload
from app.queue import Claim, SqliteJobQueue
from app.webhooks import Job, JobKind

logger = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_ASKED_DELAY = 3_600.0  # a rate limit's reset is at most an hour away
MAX_ATTEMPTS = 6  # claims of one job, retries and worker deaths together
LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0
GRACE_SECONDS = 20.0

Runner = Callable[[Job, GitHubPort], object]


class Installations(Protocol):
    """Hands out a GitHub client for one installation (`app.github.GitHubApp` does)."""

    def installation(self, installation_id: int) -> GitHubPort: ...


class Workers:
    """Worker threads over a `SqliteJobQueue`; also the webhook's `JobSink`."""

    def __init__(
        self,
        queue: SqliteJobQueue,
        installations: Installations,
        *,
        threads: int = 2,
        run: Runner = run_analysis,
        apply_fixes: Runner = run_apply_fixes,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        start: bool = True,
    ) -> None:
        self.queue = queue
        self._installations = installations
        self._runners: dict[JobKind, Runner] = {
            JobKind.ANALYZE: run,
            JobKind.APPLY_FIXES: apply_fixes,
        }
        self._retry_delays = retry_delays
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"failclosed-worker-{n}", daemon=True)
            for n in range(max(1, threads))
        ]
        self._heartbeat = threading.Thread(
            target=self._beat, name="failclosed-heartbeat", daemon=True
        )
        if start:
            self.start()

    # -- the webhook's side -----------------------------------------------------------

    def enqueue(self, job: Job) -> None:
        """Commit the job to the queue file (a redelivery is kept once), wake a worker."""
        if not self.queue.enqueue(job):
            logger.info(
                "delivery already queued",
                extra={"delivery_id": job.delivery_id, "repository": job.repository},
            )
        with self._wake:
            self._wake.notify()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        for thread in (*self._threads, self._heartbeat):
            thread.start()

    def join(self, timeout: float = 60.0) -> None:
        """Wait until no job is pending or running (tests); TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still unfinished after {timeout} s")
            with self._wake:
                self._wake.notify_all()
            time.sleep(0.01)

    def stop(self, grace_seconds: float = GRACE_SECONDS) -> None:
        """Take no new job; give running ones `grace_seconds`, then release the rest."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._held_lock:
            unfinished = sorted(self._held)
        for job_id in unfinished:
            if self.queue.release(job_id, self._owner):
                logger.warning("job released at shutdown", extra={"job_id": job_id})
        self._heartbeat.join(timeout=1.0)

    # -- the threads ------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                claim = self.queue.claim(self._owner, self._lease)
            except Exception:
                logger.exception("could not claim a job; trying again")
                claim = None
            if claim is None:
                with self._wake:
                    self._wake.wait(self._poll)
                continue
            with self._held_lock:
                self._held.add(claim.id)
            try:
                self._run_claim(claim)
            except Exception:  # never let one job end the thread
                logger.exception("worker error", extra={"job_id": claim.id})
            finally:
                with self._held_lock:
                    self._held.discard(claim.id)

    def _beat(self) -> None:
        """Renew the leases of the jobs in hand, three times a lease."""
        while not self._stopping.wait(self._lease / 3):
            with self._held_lock:
                held = set(self._held)
            if not held:
                continue
            try:
                lost = held - self.queue.renew(self._owner, held, self._lease)
            except Exception:
                logger.exception("could not renew job leases")
                continue
            for job_id in lost:
                logger.warning("lost the lease of a running job", extra={"job_id": job_id})

    # -- one job ----------------------------------------------------------------------

    def _run_claim(self, claim: Claim) -> None:
        job = claim.job
        context = {
            "delivery_id": job.delivery_id,
            "repository": job.repository,
            "job_kind": job.kind.value,
            "job_id": claim.id,
            "attempt": claim.attempt,
            "pull_requests": list(job.pull_requests),
            "head_sha": job.head_sha,
        }
        if claim.recovered:
            logger.warning("job taken over from a worker that stopped", extra=context)
        run = self._runners.get(job.kind)
        if run is None:  # a kind added to webhooks but not here: say so, do not guess
            self.queue.finish(claim.id, self._owner, "failed", "no runner for this job kind")
            return
        if claim.attempt > self._max_attempts:
            self._give_up(claim, f"stopped {claim.attempt - 1} times before finishing")
            return
        if claim.recovered and job.kind is JobKind.APPLY_FIXES:
            self._abandon_interrupted_commit(claim)
            return
        try:
            github = RememberedCheckRun(
                self._installations.installation(job.installation_id),
                claim,
                lambda check_run_id: self.queue.record_check_run(
                    claim.id, self._owner, check_run_id
                ),
            )
            result = run(job, github)
        except Exception as exc:
            self._after_failure(claim, exc, context)
            return
        state = "superseded" if getattr(result, "status", "") == "superseded" else "done"
        self.queue.finish(claim.id, self._owner, state, getattr(result, "reason", ""))
        logger.info("job finished", extra={**context, **outcome_fields(result), "state": state})

    def _after_failure(self, claim: Claim, exc: Exception, context: dict[str, Any]) -> None:
        """Retry a transient failure of an analysis; fail anything else with its reason.

        Apply-fixes jobs are never retried: the job has told the pull request what went
        wrong, and a failed commit request may still have landed.
        """
        reason = failure_reason(exc)
        retries_left = claim.attempt <= len(self._retry_delays)
        retryable = getattr(exc, "retryable", False) and claim.job.kind is JobKind.ANALYZE
        if retryable and retries_left:
            delay = self._retry_delays[claim.attempt - 1]
            asked = getattr(exc, "retry_after", None)  # a rate limit's Retry-After/reset
            if asked:
                delay = max(delay, min(float(asked), MAX_ASKED_DELAY))
            logger.warning(
                "job failed with a transient error, retrying",
                extra={**context, "retry_in_seconds": delay, "reason": reason},
            )
            self.queue.retry(claim.id, self._owner, delay, reason)
            return
        logger.error("job failed", extra={**context, "reason": reason}, exc_info=exc)
        self.queue.finish(claim.id, self._owner, "failed", reason)

    def _abandon_interrupted_commit(self, claim: Claim) -> None:
        """An Apply fixes run whose worker died: say so on its PRs instead of repeating it."""
        reason = "interrupted; not repeated, since its commit may have landed"
        github = self._installations.installation(claim.job.installation_id)
        for number in claim.job.pull_requests:
            try:
                github.comment_on_pull_request(claim.job.repository, number, interrupted_message())
            except Exception as exc:
                logger.warning("could not comment on the PR: %s", failure_reason(exc))
        self.queue.finish(claim.id, self._owner, "failed", reason)

    def _give_up(self, claim: Claim, why: str) -> None:
        """Fail a job that keeps killing its workers, and its check run if it has one."""
        reason = f"the job {why}"
        if claim.check_run_id is not None:
            try:
                github = self._installations.installation(claim.job.installation_id)
                payload = failed_check_run_payload(reason, claim.job.head_sha)
                github.update_check_run(claim.job.repository, claim.check_run_id, payload)
            except Exception as exc:
                logger.warning("could not fail the check run: %s", failure_reason(exc))
        logger.error("%s: %s", FAILED_TITLE, reason, extra={"job_id": claim.id})
        self.queue.finish(claim.id, self._owner, "failed", reason)


def outcome_fields(result: object) -> dict[str, Any]:
    """What a job's result says, for its log line: status, findings, blocking, calls."""
    fields = {}
    for name in ("status", "findings", "blocking", "api_calls"):
        value = getattr(result, name, None)
        if isinstance(value, str | int | bool):
            fields[f"result_{name}"] = value
    return fields


class RememberedCheckRun:
    """A `GitHubPort` that makes at most one check run per job across attempts.

    The first attempt's `create_check_run` is recorded in the queue; an attempt taking
    over from a worker that died gets that same id back instead of a second check run.
    Every other call goes to the wrapped port.
    """

    def __init__(self, inner: GitHubPort, claim: Claim, record: Callable[[int], None]) -> None:
        self.inner = inner
        self._claim = claim
        self._record = record

    def create_check_run(self, repo: str, head_sha: str, name: str) -> int:
        previous = self._claim.check_run_id
        if self._claim.recovered and previous is not None and head_sha == self._claim.job.head_sha:
            return previous
        check_run_id = self.inner.create_check_run(repo, head_sha, name)
        self._record(check_run_id)
        return check_run_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
