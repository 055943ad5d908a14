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
    ) -> None:
        self._installations = installations
        self._run = run
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
        """Run a job; log failures (the job has already failed its check run if it could)."""
        context = {"delivery_id": job.delivery_id, "repository": job.repository}
        if job.kind is not JobKind.ANALYZE:
            # The "Apply fixes" button is not built yet (issue 3): say so in the logs
            # rather than pretend; the check run keeps the analysis' conclusion.
            logger.warning("apply-fixes jobs are not supported yet", extra=context)
            return
        try:
            github = self._installations.installation(job.installation_id)
            self._run(job, github)
        except Exception:
            logger.exception("job failed", extra=context)
