"""The merge-group job: a merge queue's group commit -> the `failclosed` check run on it.

With a merge queue, GitHub builds a commit for each group of queued pull requests on a
`gh-readonly-queue/...` branch, sends `merge_group` (`checks_requested`) and merges the
group only once the required checks pass on its `head_sha`. That branch has no pull
request, so this job names none and looks none up: it compares the group's head with its
`base_sha` (the branch it will land on), analyses what is new or changed there exactly as
for a pull request (`app.review.analyze.read_and_analyze`: the repository's configuration from the
base side, renames followed, both versions of each file compared, a symbolic link analysed
through its target at the group's head or failed as not analysed), and completes the
check run with the same conclusion a pull request would get. It posts no review and
offers no "Apply fixes" button: there is nobody to review and no branch to commit to.

It fails closed like the analyze job (`app.review.analyze.failing_closed`): the check run is created
first, and anything that stops a full analysis (GitHub failing, a file it cannot read or
parse, the time budget) completes it as `failure`, so the queue never merges an
unverified group. GitHub lists at most 300 files of a comparison and gives no count of
them all, so a comparison listing 300 is not taken as complete either.

Port calls: create_check_run, compare_commits, read_files (head and base in one; none
when no Python file changed), update_check_run: 4, whatever the number of files, plus one
update_check_run for every further 50 findings (GitHub's annotation cap) and one read_files
per step of a chain of symbolic links (none when the group changes no link).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from failclosed.analyzers.isolation import DEFAULT_FILE_BUDGET_SECONDS
from failclosed.analyzers.model import AnalysisError
from failclosed.analyzers.settings import Config
from failclosed.app.github.port import GitHubPort
from failclosed.app.model import Job, JobKind
from failclosed.app.review import publish
from failclosed.app.review.analyze import (
    DEFAULT_BUDGET_SECONDS,
    CountingPort,
    Deadline,
    Isolate,
    failing_closed,
    pooled_analyzer,
    read_and_analyze,
    rule_names,
)

# GitHub lists at most this many files of a comparison, and says nowhere that it stopped.
COMPARE_FILE_CAP = 300


@dataclass(frozen=True)
class MergeGroupResult:
    """What `run_merge_group` did (a `RunResult`)."""

    findings: int  # new or changed findings of the group
    blocking: bool  # the check run concluded failure
    calls: int  # port calls the job made
    reason: str = ""

    @property
    def final_state(self) -> Literal["done", "superseded"]:
        return "done"

    def log_fields(self) -> dict[str, str | int | bool]:
        return {
            "result_status": "published",
            "result_findings": self.findings,
            "result_blocking": self.blocking,
            "result_api_calls": self.calls,
        }


def run_merge_group(
    job: Job,
    github: GitHubPort,
    config: Config | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    file_budget_seconds: float = DEFAULT_FILE_BUDGET_SECONDS,
    isolate: Isolate = pooled_analyzer,
) -> MergeGroupResult:
    """Analyse what the merge group's head adds to its base; complete one check run on
    the head (see the module docstring). A failure after the check run exists completes
    it as `failure` and is re-raised, as in `app.review.analyze.run_analysis`."""
    if job.kind is not JobKind.MERGE_GROUP or job.base_sha is None:
        raise ValueError(f"run_merge_group handles merge_group jobs, not {job.kind.value}")
    port = CountingPort(github)
    repo = job.repository
    check_id = port.create_check_run(repo, job.head_sha, publish.CHECK_NAME)
    deadline = Deadline(clock() + budget_seconds, clock)
    with failing_closed(job, port, check_id):
        comparison = port.compare_commits(repo, job.base_sha, job.head_sha)
        with isolate(file_budget_seconds) as analyzer:
            # The base side is the merge base: the group's base itself, as the queue
            # builds the group on it (and what `failclosed diff` compares with).
            analysis = read_and_analyze(
                repo,
                comparison.files,
                job.head_sha,
                comparison.merge_base_sha,
                port,
                config,
                deadline,
                analyzer,
            )
        if len(comparison.files) >= COMPARE_FILE_CAP:
            analysis.errors.append(
                AnalysisError(
                    publish.WHOLE_PULL_REQUEST,
                    f"GitHub listed {len(comparison.files):,} changed files, its cap for a "
                    "comparison: files past it could not be analysed",
                )
            )
        payloads = publish.check_run_payloads(
            analysis.findings,
            analysis.errors,
            job.head_sha,
            rule_names=rule_names(),
            unread=[] if analysis.files else analysis.excluded,
            offer_fixes=False,
            subject="merge group",
        )
        for payload in payloads:
            port.update_check_run(repo, check_id, payload)
    blocking = payloads[0].get("conclusion") == "failure"
    return MergeGroupResult(len(analysis.findings), blocking, port.calls)
