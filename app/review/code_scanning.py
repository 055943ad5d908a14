"""The code-scanning job: a push to the default branch -> its whole tree, as code scanning
alerts.

A review only sees what a pull request changes; the fail-open paths already on the
default branch stay invisible. For installations that opted in (`FAILCLOSED_CODE_SCANNING`,
`app.settings.CodeScanningOptIn`), each push to a repository's default branch becomes
this job: it lists the tree of the pushed commit, reads every Python file the repository's
`[tool.failclosed]` at that commit does not exclude, analyses each (all findings, not only
new ones: there is nothing to compare with), and uploads the SARIF of
`analyzers.output.sarif_log` to `POST /code-scanning/sarifs` for that commit and branch.
GitHub's Security overview then lists every fail-open path across the organisation, and
closes an alert when an upload no longer has it. The category is always
`publish.SARIF_CATEGORY`, so each upload replaces the last; each result's
`partialFingerprints` is `analyzers.model.fingerprint` (rule, path and key, the identity
review comments use), so an alert survives the lines moving around it.

Symbolic links and submodules in the tree are not read: a link's target, when it is a
file of the repository, is scanned at its own path. A file that cannot be read or
analysed is a tool error of the run (`executionSuccessful: false`, with the file named),
which GitHub shows on the tool's status page; the other files are still uploaded.

It fails closed where a partial upload would close alerts that still exist: a tree GitHub
listed only in part (`truncated`, past 100,000 entries or 7 MB) fails the job without
uploading, and so does a SARIF over GitHub's 10 MB gzipped. Past 25,000 results (GitHub
rejects more), the blocking ones are kept first and the run's properties say how many
were left out. GitHub refusing the upload (403: the installation has not accepted
`security_events: write`, or code scanning is not enabled for a private repository) is
logged with what to do and fails the job once; a 5xx or no answer is retried like any
job's (the same upload again replaces the first).

Port calls: read_tree, read_files for `pyproject.toml` (none when the tree has none at its
root), read_files for the Python files (none when there are none), upload_sarif: 4
whatever the number of files. The client reads 50 files a GraphQL query, so a 1,000-file
repository costs 1 + 1 + 20 + 1 = 23 requests to GitHub (plus the installation token,
cached an hour), and one more REST read per file GraphQL gives no text for (binary, or
past its size cap).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from failclosed.analyzers.engine import is_python_path
from failclosed.analyzers.isolation import DEFAULT_FILE_BUDGET_SECONDS, IsolatedAnalyzer
from failclosed.analyzers.model import AnalysisError, Report
from failclosed.analyzers.output import sarif_log
from failclosed.analyzers.settings import Config
from failclosed.app.github.port import GitHubFailure, GitHubPort, GitTree, Link
from failclosed.app.model import Job, JobKind, RetryableError
from failclosed.app.review import publish
from failclosed.app.review.analyze import (
    DEFAULT_BUDGET_SECONDS,
    PYPROJECT,
    CountingPort,
    Deadline,
    Isolate,
    pooled_analyzer,
    read_through_link,
    repository_config,
)

logger = logging.getLogger(__name__)

LINK_MODE = "120000"  # git's mode of a symbolic link, as the trees API writes it
PERMISSION_HINT = (
    "the installation must accept the App's `security_events: write` permission, and a "
    "private repository needs code scanning (GitHub Advanced Security) enabled"
)


class TreeTruncated(RuntimeError):
    """GitHub listed only part of the tree: uploading it would close the alerts of the
    files it left out."""


class UploadRefused(RuntimeError):
    """GitHub refused the SARIF upload (403): not worth retrying until someone acts."""


@dataclass(frozen=True)
class CodeScanningResult:
    """What `run_code_scanning` did (a `RunResult`)."""

    files: int  # Python files analysed
    findings: int  # results found in them
    uploaded: int  # results in the SARIF uploaded (fewer past GitHub's cap)
    errors: int  # files that could not be read or analysed
    sarif_id: str  # GitHub's id of the upload
    calls: int  # port calls the job made
    reason: str = ""

    @property
    def final_state(self) -> Literal["done", "superseded"]:
        return "done"

    def log_fields(self) -> dict[str, str | int | bool]:
        return {
            "result_status": "uploaded",
            "result_files": self.files,
            "result_findings": self.findings,
            "result_uploaded": self.uploaded,
            "result_errors": self.errors,
            "result_sarif_id": self.sarif_id,
            "result_api_calls": self.calls,
        }


def run_code_scanning(
    job: Job,
    github: GitHubPort,
    config: Config | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    file_budget_seconds: float = DEFAULT_FILE_BUDGET_SECONDS,
    isolate: Isolate = pooled_analyzer,
) -> CodeScanningResult:
    """Scan the tree of the pushed commit and upload it to code scanning (see the module
    docstring). Without a `config`, the repository's own at that commit is used."""
    if job.kind is not JobKind.CODE_SCANNING or job.ref is None:
        raise ValueError(f"run_code_scanning handles code_scanning jobs, not {job.kind.value}")
    port = CountingPort(github)
    repo, sha = job.repository, job.head_sha
    deadline = Deadline(clock() + budget_seconds, clock)
    tree = whole_tree(port, repo, sha)
    config, config_errors = config_at(port, repo, sha, tree, config)
    paths = python_paths(tree, config)
    contents = read_python_files(port, repo, sha, paths)
    deadline.check("reading files")
    with isolate(file_budget_seconds) as analyzer:
        report = scan_files(paths, contents, config, deadline, analyzer)
    report.errors[:0] = config_errors
    upload = publish.sarif_upload(sarif_log(report), sha, job.ref)
    if upload.dropped:
        logger.warning(
            "code scanning upload cut to GitHub's cap of results",
            extra={"repository": repo, "uploaded": upload.results, "dropped": upload.dropped},
        )
    sarif_id = upload_sarif(port, job, upload)
    return CodeScanningResult(
        files=len(paths),
        findings=len(report.findings),
        uploaded=upload.results,
        errors=len(report.errors),
        sarif_id=sarif_id,
        calls=port.calls,
    )


def whole_tree(port: CountingPort, repo: str, sha: str) -> GitTree:
    """The commit's tree in one call; `TreeTruncated` when GitHub did not list all of it.

    Not read folder by folder instead: that costs a call per folder, unbounded, for the
    repositories (100,000+ entries) where it matters most."""
    tree = port.read_tree(repo, sha)
    if tree.truncated:
        raise TreeTruncated(
            f"GitHub listed the tree of {sha[:12]} only in part (over 100,000 entries or "
            "7 MB): nothing was uploaded, since a partial scan would close open alerts"
        )
    return tree


def config_at(
    port: CountingPort, repo: str, sha: str, tree: GitTree, config: Config | None
) -> tuple[Config, list[AnalysisError]]:
    """`config` when given; else the `[tool.failclosed]` of the commit's own pyproject.toml
    (one read, none when the tree has none), and why it could not be used."""
    if config is not None:
        return config, []
    if not any(entry.path == PYPROJECT and entry.type == "blob" for entry in tree.entries):
        return Config(), []
    side = dict(port.read_files(repo, [(sha, PYPROJECT)]))
    pyproject, why = read_through_link(
        port, repo, sha, PYPROJECT, {PYPROJECT: side.get((sha, PYPROJECT))}
    )
    if why is None:
        config, why = repository_config(pyproject)
    else:
        config = Config()
    return config, [AnalysisError(PYPROJECT, why)] if why else []


def python_paths(tree: GitTree, config: Config) -> list[str]:
    """The tree's Python files the analyzer reads: blobs that are not symbolic links,
    outside the folders `failclosed scan` skips and the repository's `exclude`."""
    return sorted(
        entry.path
        for entry in tree.entries
        if entry.type == "blob"
        and entry.mode != LINK_MODE
        and is_python_path(entry.path)
        and not config.is_excluded(entry.path)
    )


def read_python_files(
    port: CountingPort, repo: str, sha: str, paths: Sequence[str]
) -> dict[str, bytes | Link | None]:
    """Every file at `sha` with one port call (none when there is none)."""
    if not paths:
        return {}
    got = port.read_files(repo, [(sha, path) for path in paths])
    return {path: got.get((sha, path)) for path in paths}


def scan_files(
    paths: Sequence[str],
    contents: Mapping[str, bytes | Link | None],
    config: Config,
    deadline: Deadline,
    analyzer: IsolatedAnalyzer,
) -> Report:
    """Every finding of every file, each analysed in the child under its budget; a file
    that did not come back as bytes is an error, never skipped in silence."""
    report = Report()
    for path in paths:
        deadline.check(f"analysing {path}")
        data = contents.get(path)
        if not isinstance(data, bytes):
            report.errors.append(AnalysisError(path, "could not be read at the pushed commit"))
            continue
        report.extend(analyzer.analyze_source(data, path, config, with_fixes=False))
    report.sort()
    return report


def upload_sarif(port: CountingPort, job: Job, upload: publish.SarifUpload) -> str:
    """Send the upload; GitHub's id for it. A 403 is said plainly, once (`UploadRefused`
    is not retried); a rate limit or a 5xx goes up as the `RetryableError` it is."""
    try:
        return port.upload_sarif(job.repository, upload.body)
    except GitHubFailure as exc:
        if exc.status != 403 or isinstance(exc, RetryableError):
            raise
        message = f"GitHub refused the code scanning upload for {job.repository}: {PERMISSION_HINT}"
        logger.error(
            message,
            extra={
                "delivery_id": job.delivery_id,
                "repository": job.repository,
                "installation_id": job.installation_id,
                "reason": str(exc),
            },
        )
        raise UploadRefused(f"{message} ({exc})") from None
