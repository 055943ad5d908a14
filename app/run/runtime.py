"""One job runtime for both queue modes: the jobs this process holds, their heartbeat, the
attempts that hang, settling, and shutdown.

A queue mode claims jobs its own way (the embedded queue's worker threads in
`app.run.worker`, dramatiq's actor in `app.run.distributed`) and hands each claim to
`JobRuntime.run`, with a `Ledger`: where the mode records what happens to the jobs (the
SQLite queue, the Redis ledger). What happens to a job, retries and take-overs
included, is `app.run.execute`'s policy; the runtime carries it out:

- `run` holds the claim while the job runs, then settles it: finished (done,
  superseded, failed) or back to pending after a back-off.
- The heartbeat renews the lease of every job held, three times a lease, so a job stays
  claimed while its process lives and is taken over once a dead process's lease runs out.
- An attempt still running after `max_run_seconds` is taken to hang (a file's analysis
  cannot: it is killed past its budget): the job is failed, with its check run, and the
  attempt is fenced off (its token holds nothing any more); `on_hung` tells the mode.
- `stop`: no new claims (`stopping`), running jobs get the mode's grace period; one still
  running after it is not handed back while its thread may still publish: its lease is
  cut short, so another worker takes it over (with its check run) soon after this
  process is gone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from failclosed.app.model import (
    LEASE_SECONDS,
    MAX_RUN_SECONDS,
    SHUTDOWN_LEASE_SECONDS,
    Claim,
    State,
)
from failclosed.app.run.execute import AttemptOutcome, Finished, JobExecutor

logger = logging.getLogger(__name__)


class Ledger(Protocol):
    """Where a queue mode records what happens to a claimed job. Each call names the
    attempt (`token`) making it; one the attempt no longer holds (its lease ran out and
    another took the job over, or it was failed as hung) is refused: False."""

    def renew(self, claim: Claim, token: str, lease_seconds: float) -> bool: ...

    def holds(self, claim: Claim, token: str) -> bool: ...

    def record_check_run(self, claim: Claim, token: str, check_run_id: int) -> None: ...

    def finish(self, claim: Claim, token: str, state: State, reason: str) -> bool: ...

    def retry(
        self, claim: Claim, token: str, delay: float, reason: str, open_check_run: int | None
    ) -> bool: ...

    def expire(self, claim: Claim, token: str, in_seconds: float) -> bool:
        """Cut the attempt's lease short: the job is taken over `in_seconds` from now."""
        ...


@dataclass(frozen=True)
class Held:
    """A job this process is running: the claim, and since when."""

    claim: Claim
    started: float


class JobRuntime:
    """Runs claimed jobs for one process over a `Ledger` (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        executor: JobExecutor,
        *,
        lease_seconds: float = LEASE_SECONDS,
        max_run_seconds: float = MAX_RUN_SECONDS,
        shutdown_lease_seconds: float = SHUTDOWN_LEASE_SECONDS,
        on_hung: Callable[[str], None] = lambda token: None,
    ) -> None:
        self.ledger = ledger
        self.executor = executor
        self.lease_seconds = lease_seconds
        self.stopping = threading.Event()
        self._max_run = max_run_seconds
        self._shutdown_lease = shutdown_lease_seconds
        self._on_hung = on_hung
        self._process = f"{os.uname().nodename}:{os.getpid()}"
        self._held: dict[str, Held] = {}  # attempt token -> the job it runs
        self._held_lock = threading.Lock()
        self._heartbeat = threading.Thread(
            target=self._beat, name="failclosed-heartbeat", daemon=True
        )

    def new_token(self) -> str:
        """A token for one attempt: two attempts in this process (after a stall past the
        lease, say) are told apart like attempts in two processes."""
        return f"{self._process}:{uuid.uuid4().hex[:12]}"

    def start(self) -> None:
        """Start the heartbeat."""
        self._heartbeat.start()

    def stop(self, wait_for_running: Callable[[], None]) -> None:
        """No new claims; `wait_for_running` gives running jobs the mode's grace period.
        A job still running after it has its lease cut short (see the module docstring)."""
        self.stopping.set()
        wait_for_running()
        with self._held_lock:
            unfinished = dict(self._held)
        for token, held in unfinished.items():  # may still publish: not handed back yet
            try:
                if self.ledger.expire(held.claim, token, self._shutdown_lease):
                    logger.warning(
                        "job still running at shutdown: taken over after its lease",
                        extra=_ids(held.claim),
                    )
            except Exception:
                logger.exception("could not cut a running job's lease short")
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=1.0)

    # -- one job ----------------------------------------------------------------------

    def run(self, claim: Claim, token: str) -> AttemptOutcome:
        """Run the claimed job as the attempt `token`, then do what the outcome says:
        finish it or put it back for later. An attempt that was taken over or failed as
        hung meanwhile settles nothing: the ledger refuses it."""

        def record(check_run_id: int) -> None:
            self.ledger.record_check_run(claim, token, check_run_id)

        def still_held() -> bool:
            return self.ledger.holds(claim, token)

        with self._held_lock:
            self._held[token] = Held(claim, time.monotonic())
        try:
            outcome = self.executor.execute(claim, record, still_held, self.lease_seconds)
            if isinstance(outcome, Finished):
                self.ledger.finish(claim, token, outcome.state, outcome.reason)
            else:
                self.ledger.retry(
                    claim, token, outcome.delay, outcome.reason, outcome.open_check_run
                )
            return outcome
        finally:
            with self._held_lock:
                self._held.pop(token, None)

    # -- the heartbeat ----------------------------------------------------------------

    def _beat(self) -> None:
        """Renew the leases of the jobs held, three times a lease; fail the hung ones."""
        while not self.stopping.wait(self.lease_seconds / 3):
            with self._held_lock:
                held = dict(self._held)
            for token, attempt in held.items():
                if time.monotonic() - attempt.started > self._max_run:
                    self._fail_hung(token, attempt)
                    continue
                try:
                    if not self.ledger.renew(attempt.claim, token, self.lease_seconds):
                        logger.warning("lost the lease of a running job", extra=_ids(attempt.claim))
                except Exception:
                    logger.exception("could not renew a job's lease", extra=_ids(attempt.claim))

    def _fail_hung(self, token: str, attempt: Held) -> None:
        """An attempt ran past `max_run_seconds`: something hangs it. Fail the job and,
        from another thread (GitHub may be slow, and the heartbeat must go on), its check
        run. The hung thread stays stuck, but fenced off: its token holds nothing."""
        with self._held_lock:
            if self._held.get(token) is not attempt:  # it finished meanwhile
                return
            del self._held[token]
        why = f"ran over {self._max_run:g} s"
        try:
            failed = self.ledger.finish(attempt.claim, token, "failed", f"the job {why}")
        except Exception:
            logger.exception("could not fail a job that ran too long", extra=_ids(attempt.claim))
            return
        if not failed:  # it finished meanwhile
            return
        threading.Thread(
            target=self.executor.give_up, args=(attempt.claim, why), daemon=True
        ).start()
        self._on_hung(token)


def _ids(claim: Claim) -> dict[str, Any]:
    """Which job a log line is about, in either mode."""
    return {"job_id": claim.id, "delivery_id": claim.job.delivery_id}
