"""The analyze job: fetch a pull request through the port, analyse it, publish the verdict.

Data flows one way: `Job` -> `GitHubPort` reads -> `analyzers` -> `app.review.publish` payloads ->
`GitHubPort` writes. It fails closed: the check run is created before anything that can
go wrong, and whatever stops a full analysis (an unreadable file, an analyzer error, the
port raising, the time budget running out) ends it `failure`, never green and never left
`in_progress` by a job that knows it failed.

One check run per head commit: GitHub shows a commit's latest `failclosed` run on every
PR whose head it is, so after creating it the job reads its PRs and every other open PR of
its head SHA (the same branch may be open against two bases) and completes a single check
run with the worst result of them all.

Port calls are constant in the number of files. For one N-file PR (N >= 1 Python files,
some with a base version, under 50 new findings) the job makes 6 calls when it posts a
review: create_check_run, read_pull_requests (one GraphQL query: the job's PR, the other
open PRs of its head, and the review comments on each, with their threads),
list_changed_files, read_files (head and base sides in one query), create_review,
update_check_run; 5 when everything was already posted, or for a clean PR (no
create_review). Each further PR of the same head adds one read_pull_requests (for all of
them, 10 a query), and per PR list, read, and its review. A PR with more than 100 review
threads, or a thread with more than 100 comments, adds one query per further page; a PR
whose head lags behind the webhook is read once more. Every further 50 findings add one
update_check_run (GitHub's annotation cap), and every earlier comment of ours whose
finding is gone adds one reply_to_review_comment ("Fixed in <sha>."), at most
`MAX_FIXED_REPLIES` a run (the rest are answered by the next run); a run that answered any
then resolves their threads, known from the read, with one more (resolve_review_threads,
one mutation for up to 50), and none when it answered none. A changed file that is a
symbolic link adds one read_files per step of its chain of links (all the PR's links
together), and none when the PR has no link: the mode is read with the file. Once per
process, reading the PRs also reads `GET /app` (the App's bot login: only comments written
by that account are trusted as ours).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from failclosed.analyzers.compare import new_or_changed
from failclosed.analyzers.config import ConfigError, config_from_toml
from failclosed.analyzers.engine import decode
from failclosed.analyzers.gitdiff import is_python_path
from failclosed.analyzers.isolation import DEFAULT_FILE_BUDGET_SECONDS, ChildPool, IsolatedAnalyzer
from failclosed.analyzers.links import Entry, Followed, follow_links
from failclosed.analyzers.model import AnalysisError, Finding
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.settings import Config
from failclosed.app.github.port import (
    ChangedFile,
    Comparison,
    GitHubFailure,
    GitHubPort,
    GitTree,
    Link,
    PullRequest,
    PullRequestRead,
    ReviewComment,
    ReviewThread,
)
from failclosed.app.model import Job, JobKind, RetryableError
from failclosed.app.review import publish

logger = logging.getLogger(__name__)

# No "failed": a failing job re-raises (see `run_analysis`) after failing its check run.
Status = Literal["published", "superseded", "nothing"]
REASON_LIMIT = 300  # characters of an exception message shown on the check run
DEFAULT_BUDGET_SECONDS = 600.0
# How long to wait before reading a PR again whose head is not yet the webhook's.
STALE_READ_WAIT = 3.0
MAX_FIXED_REPLIES = 50  # "Fixed in" replies a run posts; the next run answers the rest
FIXED_MARKER = "<!-- failclosed:fixed -->"  # marks our "Fixed in" replies
# Things that look like credentials, scrubbed from reasons before GitHub shows them: token
# shapes (GitHub's prefixes, a JWT), what follows `Bearer`, and after `token` only what
# looks like one (long, with a digit), so "installation token request failed" stays.
_SECRET = re.compile(
    r"(gh[pousr]_[A-Za-z0-9_]{10,}|github_pat_[A-Za-z0-9_]{10,}"
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|(?i:bearer)\s+\S+"
    r"|(?i:token)\s+(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{16,}"
    r"|(?i:token|access_token|secret|password)=[^&\s]+)"
)


class JobTimeout(TimeoutError):
    """The job ran past its time budget: the check run fails rather than waits forever."""


# The per-file budget -> the job's analyzer: one child process per job, reused file after
# file (tests pass one whose child is slow or crashes).
Isolate = Callable[[float], IsolatedAnalyzer]
# This process's idle analysis children: a job takes one that an earlier job started.
ANALYSIS_CHILDREN = ChildPool()


def pooled_analyzer(file_budget_seconds: float) -> IsolatedAnalyzer:
    """The job's analyzer, its child from `ANALYSIS_CHILDREN` and given back after it:
    starting a child per job would cost more than a small pull request's analysis."""
    return IsolatedAnalyzer(file_budget_seconds, pool=ANALYSIS_CHILDREN)


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequestResult:
    """What the job did for one pull request."""

    number: int
    status: Status
    findings: int = 0  # new or changed findings of this PR
    blocking: bool = False  # the head's check run concluded failure
    check_run_id: int | None = None
    reason: str = ""
    answered: int = 0  # earlier comments of ours answered "Fixed in <sha>."
    resolved: int = 0  # and the threads of theirs resolved


@dataclass(frozen=True)
class JobResult:
    """What `run_analysis` did, for the worker's logs and the tests (a `RunResult`)."""

    status: Status
    pull_requests: tuple[PullRequestResult, ...] = ()
    reason: str = ""
    calls: int = 0  # port calls the job made

    @property
    def findings(self) -> int:
        return sum(pr.findings for pr in self.pull_requests)

    @property
    def blocking(self) -> bool:
        return any(pr.blocking for pr in self.pull_requests)

    @property
    def api_calls(self) -> int:
        return self.calls

    @property
    def final_state(self) -> Literal["done", "superseded"]:
        return "superseded" if self.status == "superseded" else "done"

    def log_fields(self) -> dict[str, str | int | bool]:
        return {
            "result_status": self.status,
            "result_findings": self.findings,
            "result_blocking": self.blocking,
            "result_api_calls": self.api_calls,
        }


# -- the job -------------------------------------------------------------------------------


def run_analysis(
    job: Job,
    github: GitHubPort,
    config: Config | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    stale_read_wait: float = STALE_READ_WAIT,
    file_budget_seconds: float = DEFAULT_FILE_BUDGET_SECONDS,
    isolate: Isolate = pooled_analyzer,
    max_inline_comments: int = publish.MAX_INLINE_COMMENTS,
) -> JobResult:
    """Analyse every open pull request whose head is the job's SHA; publish ONE check run.

    A check run belongs to a commit, not to a pull request: GitHub shows the latest run
    named `failclosed` on a SHA to every PR with that head. So the job looks up all open
    PRs of the head (the same branch may be open against `main` and `release`), reviews
    each, and completes a single check run with the worst result of them all: a PR that
    adds a fail-open path against one base cannot be passed by another PR's green.

    The check run is created first, on the job's head, so that whatever fails later
    (looking the PRs up, reading them) fails it visibly. A head that has moved on
    completes it as cancelled ("superseded"), which does not pass branch protection.

    Errors: an exception after the check run exists first marks it `failure` (with a
    short, scrubbed reason) and is then re-raised, so the queue sees the job failed and
    can retry it. If creating the check run itself fails, the exception propagates as is.

    Each file is analysed in a child process under `file_budget_seconds` (see
    `analyzers.isolation`): a file that runs past it, or kills its child, is a file that
    could not be analysed, so the check run fails ("could not verify") and the job ends
    normally, once: nothing is retried, and the service never waits on the file.

    A review comments inline on at most `max_inline_comments` findings; the check run
    carries every finding (summary and annotations), so none is lost to the limit.
    """
    if job.kind is not JobKind.ANALYZE:
        raise ValueError(f"run_analysis handles analyze jobs, not {job.kind.value}")
    port = CountingPort(github)
    check_id = start_check_run(job, port)
    deadline = Deadline(clock() + budget_seconds, clock)
    with failing_closed(job, port, check_id):
        prs, superseded, found = _current_pull_requests(job, port, stale_read_wait)
        if not prs:  # a newer push has its own job, or the PR was closed
            status: Status = "superseded" if found else "nothing"
            reason = "the head moved on" if found else "no open pull request has this head"
            port.update_check_run(
                job.repository, check_id, publish.not_analysed_payload(status, reason)
            )
            return JobResult(status, superseded, reason=reason, calls=port.calls)
        with isolate(file_budget_seconds) as analyzer:
            results = _analyze_and_publish(
                job.repository, prs, port, config, deadline, check_id, analyzer, max_inline_comments
            )
    return JobResult("published", (*results, *superseded), calls=port.calls)


@contextmanager
def failing_closed(job: Job, port: CountingPort, check_id: int) -> Iterator[None]:
    """Whatever escapes the block first completes the job's check run as `failure` (with
    a short, scrubbed reason), then goes on: the queue sees the job failed and may retry
    it. A check run that could not be completed either is named on a retryable error, so
    the retry takes it up rather than leave it in progress beside a new one."""
    try:
        yield
    except BaseException as exc:
        reason = failure_reason(exc)
        marked = _mark_failed(
            port, job.repository, check_id, job.head_sha, reason, checked_subject(job)
        )
        logger.warning(
            "%s job failed",
            job.kind.value,
            extra={"delivery_id": job.delivery_id, "repository": job.repository},
        )
        state = "completed as failure" if marked else "could not be completed (in_progress)"
        exc.add_note(f"failclosed: check run {check_id} {state}: {reason}")
        if not marked and isinstance(exc, RetryableError):
            exc.check_run_left_open = check_id  # still in progress: the retry takes it up
        raise


def start_check_run(job: Job, port: GitHubPort) -> int:
    """The job's check run, in progress, before anything else can fail.

    "Re-run" on our check run resets that run to queued: it is taken up again rather
    than left queued beside a new one. Otherwise a new run is created on the head.
    """
    if job.event == "check_run" and job.action == "rerequested" and job.check_run_id:
        port.update_check_run(job.repository, job.check_run_id, {"status": "in_progress"})
        return job.check_run_id
    return port.create_check_run(job.repository, job.head_sha, publish.CHECK_NAME)


def pull_requests_of(job: Job, github: GitHubPort) -> tuple[tuple[int, ...], int]:
    """The job's PR numbers, looked up by head SHA when the delivery named none (fork PRs'
    check suites); and the number of port calls that took (0 or 1). Used by apply-fixes,
    which acts on the PRs the button was pressed for."""
    if job.pull_requests:
        return job.pull_requests, 0
    found = github.pull_requests_for_commit(job.repository, job.head_sha)
    return tuple(sorted(set(found))), 1


def _current_pull_requests(
    job: Job, port: CountingPort, stale_read_wait: float
) -> tuple[list[PullRequestRead], tuple[PullRequestResult, ...], bool]:
    """The job's PRs and every other open PR of this repository with the same head, read
    with their review comments in one call; those whose head is still the job's, a
    'superseded' result for the others, and whether any PR was found at all.

    A webhook can arrive before GitHub's API shows the PR's new head: a PR whose head
    differs is read once more after `stale_read_wait` seconds before it counts as moved on.
    """
    reads = port.read_pull_requests(job.repository, job.pull_requests, job.head_sha)
    current = [read for read in reads if read.pull_request.head_sha == job.head_sha]
    moved = [
        read.pull_request.number for read in reads if read.pull_request.head_sha != job.head_sha
    ]
    if moved and stale_read_wait > 0:
        time.sleep(stale_read_wait)
    superseded = []
    if moved:
        for read in port.read_pull_requests(job.repository, moved):
            if read.pull_request.head_sha == job.head_sha:
                current.append(read)
            else:
                number = read.pull_request.number
                superseded.append(
                    PullRequestResult(number, "superseded", reason="the head moved on")
                )
    current.sort(key=lambda read: read.pull_request.number)
    return current, tuple(superseded), bool(reads)


def _analyze_and_publish(
    repo: str,
    reads: Sequence[PullRequestRead],
    port: CountingPort,
    config: Config | None,
    deadline: Deadline,
    check_id: int,
    analyzer: IsolatedAnalyzer,
    max_inline_comments: int = publish.MAX_INLINE_COMMENTS,
) -> tuple[PullRequestResult, ...]:
    """For each PR: list, read both sides once each, analyse, review, answer. Then one
    check run over all of them (findings the PRs share counted once)."""
    names = rule_names()
    results: list[PullRequestResult] = []
    findings: dict[str, Finding] = {}
    errors: dict[tuple[str, str], AnalysisError] = {}
    analysed: set[str] = set()
    excluded: set[str] = set()
    for read in reads:
        pr = read.pull_request
        analysis = fetch_and_analyze(repo, pr, port, config, deadline, analyzer)
        analysed.update(f.path for f in analysis.files)
        excluded.update(analysis.excluded)
        existing = own_comments(read.comments)
        if analysis.findings:
            _post_review(port, repo, pr, analysis, existing, names, max_inline_comments)
        answered, resolved = _answer_fixed(port, repo, pr, analysis, existing)
        for finding in analysis.findings:
            findings.setdefault(publish.fingerprint(finding), finding)
        for error in analysis.errors:
            errors.setdefault((error.path, error.message), error)
        results.append(
            PullRequestResult(
                pr.number,
                "published",
                findings=len(analysis.findings),
                check_run_id=check_id,
                answered=answered,
                resolved=resolved,
            )
        )
    payloads = publish.check_run_payloads(
        list(findings.values()),
        list(errors.values()),
        reads[0].pull_request.head_sha,
        rule_names=names,
        unread=[] if analysed else sorted(excluded),
    )
    for payload in payloads:
        port.update_check_run(repo, check_id, payload)
    blocking = payloads[0].get("conclusion") == "failure"
    return tuple(replace(result, blocking=blocking) for result in results)


# -- fetching and analysing (shared with the apply-fixes job) -----------------------------


@dataclass(frozen=True)
class Analysis:
    """One PR's changed Python files at head and base, and what the analyzer made of them."""

    files: list[ChangedFile]
    head: dict[str, bytes | None]
    base: dict[str, bytes | None]
    findings: list[Finding]  # new or changed, with their verified fixes
    errors: list[AnalysisError]  # files that could not be analysed
    head_fingerprints: frozenset[str]  # every finding at head, new or not
    config: Config = field(default_factory=Config)  # the configuration it was analysed with
    excluded: list[str] = field(default_factory=list)  # changed Python files not analysed
    # Linked head files analysed through their target: link path -> the target's path.
    links: dict[str, str] = field(default_factory=dict)

    @property
    def analysed_paths(self) -> frozenset[str]:
        """Head paths whose findings are fully known: read and analysed without error."""
        failed = {error.path for error in self.errors}
        return frozenset(f.path for f in self.files if f.path not in failed)


def fetch_and_analyze(
    repo: str,
    pr: PullRequest,
    port: CountingPort,
    config: Config | None,
    deadline: Deadline,
    analyzer: IsolatedAnalyzer | None = None,
) -> Analysis:
    """List the PR's changed files, read both sides with one call, and analyse them.

    Two port calls at most (list_changed_files, one read_files for head and base),
    whatever the number of files, plus one read_files per step of a chain of links; see
    `read_and_analyze`.
    """
    listed = port.list_changed_files(repo, pr.number)
    analysis = read_and_analyze(
        repo, listed, pr.head_sha, pr.base_sha, port, config, deadline, analyzer
    )
    unlisted = unlisted_files(pr, len(listed))
    if unlisted:
        analysis.errors.append(AnalysisError(publish.WHOLE_PULL_REQUEST, unlisted))
    return analysis


def read_and_analyze(
    repo: str,
    listed: Sequence[ChangedFile],
    head_sha: str,
    base_sha: str,
    port: CountingPort,
    config: Config | None,
    deadline: Deadline,
    analyzer: IsolatedAnalyzer | None = None,
) -> Analysis:
    """Read the listed files at `head_sha` and `base_sha` with one call, and analyse them:
    a pull request's changes, or a merge group's.

    Without a `config`, the repository's own is used: `[tool.failclosed]` of its
    pyproject.toml at the *base* commit, read with the base files. Never the head's: a
    change must not loosen its own check.

    A changed file that is a symbolic link is analysed through its target at `head_sha`
    (`analyzers.links.follow_links`, one more read_files per step of its chain of links,
    none when there is no link), or is an error "not analysed" when it leads to no file
    of the repository: the same decision for a pull request and a merge group.
    """
    candidates = python_files(listed, config or Config())
    old_paths = [old for f in candidates if (old := base_path(f))]
    wanted = [PYPROJECT] if config is None and candidates else []  # no Python: no config
    head, base = _read(
        port,
        repo,
        (head_sha, [f.path for f in candidates]),
        (base_sha, [*old_paths, *wanted]),
    )
    config_error = None
    if config is None:
        pyproject, config_error = read_through_link(port, repo, base_sha, PYPROJECT, base)
        if config_error is None:
            config, config_error = repository_config(pyproject)
        else:
            config = Config()
    files = [f for f in candidates if not config.is_excluded(f.path)]
    links = {f.path: entry.target for f in files if isinstance(entry := head.get(f.path), Link)}
    followed, unfollowed = _follow(port, repo, head_sha, links)
    deadline.check("reading files")
    analysis = analyze_files(
        [f for f in files if f.path not in unfollowed],
        {path: followed[path].data if path in followed else _file(e) for path, e in head.items()},
        {path: _file(entry) for path, entry in base.items()},  # a link: no base, all new
        config,
        deadline,
        analyzer,
        linked=followed.keys(),
    )
    analysis = replace(
        analysis,
        # A link's diff is its target's path: no inline comment or suggestion belongs on it.
        files=[replace(f, patch=None) if f.path in links else f for f in files],
        excluded=excluded_python(listed, files),
        links={path: target.path for path, target in followed.items()},
    )
    analysis.errors.extend(AnalysisError(path, why) for path, why in unfollowed.items())
    if config_error:
        analysis.errors.append(AnalysisError(PYPROJECT, config_error))
    return analysis


def _file(entry: Entry) -> bytes | None:
    """A file's bytes; None for a link (read through `_follow` where it matters) or nothing."""
    return entry if isinstance(entry, bytes) else None


def _follow(
    port: CountingPort, repo: str, sha: str, links: Mapping[str, str]
) -> tuple[dict[str, Followed], dict[str, str]]:
    """Links at commit `sha` (path -> target) followed to files by `links.follow_links`,
    the decision `failclosed diff` makes too: one read_files call per step of a chain of
    links, none when there is no link (the common case)."""
    if not links:
        return {}, {}

    def read(paths: Sequence[str]) -> dict[str, Entry]:
        got = port.read_files(repo, [(sha, path) for path in paths])
        return {path: got.get((sha, path)) for path in paths}

    return follow_links(links, read)


def read_through_link(
    port: CountingPort, repo: str, sha: str, path: str, side: dict[str, Entry]
) -> tuple[bytes | None, str | None]:
    """The file at `path` taken out of `side`, read through it if it is a link; and why it
    cannot be used when it is a link to no file of the repository."""
    entry = side.pop(path, None)
    if not isinstance(entry, Link):
        return entry, None
    followed, unfollowed = _follow(port, repo, sha, {path: entry.target})
    if path in followed:
        return followed[path].data, None
    return None, f"[tool.failclosed] cannot be used: {path} is {unfollowed[path]}"


GITHUB_FILE_LIST_CAP = 3_000


def unlisted_files(pr: PullRequest, listed: int) -> str | None:
    """Why some changed files were never seen, or None when GitHub listed them all.

    GitHub lists at most 3,000 files of a pull request and says so nowhere else: a file
    past the cap would go unanalysed, so a shorter list is a reason not to pass.
    """
    if pr.changed_files is not None and listed < pr.changed_files:
        return (
            f"GitHub listed only {listed:,} of the {pr.changed_files:,} changed files "
            "(its cap): the rest could not be analysed"
        )
    if pr.changed_files is None and listed >= GITHUB_FILE_LIST_CAP:
        return f"GitHub listed {listed:,} files, its cap: files past it could not be analysed"
    return None


def excluded_python(listed: Sequence[ChangedFile], analysed: Sequence[ChangedFile]) -> list[str]:
    """Changed Python files that exist at head and were left out (the `exclude` setting, or
    folders `failclosed scan` skips): a check that passes must say it did not read them."""
    kept = {f.path for f in analysed}
    return sorted(
        f.path
        for f in listed
        if is_python_path(f.path) and f.status != "removed" and f.path not in kept
    )


def python_files(files: Sequence[ChangedFile], config: Config) -> list[ChangedFile]:
    """The changed files the analyzer reads: Python source that still exists at head,
    outside the folders `failclosed scan` skips and the repository's `exclude`."""
    return [
        f
        for f in files
        if is_python_path(f.path) and f.status != "removed" and not config.is_excluded(f.path)
    ]


PYPROJECT = "pyproject.toml"


def repository_config(pyproject: bytes | None) -> tuple[Config, str | None]:
    """The repository's `[tool.failclosed]`, and why it could not be used (then the
    defaults are used and the check fails: a team's stricter names must not be dropped
    silently)."""
    if pyproject is None:
        return Config(), None
    try:
        return config_from_toml(pyproject.decode("utf-8"), source=PYPROJECT), None
    except (ConfigError, UnicodeDecodeError) as exc:
        return Config(), f"[tool.failclosed] cannot be used: {exc}"


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


Side = tuple[str, list[str]]  # a commit sha, and paths to read there


def _read(
    port: CountingPort, repo: str, head: Side, base: Side
) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """Both sides' files, path -> contents, with one `read_files` call (none when there is
    nothing to read): head and base were two reads of the same kind, one after the other."""
    wanted = [(sha, path) for sha, paths in (head, base) for path in paths]
    got = port.read_files(repo, wanted) if wanted else {}

    def side(sha: str, paths: list[str]) -> dict[str, Entry]:
        return {path: got.get((sha, path)) for path in paths}

    return side(*head), side(*base)


# -- analysing -----------------------------------------------------------------------------


def analyze_files(
    files: Sequence[ChangedFile],
    head: Mapping[str, bytes | None],
    base: Mapping[str, bytes | None],
    config: Config,
    deadline: Deadline,
    analyzer: IsolatedAnalyzer | None = None,
    linked: Collection[str] = (),
) -> Analysis:
    """New-or-changed findings of every file, and the files that could not be analysed.

    A head file that did not come back is an error (fail closed: nobody read it); a base
    file that did not come back is treated as new, which reports more, never less. Each
    file is analysed by `analyzer` in its child process, under its per-file budget (a
    pooled analyzer, with the default budget, for this call when none is given); the job's
    `deadline` is checked between files. A `linked` file's head is its link's target, which
    has no base to compare with: all of it counts as new, as in `failclosed diff`.
    """
    if analyzer is None:
        with pooled_analyzer(DEFAULT_FILE_BUDGET_SECONDS) as own:
            return analyze_files(files, head, base, config, deadline, own, linked)
    findings: list[Finding] = []
    errors: list[AnalysisError] = []
    everything: set[str] = set()
    for changed in files:
        deadline.check(f"analysing {changed.path}")
        data = head.get(changed.path)
        if data is None:
            errors.append(AnalysisError(changed.path, "could not be read at the head commit"))
            continue
        old_path = None if changed.path in linked else base_path(changed)
        old = base.get(old_path) if old_path else None
        # Both versions as `failclosed diff` analyses them, in the child, under the budget.
        result = analyzer.analyze_change(data, changed.path, old, old_path, config)
        errors.extend(result.report.errors)
        everything.update(publish.fingerprint(finding) for finding in result.report.findings)
        findings.extend(new_or_changed(result.base, result.report.findings))
    return Analysis(
        files=list(files),
        head=dict(head),
        base=dict(base),
        findings=findings,
        errors=errors,
        head_fingerprints=frozenset(everything),
        config=config,
    )


def rule_names() -> dict[str, str]:
    """Rule code -> name, for comment titles and annotations."""
    return {rule.code: rule.name for rule in all_rules()}


# -- publishing ----------------------------------------------------------------------------


def _post_review(
    port: CountingPort,
    repo: str,
    pr: PullRequest,
    analysis: Analysis,
    existing_comments: Sequence[ReviewComment],
    names: Mapping[str, str],
    max_inline_comments: int = publish.MAX_INLINE_COMMENTS,
) -> None:
    """One review with at most `max_inline_comments` inline comments, those not already
    on the PR (blocking first, then by file and line: `publish.plan_review`).

    Findings off the diff's lines or past the limit are counted in the review's body, not
    listed: GitHub gives no cheap way to find earlier review bodies, so a redelivery would
    post them again. They are in the check run (annotations and summary), which every
    push replaces and which carries every finding.
    """
    payload = review_for(
        analysis.findings,
        {f.path: f.patch for f in analysis.files},
        head_sources(analysis.head),
        existing_comments,
        pr.head_sha,
        names,
        max_inline_comments,
    )
    if payload is not None:
        port.create_review(repo, pr.number, payload)


def review_for(
    findings: Sequence[Finding],
    patches: Mapping[str, str | None],
    sources: Mapping[str, str],
    existing_comments: Sequence[ReviewComment],
    head_sha: str,
    names: Mapping[str, str],
    max_inline_comments: int = publish.MAX_INLINE_COMMENTS,
) -> dict[str, object] | None:
    """The review to post for `findings`, or None when it would say nothing new: the one
    decision of what a review carries, for the App's jobs and the GitHub Action alike.

    `patches` is each changed file's `patch` as GitHub lists it (the lines a comment may
    use), `sources` the head files' text (for fixes shown as diffs), `existing_comments`
    our own comments already on the pull request (`own_comments`).
    """
    comments, off_diff = publish.review_comments(
        findings, patches, head_sources=sources, rule_names=names
    )
    # A finding whose earlier comment was answered "Fixed" is back: it gets a new comment.
    answered = answered_as_fixed(existing_comments)
    live = [c.body for c in existing_comments if c.id not in answered and c.in_reply_to_id is None]
    plan = publish.plan_review(comments, off_diff, live, max_inline_comments)
    return publish.planned_review_payload(plan, head_sha)


def _answer_fixed(
    port: CountingPort,
    repo: str,
    pr: PullRequest,
    analysis: Analysis,
    existing: Sequence[ReviewComment],
) -> tuple[int, int]:
    """Reply "Fixed in <sha>." to each of our comments whose finding is gone, then resolve
    their threads; how many were answered, and how many threads resolved."""
    answered: list[int] = []
    body = fixed_reply(pr.head_sha)
    for comment in fixed_comments(existing, analysis)[:MAX_FIXED_REPLIES]:
        port.reply_to_review_comment(repo, pr.number, comment.id, body)
        answered.append(comment.id)
    return len(answered), resolve_fixed_threads(port, repo, pr.number, answered, existing)


def resolve_fixed_threads(
    port: CountingPort,
    repo: str,
    number: int,
    comment_ids: Collection[int],
    existing: Sequence[ReviewComment] = (),
) -> int:
    """Resolve the threads our just-answered comments started; how many. One mutation for
    up to 50 when `existing` says each comment's thread (read with the pull request, in
    GraphQL), else one more call to list the threads first; none when nothing was answered.

    Cosmetic: the verdict is the check run's, which does not depend on it, and the reply
    already says the finding is fixed. So GitHub failing here is logged and the job goes
    on (a failure that is not GitHub's, a lost lease included, still ends the job).
    """
    if not comment_ids:
        return 0
    try:
        ids = known_threads(existing, comment_ids)
        if ids is None:
            ids = threads_to_resolve(port.review_threads(repo, number), comment_ids)
        if ids:
            port.resolve_review_threads(repo, ids)
    except GitHubFailure as exc:
        logger.warning(
            "could not resolve the fixed review threads of %s#%s: %s",
            repo,
            number,
            failure_reason(exc),
        )
        return 0
    return len(ids)


def threads_to_resolve(threads: Sequence[ReviewThread], comment_ids: Collection[int]) -> list[str]:
    """The open threads this App started with one of `comment_ids`: a thread someone else
    started is never resolved, even when our comment is a reply in it."""
    wanted = set(comment_ids)
    return [
        thread.id
        for thread in threads
        if thread.by_app and not thread.resolved and thread.first_comment_id in wanted
    ]


def known_threads(
    existing: Sequence[ReviewComment], comment_ids: Collection[int]
) -> list[str] | None:
    """The open threads our top-level `comment_ids` started, when `existing` says each
    one's thread; None when one of them has no thread known (read through REST). A
    top-level comment starts its thread, so each of these threads is the App's."""
    known = {comment.id: comment for comment in existing}
    wanted = [known.get(comment_id) for comment_id in comment_ids]
    threads: dict[str, bool] = {}
    for comment in wanted:
        if comment is None or comment.thread_id is None or comment.in_reply_to_id is not None:
            return None
        threads[comment.thread_id] = comment.thread_resolved
    return [thread for thread, resolved in threads.items() if not resolved]


def own_comments(comments: Sequence[ReviewComment]) -> list[ReviewComment]:
    """The comments this App wrote: a fingerprint pasted by anyone else is not trusted,
    so it can neither silence our comment nor draw a "Fixed" reply."""
    return [comment for comment in comments if comment.by_app]


def fixed_comments(existing: Sequence[ReviewComment], analysis: Analysis) -> list[ReviewComment]:
    """Our top-level comments whose finding the head no longer has, not yet answered.

    Fails closed, towards saying nothing: only comments on files analysed at head without
    error are answered (a file that could not be analysed, or that the PR no longer
    changes, may still have the finding), and a finding counts as gone only when no
    finding at head has its fingerprint, new or not (a rebase that makes it "old" does
    not fix it).
    """
    answered = answered_as_fixed(existing)
    analysed = analysis.analysed_paths
    fixed: list[ReviewComment] = []
    for comment in existing:
        if comment.in_reply_to_id is not None or comment.id in answered:
            continue
        prints = publish.fingerprints_in(comment.body)
        if not prints or comment.path not in analysed:
            continue
        if not prints & analysis.head_fingerprints:
            fixed.append(comment)
    return fixed


def answered_as_fixed(existing: Sequence[ReviewComment]) -> set[int]:
    """Ids of our comments that a reply of ours has already called fixed."""
    return {
        c.in_reply_to_id
        for c in existing
        if c.in_reply_to_id is not None and FIXED_MARKER in (c.body or "")
    }


def fixed_reply(head_sha: str) -> str:
    return f"Fixed in {head_sha[:7]}.\n\n{FIXED_MARKER}"


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


def checked_subject(job: Job) -> str:
    """What the job's check run is about, as its title and summary say it."""
    return "merge group" if job.kind is JobKind.MERGE_GROUP else publish.PULL_REQUEST


def _mark_failed(
    port: CountingPort,
    repo: str,
    check_id: int,
    head_sha: str,
    reason: str,
    subject: str = publish.PULL_REQUEST,
) -> bool:
    """Complete the check run as failure; False if even that failed.

    A check run left `in_progress` still blocks a required check, so losing this update
    is not fail-open; the original exception is the one worth re-raising.
    """
    try:
        payload = publish.failed_check_run_payload(reason, head_sha, subject)
        port.update_check_run(repo, check_id, payload)
    except Exception as exc:
        logger.warning("could not mark check run %s failed: %s", check_id, failure_reason(exc))
        return False
    return True


@dataclass
class Deadline:
    """The job's time budget, checked between steps; one file's analysis is bounded by
    its own budget instead (`analyzers.isolation`)."""

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

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        self._tick()
        return self.inner.pull_requests_for_commit(repo, sha)

    def compare_commits(self, repo: str, base_sha: str, head_sha: str) -> Comparison:
        self._tick()
        return self.inner.compare_commits(repo, base_sha, head_sha)

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | Link | None]:
        self._tick()
        return self.inner.read_files(repo, wanted)

    def read_tree(self, repo: str, sha: str) -> GitTree:
        self._tick()
        return self.inner.read_tree(repo, sha)

    def upload_sarif(self, repo: str, body: dict[str, Any]) -> str:
        self._tick()
        return self.inner.upload_sarif(repo, body)

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        self._tick()
        return self.inner.create_check_run(repo, head_sha, name, external_id)

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        self._tick()
        return self.inner.find_check_run(repo, head_sha, name, external_id)

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        self._tick()
        self.inner.update_check_run(repo, check_run_id, body)

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        self._tick()
        return self.inner.review_comments(repo, number)

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        self._tick()
        return self.inner.read_pull_requests(repo, numbers, head_sha)

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        self._tick()
        self.inner.create_review(repo, number, body)

    def reply_to_review_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        self._tick()
        self.inner.reply_to_review_comment(repo, number, comment_id, body)

    def review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        self._tick()
        return self.inner.review_threads(repo, number)

    def resolve_review_threads(self, repo: str, thread_ids: Sequence[str]) -> None:
        self._tick()
        self.inner.resolve_review_threads(repo, thread_ids)

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        self._tick()
        self.inner.comment_on_pull_request(repo, number, body)

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        self._tick()
        return self.inner.commit_files(repo, branch, expected_head_sha, files, message)
