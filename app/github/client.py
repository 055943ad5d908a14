"""The only module that talks to the GitHub API: `GitHubPort` implemented with githubkit.

`GitHubApp` holds the App's id, private key and API base URL; `GitHubApp.installation(id)`
gives a `GitHubClient` for one unit of work (one `githubkit.GitHub` per job), authenticated as
that installation. githubkit signs the JWT, fetches the installation token and caches both
(process-wide by default, keyed by app id and installation id; tokens last one hour).
`token_client(token)` gives the same `GitHubClient` authenticated by a token instead: the
GitHub Action's (`app.commands.action`), whose workflow hands it `GITHUB_TOKEN`, so that the
Action and the App share one client and one way of sending each payload.

`create_app_from_manifest` is the one unauthenticated call: before the App exists,
`failclosed setup` (app/commands/setup.py) trades the manifest flow's code for its credentials.

Connections: a job enters its `GitHubClient` (`with client:`, done by `app.run.execute`), so its
requests share one `httpx.Client` and its kept-alive connection; outside a `with` githubkit
builds and closes a client for every request. Every client uses the one SSL context of the
process (`shared_ssl_context`): building one loads the CA bundle, which cost more CPU than
the rest of a small job together (issue 11).

What GitHub does that this module is shaped around:
- Outdated review comments carry `"line": null`, which githubkit's model rejects, so the
  review comments are read as raw JSON. A comment is ours only if its author is the App's
  bot account (`<slug>[bot]`, type Bot); the slug comes from `GET /app`, once per process.
- `GET /pulls/{n}/files` pages at most 100 per page and lists at most 3,000 files; `patch` is
  absent for binary files and huge diffs.
- `GET /compare/{base}...{head}` (a merge group, which has no pull request) lists the files
  on its first page, at most 300, with no count of all of them; its answer is read as raw
  JSON (only the merge base and the files are used, not the up to 250 commits).
- Contents are read by commit SHA (a fork's head branch is not on the base repository), many
  paths per GraphQL query, at one commit or several (a PR's head and base sides together);
  binary and truncated blobs fall back to the REST contents API. Each file is read as its
  commit's `TreeEntry` (`Commit.file(path:)`), whose `mode` tells a symbolic link (`40960`,
  octal 120000) from a file in the same query: a link's blob text is its target's path,
  which parses as Python, so it comes back as a `Link` and is never analysed as code.
- A default branch's whole tree is listed with one `GET /git/trees/{sha}?recursive=1`
  (read as raw JSON); GitHub cuts the list past 100,000 entries or 7 MB and says so with
  `truncated`, which is passed on. Its files are then read by `read_files` like any other.
- A SARIF upload (`POST /code-scanning/sarifs`, answered 202 with the upload's id) is safe
  to repeat: the same commit, ref and category again replaces the analysis. A 403 there
  (permission not accepted, code scanning not enabled) is a plain `GitHubError`, not
  retried; a rate-limited one is.
- Review threads, and whether they are resolved, exist only in GraphQL: a PR's threads are
  read 100 a query (`reviewThreads`, each with its first comment's author and REST id:
  `fullDatabaseId`, a BigInt sent as a string, since `databaseId` is a deprecated Int), and
  resolved many a request (`resolveReviewThread` under aliases). In GraphQL the bot's
  `login` is the slug, without REST's `[bot]`; its `__typename` is `Bot`.
- An analyze job reads its pull requests in one GraphQL query (`read_pull_requests`, what
  `GET /commits/{sha}/pulls`, `GET /pulls/{n}` and `GET /pulls/{n}/comments` gave in three):
  each PR by number with its head, base, fork and `changedFiles` (the 3,000-file cap check
  needs it), its review threads with their comments (ids, paths, bodies, authors; a
  thread's first comment is top-level, the rest are replies to it, as REST's
  `in_reply_to_id` says), and the head commit's `associatedPullRequests`, which like the
  REST listing include closed PRs, PRs that merely contain the commit and a fork's own
  PRs (left out). Every connection is read to its last page; an answer in a shape the
  schema does not give (a missing field, a null node, a next page without a cursor) is a
  `GitHubError`, never a shorter list: a job that could not read it fails its check run.
- Fixes are committed with one GraphQL `createCommitOnBranch` mutation: GitHub authors and
  signs the commit as the App, and applies it only if the branch head is still the expected
  oid. A stale head is not an HTTP error: GitHub answers 200 with
  `data.createCommitOnBranch: null` and an error of type `STALE_DATA` whose message reads
  `Expected branch to point to "<oid>" but it did not.  Pull and try again.` (the shape
  other bots observe against github.com); that, and only that, becomes `HeadMoved`.
- githubkit retries 5xx and rate limits on API calls, but not the installation-token request
  that runs inside its auth flow; every failure, that one included, becomes a `GitHubError`.
  A 5xx does not say whether GitHub stored a write, so 5xx retries are limited to requests
  that are safe to repeat (`retry_policy`): repeating a POST could post a second review.
  Such a failure fails the job, and the worker's retry of the whole job is safe: it
  creates a fresh check run and finds the first review's comments by their fingerprints.

Errors never carry a token: messages are built from the method, the URL path, the status and
GitHub's `message`/`errors` fields only, never from request headers.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pydantic
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import BaseCacheStrategy
from githubkit.exception import (
    GitHubException,
    GraphQLFailed,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)
from githubkit.retry import RETRY_RATE_LIMIT, RETRY_SERVER_ERROR
from githubkit.typing import RetryOption

from failclosed.app import metrics
from failclosed.app.github.port import (
    ChangedFile,
    Comparison,
    GitHubFailure,
    GitTree,
    HeadMoved,
    Link,
    PullRequest,
    PullRequestRead,
    ReviewComment,
    ReviewThread,
    TreeEntry,
)
from failclosed.app.model import RetryableError
from failclosed.app.settings import redacted_url

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
# Aliases per GraphQL query: big PRs are read in a few queries, each well under GitHub's
# node and response-size limits.
GRAPHQL_PATHS_PER_QUERY = 50
RAW_MEDIA_TYPE = "application/vnd.github.raw+json"
# The REST API version sent and parsed. 2022-11-28 is the one GitHub's published description
# (npm `@octokit/openapi`, which the cassettes are built from) documents; githubkit's default
# ("latest", 2026-03-10) expects fields that description lacks. Changing it means installing
# that version's githubkit-schemas package and re-recording the cassettes.
REST_API_VERSION: Final = "2022-11-28"
VERSION_HEADER = {"X-GitHub-Api-Version": REST_API_VERSION}

SARIF_UPLOAD_PATH_END = "/code-scanning/sarifs"

GRAPHQL_ERROR_STATUS = {"NOT_FOUND": 404, "FORBIDDEN": 403, "UNPROCESSABLE": 422}

COMMIT_MUTATION = """\
mutation CommitFiles($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) {
    commit { oid }
  }
}"""
# How GitHub says that `expectedHeadOid` is no longer the branch head. Deliberately not any
# error that merely mentions `expectedHeadOid`: "provided invalid value for expectedHeadOid"
# is a malformed request, not a moved branch.
STALE_HEAD_TYPE = "STALE_DATA"
STALE_HEAD_MESSAGE = "Expected branch to point to"


_ssl_context: ssl.SSLContext | None = None
_ssl_context_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """The process's one SSL context for GitHub, built on first use exactly as httpx builds
    its default (`verify=True`): certifi's CA bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR`
    when set. Never modified after it is built, so every thread's client can share it."""
    global _ssl_context
    with _ssl_context_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context(verify=True, trust_env=True)
        return _ssl_context


class GitHubError(GitHubFailure):
    """A GitHub request that failed; `status` is the HTTP status, 0 when there was none.

    One worth another try later (no answer, a server error or a rate limit) is made a
    `TransientGitHubError`, a `RetryableError` the job queue retries, as `OSError(ENOENT,
    ...)` is made a `FileNotFoundError`: every place that raises one is covered.
    """

    def __new__(cls, status: int, message: str, retry_after: float | None = None) -> GitHubError:
        if cls is GitHubError and _worth_retrying(status, retry_after):
            return super().__new__(TransientGitHubError, status, message, retry_after)
        return super().__new__(cls, status, message, retry_after)

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds GitHub asked us to wait (rate limits)

    @property
    def retryable(self) -> bool:
        """Worth another try later: no answer, a server error or a rate limit."""
        return isinstance(self, RetryableError)


class TransientGitHubError(GitHubError, RetryableError):
    """GitHub gave no answer, a server error or a rate limit: the job is worth running
    again later."""


def _worth_retrying(status: int, retry_after: float | None) -> bool:
    return status == 0 or status >= 500 or status == 429 or retry_after is not None


def safe_to_repeat(method: str, path: str, body: bytes) -> bool:
    """Whether sending this request twice has the effect of sending it once.

    Reads, and our PATCH of a check run (it sets a state), are; so is a GraphQL query, and
    a SARIF upload (the same commit, ref and category again replaces the analysis). Any
    other REST POST creates something (a check run, a review, a reply) and a GraphQL
    mutation commits, so neither is repeated after an answer that does not say what
    happened.
    """
    if method.upper() != "POST" or path.endswith(SARIF_UPLOAD_PATH_END):
        return True
    if not path.endswith("/graphql"):
        return False
    try:
        query = json.loads(body).get("query", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(query, str) and not query.lstrip().startswith("mutation")


def retry_policy(exc: GitHubException, retry_count: int) -> RetryOption:
    """githubkit's decision, minus 5xx retries of writes that might have been stored.

    A rate limit (403/429 with GitHub's headers) means the request was not processed, so
    it is retried whatever it was.
    """
    decision = RETRY_RATE_LIMIT(exc, retry_count)
    if decision.do_retry:
        return decision
    if isinstance(exc, RequestFailed):
        request = exc.request
        if not safe_to_repeat(request.method, request.url.path, request.content):
            return RetryOption(False)
    return RETRY_SERVER_ERROR(exc, retry_count)


def split_repo(repo: str) -> tuple[str, str]:
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return owner, name


def _describe_failure(exc: RequestFailed) -> tuple[int, str]:
    response = exc.response
    request = exc.request
    status = response.status_code
    path = request.url.path
    if "/app/installations/" in path and path.endswith("/access_tokens"):
        what = "installation token request"
    else:
        what = f"{request.method} {path}"
    detail = ""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        detail = str(payload.get("message") or "")
        errors = payload.get("errors")
        if errors:
            parts = [
                str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e)
                for e in errors
            ]
            detail = f"{detail}: {'; '.join(parts)}" if detail else "; ".join(parts)
    reason = detail or response.reason_phrase or "request failed"
    return status, f"GitHub {what} failed: {status} {reason}"


@contextmanager
def _translate_errors(action: str) -> Iterator[None]:
    """githubkit's and pydantic's exceptions -> `GitHubError` with a clear message."""
    try:
        yield
    except RateLimitExceeded as exc:
        # githubkit has already waited once; the worker retries the job after the time
        # GitHub asked for (Retry-After / x-ratelimit-reset).
        status, message = _describe_failure(exc)
        wait = exc.retry_after.total_seconds()
        raise GitHubError(status, f"{action}: rate limited: {message}", retry_after=wait) from None
    except RequestFailed as exc:
        status, message = _describe_failure(exc)
        raise GitHubError(status, f"{action}: {message}") from None
    except RequestTimeout as exc:
        raise GitHubError(
            0, f"{action}: GitHub did not answer in time ({exc.request.url.path})"
        ) from None
    except RequestError as exc:
        if isinstance(exc.exc, RequestFailed):
            # The installation-token request fails inside githubkit's auth flow, which
            # wraps it once more (and does not retry it).
            status, message = _describe_failure(exc.exc)
            raise GitHubError(status, f"{action}: {message}") from None
        raise GitHubError(
            0, f"{action}: could not reach GitHub ({type(exc.exc).__name__})"
        ) from None
    except GraphQLFailed as exc:
        errors = exc.response.errors or []
        messages = "; ".join(e.message for e in errors)
        types = {e.type for e in errors}
        status = next((GRAPHQL_ERROR_STATUS[t] for t in types if t in GRAPHQL_ERROR_STATUS), 0)
        raise GitHubError(status, f"{action}: GitHub GraphQL errors: {messages}") from None
    except pydantic.ValidationError as exc:
        # Field locations and error kinds only: the values could be anything.
        where = "; ".join(f"{'.'.join(map(str, e['loc']))} ({e['type']})" for e in exc.errors()[:3])
        raise GitHubError(
            0, f"{action}: unexpected data from GitHub, {exc.error_count()} problems: {where}"
        ) from None
    except GitHubException as exc:  # AuthCredentialError and the like
        raise GitHubError(0, f"{action}: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class AppRegistration:
    """What GitHub returns once, when it turns a manifest's `code` into an App: its id and
    secrets, kept as `SecretStr` so that a repr or a log line never shows them."""

    id: int
    slug: str
    html_url: str
    client_id: str
    webhook_secret: pydantic.SecretStr | None  # null when the App has no webhook
    pem: pydantic.SecretStr
    client_secret: pydantic.SecretStr


def create_app_from_manifest(
    code: str, base_url: str = DEFAULT_BASE_URL, *, timeout: float = 30.0
) -> AppRegistration:
    """`POST /app-manifests/{code}/conversions`: the App's credentials for a manifest flow's
    `code` (valid for one hour, once). Unauthenticated: the App does not exist before it.
    Never retried: the code is spent by the first answer, even one we did not receive."""
    github = GitHub(
        base_url=base_url,
        http_cache=False,
        timeout=timeout,
        ssl_verify=shared_ssl_context(),
        auto_retry=False,
    )
    with _translate_errors("registering the App from its manifest"):
        app = github.rest(REST_API_VERSION).apps.create_from_manifest(code).parsed_data
    return AppRegistration(
        id=app.id,
        slug=app.slug or "",
        html_url=app.html_url,
        client_id=app.client_id,
        webhook_secret=pydantic.SecretStr(app.webhook_secret) if app.webhook_secret else None,
        pem=pydantic.SecretStr(app.pem),
        client_secret=pydantic.SecretStr(app.client_secret),
    )


# A PR's review threads, 100 a page: each thread's id, state and first comment (who wrote
# it, and its REST id: `fullDatabaseId` is a BigInt, sent as a string; `databaseId` is its
# deprecated Int twin, read when the other is absent).
THREADS_QUERY = """\
query ReviewThreads($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          isResolved
          comments(first: 1) {
            nodes { fullDatabaseId databaseId author { __typename login } }
          }
        }
      }
    }
  }
}"""
# Pages of threads read at most (10,000 threads): the call count stays bounded whatever
# the pull request; a thread past them is left unresolved, which only looks untidy.
MAX_THREAD_PAGES = 100
# Threads resolved per mutation, one alias each.
THREADS_PER_MUTATION = 50


def resolve_mutation(count: int) -> str:
    """`resolveReviewThread` for `count` threads in one request: alias r<i> resolves the
    thread of variable $t<i>."""
    params = ", ".join(f"$t{i}: ID!" for i in range(count))
    fields = "\n".join(
        f"  r{i}: resolveReviewThread(input: {{threadId: $t{i}}}) {{ thread {{ id isResolved }} }}"
        for i in range(count)
    )
    return f"mutation ResolveThreads({params}) {{\n{fields}\n}}"


def review_thread_of(node: Any, bot_login: str) -> ReviewThread | None:
    """One `PullRequestReviewThread` node; None when it lacks an id. Ours only when its
    first comment's author is a Bot whose login is the App's (GraphQL gives a bot's login
    without the `[bot]` that REST shows)."""
    if not isinstance(node, dict) or not isinstance(node.get("id"), str):
        return None
    comments = (node.get("comments") or {}).get("nodes") or [None]
    first: dict[str, Any] = comments[0] if isinstance(comments[0], dict) else {}
    author: dict[str, Any] = first.get("author") or {}
    if not isinstance(author, dict):
        author = {}
    login = bot_login.removesuffix("[bot]")
    return ReviewThread(
        id=node["id"],
        resolved=node.get("isResolved") is True,
        first_comment_id=_database_id(first),
        by_app=author.get("__typename") == "Bot" and author.get("login") == login,
    )


def _database_id(comment: dict[str, Any]) -> int | None:
    """A comment's REST id: `fullDatabaseId` (a BigInt, as a string), else `databaseId`."""
    full = comment.get("fullDatabaseId")
    if isinstance(full, str) and full.isdigit():
        return int(full)
    old = comment.get("databaseId")
    return old if isinstance(old, int) and not isinstance(old, bool) else None


# What an analyze job reads of its pull requests, in one query (`read_pull_requests`): each
# PR's head, base, fork and file count, and its review threads with their comments (ids,
# paths, bodies, authors), 100 threads a page and 100 comments a thread; with the head's
# sha also the commit's associated pull requests, 100 a page, to find the other open PRs
# of the same head. Fragments keep the aliased PRs' fields in one place.
REVIEW_COMMENT_FRAGMENT = """\
fragment ReviewCommentFields on PullRequestReviewComment {
  fullDatabaseId
  databaseId
  body
  path
  author { __typename login }
}"""
REVIEW_THREAD_FRAGMENT = """\
fragment ReviewThreadFields on PullRequestReviewThread {
  id
  isResolved
  comments(first: 100) {
    pageInfo { hasNextPage endCursor }
    nodes { ...ReviewCommentFields }
  }
}"""
PULL_REQUEST_FRAGMENT = """\
fragment PullRequestFields on PullRequest {
  number
  state
  headRefOid
  baseRefOid
  headRefName
  headRepository { nameWithOwner }
  isDraft
  changedFiles
  reviewThreads(first: 100) {
    pageInfo { hasNextPage endCursor }
    nodes { ...ReviewThreadFields }
  }
}"""
ASSOCIATED_FIELDS = """\
    head: object(oid: $sha) {
      ... on Commit {
        associatedPullRequests(first: 100, after: $after) {
          pageInfo { hasNextPage endCursor }
          nodes { number state headRefOid baseRepository { nameWithOwner } }
        }
      }
    }"""
# One more page of a PR's threads, and one more page of a thread's comments.
THREAD_PAGE_QUERY = (
    """\
query ReviewThreadPage($owner: String!, $name: String!, $number: Int!, $after: String!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { ...ReviewThreadFields }
      }
    }
  }
}
"""
    + REVIEW_THREAD_FRAGMENT
    + "\n"
    + REVIEW_COMMENT_FRAGMENT
)
COMMENT_PAGE_QUERY = (
    """\
query ReviewCommentPage($thread: ID!, $after: String!) {
  node(id: $thread) {
    ... on PullRequestReviewThread {
      comments(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { ...ReviewCommentFields }
      }
    }
  }
}
"""
    + REVIEW_COMMENT_FRAGMENT
)
# Pull requests read by number in one query, one alias each: 100 threads of 100 comments
# are 10,100 nodes a PR, so 10 stay far under GitHub's 500,000 nodes a query.
PULL_REQUESTS_PER_QUERY = 10
# Pages read at most of one connection (associated PRs, a PR's threads, a thread's
# comments): past them the job fails ("could not verify") rather than go on with a part.
MAX_PAGES = 100


def pull_requests_query(count: int, associated: bool) -> str:
    """The query reading PRs p<i> of variables $n<i>, and with `associated` also the
    commit of $sha's associated pull requests (a page from $after)."""
    params = ["$owner: String!", "$name: String!"]
    if associated:
        params += ["$sha: GitObjectID!", "$after: String"]
    params += [f"$n{i}: Int!" for i in range(count)]
    fields = [ASSOCIATED_FIELDS] if associated else []
    fields += [
        f"    p{i}: pullRequest(number: $n{i}) {{ ...PullRequestFields }}" for i in range(count)
    ]
    fragments = [PULL_REQUEST_FRAGMENT, REVIEW_THREAD_FRAGMENT, REVIEW_COMMENT_FRAGMENT]
    query = (
        f"query PullRequests({', '.join(params)}) {{\n"
        "  repository(owner: $owner, name: $name) {\n" + "\n".join(fields) + "\n  }\n}"
    )
    return "\n".join([query, *fragments]) if count else query


def unexpected_data(what: str) -> GitHubError:
    """GitHub answered in a shape it does not document: nothing of it is trusted."""
    return GitHubError(0, f"unexpected data from GitHub GraphQL: {what}")


def connection_of(value: Any, what: str) -> tuple[list[dict[str, Any]], str | None]:
    """A connection's nodes and the cursor of its next page (None: the last page). A
    connection without its page info, a null node or a next page without a cursor is
    `unexpected_data`: a list that may be partial is never taken as whole."""
    if not isinstance(value, dict):
        raise unexpected_data(f"no {what}")
    nodes, info = value.get("nodes"), value.get("pageInfo")
    if not isinstance(nodes, list) or not isinstance(info, dict):
        raise unexpected_data(f"{what} without nodes or pageInfo")
    if not all(isinstance(node, dict) for node in nodes):
        raise unexpected_data(f"a null or malformed node in {what}")
    more = info.get("hasNextPage")
    if not isinstance(more, bool):
        raise unexpected_data(f"{what} without hasNextPage")
    cursor = info.get("endCursor")
    if more and (not isinstance(cursor, str) or not cursor):
        raise unexpected_data(f"{what} has a next page but no cursor")
    return nodes, cursor if more else None


def pull_request_of(node: Any, number: int) -> PullRequest:
    """A `PullRequest` node's facts; `unexpected_data` for a missing or mistyped one."""
    if not isinstance(node, dict):
        raise GitHubError(404, f"GitHub GraphQL: pull request #{number} not found")

    def text(key: str) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not value:
            raise unexpected_data(f"pull request #{number} without {key}")
        return value

    def integer(key: str) -> int:
        value = node.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise unexpected_data(f"pull request #{number} without {key}")
        return value

    if integer("number") != number:
        raise unexpected_data(f"pull request #{number} answered as #{node['number']}")
    draft = node.get("isDraft")
    if not isinstance(draft, bool):
        raise unexpected_data(f"pull request #{number} without isDraft")
    head_repo = node.get("headRepository")
    if head_repo is None:
        # A deleted fork leaves the head repository null: "" (a repository nobody can push
        # to). Its commits stay readable by SHA through the base repository.
        head_name = ""
    elif isinstance(head_repo, dict) and isinstance(head_repo.get("nameWithOwner"), str):
        head_name = head_repo["nameWithOwner"]
    else:
        raise unexpected_data(f"pull request #{number} with a malformed headRepository")
    return PullRequest(
        number=number,
        head_sha=text("headRefOid"),
        base_sha=text("baseRefOid"),
        head_ref=text("headRefName"),
        head_repo=head_name,
        draft=draft,
        changed_files=integer("changedFiles"),
    )


def thread_comments(
    thread: dict[str, Any], comments: Sequence[dict[str, Any]], bot_login: str
) -> list[ReviewComment]:
    """A thread's comments as REST lists them: the first is top-level, every other one a
    reply to it (GitHub threads replies under the comment they answer); each ours only
    when its author is a Bot whose login is the App's (GraphQL: no `[bot]`)."""
    thread_id, resolved = thread.get("id"), thread.get("isResolved")
    if not isinstance(thread_id, str) or not thread_id or not isinstance(resolved, bool):
        raise unexpected_data("a review thread without id or isResolved")
    login = bot_login.removesuffix("[bot]")
    result: list[ReviewComment] = []
    for comment in comments:
        comment_id = _database_id(comment)
        body, path = comment.get("body"), comment.get("path")
        if comment_id is None or not isinstance(body, str) or not isinstance(path, str):
            raise unexpected_data(
                f"a comment of review thread {thread_id} without id, body or path"
            )
        author = comment.get("author")
        if author is not None and not isinstance(author, dict):
            raise unexpected_data(f"a comment of review thread {thread_id} with a malformed author")
        author = author or {}  # null: the account was deleted ("ghost")
        result.append(
            ReviewComment(
                id=comment_id,
                body=body,
                path=path,
                in_reply_to_id=result[0].id if result else None,
                by_app=author.get("__typename") == "Bot" and author.get("login") == login,
                thread_id=thread_id,
                thread_resolved=resolved,
            )
        )
    return result


# A file's tree entry: its mode, and its blob's text (null when binary, cut when big).
ENTRY_FIELDS = "mode object { ... on Blob { text isBinary isTruncated byteSize } }"
# Git's mode of a symbolic link (`120000` in octal), as GraphQL's `TreeEntry.mode` gives it.
LINK_MODE: Final = 0o120000


def read_query(commits: Sequence[int]) -> str:
    """The GraphQL query reading blobs at several commits: alias c<j> for the commit of
    variable $c<j> (a sha), and in it f<i> for the file at path $p<i>, numbered across
    commits; `commits[j]` is how many files are read at commit j. Each file is a
    `TreeEntry`, whose `mode` says whether it is a symbolic link, read with its blob."""
    params = [f"$c{j}: String!" for j in range(len(commits))]
    params += [f"$p{i}: String!" for i in range(sum(commits))]
    blocks = []
    first = 0
    for j, count in enumerate(commits):
        files = "\n".join(
            f"        f{i}: file(path: $p{i}) {{ {ENTRY_FIELDS} }}"
            for i in range(first, first + count)
        )
        first += count
        blocks.append(
            f"    c{j}: object(expression: $c{j}) {{\n      ... on Commit {{\n{files}\n"
            "      }\n    }"
        )
    return (
        f"query ReadFiles($owner: String!, $name: String!, {', '.join(params)}) {{\n"
        f"  repository(owner: $owner, name: $name) {{\n" + "\n".join(blocks) + "\n  }\n}"
    )


def comparison_of(answer: Any, basehead: str) -> Comparison:
    """The merge base and the files of a `GET /compare` answer; `GitHubError` when either is
    missing or malformed (a comparison that lists no files is not taken as "no change"
    unless GitHub says the commits are identical)."""

    def unexpected(what: str) -> GitHubError:
        return GitHubError(0, f"comparing {basehead}: unexpected data from GitHub: {what}")

    if not isinstance(answer, dict):
        raise unexpected("not an object")
    base_commit = answer.get("merge_base_commit")
    merge_base = base_commit.get("sha") if isinstance(base_commit, dict) else None
    if not isinstance(merge_base, str) or not merge_base:
        raise unexpected("no merge_base_commit.sha")
    entries = answer.get("files")
    if entries is None and answer.get("status") == "identical":
        entries = []
    if not isinstance(entries, list):
        raise unexpected("no list of files")
    files = []
    for entry in entries:
        path = entry.get("filename") if isinstance(entry, dict) else None
        status = entry.get("status") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not isinstance(status, str):
            raise unexpected("a file without filename or status")
        previous = entry.get("previous_filename")
        patch = entry.get("patch")
        files.append(
            ChangedFile(
                path=path,
                status=status,
                previous_path=previous if isinstance(previous, str) and previous else None,
                patch=patch if isinstance(patch, str) and patch else None,
            )
        )
    return Comparison(merge_base_sha=merge_base, files=tuple(files))


def tree_of(answer: Any, sha: str) -> GitTree:
    """The entries of a `GET /git/trees/{sha}?recursive=1` answer; `GitHubError` when the
    answer lacks its list or its `truncated` flag (a list that may be cut is not whole)."""

    def unexpected(what: str) -> GitHubError:
        return GitHubError(
            0, f"reading the tree of {sha[:12]}: unexpected data from GitHub: {what}"
        )

    if not isinstance(answer, dict) or not isinstance(answer.get("tree"), list):
        raise unexpected("no list of entries")
    truncated = answer.get("truncated")
    if not isinstance(truncated, bool):
        raise unexpected("no truncated flag")
    entries = []
    for item in answer["tree"]:
        fields = item if isinstance(item, dict) else {}
        path, mode, kind = fields.get("path"), fields.get("mode"), fields.get("type")
        if not (isinstance(path, str) and isinstance(mode, str) and isinstance(kind, str)):
            raise unexpected("an entry without path, mode or type")
        size = fields.get("size")
        entries.append(TreeEntry(path, mode, kind, size if isinstance(size, int) else None))
    return GitTree(tuple(entries), truncated)


def _is_stale_head(exc: GraphQLFailed) -> bool:
    return any(
        error.type == STALE_HEAD_TYPE or STALE_HEAD_MESSAGE in error.message
        for error in exc.response.errors or []
    )


def _commit_message(message: str) -> dict[str, str]:
    """GraphQL's `CommitMessage`: the first line as headline, the rest as body."""
    headline, _, body = message.strip().partition("\n")
    result = {"headline": headline.strip()}
    if body.strip():
        result["body"] = body.strip()
    return result


class GitHubApp:
    """The App's credentials; hands out one installation client per unit of work."""

    def __init__(
        self,
        app_id: int | str,
        private_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        cache_strategy: BaseCacheStrategy | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.app_id = app_id
        self._private_key = private_key
        self.base_url = base_url
        self._cache_strategy = cache_strategy  # None: githubkit's process-wide memory cache
        self._timeout = timeout
        self._bot_login: str | None = None
        self._bot_login_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key, nor a password in the URL
        return f"GitHubApp(app_id={self.app_id!r}, base_url={redacted_url(self.base_url)!r})"

    def installation(self, installation_id: int) -> GitHubClient:
        auth = AppAuthStrategy(self.app_id, self._private_key).as_installation(installation_id)
        return GitHubClient(self._github(auth), bot_login=self.bot_login)

    def bot_login(self) -> str:
        """The login of the App's bot account (`<slug>[bot]`), which authors our comments.

        Read once per process with `GET /app` (as the App, not an installation); a failure
        raises `GitHubError` and is retried on the next call.
        """
        with self._bot_login_lock:
            if self._bot_login is None:
                self._bot_login = self._read_bot_login()
            return self._bot_login

    def _read_bot_login(self) -> str:
        github = self._github(AppAuthStrategy(self.app_id, self._private_key))
        with _translate_errors("reading the App's own details (GET /app)"):
            rest: Any = github.rest(REST_API_VERSION)  # untyped use: see GitHubClient._rest
            response = rest.apps.get_authenticated(headers=VERSION_HEADER)
            slug = (response.json() or {}).get("slug")
        if not isinstance(slug, str) or not slug:
            raise GitHubError(0, "GET /app answered without the App's slug")
        return f"{slug}[bot]"

    def _github(self, auth: Any) -> GitHub[Any]:
        return _new_github(auth, self.base_url, self._cache_strategy, self._timeout)


def _new_github(
    auth: Any, base_url: str, cache_strategy: BaseCacheStrategy | None, timeout: float
) -> GitHub[Any]:
    """One githubkit client as every unit of work here uses it: our retry policy, the
    process's SSL context, no HTTP cache, the metrics hook."""
    return GitHub(
        auth,
        base_url=base_url,
        cache_strategy=cache_strategy,
        # One job reads each resource once: HTTP caching would add nothing but state.
        http_cache=False,
        timeout=timeout,
        ssl_verify=shared_ssl_context(),  # not a new one, with the CA bundle, per client
        auto_retry=retry_policy,
        event_hooks={"response": [metrics.observe_github_response]},
    )


# Who writes what a workflow's `GITHUB_TOKEN` posts: GitHub Actions' own bot account.
ACTIONS_BOT_LOGIN: Final = "github-actions[bot]"


def token_client(
    token: str,
    base_url: str = DEFAULT_BASE_URL,
    *,
    bot_login: str = ACTIONS_BOT_LOGIN,
    timeout: float = 30.0,
) -> GitHubClient:
    """A `GitHubClient` authenticated by `token` (a workflow's `GITHUB_TOKEN`, or a personal
    access token), for the GitHub Action, which has no App to sign for it.

    `bot_login` is the account the token posts as: only comments by that account (and of
    type Bot) are taken as ours, as for the App. With a personal access token the comments
    are the person's, so none is recognised and an earlier comment may be repeated.
    """
    if not token:
        raise ValueError("a GitHub token is needed")
    github = _new_github(TokenAuthStrategy(token), base_url, None, timeout)
    return GitHubClient(github, bot_login=lambda: bot_login)


class GitHubClient:
    """`GitHubPort` for one installation. Use as a context manager to reuse one connection:
    inside `with client:` every request goes through one `httpx.Client` (in the thread that
    entered it; githubkit keeps it in a context variable, so a request from another thread
    gets a client of its own, as outside the `with`)."""

    def __init__(
        self,
        github: GitHub[Any],
        *,
        bot_login: Callable[[], str],
        paths_per_query: int = GRAPHQL_PATHS_PER_QUERY,
    ) -> None:
        self._github = github
        self._bot_login = bot_login  # asked only when review comments are listed
        # Used untyped, as before githubkit's overloads could see the version: the answers'
        # shapes are checked where they are read (and the cassettes pin them).
        self._rest: Any = github.rest(REST_API_VERSION)
        self._paths_per_query = max(1, paths_per_query)

    def __enter__(self) -> GitHubClient:
        self._github.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._github.__exit__(*exc_info)  # type: ignore[arg-type]
        except Exception as exc:
            # Closing idle connections says nothing about the job: it must not turn a
            # finished job into a failed one, nor hide the job's own exception.
            logger.warning("could not close the GitHub client: %s", type(exc).__name__)

    # -- reads ---------------------------------------------------------------------------

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        owner, name = split_repo(repo)
        with _translate_errors(f"reading pull request {repo}#{number}"):
            pr = self._rest.pulls.get(owner, name, number).parsed_data
            head_repo = pr.head.repo
            return PullRequest(
                number=pr.number,
                head_sha=pr.head.sha,
                base_sha=pr.base.sha,
                head_ref=pr.head.ref,
                # A deleted fork leaves `head.repo` null: "" (a repository nobody can push
                # to). Its commits stay readable by SHA through the base repository.
                head_repo=head_repo.full_name if head_repo is not None else "",
                draft=bool(pr.draft),
                changed_files=pr.changed_files,
            )

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        owner, name = split_repo(repo)
        with _translate_errors(f"listing the files of {repo}#{number}"):
            pages = self._github.rest.paginate(
                self._rest.pulls.list_files,
                owner=owner,
                repo=name,
                pull_number=number,
                per_page=100,
                headers=VERSION_HEADER,  # githubkit sends only these on the further pages
            )
            return [
                ChangedFile(
                    path=entry.filename,
                    status=entry.status,
                    previous_path=entry.previous_filename or None,
                    patch=entry.patch or None,
                )
                for entry in pages
            ]

    def compare_commits(self, repo: str, base_sha: str, head_sha: str) -> Comparison:
        owner, name = split_repo(repo)
        basehead = f"{base_sha}...{head_sha}"
        with _translate_errors(f"comparing {repo} {base_sha[:12]}...{head_sha[:12]}"):
            answer = self._rest.repos.compare_commits(owner, name, basehead).json()
        return comparison_of(answer, basehead)

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | Link | None]:
        owner, name = split_repo(repo)
        result: dict[tuple[str, str], bytes | Link | None] = {}
        unique = list(dict.fromkeys(wanted))
        shas = ", ".join(dict.fromkeys(sha[:12] for sha, _ in unique))
        step = self._paths_per_query
        with _translate_errors(f"reading files of {repo} at {shas}"):
            for start in range(0, len(unique), step):
                chunk = unique[start : start + step]
                for (sha, path), entry in self._query_entries(owner, name, chunk).items():
                    result[(sha, path)] = self._entry_content(owner, name, sha, path, entry)
        return result

    def _query_entries(
        self, owner: str, name: str, wanted: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """One GraphQL query for all of `wanted`, whatever their commits: each file's tree
        entry (its mode and blob), None for a path or commit that is not there. The shas
        and paths travel as variables."""
        by_commit: dict[str, list[str]] = {}
        for sha, path in wanted:
            by_commit.setdefault(sha, []).append(path)
        variables: dict[str, Any] = {"owner": owner, "name": name}
        order: list[tuple[int, str, str]] = []  # commit alias number, sha, path
        for j, (sha, paths) in enumerate(by_commit.items()):
            variables[f"c{j}"] = sha
            order += [(j, sha, path) for path in paths]
        variables.update({f"p{i}": path for i, (_, _, path) in enumerate(order)})
        query = read_query([len(paths) for paths in by_commit.values()])
        data = self._github.graphql.request(query, variables)
        repository = data.get("repository")
        if repository is None:
            raise GitHubError(404, f"GitHub GraphQL: repository {owner}/{name} not found")
        entries: dict[tuple[str, str], dict[str, Any] | None] = {}
        for i, (j, sha, path) in enumerate(order):
            commit = repository.get(f"c{j}")
            entries[(sha, path)] = commit.get(f"f{i}") if isinstance(commit, dict) else None
        return entries

    def _entry_content(
        self, owner: str, name: str, sha: str, path: str, entry: dict[str, Any] | None
    ) -> bytes | Link | None:
        """A file's bytes; a `Link` for a symbolic link, whose blob is its target's path
        (never to be analysed as Python); None for nothing there, a folder or a submodule."""
        if not entry:
            return None
        blob = entry.get("object")
        if not isinstance(blob, dict) or "byteSize" not in blob:  # a tree or a submodule
            return None
        if entry.get("mode") == LINK_MODE:
            return Link(blob.get("text") or "")
        return self._blob_bytes(owner, name, sha, path, blob)

    def _blob_bytes(
        self, owner: str, name: str, sha: str, path: str, blob: dict[str, Any]
    ) -> bytes | None:
        text = blob.get("text")
        if text is not None and not blob.get("isTruncated") and not blob.get("isBinary"):
            data = text.encode("utf-8")
            # JSON carries text, not bytes: a file that is not UTF-8 (Latin-1 with a coding
            # cookie, say) comes back re-encoded. Its size gives it away; read it raw.
            if len(data) == blob.get("byteSize"):
                return data
        if blob.get("byteSize") == 0:
            return b""
        return self._read_raw(owner, name, sha, path)

    def _read_raw(self, owner: str, name: str, sha: str, path: str) -> bytes | None:
        """One file through REST: binary or too big for GraphQL's `text`."""
        try:
            response = self._rest.repos.get_content(
                owner, name, path, ref=sha, headers={"Accept": RAW_MEDIA_TYPE}
            )
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            # A server that ignored the raw media type: the JSON object has base64 content.
            payload = response.json()
            if isinstance(payload, dict) and payload.get("encoding") == "base64":
                return base64.b64decode(payload.get("content") or "")
            return None
        return response.content

    def read_tree(self, repo: str, sha: str) -> GitTree:
        """One request, raw JSON: only four fields of each entry are used."""
        owner, name = split_repo(repo)
        with _translate_errors(f"reading the tree of {repo} at {sha[:12]}"):
            answer = self._rest.git.get_tree(
                owner, name, sha, recursive="1", headers=VERSION_HEADER
            ).json()
        return tree_of(answer, sha)

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        owner, name = split_repo(repo)
        with _translate_errors(f"listing review comments of {repo}#{number}"):
            # Raw JSON on purpose: outdated comments have "line": null, which githubkit's
            # PullRequestReviewComment model has rejected in some versions.
            pages = self._github.rest.paginate(
                self._rest.pulls.list_review_comments,
                map_func=lambda response: response.json(),
                owner=owner,
                repo=name,
                pull_number=number,
                per_page=100,
                headers=VERSION_HEADER,
            )
            comments = []
            ours = self._bot_login()
            for entry in pages:
                if not isinstance(entry, dict):
                    continue
                comment_id, body = entry.get("id"), entry.get("body")
                if not isinstance(comment_id, int) or not isinstance(body, str):
                    continue
                path = entry.get("path")
                reply_to = entry.get("in_reply_to_id")
                user = entry.get("user")
                if not isinstance(user, dict):
                    user = {}
                comments.append(
                    ReviewComment(
                        id=comment_id,
                        body=body,
                        path=path if isinstance(path, str) else "",
                        in_reply_to_id=reply_to if isinstance(reply_to, int) else None,
                        by_app=user.get("type") == "Bot" and user.get("login") == ours,
                    )
                )
            return comments

    def review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        """The PR's review threads: one GraphQL query per 100 threads, at most
        `MAX_THREAD_PAGES`. Asks for the App's bot login (`GET /app`, once per process)."""
        owner, name = split_repo(repo)
        threads: list[ReviewThread] = []
        with _translate_errors(f"listing review threads of {repo}#{number}"):
            ours = self._bot_login()
            after: str | None = None
            for _ in range(MAX_THREAD_PAGES):
                variables = {"owner": owner, "name": name, "number": number, "after": after}
                page = self._threads_page(self._github.graphql.request(THREADS_QUERY, variables))
                nodes, after = page
                threads += [t for t in (review_thread_of(n, ours) for n in nodes) if t]
                if after is None:
                    break
        return threads

    @staticmethod
    def _threads_page(data: Any) -> tuple[list[Any], str | None]:
        """One page's thread nodes and the cursor of the next page (None: the last)."""
        pull = ((data or {}).get("repository") or {}).get("pullRequest")
        if not isinstance(pull, dict):
            raise GitHubError(404, "GitHub GraphQL: pull request not found")
        connection = pull.get("reviewThreads") or {}
        info = connection.get("pageInfo") or {}
        cursor = info.get("endCursor") if info.get("hasNextPage") else None
        return list(connection.get("nodes") or []), cursor if isinstance(cursor, str) else None

    def resolve_review_threads(self, repo: str, thread_ids: Sequence[str]) -> None:
        """`resolveReviewThread` for each thread, `THREADS_PER_MUTATION` a request. A thread
        GitHub does not report resolved afterwards is a `GitHubError`."""
        split_repo(repo)
        ids = list(dict.fromkeys(thread_ids))
        with _translate_errors(f"resolving {len(ids)} review threads on {repo}"):
            for start in range(0, len(ids), THREADS_PER_MUTATION):
                chunk = ids[start : start + THREADS_PER_MUTATION]
                variables = {f"t{i}": thread for i, thread in enumerate(chunk)}
                data = self._github.graphql.request(resolve_mutation(len(chunk)), variables)
                unresolved = [
                    thread
                    for i, thread in enumerate(chunk)
                    if (((data or {}).get(f"r{i}") or {}).get("thread") or {}).get("isResolved")
                    is not True
                ]
                if unresolved:
                    raise GitHubError(0, f"GitHub left {len(unresolved)} threads unresolved")

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        """The PRs of `numbers`, and with `head_sha` every other open PR based on `repo`
        whose head it is (fork PRs included), each with all its review comments; by number.

        One GraphQL query when the PRs are at most `PULL_REQUESTS_PER_QUERY`, the commit is
        in at most 100 PRs and each PR has at most 100 review threads of at most 100
        comments; every further page is read (`MAX_PAGES` a connection at most, past which
        it fails), never cut short. Other open PRs of the head found among the commit's
        associated PRs are read in one more query. Asks for the App's bot login (`GET
        /app`, once per process): only comments by that account are ours.
        """
        owner, name = split_repo(repo)
        wanted = list(dict.fromkeys(numbers))
        at = f" at {head_sha[:12]}" if head_sha else ""
        with _translate_errors(f"reading the pull requests of {repo}{at}"):
            ours = self._bot_login()
            nodes: dict[int, Any] = {}
            pending = wanted
            if head_sha is not None:
                others, first = self._associated(
                    owner, name, head_sha, pending[:PULL_REQUESTS_PER_QUERY]
                )
                nodes.update(first)
                pending = pending[len(first) :] + [n for n in others if n not in wanted]
            for start in range(0, len(pending), PULL_REQUESTS_PER_QUERY):
                chunk = pending[start : start + PULL_REQUESTS_PER_QUERY]
                data = self._pull_requests_page(owner, name, chunk)
                nodes.update({number: data.get(f"p{i}") for i, number in enumerate(chunk)})
            return [
                PullRequestRead(
                    pull_request_of(node, number),
                    tuple(self._comments_of(owner, name, number, node, ours)),
                )
                for number, node in sorted(nodes.items())
            ]

    def _pull_requests_page(
        self, owner: str, name: str, numbers: Sequence[int], **head: Any
    ) -> dict[str, Any]:
        """The repository object of one `pull_requests_query` answer."""
        variables = {"owner": owner, "name": name, **head}
        variables.update({f"n{i}": number for i, number in enumerate(numbers)})
        data = self._github.graphql.request(
            pull_requests_query(len(numbers), bool(head)), variables
        )
        repository = (data or {}).get("repository")
        if not isinstance(repository, dict):
            raise GitHubError(404, f"GitHub GraphQL: repository {owner}/{name} not found")
        return repository

    def _associated(
        self, owner: str, name: str, sha: str, numbers: Sequence[int]
    ) -> tuple[list[int], dict[int, Any]]:
        """The open PRs based on this repository whose head is `sha`, from the commit's
        associated PRs (GitHub also lists PRs that merely contain it, closed ones and a
        fork's own PRs: those are left out), and the nodes of `numbers`, read with the
        first page."""
        repo = f"{owner}/{name}".lower()
        found: list[int] = []
        read: dict[int, Any] = {}
        after: str | None = None
        for page in range(MAX_PAGES):
            chunk = numbers if page == 0 else []
            data = self._pull_requests_page(owner, name, chunk, sha=sha, after=after)
            read.update({number: data.get(f"p{i}") for i, number in enumerate(chunk)})
            commit = data.get("head")
            if not isinstance(commit, dict):
                raise GitHubError(404, f"GitHub GraphQL: commit {sha[:12]} not found in {repo}")
            listed, after = connection_of(
                commit.get("associatedPullRequests"), "associatedPullRequests"
            )
            for pr in listed:
                base = pr.get("baseRepository")
                base_name = base.get("nameWithOwner") if isinstance(base, dict) else None
                number = pr.get("number")
                if (
                    pr.get("state") == "OPEN"
                    and pr.get("headRefOid") == sha
                    and isinstance(base_name, str)
                    and base_name.lower() == repo
                    and isinstance(number, int)
                    and number not in found
                ):
                    found.append(number)
            if after is None:
                return found, read
        raise unexpected_data(f"commit {sha[:12]} is in more than {MAX_PAGES * 100} PRs")

    def _comments_of(
        self, owner: str, name: str, number: int, node: dict[str, Any], ours: str
    ) -> list[ReviewComment]:
        """Every review comment of the PR read as `node`, further pages of its threads and
        of their comments read as they come, `MAX_PAGES` a connection at most."""
        what = f"reviewThreads of #{number}"
        threads, after = connection_of(node.get("reviewThreads"), what)
        pages = 1
        while after is not None:
            if pages == MAX_PAGES:
                raise unexpected_data(f"#{number} has more than {MAX_PAGES * 100} threads")
            variables = {"owner": owner, "name": name, "number": number, "after": after}
            data = self._github.graphql.request(THREAD_PAGE_QUERY, variables)
            pull = ((data or {}).get("repository") or {}).get("pullRequest")
            if not isinstance(pull, dict):
                raise GitHubError(404, f"GitHub GraphQL: pull request #{number} not found")
            more, after = connection_of(pull.get("reviewThreads"), what)
            threads, pages = [*threads, *more], pages + 1
        return [comment for thread in threads for comment in self._thread_comments(thread, ours)]

    def _thread_comments(self, thread: dict[str, Any], ours: str) -> list[ReviewComment]:
        """One thread's comments, every page of them (`MAX_PAGES` at most)."""
        what = "a review thread's comments"
        comments, after = connection_of(thread.get("comments"), what)
        pages = 1
        while after is not None:
            if pages == MAX_PAGES:
                raise unexpected_data(f"a review thread has more than {MAX_PAGES * 100} comments")
            variables = {"thread": thread.get("id"), "after": after}
            data = self._github.graphql.request(COMMENT_PAGE_QUERY, variables)
            node = (data or {}).get("node")
            if not isinstance(node, dict):
                raise GitHubError(
                    404, f"GitHub GraphQL: review thread {thread.get('id')} not found"
                )
            more, after = connection_of(node.get("comments"), what)
            comments, pages = [*comments, *more], pages + 1
        return thread_comments(thread, comments, ours)

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        """Open PRs based on `repo` whose head is `sha`, fork PRs included.

        GitHub also lists PRs that merely contain the commit, closed ones and PRs of other
        repositories (a fork's own PRs); those are left out. Read as raw JSON: only four
        fields are used.
        """
        owner, name = split_repo(repo)
        with _translate_errors(f"listing pull requests of {repo} for {sha[:12]}"):
            pages = self._github.rest.paginate(
                self._rest.repos.list_pull_requests_associated_with_commit,
                map_func=lambda response: response.json(),
                owner=owner,
                repo=name,
                commit_sha=sha,
                per_page=100,
                headers=VERSION_HEADER,
            )
            numbers: list[int] = []
            for pr in pages:
                if not isinstance(pr, dict) or pr.get("state") != "open":
                    continue
                base_repo = (pr.get("base") or {}).get("repo") or {}
                head_sha = (pr.get("head") or {}).get("sha")
                number = pr.get("number")
                if (
                    isinstance(number, int)
                    and str(base_repo.get("full_name", "")).lower() == repo.lower()
                    and head_sha == sha
                    and number not in numbers
                ):
                    numbers.append(number)
            return numbers

    # -- writes --------------------------------------------------------------------------

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        owner, repo_name = split_repo(repo)
        tag = {"external_id": external_id} if external_id else {}
        with _translate_errors(f"creating check run {name!r} on {repo}"):
            response = self._rest.checks.create(
                owner, repo_name, name=name, head_sha=head_sha, status="in_progress", **tag
            )
            return response.parsed_data.id

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        owner, repo_name = split_repo(repo)
        with _translate_errors(f"listing check runs of {repo}@{head_sha[:12]}"):
            pages = self._github.rest.paginate(
                self._rest.checks.list_for_ref,
                map_func=lambda response: response.json().get("check_runs") or [],
                owner=owner,
                repo=repo_name,
                ref=head_sha,
                check_name=name,
                filter_="all",
                per_page=100,
                headers=VERSION_HEADER,
            )
            found = [
                run["id"]
                for run in pages
                if isinstance(run, dict)
                and run.get("external_id") == external_id
                and isinstance(run.get("id"), int)
            ]
        return max(found) if found else None

    def upload_sarif(self, repo: str, body: dict[str, Any]) -> str:
        owner, name = split_repo(repo)
        commit = str(body.get("commit_sha", ""))[:12]
        with _translate_errors(f"uploading code scanning results for {repo} at {commit}"):
            answer = self._rest.code_scanning.upload_sarif(owner, name, data=body).json()
        upload_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(upload_id, str) or not upload_id:
            raise GitHubError(0, f"uploading SARIF to {repo}: GitHub answered without an id")
        return upload_id

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        owner, name = split_repo(repo)
        with _translate_errors(f"updating check run {check_run_id} on {repo}"):
            self._rest.checks.update(owner, name, check_run_id, data=body)

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        owner, name = split_repo(repo)
        with _translate_errors(f"creating a review on {repo}#{number}"):
            self._rest.pulls.create_review(owner, name, number, data=body)

    def reply_to_review_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        owner, name = split_repo(repo)
        with _translate_errors(f"replying to review comment {comment_id} on {repo}#{number}"):
            self._rest.pulls.create_reply_for_review_comment(
                owner, name, number, comment_id, body=body
            )

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        owner, name = split_repo(repo)
        with _translate_errors(f"commenting on {repo}#{number}"):
            self._rest.issues.create_comment(owner, name, number, body=body)

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        """One `createCommitOnBranch` mutation: authored and signed as the App.

        Raises `HeadMoved` when GitHub reports that `branch` no longer points to
        `expected_head_sha` (nothing is committed then), `GitHubError` for anything else.
        A retried request cannot commit twice: the retry's expected head is stale.
        """
        split_repo(repo)
        if not files:
            raise ValueError("commit_files needs at least one file")
        commit_input = {
            "branch": {"repositoryNameWithOwner": repo, "branchName": branch},
            "expectedHeadOid": expected_head_sha,
            "message": _commit_message(message),
            "fileChanges": {
                "additions": [
                    {"path": path, "contents": base64.b64encode(data).decode("ascii")}
                    for path, data in files.items()
                ]
            },
        }
        with _translate_errors(f"committing {len(files)} files to {repo}:{branch}"):
            try:
                data = self._github.graphql.request(COMMIT_MUTATION, {"input": commit_input})
            except GraphQLFailed as exc:
                if _is_stale_head(exc):
                    raise HeadMoved(
                        f"{repo}:{branch} no longer points to {expected_head_sha[:12]}"
                    ) from None
                raise
            oid = ((data.get("createCommitOnBranch") or {}).get("commit") or {}).get("oid")
            if not isinstance(oid, str) or not oid:
                raise GitHubError(0, f"committing to {repo}:{branch}: GitHub returned no commit")
            return oid
