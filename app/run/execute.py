"""One job, whichever queue it came from: the policy both queue modes share.

`JobExecutor.execute` runs a claimed job against GitHub and says what should happen to
it next (`Finished` or `RetryLater`); the job runtime (`app.run.runtime`) carries that out in
the ledger of the queue that handed the job out: the embedded SQLite queue
(`app.run.worker.Workers`) or the Redis one (`app.run.distributed`).

- Exactly one check run per job across attempts: the first `create_check_run` is
  recorded, and an attempt taking over from a dead worker completes that same run
  (`AttemptPort`); if the pull request moved on meanwhile, the job completes it
  as superseded rather than leave it in progress. Comments are not repeated either: the
  job finds its earlier ones by their fingerprints.
- An analyze, merge-group or code-scanning job that fails with a transient GitHub error
  (no answer, 5xx, 429: a `RetryableError`) is retried after a back-off (longer if
  GitHub asked for a longer wait); any other failure (a 403 on a SARIF upload, say), or
  running out of retries, fails it with the reason. A failed
  analyze job has already failed its check run, so nothing is left green.
- Apply-fixes jobs are not repeated, neither after an error nor after their worker
  died: a commit request that got no answer may have landed, so the pull request is
  told to check and press again.
- A job whose workers keep dying is failed after `max_attempts` claims, and its check
  run with it.
- Each job's GitHub client is entered for the job's lifetime (`one_client`): its requests
  share one HTTP client and connection instead of building one per request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from failclosed.app import metrics
from failclosed.app.github.port import GitHubPort
from failclosed.app.model import Claim, Job, JobKind, RetryableError, RunResult, State
from failclosed.app.review.analyze import checked_subject, failure_reason, run_analysis
from failclosed.app.review.apply_fixes import interrupted_message, run_apply_fixes
from failclosed.app.review.code_scanning import run_code_scanning
from failclosed.app.review.merge_group import run_merge_group
from failclosed.app.review.publish import CHECK_NAME, FAILED_TITLE, failed_check_run_payload

logger = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)  # seconds before the 2nd, 3rd and 4th attempt
MAX_ASKED_DELAY = 3_600.0  # a rate limit's reset is at most an hour away
MAX_ATTEMPTS = 6  # claims of one job, retries and worker deaths together
# Kinds whose transient failures are retried: running them again repeats nothing visible
# (a check run is reused, comments are found by fingerprint, a SARIF upload replaces).
RETRIED_KINDS = frozenset({JobKind.ANALYZE, JobKind.MERGE_GROUP, JobKind.CODE_SCANNING})

Runner = Callable[[Job, GitHubPort], RunResult]


class Installations(Protocol):
    """Hands out a GitHub client for one installation (`app.github.client.GitHubApp` does)."""

    def installation(self, installation_id: int) -> GitHubPort: ...


@contextmanager
def one_client(port: GitHubPort) -> Iterator[GitHubPort]:
    """`port`, entered for as long as the `with` lasts when it is a context manager (the
    real `GitHubClient`: one HTTP client for the job, not one per request); as it is
    otherwise (the tests' fakes)."""
    if isinstance(port, AbstractContextManager):
        with port:
            yield port
    else:
        yield port


@dataclass(frozen=True)
class Finished:
    """The job is over: done, superseded or failed, and why."""

    state: State
    reason: str = ""


@dataclass(frozen=True)
class RetryLater:
    """Run the job again after `delay` seconds."""

    delay: float
    reason: str
    # The check run the attempt could not complete (GitHub failed that too): the next
    # attempt takes it up instead of leaving it in progress beside a new one.
    open_check_run: int | None = None


AttemptOutcome = Finished | RetryLater


class JobExecutor:
    """Runs claimed jobs by their kind, with the retry and take-over policy above."""

    def __init__(
        self,
        installations: Installations,
        *,
        run: Runner = run_analysis,
        apply_fixes: Runner = run_apply_fixes,
        merge_group: Runner = run_merge_group,
        code_scanning: Runner = run_code_scanning,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._installations = installations
        self._runners: dict[JobKind, Runner] = {
            JobKind.ANALYZE: run,
            JobKind.APPLY_FIXES: apply_fixes,
            JobKind.MERGE_GROUP: merge_group,
            JobKind.CODE_SCANNING: code_scanning,
        }
        self._retry_delays = retry_delays
        self._max_attempts = max_attempts

    def execute(
        self,
        claim: Claim,
        record_check_run: Callable[[int], None],
        still_held: Callable[[], bool] = lambda: True,
        lease_seconds: float = 60.0,
    ) -> AttemptOutcome:
        """Run the claimed job; `record_check_run` keeps the id of the run it creates,
        `still_held` says whether this attempt still holds the job (see `AttemptPort`)."""
        job = claim.job
        context = job_context(claim)
        if claim.recovered:
            logger.warning("job taken over from a worker that stopped", extra=context)
        run = self._runners.get(job.kind)
        if run is None:  # a kind added to webhooks but not here: say so, do not guess
            return Finished("failed", "no runner for this job kind")
        if claim.attempt > self._max_attempts:
            return self.give_up(claim, f"stopped {claim.attempt - 1} times before finishing")
        if claim.recovered and job.kind is JobKind.APPLY_FIXES:
            return self._abandon_interrupted_commit(claim)
        started = time.monotonic()
        try:
            with one_client(self._installations.installation(job.installation_id)) as client:
                github = AttemptPort(client, claim, record_check_run, still_held, lease_seconds)
                result = run(job, github)
            # Read here: a runner that answers something else fails the job.
            finished = Finished(result.final_state, result.reason)
            fields = result.log_fields()
        except Exception as exc:
            outcome = self._after_failure(claim, exc, context)
        else:
            logger.info("job finished", extra={**context, **fields, "state": finished.state})
            outcome = finished
        metrics.JOB_SECONDS.labels(job.kind.value).observe(time.monotonic() - started)
        outcome_label = outcome.state if isinstance(outcome, Finished) else "retried"
        metrics.JOBS_FINISHED.labels(job.kind.value, outcome_label).inc()
        if isinstance(outcome, Finished) and claim.created_at:
            metrics.JOB_LATENCY.labels(job.kind.value).observe(
                max(0.0, time.time() - claim.created_at)
            )
        return outcome

    def _after_failure(
        self, claim: Claim, exc: Exception, context: dict[str, Any]
    ) -> AttemptOutcome:
        """Retry a transient failure of an analysis (of a pull request, a merge group or a
        default branch for code scanning); fail anything else with its reason.

        Apply-fixes jobs are never retried: the job has told the pull request what went
        wrong, and a failed commit request may still have landed.
        """
        reason = failure_reason(exc)
        retries_left = claim.attempt <= len(self._retry_delays)
        analysis = claim.job.kind in RETRIED_KINDS
        if isinstance(exc, RetryableError) and analysis and retries_left:
            delay = self._retry_delays[claim.attempt - 1]
            if exc.retry_after:  # a rate limit's Retry-After/reset
                delay = max(delay, min(exc.retry_after, MAX_ASKED_DELAY))
            logger.warning(
                "job failed with a transient error, retrying",
                extra={**context, "retry_in_seconds": delay, "reason": reason},
            )
            return RetryLater(delay, reason, open_check_run=exc.check_run_left_open)
        logger.error("job failed", extra={**context, "reason": reason}, exc_info=exc)
        return Finished("failed", reason)

    def _abandon_interrupted_commit(self, claim: Claim) -> AttemptOutcome:
        """An Apply fixes run whose worker died: say so on its PRs instead of repeating it."""
        with one_client(self._installations.installation(claim.job.installation_id)) as github:
            for number in claim.job.pull_requests:
                try:
                    github.comment_on_pull_request(
                        claim.job.repository, number, interrupted_message()
                    )
                except Exception as exc:
                    logger.warning("could not comment on the PR: %s", failure_reason(exc))
        return Finished("failed", "interrupted; not repeated, since its commit may have landed")

    def give_up(self, claim: Claim, why: str) -> Finished:
        """Fail a job that keeps killing its workers (or hangs one), and its check run if
        it has one (found by its tag if it was never recorded)."""
        reason = f"the job {why}"
        job = claim.job
        try:
            with one_client(self._installations.installation(job.installation_id)) as github:
                check_run_id = claim.check_run_id or github.find_check_run(
                    job.repository, job.head_sha, CHECK_NAME, job.delivery_id
                )
                if check_run_id is not None:
                    payload = failed_check_run_payload(reason, job.head_sha, checked_subject(job))
                    github.update_check_run(job.repository, check_run_id, payload)
        except Exception as exc:
            logger.warning("could not fail the check run: %s", failure_reason(exc))
        logger.error("%s: %s", FAILED_TITLE, reason, extra={"job_id": claim.id})
        return Finished("failed", reason)


def job_context(claim: Claim) -> dict[str, Any]:
    """The fields every log line about a job carries."""
    job = claim.job
    return {
        "delivery_id": job.delivery_id,
        "repository": job.repository,
        "job_kind": job.kind.value,
        "job_id": claim.id,
        "attempt": claim.attempt,
        "pull_requests": list(job.pull_requests),
        "head_sha": job.head_sha,
    }


class LeaseLost(RuntimeError):
    """Another attempt holds this job now: this one must not write to GitHub any more."""


class AttemptPort:
    """The `GitHubPort` one attempt of a job sees: one check run across attempts, and no
    write once the attempt no longer holds the job.

    - The first attempt's `create_check_run` is recorded in the queue; a later attempt
      (taking over from a worker that died, or that stopped with the job still running)
      gets that same id back instead of a second check run (the queue forgets the id
      when an attempt failed and completed its run). Each run is tagged with the
      delivery id (GitHub's `external_id`), so a worker that died between GitHub creating
      the run and the queue recording it is covered too: the take-over finds it by tag.
    - Before each write, `still_held` asks the queue whether this attempt still holds the
      job (a worker that stalled past its lease may have been taken over): if not, the
      write is not made (`LeaseLost`). GitHub has no conditional writes, so a stall
      between the check and the request can still let one write through. A queue that
      does not answer the check is taken as "still held" for up to one lease after the
      last confirmation (nobody can have taken over before the lease ran out), and as
      lost after that.

    Only the reads named in `READS` go straight to the wrapped port; every other method is
    fenced, so a write added to the port later is fenced without anyone remembering to
    list it (failing closed: an unknown method is treated as a write). What is not a
    method (data, private parts such as the client's own HTTP client) is not handed out
    at all: a handle taken now could write later, past the fence.
    """

    # Widen only with a method of `GitHubPort` that cannot change anything on GitHub.
    READS: ClassVar[frozenset[str]] = frozenset(
        {
            "get_pull_request",
            "list_changed_files",
            "compare_commits",
            "read_files",
            "find_check_run",
            "pull_requests_for_commit",
            "review_comments",
            "read_pull_requests",
            "review_threads",
            "read_tree",
        }
    )

    def __init__(
        self,
        inner: GitHubPort,
        claim: Claim,
        record: Callable[[int], None],
        still_held: Callable[[], bool] = lambda: True,
        lease_seconds: float = 60.0,
    ) -> None:
        self.inner = inner
        self._claim = claim
        self._record = record
        self._still_held = still_held
        self._lease = lease_seconds
        self._confirmed_at = time.monotonic()  # the claim itself confirmed it

    def _fence(self) -> None:
        """Raise `LeaseLost` unless this attempt still holds the job: a write made after a
        take-over would race the attempt that now runs it on the same pull request."""
        try:
            held = self._still_held()
        except Exception as exc:
            # The queue did not answer. Within a lease of the last confirmation nobody can
            # have taken the job over; after that, someone may have: stop writing.
            if time.monotonic() - self._confirmed_at < self._lease:
                logger.warning("could not check the job's lease: %s", failure_reason(exc))
                return
            raise LeaseLost(f"the queue has not confirmed this attempt for a lease: {exc}") from exc
        if not held:
            raise LeaseLost("another attempt took this job over; this one stops writing")
        self._confirmed_at = time.monotonic()

    def _remember(self, check_run_id: int) -> None:
        """Record the run; if the queue fails, go on: a take-over finds it by its tag."""
        try:
            self._record(check_run_id)
        except Exception as exc:
            logger.warning("could not record check run %s: %s", check_run_id, failure_reason(exc))

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        job = self._claim.job
        previous = self._claim.check_run_id
        if previous is None and self._claim.recovered:
            # The dead worker may have created it and died before writing its id down.
            previous = self.inner.find_check_run(repo, head_sha, name, job.delivery_id)
            if previous is not None:
                self._remember(previous)
        if previous is not None and head_sha == job.head_sha:
            return previous
        self._fence()
        check_run_id = self.inner.create_check_run(repo, head_sha, name, job.delivery_id)
        self._remember(check_run_id)
        return check_run_id

    def __getattr__(self, name: str) -> Any:
        """A named read as it is; any other public method of the wrapped port fenced;
        nothing else (see the class docstring)."""
        if name in self.READS:
            return getattr(self.inner, name)
        method = None if name.startswith("_") else getattr(self.inner, name, None)
        if not callable(method):
            raise AttributeError(f"{name!r} is not a method of the GitHub port")
        return self._fenced(method)

    def _fenced(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """`method`, made only while this attempt holds the job (checked at each call, not
        when the method is looked up: a caller may keep it for later)."""

        @functools.wraps(method)
        def fenced(*args: Any, **kwargs: Any) -> Any:
            self._fence()
            return method(*args, **kwargs)

        return fenced
