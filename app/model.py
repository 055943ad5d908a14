"""What a job is, wherever it travels: the App's data model, shared by every part of it.

The webhook turns a delivery into a `Job`; a queue (the embedded SQLite one,
`app.run.queue`, or the Redis ledger, `app.run.distributed`) keeps it in one of the `State`s and
hands it to a worker as a `Claim`; `failclosed jobs` shows it as a `JobRow`. A runner
(`app.review.analyze.run_analysis`, `app.review.apply_fixes.run_apply_fixes`,
`app.review.merge_group.run_merge_group`, `app.review.code_scanning.run_code_scanning`)
answers a `RunResult`, or raises a `RetryableError` when another attempt later may succeed.
The timings below are the ones both queue modes share. This module imports nothing of the
App's, so any part of it may import this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

# -- the job ------------------------------------------------------------------------------


class JobKind(StrEnum):
    ANALYZE = "analyze"
    APPLY_FIXES = "apply_fixes"
    # A merge queue's group commit (`merge_group.checks_requested`): no pull request.
    MERGE_GROUP = "merge_group"
    # A push to a repository's default branch, for installations that opted in: the whole
    # tree at that commit, uploaded to code scanning as SARIF (`app.review.code_scanning`).
    CODE_SCANNING = "code_scanning"


CommitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]
RepoFullName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
BranchRef = Annotated[str, StringConstraints(pattern=r"^refs/heads/\S+$", max_length=1024)]


class Job(BaseModel):
    """One unit of work from one delivery: small, typed, and free of the raw payload."""

    model_config = ConfigDict(frozen=True)

    kind: JobKind
    delivery_id: str
    event: str
    action: str
    installation_id: int
    repository: RepoFullName
    head_sha: CommitSha
    # Empty when GitHub did not say (check suites of fork PRs): the worker looks them up by SHA.
    pull_requests: tuple[int, ...] = ()
    check_run_id: int | None = None
    # What a merge group is compared with (its parent commit); only merge-group jobs have one.
    base_sha: CommitSha | None = None
    # The branch a code-scanning job's commit was pushed to (`refs/heads/<default>`): code
    # scanning files the analysis under it. Only code-scanning jobs have one.
    ref: BranchRef | None = None

    @model_validator(mode="after")
    def _merge_groups_have_a_base(self) -> Job:
        if (self.kind is JobKind.MERGE_GROUP) != (self.base_sha is not None):
            raise ValueError("a merge_group job needs base_sha, and only it has one")
        return self

    @model_validator(mode="after")
    def _code_scans_have_a_ref(self) -> Job:
        if (self.kind is JobKind.CODE_SCANNING) != (self.ref is not None):
            raise ValueError("a code_scanning job needs ref, and only it has one")
        return self


# -- the job in a queue -------------------------------------------------------------------

State = Literal["pending", "running", "done", "failed", "superseded"]
STATES: tuple[State, ...] = ("pending", "running", "done", "failed", "superseded")
FINAL_STATES = frozenset({"done", "failed", "superseded"})


@dataclass(frozen=True)
class Claim:
    """A job a worker now holds, and what earlier attempts left behind."""

    id: int
    job: Job
    attempt: int  # 1 for the first run
    recovered: bool  # the previous holder's lease ran out: it died mid-job
    check_run_id: int | None  # from an earlier attempt, to reuse rather than duplicate
    created_at: float = 0.0  # when the delivery was accepted (epoch seconds)


@dataclass(frozen=True)
class JobRow:
    """One job as `failclosed jobs` shows it."""

    id: int
    delivery_id: str
    kind: str
    repository: str
    head_sha: str
    pull_requests: tuple[int, ...]
    state: str
    attempts: int
    reason: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    owner: str | None
    run_after: float  # pending: not before this time (a retry's back-off)


# -- what running a job answers ----------------------------------------------------------


class RunResult(Protocol):
    """What a runner answers when the job ran to its end (a job that fails raises)."""

    @property
    def final_state(self) -> Literal["done", "superseded"]:
        """The state the queue records: superseded when the head moved on."""
        ...

    @property
    def reason(self) -> str: ...

    def log_fields(self) -> dict[str, str | int | bool]:
        """What the job did, for its "job finished" log line."""
        ...


class RetryableError(Exception):
    """A failure worth another attempt later: GitHub gave no answer, a server error or a
    rate limit (`app.github.client.TransientGitHubError`). An analyze job that raises one runs
    again after a back-off; any other exception fails the job."""

    retry_after: float | None = None  # seconds the other side asked us to wait
    # The attempt's check run when it could not be completed either (set by the runner):
    # the next attempt takes it up instead of leaving it in progress beside a new one.
    check_run_left_open: int | None = None


# -- timings both queue modes share -------------------------------------------------------

LEASE_SECONDS = 60.0  # a claim's lease; the heartbeat renews it three times a lease
GRACE_SECONDS = 20.0  # on SIGTERM, running jobs get this long to finish
SHUTDOWN_LEASE_SECONDS = 5.0  # a job still running at shutdown: taken over this soon
# An attempt running this long is taken to hang (the job's own budget is 600 s, plus at
# most one file's budget: each file's analysis is killed past its own).
MAX_RUN_SECONDS = 1_200.0
KEEP_FINISHED_SECONDS = 14 * 24 * 3600  # finished jobs stay visible to operators this long
