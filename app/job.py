"""The analyze job: fetch a pull request through the port, analyse it, publish the verdict.

Data flows one way: `Job` -> `GitHubPort` reads -> `analyzers` -> `app.publish` payloads ->
`GitHubPort` writes. It fails closed: the check run is created before anything that can
go wrong, and whatever stops a full analysis (an unreadable file, an analyzer error, the
port raising, the time budget running out) ends it `failure`, never green and never left
`in_progress` by a job that knows it failed.

Port calls for one pull request are constant in its number of files. For an N-file PR
(N >= 1 Python files, some with a base version, under 50 new findings) the job makes
8 calls when it posts a review: get_pull_request, create_check_run, list_changed_files,
read_files x2 (head, base), review_comment_bodies, create_review, update_check_run; 7 when
everything was already posted (no create_review); 6 for a clean PR (no review step).
Every further 50 findings add one update_check_run (GitHub's annotation cap).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from analyzers.compare import new_or_changed
from analyzers.config import Config
from analyzers.engine import analyze_source, decode
from analyzers.model import AnalysisError, Finding
from analyzers.rules import all_rules
from app import publish
from app.ports import ChangedFile, GitHubPort, PullRequest
from app.webhooks import Job, JobKind

logger = logging.getLogger(__name__)

# No "failed": a failing job re-raises (see `run_analysis`) after failing its check run.
Status = Literal["published", "superseded", "nothing"]
REASON_LIMIT = 300  # characters of an exception message shown on the check run
DEFAULT_BUDGET_SECONDS = 600.0
# Things that look like credentials, scrubbed from reasons before GitHub shows them.
_SECRET = re.compile(
    r"(gh[pousr]_[A-Za-z0-9_]{10,}|github_pat_[A-Za-z0-9_]{10,}"
    r"|(?i:bearer|token)\s+\S+|(?i:token|access_token|secret|password)=[^&\s]+)"
)


class JobTimeout(TimeoutError):
    """The job ran past its time budget: the check run fails rather than waits forever."""


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequestResult:
    """What the job did for one pull request."""

    number: int
    status: Status
    findings: int = 0  # new or changed findings reported on the check run
    blocking: bool = False  # the check run concluded failure
    api_calls: int = 0
    check_run_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class JobResult:
    """What `run_analysis` did, for the worker's logs and the tests."""

    status: Status
    pull_requests: tuple[PullRequestResult, ...] = ()
    reason: str = ""

    @property
    def findings(self) -> int:
        return sum(pr.findings for pr in self.pull_requests)

    @property
    def blocking(self) -> bool:
        return any(pr.blocking for pr in self.pull_requests)

    @property
    def api_calls(self) -> int:
        return sum(pr.api_calls for pr in self.pull_requests)


# -- the job -------------------------------------------------------------------------------


def run_analysis(
    job: Job,
    github: GitHubPort,
    config: Config | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> JobResult:
    """Analyse and publish every pull request of an `analyze` job.

    Errors: an exception after a PR's check run exists first marks that check run
    `failure` (with a short, scrubbed reason) and is then re-raised, so the queue sees
    the job failed and can retry it (a retry makes a fresh check run that replaces the
    failed one). If creating the check run itself fails, the exception propagates as is:
    nothing is visible yet, and the retry will create it.
    """
    if job.kind is not JobKind.ANALYZE:
        raise ValueError(f"run_analysis handles analyze jobs, not {job.kind.value}")
    if not job.pull_requests:  # finding PRs by SHA (fork check suites) is a later step
        return JobResult("nothing", reason="the job names no pull request")
    deadline = Deadline(clock() + budget_seconds, clock)
    results = tuple(
        analyze_pull_request(job, github, number, config or Config(), deadline)
        for number in job.pull_requests
    )
    return JobResult(_overall_status(results), results)


def analyze_pull_request(
    job: Job, github: GitHubPort, number: int, config: Config, deadline: Deadline
) -> PullRequestResult:
    """One PR: stale check, check run first, then fetch, analyse and publish under guard."""
    port = CountingPort(github)
    pr = port.get_pull_request(job.repository, number)
    if pr.head_sha != job.head_sha:  # a newer push has its own job; do not race it
        logger.info(
            "analyze job superseded",
            extra={"delivery_id": job.delivery_id, "repository": job.repository, "pr": number},
        )
        return PullRequestResult(
            number, "superseded", api_calls=port.calls, reason="the head moved on"
        )
    check_id = port.create_check_run(job.repository, pr.head_sha, publish.CHECK_NAME)
    try:
        return _analyze_and_publish(job.repository, pr, port, config, deadline, check_id)
    except BaseException as exc:
        reason = failure_reason(exc)
        marked = _mark_failed(port, job.repository, check_id, pr.head_sha, reason)
        logger.warning(
            "analyze job failed",
            extra={"delivery_id": job.delivery_id, "repository": job.repository, "pr": number},
        )
        state = "completed as failure" if marked else "could not be completed (in_progress)"
        exc.add_note(f"failclosed: check run {check_id} {state}: {reason}")
        raise


def _analyze_and_publish(
    repo: str,
    pr: PullRequest,
    port: CountingPort,
    config: Config,
    deadline: Deadline,
    check_id: int,
) -> PullRequestResult:
    """Steps 3-6: list, read both sides once each, analyse, review, complete the check."""
    files = python_files(port.list_changed_files(repo, pr.number))
    head = _read(port, repo, pr.head_sha, [f.path for f in files])
    base = _read(port, repo, pr.base_sha, [old for f in files if (old := base_path(f))])
    deadline.check("reading files")
    findings, errors = analyze_files(files, head, base, config, deadline)
    names = rule_names()
    if findings:
        _post_review(port, repo, pr, files, head, findings, names)
    payloads = publish.check_run_payloads(findings, errors, pr.head_sha, rule_names=names)
    for payload in payloads:
        port.update_check_run(repo, check_id, payload)
    return PullRequestResult(
        pr.number,
        "published",
        findings=len(findings),
        blocking=payloads[0].get("conclusion") == "failure",
        api_calls=port.calls,
        check_run_id=check_id,
    )


# -- fetching ------------------------------------------------------------------------------


def python_files(files: Sequence[ChangedFile]) -> list[ChangedFile]:
    """The changed files the analyzer reads: Python source that still exists at head."""
    return [f for f in files if f.path.endswith(".py") and f.status != "removed"]


def base_path(changed: ChangedFile) -> str | None:
    """Where the file's previous version is: its old path for a rename, none if added.

    A copy is compared with nothing, so every path in it counts as new: copying a
    fail-open function somewhere else adds a fail-open path.
    """
    if changed.status == "added" or changed.status == "copied":
        return None
    if changed.status == "renamed" and changed.previous_path:
        return changed.previous_path
    return changed.path


def _read(port: CountingPort, repo: str, sha: str, paths: list[str]) -> dict[str, bytes | None]:
    """One `read_files` call for all paths of one side, none when there are none."""
    return port.read_files(repo, sha, paths) if paths else {}


# -- analysing -----------------------------------------------------------------------------


def analyze_files(
    files: Sequence[ChangedFile],
    head: Mapping[str, bytes | None],
    base: Mapping[str, bytes | None],
    config: Config,
    deadline: Deadline,
) -> tuple[list[Finding], list[AnalysisError]]:
    """New-or-changed findings of every file, and the files that could not be analysed.

    A head file that did not come back is an error (fail closed: nobody read it); a base
    file that did not come back is treated as new, which reports more, never less.
    """
    findings: list[Finding] = []
    errors: list[AnalysisError] = []
    for changed in files:
        deadline.check(f"analysing {changed.path}")
        data = head.get(changed.path)
        if data is None:
            errors.append(AnalysisError(changed.path, "could not be read at the head commit"))
            continue
        report = analyze_source(data, changed.path, config, with_fixes=True)
        errors.extend(report.errors)
        old_path = base_path(changed)
        old = base.get(old_path) if old_path else None
        before = (
            analyze_source(old, old_path, config, with_fixes=False).findings
            if old is not None and old_path
            else []
        )
        findings.extend(new_or_changed(before, report.findings))
    return findings, errors


def rule_names() -> dict[str, str]:
    """Rule code -> name, for comment titles and annotations."""
    return {rule.code: rule.name for rule in all_rules()}


# -- publishing ----------------------------------------------------------------------------


def _post_review(
    port: CountingPort,
    repo: str,
    pr: PullRequest,
    files: Sequence[ChangedFile],
    head: Mapping[str, bytes | None],
    findings: Sequence[Finding],
    names: Mapping[str, str],
) -> None:
    """One review with what is not already on the PR (a redelivery posts nothing twice)."""
    comments, leftovers = publish.review_comments(
        findings,
        {f.path: f.patch for f in files},
        head_sources=head_sources(head),
        rule_names=names,
    )
    existing = port.review_comment_bodies(repo, pr.number)
    payload = publish.review_payload(
        publish.new_comments(comments, existing),
        publish.new_findings(leftovers, existing),
        pr.head_sha,
    )
    if payload is not None:
        port.create_review(repo, pr.number, payload)


def head_sources(head: Mapping[str, bytes | None]) -> dict[str, str]:
    """Decoded head files, for the `-` lines of diff blocks; undecodable ones are left out."""
    sources: dict[str, str] = {}
    for path, data in head.items():
        if data is None:
            continue
        try:
            sources[path] = decode(data)
        except (SyntaxError, LookupError, UnicodeDecodeError):
            continue  # the analyzer reported it already
    return sources


# -- failing closed ------------------------------------------------------------------------


def failure_reason(exc: BaseException) -> str:
    """`Type: message`, one line, short, credentials scrubbed: shown on the pull request."""
    message = " ".join(str(exc).split())
    message = _SECRET.sub("[redacted]", message)
    if len(message) > REASON_LIMIT:
        message = message[: REASON_LIMIT - 1] + "…"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _mark_failed(port: CountingPort, repo: str, check_id: int, head_sha: str, reason: str) -> bool:
    """Complete the check run as failure; False if even that failed.

    A check run left `in_progress` still blocks a required check, so losing this update
    is not fail-open; the original exception is the one worth re-raising.
    """
    try:
        port.update_check_run(repo, check_id, publish.failed_check_run_payload(reason, head_sha))
    except Exception as exc:
        logger.warning("could not mark check run %s failed: %s", check_id, failure_reason(exc))
        return False
    return True


@dataclass
class Deadline:
    """The job's time budget, checked between steps (one file's analysis is not cut)."""

    at: float
    clock: Callable[[], float] = time.monotonic

    def check(self, doing: str) -> None:
        if self.clock() > self.at:
            raise JobTimeout(f"ran out of time while {doing}")


# -- call counting -------------------------------------------------------------------------


@dataclass
class CountingPort:
    """Wraps the port to count its calls: the count is part of the job's result."""

    inner: GitHubPort
    calls: int = field(default=0)

    def _tick(self) -> None:
        self.calls += 1

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        self._tick()
        return self.inner.get_pull_request(repo, number)

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        self._tick()
        return self.inner.list_changed_files(repo, number)

    def read_files(self, repo: str, sha: str, paths: list[str]) -> dict[str, bytes | None]:
        self._tick()
        return self.inner.read_files(repo, sha, paths)

    def create_check_run(self, repo: str, head_sha: str, name: str) -> int:
        self._tick()
        return self.inner.create_check_run(repo, head_sha, name)

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        self._tick()
        self.inner.update_check_run(repo, check_run_id, body)

    def review_comment_bodies(self, repo: str, number: int) -> list[str]:
        self._tick()
        return self.inner.review_comment_bodies(repo, number)

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        self._tick()
        self.inner.create_review(repo, number, body)


def _overall_status(results: Sequence[PullRequestResult]) -> Status:
    """Published if any PR was; superseded only if every one was."""
    if any(r.status == "published" for r in results):
        return "published"
    return "superseded"
