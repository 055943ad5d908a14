"""Runs the embedded queue's jobs in worker threads: the link from the webhook to GitHub.

`Workers` is the webhook's `JobSink` too: `enqueue` commits the job to the queue file
before the webhook answers, and wakes a worker. Each worker thread claims one job at a
time under a lease and hands it to the job runtime (`app.run.runtime`, shared with the Redis
mode): its heartbeat renews the leases of the jobs in hand, so a job stays claimed while
its worker lives and is claimed again once a killed worker's lease runs out (see
`app.run.queue`); a job that hangs is failed and its thread replaced. What happens to each
job, retries and take-overs included, is `app.run.execute`'s policy.

Shutdown (`stop`, on SIGTERM through uvicorn): no new claims; running jobs get
`grace_seconds` to finish. One still running after that is not handed back while its
thread may still publish: its lease is cut short, so another worker takes it over (with
its check run) soon after this process is gone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from failclosed.app.model import GRACE_SECONDS, LEASE_SECONDS, MAX_RUN_SECONDS, Claim, Job, State
from failclosed.app.review.analyze import run_analysis
from failclosed.app.review.apply_fixes import run_apply_fixes
from failclosed.app.review.merge_group import run_merge_group
from failclosed.app.run.execute import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    Installations,
    JobExecutor,
    Runner,
)
from failclosed.app.run.queue import SqliteJobQueue
from failclosed.app.run.runtime import JobRuntime

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # an idle worker thread looks for a job this often (or when woken)
PRUNE_SECONDS = 3600.0  # finished jobs older than two weeks are forgotten this often


class ClaimsInSqlite:
    """The SQLite queue as the job runtime's `Ledger` (`app.run.runtime`)."""

    def __init__(self, queue: SqliteJobQueue) -> None:
        self.queue = queue

    def renew(self, claim: Claim, token: str, lease_seconds: float) -> bool:
        return bool(self.queue.renew(token, [claim.id], lease_seconds))

    def holds(self, claim: Claim, token: str) -> bool:
        return self.queue.holds(claim.id, token)

    def record_check_run(self, claim: Claim, token: str, check_run_id: int) -> None:
        self.queue.record_check_run(claim.id, token, check_run_id)

    def finish(self, claim: Claim, token: str, state: State, reason: str) -> bool:
        return self.queue.finish(claim.id, token, state, reason)

    def retry(
        self, claim: Claim, token: str, delay: float, reason: str, open_check_run: int | None
    ) -> bool:
        return self.queue.retry(claim.id, token, delay, reason, open_check_run)

    def expire(self, claim: Claim, token: str, in_seconds: float) -> bool:
        return self.queue.expire(claim.id, token, in_seconds)


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
        merge_group: Runner = run_merge_group,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        max_run_seconds: float = MAX_RUN_SECONDS,
        start: bool = True,
    ) -> None:
        self.queue = queue
        executor = JobExecutor(
            installations,
            run=run,
            apply_fixes=apply_fixes,
            merge_group=merge_group,
            retry_delays=retry_delays,
            max_attempts=max_attempts,
        )
        self.runtime = JobRuntime(
            ClaimsInSqlite(queue),
            executor,
            lease_seconds=lease_seconds,
            max_run_seconds=max_run_seconds,
            on_hung=self._replace_thread,
        )
        self._poll = poll_seconds
        self._wake = threading.Condition()
        self._hung: set[str] = set()  # attempts failed as hung: their threads were replaced
        self._hung_lock = threading.Lock()
        self._pruned_at: float | None = None
        self._prune_lock = threading.Lock()
        self._threads = [self._new_thread() for _ in range(max(1, threads))]
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

    def counts(self) -> dict[str, int]:
        """Jobs per state in the queue (for /metrics)."""
        return self.queue.counts()

    def problem(self) -> str | None:
        """Why deliveries cannot be accepted now (for /healthz), or None: the queue file
        was deleted or replaced under the running process."""
        return self.queue.problem()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self.runtime.start()

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
        """Take no new job; give running ones `grace_seconds`, then cut the leases of the
        rest short (see the module docstring)."""

        def wait_for_running() -> None:
            with self._wake:
                self._wake.notify_all()
            deadline = time.monotonic() + grace_seconds
            for thread in list(self._threads):
                thread.join(max(0.0, deadline - time.monotonic()))

        self.runtime.stop(wait_for_running)

    # -- the threads ------------------------------------------------------------------

    def _work(self) -> None:
        while not self.runtime.stopping.is_set():
            self._prune_now_and_then()
            try:
                token = self.runtime.new_token()
                claim = self.queue.claim(token, self.runtime.lease_seconds)
            except Exception:
                logger.exception("could not claim a job; trying again")
                claim = None
            if claim is None:
                with self._wake:
                    self._wake.wait(self._poll)
                continue
            try:
                self.runtime.run(claim, token)
            except Exception:  # never let one job end the thread
                logger.exception("worker error", extra={"job_id": claim.id})
            with self._hung_lock:
                if token in self._hung:  # a replacement thread took this one's place
                    self._hung.discard(token)
                    return

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(
            target=self._work, name=f"failclosed-worker-{uuid.uuid4().hex[:6]}", daemon=True
        )

    def _replace_thread(self, token: str) -> None:
        """The attempt `token` was failed as hung (`app.run.runtime`): its thread stays stuck,
        so the pool gets a new one; the stuck one ends if it ever comes back."""
        with self._hung_lock:
            self._hung.add(token)
        if self.runtime.stopping.is_set():
            return
        thread = self._new_thread()
        self._threads.append(thread)
        try:
            thread.start()
        except RuntimeError:  # cannot start threads: the heartbeat must go on anyway
            logger.exception("could not replace a hung worker thread")

    def _prune_now_and_then(self) -> None:
        """Once an hour, forget finished jobs older than two weeks."""
        with self._prune_lock:
            now = time.monotonic()
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_SECONDS:
                return
            self._pruned_at = now
        try:
            self.queue.prune()
        except Exception:
            logger.exception("could not prune finished jobs")
