"""Runs accepted jobs in the serving process: the link from the webhook to the analysis.

One worker thread takes jobs from an in-process queue and runs them one at a time, so the
webhook can answer GitHub at once. This is the embedded mode without durability: a job
accepted right before the process dies is lost. Durable queues are issue 4; until then
the queue is bounded and a full queue makes the delivery fail (503), so GitHub shows it
as failed and it can be redelivered, instead of being dropped silently.
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
    ) -> None:
        self._installations = installations
        self._runners: dict[JobKind, Callable[[Job, GitHubPort], object]] = {
            JobKind.ANALYZE: run,
            JobKind.APPLY_FIXES: apply_fixes,
        }
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._work, name="failclosed-worker", daemon=True)
        self._thread.start()

    def enqueue(self, job: Job) -> None:
        """Queue the job; raise `JobSinkFull` rather than block the webhook or drop it."""
        try:
            self._queue.put_nowait(job)
        except queue.Full as exc:
            raise JobSinkFull(f"{self._queue.maxsize} jobs are already waiting") from exc

    def join(self) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        self._queue.join()

    def stop(self) -> None:
        """Finish the queued jobs, then end the worker thread."""
        self._queue.put(STOP)
        self._thread.join()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is STOP:
                    return
                self._run_one(job)
            finally:
                self._queue.task_done()

    def _run_one(self, job: Job) -> None:
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
        except Exception:
            logger.exception("job failed", extra=context)
