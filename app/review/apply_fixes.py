"""The apply-fixes job: the check run's "Apply fixes" button -> one commit on the PR branch.

It re-runs the analysis of the commit the check run was about (the same fetch and analysis
as `app.review.analyze`, so the same new-or-changed findings and the same verified fixes), patches
each file with `publish.apply_fixes_content`, and commits every file in one commit that
GitHub only accepts while the branch head is still that commit. It fails closed, towards
committing nothing and saying why on the pull request:

- the branch moved since the analysis (before the job, or while it ran: `HeadMoved`);
- the branch is in a fork, which an App installed on the base repository cannot push to;
- a changed file could not be analysed, so the fixes would be for an unverified change;
- a fix does not apply cleanly, or the patched file does not parse or still fails open;
- a fix is for a symbolic link analysed through its target (the link would become a copy).

Port calls for one pull request are constant in its number of files: get_pull_request,
list_changed_files, read_files (head and base in one), commit_files (4) when it commits;
get_pull_request and comment_on_pull_request (2) when the branch moved or is a fork; the
three reads and one comment_on_pull_request (4) when there is nothing it may commit. A job
that names no pull request (fork PRs) first looks them up: one pull_requests_for_commit.
"""

from __future__ import annotations

import io
import logging
import time
import tokenize
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from failclosed.analyzers.isolation import DEFAULT_FILE_BUDGET_SECONDS, IsolatedAnalyzer
from failclosed.analyzers.model import AnalysisError, Finding, plural
from failclosed.analyzers.settings import Config
from failclosed.app.github.port import GitHubPort, HeadMoved, PullRequest
from failclosed.app.model import Job, JobKind
from failclosed.app.review import publish
from failclosed.app.review.analyze import (
    DEFAULT_BUDGET_SECONDS,
    CountingPort,
    Deadline,
    Isolate,
    failure_reason,
    fetch_and_analyze,
    pooled_analyzer,
    pull_requests_of,
)

logger = logging.getLogger(__name__)

ApplyStatus = Literal["committed", "head_moved", "fork", "nothing_to_apply", "refused"]
LISTED_LIMIT = 20  # files or errors listed in a comment; the check run has them all
SHORT_SHA = 7


class FixNotApplicable(ValueError):
    """A fix cannot be committed as verified: the job says why instead of committing."""


@dataclass(frozen=True)
class ApplyResult:
    """What the job did for one pull request."""

    number: int
    status: ApplyStatus
    commit_sha: str | None = None
    fixes: int = 0  # findings whose fix was committed
    files: tuple[str, ...] = ()  # files changed by the commit
    api_calls: int = 0
    reason: str = ""


@dataclass(frozen=True)
class ApplyFixesResult:
    """What `run_apply_fixes` did, for the worker's logs and the tests (a `RunResult`)."""

    status: Literal["done", "nothing"]
    pull_requests: tuple[ApplyResult, ...] = ()
    reason: str = ""
    lookup_calls: int = 0

    @property
    def api_calls(self) -> int:
        return self.lookup_calls + sum(pr.api_calls for pr in self.pull_requests)

    @property
    def committed(self) -> tuple[str, ...]:
        return tuple(pr.commit_sha for pr in self.pull_requests if pr.commit_sha)

    @property
    def final_state(self) -> Literal["done"]:
        return "done"

    def log_fields(self) -> dict[str, str | int | bool]:
        return {"result_status": self.status, "result_api_calls": self.api_calls}


def run_apply_fixes(
    job: Job,
    github: GitHubPort,
    config: Config | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    file_budget_seconds: float = DEFAULT_FILE_BUDGET_SECONDS,
    isolate: Isolate = pooled_analyzer,
) -> ApplyFixesResult:
    """Commit the verified fixes of an `apply_fixes` job to each of its pull requests.

    An unexpected error (the port raising, the time budget running out) is reported on
    the pull request when possible, then re-raised for the worker to log; the reply does
    not claim that nothing was committed, since a failed request may still have landed.
    Files are analysed (and patched files verified) in the job's child process, each
    under `file_budget_seconds`, as in `app.review.analyze.run_analysis`.
    """
    if job.kind is not JobKind.APPLY_FIXES:
        raise ValueError(f"run_apply_fixes handles apply_fixes jobs, not {job.kind.value}")
    numbers, lookup_calls = pull_requests_of(job, github)
    if not numbers:
        return ApplyFixesResult(
            "nothing", reason="no open pull request has this head", lookup_calls=lookup_calls
        )
    deadline = Deadline(clock() + budget_seconds, clock)
    committed: dict[tuple[str, str], str] = {}  # (head repo, branch) -> the new commit
    with isolate(file_budget_seconds) as analyzer:
        results = tuple(
            apply_fixes_to_pull_request(job, github, number, config, deadline, committed, analyzer)
            for number in numbers
        )
    return ApplyFixesResult("done", results, lookup_calls=lookup_calls)


def apply_fixes_to_pull_request(
    job: Job,
    github: GitHubPort,
    number: int,
    config: Config | None,
    deadline: Deadline,
    committed: dict[tuple[str, str], str] | None = None,
    analyzer: IsolatedAnalyzer | None = None,
) -> ApplyResult:
    """One PR: refuse a moved or forked branch, else analyse, patch and commit once.

    `committed` carries the branches this job already committed to: a second PR of the
    same branch has its fixes already (and would otherwise see the branch as moved).
    """
    port = CountingPort(github)
    repo = job.repository
    pr = port.get_pull_request(repo, number)
    branch = (pr.head_repo.casefold(), pr.head_ref)
    if committed is not None and branch in committed:
        return ApplyResult(
            number,
            "committed",
            commit_sha=committed[branch],
            api_calls=port.calls,
            reason="committed for another pull request of the same branch",
        )
    try:
        result = _apply(job, pr, port, config, deadline, analyzer)
    except Exception as exc:
        reason = failure_reason(exc)
        logger.warning(
            "apply-fixes job failed",
            extra={"delivery_id": job.delivery_id, "repository": repo, "pr": number},
        )
        _tell(port, repo, number, could_not_apply_message(reason))
        raise
    if committed is not None and result.commit_sha:
        committed[branch] = result.commit_sha
    return result


def _apply(
    job: Job,
    pr: PullRequest,
    port: CountingPort,
    config: Config | None,
    deadline: Deadline,
    analyzer: IsolatedAnalyzer | None,
) -> ApplyResult:
    repo, number = job.repository, pr.number

    def refuse(status: ApplyStatus, message: str, reason: str) -> ApplyResult:
        port.comment_on_pull_request(repo, number, message)
        return ApplyResult(number, status, api_calls=port.calls, reason=reason)

    if pr.head_sha != job.head_sha:
        return refuse("head_moved", moved_message(job.head_sha, pr.head_sha), "the head moved on")
    if pr.head_repo.casefold() != repo.casefold():
        return refuse("fork", fork_message(pr), "the branch is in another repository")
    analysis = fetch_and_analyze(repo, pr, port, config, deadline, analyzer)
    if analysis.errors:
        return refuse(
            "refused", unanalysable_message(analysis.errors), "files could not be analysed"
        )
    fixable = [finding for finding in analysis.findings if finding.fix is not None]
    if not fixable:
        return refuse(
            "nothing_to_apply",
            nothing_message(pr.head_sha, len(analysis.findings)),
            "no verified fix",
        )
    try:
        through_links(fixable, analysis.links)
        files = patched_files(fixable, analysis.head, analysis.config, analyzer)
    except FixNotApplicable as exc:
        return refuse("refused", not_applicable_message(str(exc)), str(exc))
    deadline.check("building the fixes")
    try:
        sha = port.commit_files(
            repo, pr.head_ref, pr.head_sha, files, commit_message(fixable, pr.head_sha)
        )
    except HeadMoved:
        return refuse("head_moved", moved_while_applying_message(pr.head_ref), "HeadMoved")
    return ApplyResult(
        number,
        "committed",
        commit_sha=sha,
        fixes=len(fixable),
        files=tuple(sorted(files)),
        api_calls=port.calls,
    )


# -- building the commit ------------------------------------------------------------------


def through_links(findings: Sequence[Finding], links: Mapping[str, str]) -> None:
    """Refuses fixes of a file analysed through a symbolic link: committing the fixed text
    at the link's path would replace the link with a copy and leave its target as it was."""
    for path in sorted({finding.path for finding in findings} & links.keys()):
        raise FixNotApplicable(f"{path} is a symbolic link to {links[path]}: fix that file")


def patched_files(
    findings: Sequence[Finding],
    head: Mapping[str, bytes | None],
    config: Config,
    analyzer: IsolatedAnalyzer | None = None,
) -> dict[str, bytes]:
    """Each file's new content with all its fixes, checked again before it is committed.

    The file is decoded and encoded back with its own encoding (PEP 263 cookie or BOM),
    and the patched file must analyse without error and without any of the findings it
    fixes; anything else raises `FixNotApplicable`. The check runs in `analyzer`'s child
    process under its per-file budget (a pooled analyzer for this call when none is given).
    """
    if analyzer is None:
        with pooled_analyzer(DEFAULT_FILE_BUDGET_SECONDS) as own:
            return patched_files(findings, head, config, own)
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        by_path.setdefault(finding.path, []).append(finding)
    files: dict[str, bytes] = {}
    for path, group in sorted(by_path.items()):
        data = head.get(path)
        if data is None:
            raise FixNotApplicable(f"{path} could not be read at the head commit")
        text, encoding = _decode(data, path)
        try:
            new_text = publish.apply_fixes_content(text, [f.fix for f in group if f.fix])
            new_data = new_text.encode(encoding)
        except (ValueError, UnicodeError) as exc:
            raise FixNotApplicable(f"{path}: {exc}") from exc
        report = analyzer.analyze_source(new_data, path, config, with_fixes=False)
        if report.errors:
            raise FixNotApplicable(
                f"{path} does not analyse once fixed: {report.errors[0].message}"
            )
        fixed = {publish.fingerprint(f) for f in group}
        if any(publish.fingerprint(f) in fixed for f in report.findings):
            raise FixNotApplicable(f"{path} still fails open once fixed")
        files[path] = new_data
    return files


def _decode(data: bytes, path: str) -> tuple[str, str]:
    """The text and the encoding to write it back with; it must round-trip exactly."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeError) as exc:
        raise FixNotApplicable(f"{path} cannot be decoded: {exc}") from exc
    if text.encode(encoding) != data:
        raise FixNotApplicable(f"{path} would not be written back byte for byte")
    return text, encoding


def commit_message(findings: Sequence[Finding], head_sha: str) -> str:
    """`failclosed: make N permission paths fail closed`, then one line per finding."""
    lines = [
        f"- {f.path}: {f.rule}" + (f" in {f.function}" if f.function else "")
        for f in sorted(findings, key=lambda f: (f.path, f.line, f.rule))
    ]
    return "\n".join(
        [
            f"failclosed: make {plural(len(findings), 'permission path')} fail closed",
            "",
            f"Verified fixes for the new fail-open paths found at {head_sha[:SHORT_SHA]}:",
            "",
            *lines,
        ]
    )


# -- what the job says on the pull request ------------------------------------------------


def moved_message(analysed_sha: str, head_sha: str) -> str:
    return (
        f"failclosed did not apply the fixes: the branch moved since the analysis of "
        f"`{analysed_sha[:SHORT_SHA]}` (its head is now `{head_sha[:SHORT_SHA]}`), and "
        "fixes are only committed on the commit they were verified for. Nothing was "
        "committed. Re-run the failclosed check on the new head, then press **Apply fixes** "
        "there."
    )


def moved_while_applying_message(branch: str) -> str:
    return (
        f"failclosed did not apply the fixes: the branch `{branch}` moved while they were "
        "being prepared, so nothing was committed. Re-run the failclosed check on the new "
        "head, then press **Apply fixes** there."
    )


def fork_message(pr: PullRequest) -> str:
    where = f"`{pr.head_repo}`" if pr.head_repo else "a repository that no longer exists"
    return "\n".join(
        [
            f"failclosed cannot apply the fixes: this pull request's branch is in {where}, "
            "a fork the App cannot push to. Nothing was committed.",
            "",
            "To apply them by hand:",
            "",
            "1. Open **Files changed**. On each failclosed comment with a suggestion, choose "
            "**Add suggestion to batch**, then **Commit suggestions** once.",
            "2. Fixes shown as a `diff` block touch lines outside the diff: make those "
            "changes in your branch and push.",
            "3. The failclosed check run lists every finding; each annotation's details "
            "hold its fixed code.",
        ]
    )


def unanalysable_message(errors: Sequence[AnalysisError]) -> str:
    listed = [f"- `{e.path}`: {' '.join(e.message.split())}" for e in errors[:LISTED_LIMIT]]
    if len(errors) > LISTED_LIMIT:
        listed.append(f"- …and {len(errors) - LISTED_LIMIT} more (see the check run)")
    return "\n".join(
        [
            f"failclosed did not apply the fixes: {publish.not_analysed(errors)}, and fixes "
            "are only committed for a change verified in full. Nothing was committed.",
            "",
            *listed,
        ]
    )


def nothing_message(head_sha: str, findings: int) -> str:
    tail = (
        f" ({plural(findings, 'finding')} without an automatic fix: see the check run)"
        if findings
        else ""
    )
    return (
        f"failclosed found no verified fixes to apply at `{head_sha[:SHORT_SHA]}`{tail}. "
        "Nothing was committed."
    )


def not_applicable_message(reason: str) -> str:
    return (
        f"failclosed did not apply the fixes: {' '.join(reason.split())}. Nothing was "
        "committed; the suggestions on the pull request can still be applied by hand."
    )


def could_not_apply_message(reason: str) -> str:
    return f"failclosed could not apply the fixes: {reason}. Press **Apply fixes** again to retry."


def interrupted_message() -> str:
    """For an Apply fixes run whose worker died: it is not repeated blindly, since its
    commit may have landed (a repeat would then see the branch as moved)."""
    return (
        "failclosed was interrupted while applying the fixes, and does not repeat that on "
        "its own: the commit may or may not have landed. Check the branch, then press "
        "**Apply fixes** again if it is still needed."
    )


def _tell(port: CountingPort, repo: str, number: int, body: str) -> None:
    """Best effort: the error being reported is the one worth re-raising."""
    try:
        port.comment_on_pull_request(repo, number, body)
    except Exception as exc:
        logger.warning("could not comment on %s#%s: %s", repo, number, failure_reason(exc))
