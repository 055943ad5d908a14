"""Runs accepted jobs in the serving process: the link from the webhook to the analysis.

One worker thread takes jobs from an in-process queue and runs them one at a time, so the
webhook can answer GitHub at once. This is the embedded mode without durability: a job
accepted right before the process dies is lost. Durable queues are issue 4; until then
the queue is bounded and a full queue makes the delivery fail (503), so GitHub shows it
as failed and it can be redelivered, instead of being dropped silently.

A job that fails with a transient GitHub error (no answer, 5xx, 429: `retryable`) is run
again after a back-off, a few times; githubkit has already retried the single request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from app.apply_fixes import run_apply_fixes
from app.job import run_analysis
from app.ports import GitHubPort
from app.webhooks import Job, JobKind, JobSinkFull

logger = logging.getLogger(__name__)

STOP = None  # put on the queue to end the worker
RETRY_DELAYS = (5.0, 30.0, 120.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_ASKED_DELAY = 3_600.0  # a rate limit's reset is at most an hour away

Queued = tuple[Job, int]  # a job and how many attempts it has had


class Installations(Protocol):
    """Hands out a GitHub client for one installation (`app.github.GitHubApp` does)."""

    def installation(self, installation_id: int) -> GitHubPort: ...


class ThreadedJobSink:
    """A `JobSink` whose jobs a background thread runs against GitHub."""

    def __init__(
        self,
        installations: Installations,
        run: Callable[[Job, GitHubPort], object] = run_analysis,
        max_pending: int = 1_000,
        apply_fixes: Callable[[Job, GitHubPort], object] = run_apply_fixes,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._installations = installations
        self._runners: dict[JobKind, Callable[[Job, GitHubPort], object]] = {
            JobKind.ANALYZE: run,
            JobKind.APPLY_FIXES: apply_fixes,
        }
        self._retry_delays = retry_delays
        self._waiting = 0  # retries scheduled but not queued yet
        self._lock = threading.Condition()
        self._queue: queue.Queue[Queued | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._work, name="failclosed-worker", daemon=True)
        self._thread.start()

    def enqueue(self, job: Job) -> None:
        """Queue the job; raise `JobSinkFull` rather than block the webhook or drop it."""
        try:
            self._queue.put_nowait((job, 0))
        except queue.Full as exc:
            raise JobSinkFull(f"{self._queue.maxsize} jobs are already waiting") from exc

    def join(self) -> None:
        """Wait until every queued job, retries included, has run (tests, shutdown)."""
        while True:
            self._queue.join()
            with self._lock:
                if self._waiting == 0 and self._queue.unfinished_tasks == 0:
                    return
                self._lock.wait(timeout=0.05)

    def stop(self) -> None:
        """Finish the queued jobs, then end the worker thread."""
        self._queue.put(STOP)
        self._thread.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is STOP:
                    return
                self._run_one(*item)
            finally:
                self._queue.task_done()

    def _run_one(self, job: Job, attempt: int = 0) -> None:
        """Run a job by its kind; log failures.

        A failing analyze job has already failed its check run if it could, and a failing
        apply-fixes job has said so on the pull request if it could.
        """
        context = {
            "delivery_id": job.delivery_id,
            "repository": job.repository,
            "job_kind": job.kind.value,
        }
        run = self._runners.get(job.kind)
        if run is None:  # a kind added to webhooks but not here: say so, do not guess
            logger.warning("no runner for this kind of job", extra=context)
            return
        try:
            github = self._installations.installation(job.installation_id)
            run(job, github)
        except Exception as exc:
            if getattr(exc, "retryable", False) and attempt < len(self._retry_delays):
                delay = self._retry_delays[attempt]
                asked = getattr(exc, "retry_after", None)  # a rate limit's Retry-After/reset
                if asked:
                    delay = max(delay, min(float(asked), MAX_ASKED_DELAY))
                logger.warning(
                    "job failed with a transient error, retrying",
                    extra={**context, "attempt": attempt + 1, "retry_in_seconds": delay},
                )
                self._retry_later(job, attempt + 1, delay)
                return
            logger.exception("job failed", extra=context)

    def _retry_later(self, job: Job, attempt: int, delay: float) -> None:
        """Queue the job again after `delay` seconds, without holding up the worker."""
        with self._lock:
            self._waiting += 1

        def requeue() -> None:
            try:
                self._queue.put((job, attempt))
            finally:
                with self._lock:
                    self._waiting -= 1
                    self._lock.notify_all()

        timer = threading.Timer(delay, requeue)
        timer.daemon = True
        timer.start()
