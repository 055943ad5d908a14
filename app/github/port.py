"""What the job needs from GitHub, as a small interface.

`app/github/client.py` implements it with githubkit (the only module that talks to the GitHub
API); tests give the job a recording fake. Keeping the surface this small is also what
keeps the number of API calls per pull request small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from failclosed.analyzers.links import (
    Link as Link,
)  # re-exported: what `read_files` gives for a link


@dataclass(frozen=True)
class PullRequest:
    """The facts about a PR the job needs: what to analyse and where fixes would go."""

    number: int
    head_sha: str
    base_sha: str
    head_ref: str
    head_repo: str  # owner/name of the head repository (a fork's differs; "" if deleted)
    draft: bool = False
    changed_files: int | None = None  # as GitHub counts them; its file list stops at 3,000


@dataclass(frozen=True)
class ChangedFile:
    """One entry of `GET /pulls/{n}/files`: `patch` is None for binary and huge diffs."""

    path: str
    status: str  # added, modified, renamed, removed, copied, changed, unchanged
    previous_path: str | None = None
    patch: str | None = None


@dataclass(frozen=True)
class Comparison:
    """`GET /compare/{base}...{head}`: the files changed from the merge base to the head."""

    merge_base_sha: str
    files: tuple[ChangedFile, ...]


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a commit's tree (`GET /git/trees/{sha}?recursive=1`)."""

    path: str
    mode: str  # git's, in octal: 100644 a file, 100755 executable, 120000 a symbolic link
    type: str  # blob, tree, or commit (a submodule)
    size: int | None = None  # blobs only


@dataclass(frozen=True)
class GitTree:
    """A commit's whole tree; `truncated` when GitHub stopped listing it (its cap is 100,000
    entries or 7 MB), so what is listed is not all there is."""

    entries: tuple[TreeEntry, ...]
    truncated: bool = False


class GitHubPort(Protocol):
    """The GitHub operations of one installation, for one repository (`owner/name`)."""

    def get_pull_request(self, repo: str, number: int) -> PullRequest: ...

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        """All pages (GitHub lists at most 3,000 files)."""
        ...

    def compare_commits(self, repo: str, base_sha: str, head_sha: str) -> Comparison:
        """What `head_sha` changes relative to its merge base with `base_sha` (GitHub lists
        at most 300 files of a comparison, and says so nowhere)."""
        ...

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | Link | None]:
        """The contents of each `(commit sha, path)`, many files per request whatever their
        commit (a PR's head and base sides in one); a `Link` (its target's path) for a
        symbolic link, None for a missing file, a folder or a submodule."""
        ...

    def read_tree(self, repo: str, sha: str) -> GitTree:
        """Every entry of the commit's tree, subfolders included, in one request."""
        ...

    def upload_sarif(self, repo: str, body: dict[str, Any]) -> str:
        """`POST /code-scanning/sarifs` (commit_sha, ref, the gzipped SARIF in base64): the
        upload's id. GitHub processes it later; the same commit, ref and category again
        replaces the earlier analysis."""
        ...

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        """A new check run `in_progress`, tagged with `external_id` (the delivery); its id."""
        ...

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        """The newest run named `name` on `head_sha` tagged `external_id`, if any: the run
        a worker made just before it died, before it could write the id down."""
        ...

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None: ...

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None: ...

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        """Open PRs of this repository whose head is `sha` (check re-runs of fork PRs)."""
        ...

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        """The PR's review comments with ids, each saying whether this App wrote it."""
        ...

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        """Each PR of `numbers` (whatever its head), and with `head_sha` also every other
        open PR of this repository whose head is `head_sha` (fork PRs included), each with
        all its review comments; by number. One GraphQL query for a PR of one head with at
        most 100 review threads: what `pull_requests_for_commit`, `get_pull_request` and
        `review_comments` gave in three calls."""
        ...

    def reply_to_review_comment(
        self, repo: str, number: int, comment_id: int, body: str
    ) -> None: ...

    def review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        """The PR's review threads, each with its first comment's id and whether this App
        started it (resolution state is only in GraphQL)."""
        ...

    def resolve_review_threads(self, repo: str, thread_ids: Sequence[str]) -> None:
        """Resolve these threads (GraphQL node ids), many in one request."""
        ...

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        """A plain PR (issue) comment, e.g. to say fixes cannot be pushed to a fork."""
        ...

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        """One commit on `branch` changing `files`, only if the branch head is still
        `expected_head_sha` (else `HeadMoved`); the new commit's sha."""
        ...


@dataclass(frozen=True)
class ReviewComment:
    """An existing review comment: enough to find ours and answer it."""

    id: int
    body: str
    path: str
    in_reply_to_id: int | None = None
    # Written by this App's bot account. Only such comments are trusted: anyone can paste
    # our hidden fingerprint into a comment of their own to silence a finding's comment.
    by_app: bool = False
    # The review thread it is in (a GraphQL node id) and whether that thread is resolved,
    # when it was read through GraphQL (`read_pull_requests`); None through REST.
    thread_id: str | None = None
    thread_resolved: bool = False


@dataclass(frozen=True)
class PullRequestRead:
    """A pull request as an analyze job reads it: its facts and every review comment on it
    (ours or not: the job picks ours by `ReviewComment.by_app`)."""

    pull_request: PullRequest
    comments: tuple[ReviewComment, ...]


@dataclass(frozen=True)
class ReviewThread:
    """A PR's review thread as GraphQL lists it: enough to resolve ours."""

    id: str  # the GraphQL node id `resolveReviewThread` takes
    resolved: bool
    first_comment_id: int | None  # the REST id of the comment that started it
    # Started by this App's bot account: only such threads are ever resolved by the App.
    by_app: bool = False


class GitHubFailure(Exception):
    """GitHub failed a request (`app.github.client.GitHubError` is one): lets a job tell a
    failed cosmetic step (resolving threads) from its own bugs and a lost lease."""

    status: int = 0  # the HTTP status; 0 when there was none


class HeadMoved(Exception):
    """The branch moved since the analysis: fixes must not be committed on top blindly."""
