"""Re-records the vcrpy cassettes of `tests/test_app_github.py` against a local stand-in.

There is no GitHub to record from here, so this script starts a small stand-in server on
127.0.0.1 that answers the way GitHub does: its REST bodies are the response examples of
GitHub's official OpenAPI description (npm package `@octokit/openapi`), checked against that
description's schemas (a few examples lack required fields; the fixes are listed in `FIXES`).
`app.github.client.GitHubClient` then talks to the stand-in through vcrpy, which writes the
cassettes.

Re-record (needs npm and network to the npm registry; the test suite never does):

    .venv/bin/python tests/cassettes/record.py            # runs `npm pack @octokit/openapi`
    .venv/bin/python tests/cassettes/record.py --openapi path/to/api.github.com.json

GraphQL answers are not in that description: they are written by hand in the shapes
github.com gives (`graphql_answer`, `commit_answer`). A stale `expectedHeadOid` for
`createCommitOnBranch` is HTTP 200 with `data.createCommitOnBranch: null` and one error of
type `STALE_DATA`, message `Expected branch to point to "<oid>" but it did not.  Pull and try
again.`, as reported publicly by other bots that hit it; GitHub documents no example.

Replay and base URL: the client records with base URL `http://127.0.0.1:<port>/`; every
recorded request URI and `Link` header is rewritten to `https://api.github.com`, so the tests
replay with the production default base URL and no server running.

Scrubbing: vcrpy drops the `Authorization` header (JWT and installation token) and the
installation token in the access-token response body becomes `ghs_REDACTED`. The private key
is a throwaway RSA key generated for each run. `expires_at` of the token is fixed far in the
future so that replay in any year reuses the recorded token instead of asking for another.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import vcr
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from failclosed.app.github.client import GitHubApp, GitHubClient, GitHubError  # noqa: E402
from failclosed.app.github.port import HeadMoved  # noqa: E402

CASSETTES = Path(__file__).resolve().parent
SERVER_ERROR_REVIEW = "the stand-in answers 502 to this review"
TAGGED_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"  # a check run's external_id
OPENAPI_PACKAGE = "@octokit/openapi@23.0.2"
PUBLIC_BASE = "https://api.github.com"
TOKEN_EXPIRES_AT = "2099-01-01T00:00:00Z"
REDACTED_TOKEN = "ghs_REDACTED"

OWNER, REPO, NUMBER, REPO_ID = "octocat", "Hello-World", 1347, 1296269
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
HEAD_REF = "fix-auth"
# A head the branch has moved away from: committing on top of it must be refused.
STALE_SHA = "e5bd3914e2e596debea16f433f57875b5b90bcd6"
# A repository where the installation may read but not write issues and pull requests.
READ_ONLY_REPO = "Spoon-Knife"
INSTALLATION_ID, BAD_INSTALLATION_ID = 42, 999

# Blobs at HEAD_SHA that the stand-in's GraphQL and contents API know.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
BIG_JSON = b'{"items": [' + b", ".join(b"%d" % i for i in range(200)) + b"]}\n"
TREE: dict[str, bytes | None] = {
    "app/auth.py": b"def allowed(user):\n    return True\n",
    "README.md": "h\u00e9llo \u2713\n".encode(),
    "logo.png": PNG,  # binary: GraphQL gives text null
    "data/big.json": BIG_JSON,  # GraphQL gives truncated text
    "empty.txt": b"",
    "src": None,  # a directory: a Tree, no Blob fields
    # Not UTF-8: GraphQL's `text` cannot carry its bytes (read raw, by its byteSize).
    "app/latin.py": b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n",
}
# Symbolic links at HEAD_SHA: path -> the target path their blob holds (mode 120000).
LINKS: dict[str, str] = {
    "app/link.py": "auth.py",  # app/auth.py, a file of the repository
    "app/outside.py": "../../etc/passwd",  # above the repository's root
}
# Git's modes as GraphQL's `TreeEntry.mode` gives them (an Int: octal 100644, 040000, 120000).
FILE_MODE, TREE_MODE, LINK_MODE = 0o100644, 0o040000, 0o120000
# What `commit_files` commits: a fix and a binary file (contents travel base64-encoded).
COMMIT: dict[str, bytes] = {
    "app/auth.py": b"def allowed(user):\n    return user.is_admin\n",
    "logo.png": PNG,
}
MESSAGE = "failclosed: fix 1 finding\n\nFC101 in app/auth.py"


# -- the OpenAPI description -----------------------------------------------------------------


def npm_file(package: str, path: str) -> bytes:
    """One file of an npm package (`npm pack`: needs npm and the npm registry)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", package, "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        with tarfile.open(Path(tmp) / out.splitlines()[-1]) as tar:
            member = tar.extractfile(f"package/{path}")
            assert member is not None
            return member.read()


def load_openapi(path: Path | None) -> dict[str, Any]:
    if path is not None:
        return json.loads(path.read_text())
    return json.loads(npm_file(OPENAPI_PACKAGE, "generated/api.github.com.json"))


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` -> JSON Schema's null type, recursively."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_jsonschema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node and "$ref" not in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        from jsonschema import Draft7Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        self.document = document
        converted = _nullable_to_jsonschema({"components": document["components"]})
        resource = Resource.from_contents(converted, default_specification=DRAFT7)
        self._registry = Registry().with_resource("urn:openapi", resource)
        self._validator_class = Draft7Validator

    def example(self, name: str) -> Any:
        return copy.deepcopy(self.document["components"]["examples"][name]["value"])

    def errors(self, value: Any, schema: str, *, array: bool = False) -> list[str]:
        ref = {"$ref": f"urn:openapi#/components/schemas/{schema}"}
        validator = self._validator_class(
            {"type": "array", "items": ref} if array else ref, registry=self._registry
        )
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(value)
        ]

    def check(self, value: Any, schema: str, *, array: bool = False) -> Any:
        """`value` must fit the description's schema and githubkit's model of it."""
        if problems := self.errors(value, schema, array=array):
            raise SystemExit(f"stand-in answer does not fit {schema}:\n" + "\n".join(problems))
        model_name = GITHUBKIT_MODELS.get(schema)
        if model_name is not None:
            from githubkit.compat import type_validate_python
            from githubkit_schemas.v2022_11_28 import models

            model = getattr(models, model_name)
            try:
                type_validate_python(list[model] if array else model, value)
            except ValueError as exc:
                raise SystemExit(f"answer does not fit githubkit's {model_name}: {exc}") from exc
        return value


# The schemas whose githubkit model (REST API version 2022-11-28) parses the answer too.
GITHUBKIT_MODELS = {
    "installation-token": "InstallationToken",
    "pull-request": "PullRequest",
    "pull-request-simple": "PullRequestSimple",
    "issue-comment": "IssueComment",
    "diff-entry": "DiffEntry",
    "pull-request-review-comment": "PullRequestReviewComment",
    "check-run": "CheckRun",
    "pull-request-review": "PullRequestReview",
    "basic-error": "BasicError",
    "validation-error-simple": "ValidationErrorSimple",
    "commit-comparison": "CommitComparison",
}

# Fields some examples lack although their schema requires them: (example, fix).
FIXES: dict[str, Callable[[Any], None]] = {}


def _fix(name: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        FIXES[name] = func
        return func

    return register


@_fix("pull-request")
def _fix_pull_request(pr: Any) -> None:
    for team in pr.get("requested_teams") or []:
        team.setdefault("type", "enterprise")
    for side in ("head", "base"):
        pr[side]["repo"].setdefault("language", None)
    # githubkit-schemas 26.10's description (newer than the npm package's) requires these.
    for label in pr.get("labels") or []:
        label.setdefault("archived_at", None)
        label.setdefault("archived_by", None)


@_fix("pull-request-simple-items")
def _fix_pull_request_simple_items(items: Any) -> None:
    for pr in items:
        for team in pr.get("requested_teams") or []:
            team.setdefault("type", "enterprise")
        for label in pr.get("labels") or []:  # as for "pull-request"
            label.setdefault("archived_at", None)
            label.setdefault("archived_by", None)


def bot_user(user: dict[str, Any], slug: str) -> dict[str, Any]:
    """A GitHub App's bot account as GitHub shows it on a comment: `<slug>[bot]`, a Bot."""
    bot = copy.deepcopy(user)
    login = f"{slug}[bot]"
    bot.update(login=login, type="Bot", site_admin=False)
    for key, value in list(bot.items()):
        if isinstance(value, str) and "/octocat" in value:
            bot[key] = value.replace("/octocat", "/" + login)
    return bot


def fixed_example(spec: Spec, name: str) -> Any:
    value = spec.example(name)
    if name in FIXES:
        FIXES[name](value)
    return value


# -- the stand-in's answers --------------------------------------------------------------------


class Answers:
    """Every body the stand-in serves, built once from the examples and schema-checked."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        token = spec.example("installation-token")
        token["token"] = "ghs_" + secrets.token_hex(18)  # a "secret" the scrubber must remove
        token["expires_at"] = TOKEN_EXPIRES_AT
        self.token = spec.check(token, "installation-token")

        pr = fixed_example(spec, "pull-request")
        pr["number"] = NUMBER
        pr["head"]["sha"] = HEAD_SHA
        pr["head"]["ref"] = HEAD_REF
        # The head is a fork: its repository differs from the base.
        pr["head"]["repo"]["full_name"] = "contributor/Hello-World"
        pr["head"]["repo"]["owner"]["login"] = "contributor"
        pr["draft"] = False
        self.pull_request = spec.check(pr, "pull-request")

        template = fixed_example(spec, "diff-entry-items")[0]

        def entry(filename: str, status: str, **extra: Any) -> dict[str, Any]:
            item = copy.deepcopy(template)
            item.update(filename=filename, status=status, **extra)
            return item

        page1 = [entry(f"src/module_{i:03d}.py", "modified") for i in range(100)]
        binary = entry("logo.png", "added", additions=0, deletions=0, changes=0)
        del binary["patch"]  # GitHub omits `patch` for binary files and huge diffs
        page2 = [
            entry("app/auth.py", "renamed", previous_filename="app/old_auth.py"),
            binary,
            entry("old.txt", "removed", patch="@@ -1 +0,0 @@\n-gone"),
        ]
        self.files_pages = [
            spec.check(page1, "diff-entry", array=True),
            spec.check(page2, "diff-entry", array=True),
        ]

        first = spec.example("pull-request-review-comment-items")[0]
        first["body"] = "Great stuff!"
        del first["in_reply_to_id"]  # a thread's first comment has none
        spec.check([first], "pull-request-review-comment", array=True)
        outdated = copy.deepcopy(first)
        outdated.update(id=11, body="<!-- failclosed:fp:0123abcd --> fails open", line=None)
        outdated["position"] = None
        # Deliberately off-schema: that is how GitHub answers for an outdated comment.
        problems = self.spec.errors([outdated], "pull-request-review-comment", array=True)
        expected = ("0/line: None", "0/position: None")
        assert problems and all(p.startswith(expected) for p in problems), problems
        # GET /app: the App itself; its bot account `<slug>[bot]` writes our comments.
        self.app = spec.check(spec.example("integration"), "integration")
        outdated["user"] = bot_user(first["user"], self.app["slug"])
        reply = copy.deepcopy(first)
        reply.update(id=12, body="Fixed, thanks.", in_reply_to_id=11, path="app/auth.py")
        spec.check([reply], "pull-request-review-comment", array=True)
        # Our fingerprint pasted by someone else: another App's bot, then a person.
        other_bot = copy.deepcopy(outdated)
        other_bot.update(id=13, line=first["line"], position=first["position"])
        other_bot["user"] = bot_user(first["user"], "other-app")
        pasted = copy.deepcopy(other_bot)
        pasted.update(id=14, user=first["user"])
        spec.check([other_bot, pasted], "pull-request-review-comment", array=True)
        self.comments = [first, outdated, reply, other_bot, pasted]
        self.reply_template = spec.check(
            spec.example("pull-request-review-comment"), "pull-request-review-comment"
        )
        self.issue_comment_template = spec.check(spec.example("issue-comment"), "issue-comment")

        # GET /commits/{sha}/pulls: GitHub lists every PR containing the commit.
        simple = fixed_example(spec, "pull-request-simple-items")[0]

        def simple_pr(number: int, state: str, head_sha: str, base: str) -> dict[str, Any]:
            item = copy.deepcopy(simple)
            item.update(number=number, state=state)
            item["head"].update(sha=head_sha, ref=HEAD_REF)
            item["head"]["repo"]["full_name"] = "contributor/Hello-World"
            item["base"]["repo"]["full_name"] = base
            return item

        self.commit_pulls = spec.check(
            [
                simple_pr(NUMBER, "open", HEAD_SHA, f"{OWNER}/{REPO}"),  # the one to find
                simple_pr(1300, "closed", HEAD_SHA, f"{OWNER}/{REPO}"),
                simple_pr(1350, "open", STALE_SHA, f"{OWNER}/{REPO}"),  # contains it, later head
                simple_pr(7, "open", HEAD_SHA, "contributor/Hello-World"),  # the fork's own PR
            ],
            "pull-request-simple",
            array=True,
        )
        self.not_accessible = spec.check(
            {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                "status": "403",
            },
            "basic-error",
        )

        self.check_run_created = spec.check(
            spec.example("check-run-example-of-in-progress-conclusion"), "check-run"
        )
        self.check_run_updated = spec.check(spec.example("check-run"), "check-run")
        # GET /commits/{sha}/check-runs?check_name=failclosed: an older run of another
        # delivery, completed, and the one a dead worker created for TAGGED_DELIVERY.
        older = copy.deepcopy(self.check_run_updated)
        older.update(id=4001, external_id="another-delivery", head_sha=HEAD_SHA)
        orphan = copy.deepcopy(self.check_run_created)
        orphan.update(id=4002, external_id=TAGGED_DELIVERY, head_sha=HEAD_SHA)
        self.check_runs_for_ref = {
            "total_count": 2,
            "check_runs": spec.check([orphan, older], "check-run", array=True),
        }
        self.review = spec.check(spec.example("pull-request-review"), "pull-request-review")

        self.not_found = spec.check(
            {
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
                "status": "404",
            },
            "basic-error",
        )
        self.bad_credentials = spec.check(
            {
                "message": "A JSON web token could not be decoded",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            },
            "basic-error",
        )
        self.review_rejected = spec.check(
            {
                "message": "Unprocessable Entity",
                "errors": ["Pull request review thread line must be part of the diff"],
                "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
                "status": "422",
            },
            "validation-error-simple",
        )
        # A 5xx on a write: GitHub may or may not have stored it.
        self.server_error = spec.check(
            {"message": "Server Error", "documentation_url": "https://docs.github.com/rest"},
            "basic-error",
        )


def commit_answer(commit_input: dict[str, Any]) -> dict[str, Any]:
    """Answers `createCommitOnBranch` as github.com does, a stale head included.

    A stale `expectedHeadOid` is HTTP 200 with `data.createCommitOnBranch: null` and a
    `STALE_DATA` error (the shape reported by other bots that hit it on github.com).
    """
    branch = commit_input["branch"]
    if branch != {"repositoryNameWithOwner": f"{OWNER}/{REPO}", "branchName": HEAD_REF}:
        return {
            "data": {"createCommitOnBranch": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["createCommitOnBranch"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": "Could not resolve to a Ref named "
                    f"'refs/heads/{branch.get('branchName')}'.",
                }
            ],
        }
    expected = commit_input["expectedHeadOid"]
    if expected != HEAD_SHA:
        return {
            "data": {"createCommitOnBranch": None},
            "errors": [
                {
                    "type": "STALE_DATA",
                    "path": ["createCommitOnBranch"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": f'Expected branch to point to "{expected}" but it did not.  '
                    "Pull and try again.",
                }
            ],
        }
    for addition in commit_input["fileChanges"]["additions"]:
        base64.b64decode(addition["contents"], validate=True)  # GitHub's Base64String
    oid = hashlib.sha1(json.dumps(commit_input, sort_keys=True).encode()).hexdigest()
    return {"data": {"createCommitOnBranch": {"commit": {"oid": oid}}}}


def blob_fields(data: bytes) -> dict[str, Any]:
    """A `Blob`'s fields as github.com gives them: `text` null for binary data and cut
    short for a big blob (`isTruncated`), `byteSize` always the whole size."""
    binary = b"\x00" in data or data.startswith(b"\x89PNG")
    truncated = len(data) > 64
    return {
        "text": None
        if binary
        else data[:64].decode(errors="replace")
        if truncated
        else data.decode(errors="replace"),
        "isBinary": binary,
        "isTruncated": truncated,
        "byteSize": len(data),
    }


def tree_entry(path: str) -> dict[str, Any] | None:
    """`Commit.file(path:)` at HEAD_SHA: a `TreeEntry` with its `mode` and `object` (only
    the `... on Blob` fields were asked for, so a folder's object is `{}`), or null."""
    if path in LINKS:
        return {"mode": LINK_MODE, "object": blob_fields(LINKS[path].encode())}
    if path not in TREE:
        return None
    data = TREE[path]
    if data is None:
        return {"mode": TREE_MODE, "object": {}}
    return {"mode": FILE_MODE, "object": blob_fields(data)}


def read_aliases(body: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """What `read_files`' query asks: each commit alias with its sha, and in it each file
    alias with its path (from the query's text and its variables)."""
    query, variables = body["query"], body["variables"]
    blocks = re.findall(r"(c\d+): object\(expression: \$(c\d+)\) \{(.*?)\n    \}", query, re.S)
    return [
        (alias, variables[var], [(f, variables[p]) for f, p in re.findall(FILE_ALIAS, files)])
        for alias, var, files in blocks
    ]


FILE_ALIAS = r"(f\d+): file\(path: \$(p\d+)\)"


# Review threads on github.com: `PRRT_` node ids; a page of at most 100 (the query's
# `first`), its cursor opaque base64. Besides the threads of `Answers.comments`, 100 a
# person started, so the listing takes two pages.
THREAD_FILLERS = 100


def thread_id(comment_id: int) -> str:
    return "PRRT_kwDOABLLss5" + base64.b64encode(f"t{comment_id:07d}".encode()).decode()


def review_threads(answers: Answers) -> list[dict[str, Any]]:
    """`PullRequest.reviewThreads` nodes, in GitHub's GraphQL shape: one per top-level
    comment (its first comment: `fullDatabaseId` a BigInt as a string, `databaseId` the
    deprecated Int, `author` an `Actor` whose `__typename` says Bot or User and whose
    `login` has no `[bot]`), unresolved."""
    top = [c for c in answers.comments if c.get("in_reply_to_id") is None]
    people = [
        {"id": 900_000 + i, "user": {"login": "octocat", "type": "User"}}
        for i in range(THREAD_FILLERS)
    ]
    nodes = []
    for comment in [*top, *people]:
        user = comment["user"]
        kind = "Bot" if user["type"] == "Bot" else "User"
        author = {"__typename": kind, "login": user["login"].removesuffix("[bot]")}
        first = {
            "fullDatabaseId": str(comment["id"]),
            "databaseId": comment["id"],
            "author": author,
        }
        nodes.append(
            {
                "id": thread_id(comment["id"]),
                "isResolved": comment["id"] == 13,  # another App's, already resolved
                "comments": {"nodes": [first]},
            }
        )
    return nodes


def threads_answer(answers: Answers, variables: dict[str, Any]) -> dict[str, Any]:
    """One page of `reviewThreads(first: 100, after: $after)`."""
    nodes = review_threads(answers)
    after = variables.get("after")
    start = int(base64.b64decode(after).decode().split(":")[-1]) if after else 0
    page = nodes[start : start + 100]
    more = start + 100 < len(nodes)
    cursor = base64.b64encode(f"cursor:v2:{start + 100}".encode()).decode()
    connection = {
        "pageInfo": {"hasNextPage": more, "endCursor": cursor if page else None},
        "nodes": page,
    }
    return {"data": {"repository": {"pullRequest": {"reviewThreads": connection}}}}


def resolve_answer(answers: Answers, variables: dict[str, Any]) -> dict[str, Any]:
    """`resolveReviewThread` aliased r<i> for $t<i>: the thread, now resolved; an unknown
    id is null with a NOT_FOUND error, as GitHub answers a global id it cannot resolve."""
    known = {node["id"] for node in review_threads(answers)}
    data: dict[str, Any] = {}
    errors = []
    for name, value in sorted(variables.items()):
        alias = "r" + name[1:]
        if value in known:
            data[alias] = {"thread": {"id": value, "isResolved": True}}
        else:
            data[alias] = None
            errors.append(
                {
                    "type": "NOT_FOUND",
                    "path": [alias],
                    "locations": [{"line": 2 + int(name[1:]), "column": 3}],
                    "message": f"Could not resolve to a node with the global id of '{value}'",
                }
            )
    return {"data": data, **({"errors": errors} if errors else {})}


# -- `read_pull_requests`: pull requests with their review threads, in GraphQL ---------------
#
# GitHub's GraphQL shapes (schema: npm `@octokit/graphql-schema`, schema.graphql): a
# `PullRequest`'s `state` is OPEN, CLOSED or MERGED; `headRefOid`/`baseRefOid` are
# GitObjectIDs; `headRepository` is null when the fork was deleted; a review thread lists
# its comments oldest first, the first one top-level, the rest replies in it; a comment's
# `fullDatabaseId` is a BigInt sent as a string and `author` an `Actor` (null for a deleted
# account) whose bot `login` has no `[bot]`. Connections page by `first`/`after` with an
# opaque cursor, as below.

OTHER_HEAD_PRS = (1400, 1401)  # open at HEAD_SHA against other bases: read in a second query
ASSOCIATED_FILLERS = 96  # merged PRs that contain the commit: two pages of associated PRs
LONG_THREAD = 150  # comments in one person's thread: two pages of comments


def cursor_at(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def page_of(nodes: list[Any], after: str | None, size: int = 100) -> dict[str, Any]:
    """One page of a connection: `first: size` nodes after the cursor `after`."""
    start = int(base64.b64decode(after).decode().split(":")[-1]) if after else 0
    page = nodes[start : start + size]
    more = start + size < len(nodes)
    info = {"hasNextPage": more, "endCursor": cursor_at(start + size) if page else None}
    return {"pageInfo": info, "nodes": page}


def graphql_comment(comment: dict[str, Any]) -> dict[str, Any]:
    """A REST review comment as a `PullRequestReviewComment` node of the query."""
    user = comment.get("user")
    author = (
        None
        if user is None
        else {
            "__typename": "Bot" if user["type"] == "Bot" else "User",
            "login": user["login"].removesuffix("[bot]"),
        }
    )
    return {
        "fullDatabaseId": str(comment["id"]),
        "databaseId": comment["id"],
        "body": comment["body"],
        "path": comment["path"],
        "author": author,
    }


def graphql_threads(
    comments: list[dict[str, Any]],
    resolved: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    """Threads (unpaged) of REST review comments: one per top-level comment, its replies
    after it; resolved when its first comment's id is in `resolved`."""
    threads = []
    for top in (c for c in comments if c.get("in_reply_to_id") is None):
        replies = [c for c in comments if c.get("in_reply_to_id") == top["id"]]
        threads.append(
            {
                "id": thread_id(top["id"]),
                "isResolved": top["id"] in resolved,
                "comments": [graphql_comment(c) for c in [top, *replies]],
            }
        )
    return threads


def paged_thread(thread: dict[str, Any], after: str | None = None) -> dict[str, Any]:
    return {**thread, "comments": page_of(thread["comments"], after)}


def pull_request_node(
    fields: dict[str, Any], threads: list[dict[str, Any]], after: str | None = None
) -> dict[str, Any]:
    """A `PullRequest` node as the query asks it, its threads paged from `after`."""
    connection = page_of(threads, after)
    connection["nodes"] = [paged_thread(t) for t in connection["nodes"]]
    return {**fields, "reviewThreads": connection}


def pull_request_aliases(body: dict[str, Any]) -> list[tuple[str, int]]:
    """What `pull_requests_query` asks: each alias p<i> with its number $n<i>."""
    variables = body["variables"]
    found = re.findall(r"(p\d+): pullRequest\(number: \$(n\d+)\)", body["query"])
    return [(alias, variables[var]) for alias, var in found]


def not_found_error(alias: str, what: str) -> dict[str, Any]:
    return {
        "type": "NOT_FOUND",
        "path": ["repository", alias],
        "locations": [{"line": 3, "column": 5}],
        "message": f"Could not resolve to a {what}.",
    }


def pull_requests_answer(
    body: dict[str, Any],
    pulls: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]],
    associated: list[dict[str, Any]],
    known_threads: dict[str, dict[str, Any]],
    commits: Collection[str] = (HEAD_SHA,),
) -> dict[str, Any]:
    """Answers `read_pull_requests`' three queries from `pulls` (number -> the PR's fields
    and its threads), the `associated` PR nodes of any of `commits` (another sha is no
    commit: null) and every thread by id."""
    query, variables = body["query"], body["variables"]
    if query.startswith("query ReviewCommentPage"):
        thread = known_threads[variables["thread"]]
        node = {"comments": page_of(thread["comments"], variables["after"])}
        return {"data": {"node": node}}
    if query.startswith("query ReviewThreadPage"):
        _, threads = pulls[variables["number"]]
        connection = page_of(threads, variables["after"])
        connection["nodes"] = [paged_thread(t) for t in connection["nodes"]]
        return {"data": {"repository": {"pullRequest": {"reviewThreads": connection}}}}
    assert query.startswith("query PullRequests"), query
    repository: dict[str, Any] = {}
    errors = []
    if "sha" in variables:
        assert "head: object(oid: $sha)" in query
        commit = {"associatedPullRequests": page_of(associated, variables.get("after"))}
        repository["head"] = commit if variables["sha"] in commits else None
    for alias, number in pull_request_aliases(body):
        if number in pulls:
            repository[alias] = pull_request_node(*pulls[number])
        else:
            repository[alias] = None
            errors.append(not_found_error(alias, f"PullRequest with the number of {number}"))
    return {"data": {"repository": repository}, **({"errors": errors} if errors else {})}


class PullRequestsWorld:
    """The unit cassette's pull requests: #NUMBER from a fork, its threads those of
    `Answers.comments` and 100 a person started (two pages), the first of those
    `LONG_THREAD` comments long (two pages) with a deleted account's comment in it; the
    commit's associated PRs: NUMBER, a closed and a later-headed PR, the fork's own PR,
    two other open PRs of the same head, and merged fillers (two pages)."""

    def __init__(self, answers: Answers) -> None:
        pr = answers.pull_request
        fields = {
            "number": NUMBER,
            "state": "OPEN",
            "headRefOid": HEAD_SHA,
            "baseRefOid": pr["base"]["sha"],
            "headRefName": HEAD_REF,
            "headRepository": {"nameWithOwner": pr["head"]["repo"]["full_name"]},
            "isDraft": False,
            "changedFiles": pr["changed_files"],
        }
        person = {"login": "octocat", "type": "User"}
        long_thread = [
            {"id": 800_000 + i, "body": f"comment {i}", "path": "app/auth.py", "user": person}
            for i in range(LONG_THREAD)
        ]
        for reply in long_thread[1:]:
            reply["in_reply_to_id"] = long_thread[0]["id"]
        long_thread[7]["user"] = None  # a deleted account ("ghost")
        people = [
            {"id": 900_000 + i, "body": "Nit.", "path": "app/auth.py", "user": person}
            for i in range(1, 100)
        ]
        threads = graphql_threads([*answers.comments, *long_thread, *people], {13})
        self.threads = {t["id"]: t for t in threads}
        self.pulls: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {
            NUMBER: (fields, threads)
        }
        for number in OTHER_HEAD_PRS:
            other = {**fields, "number": number, "headRefName": f"{HEAD_REF}-{number}"}
            other.update(baseRefOid=STALE_SHA, changedFiles=1)
            self.pulls[number] = (other, [])

        def node(number: int, state: str, head: str, base: str) -> dict[str, Any]:
            base_repo = {"nameWithOwner": base}
            return {
                "number": number,
                "state": state,
                "headRefOid": head,
                "baseRepository": base_repo,
            }

        here = f"{OWNER}/{REPO}"
        self.associated = [
            node(NUMBER, "OPEN", HEAD_SHA, here),
            node(1300, "CLOSED", HEAD_SHA, here),
            node(1350, "OPEN", STALE_SHA, here),  # contains the commit, a later head
            node(7, "OPEN", HEAD_SHA, "contributor/Hello-World"),  # the fork's own PR
            node(OTHER_HEAD_PRS[0], "OPEN", HEAD_SHA, here),
            *(node(100 + i, "MERGED", STALE_SHA, here) for i in range(ASSOCIATED_FILLERS)),
            node(OTHER_HEAD_PRS[1], "OPEN", HEAD_SHA, here.lower()),  # on the second page
        ]

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        return pull_requests_answer(body, self.pulls, self.associated, self.threads)


def graphql_answer(body: dict[str, Any], answers: Answers | None = None) -> dict[str, Any]:
    """Answers `GitHubClient.read_files`' query: commit aliases c<j> for variables $c<j>,
    in each the file aliases f<i> for variables $p<i> (the query says which are where);
    and the review threads' query and mutation."""
    variables = body.get("variables") or {}
    query = body.get("query", "")
    if "createCommitOnBranch" in query:
        return commit_answer(variables["input"])
    if answers is not None and "resolveReviewThread" in query:
        return resolve_answer(answers, variables)
    if answers is not None and query.startswith(
        ("query PullRequests", "query ReviewThreadPage", "query ReviewCommentPage")
    ):
        return PullRequestsWorld(answers).answer(body)
    if answers is not None and "reviewThreads" in query:
        return threads_answer(answers, variables)
    if (variables.get("owner"), variables.get("name")) != (OWNER, REPO):
        return {
            "data": {"repository": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": "Could not resolve to a Repository with the name "
                    f"'{variables.get('owner')}/{variables.get('name')}'.",
                }
            ],
        }
    repository: dict[str, Any] = {}
    for commit, sha, files in read_aliases(body):
        if sha != HEAD_SHA:
            repository[commit] = None  # no such commit
        else:
            repository[commit] = {alias: tree_entry(path) for alias, path in files}
    return {"data": {"repository": repository}}


def make_handler(answers: Answers) -> type[BaseHTTPRequestHandler]:
    repo_path = f"/repos/{OWNER}/{REPO}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json; charset=utf-8",
        ) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
                if int(m.group(1)) == BAD_INSTALLATION_ID:
                    return self._send(401, answers.bad_credentials)
                return self._send(201, answers.token)
            if path == "/graphql":
                return self._send(200, graphql_answer(body, answers))
            if path == f"{repo_path}/check-runs":
                return self._send(201, answers.check_run_created)
            if m := re.fullmatch(rf"{repo_path}/pulls/{NUMBER}/comments/(\d+)/replies", path):
                reply_to = int(m.group(1))
                if reply_to not in [c["id"] for c in answers.comments]:
                    return self._send(404, answers.not_found)
                reply = copy.deepcopy(answers.reply_template)
                reply.update(id=13, in_reply_to_id=reply_to, body=body["body"])
                return self._send(201, answers.spec.check(reply, "pull-request-review-comment"))
            if path == f"{repo_path}/issues/{NUMBER}/comments":
                comment = copy.deepcopy(answers.issue_comment_template)
                comment["body"] = body["body"]
                return self._send(201, answers.spec.check(comment, "issue-comment"))
            if re.fullmatch(rf"/repos/{OWNER}/{READ_ONLY_REPO}/issues/\d+/comments", path):
                return self._send(403, answers.not_accessible)
            if path == f"{repo_path}/pulls/{NUMBER}/reviews":
                lines = [c.get("line", 0) for c in body.get("comments", [])]
                if any(line > 1000 for line in lines):
                    return self._send(422, answers.review_rejected)
                if body.get("body") == SERVER_ERROR_REVIEW:
                    return self._send(502, answers.server_error)
                return self._send(200, answers.review)
            return self._send(404, answers.not_found)

        def do_PATCH(self) -> None:
            path = urlsplit(self.path).path
            self._body()
            if path == f"{repo_path}/check-runs/{answers.check_run_created['id']}":
                return self._send(200, answers.check_run_updated)
            return self._send(404, answers.not_found)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            base = f"http://{self.headers['Host']}"
            if url.path == "/app":
                return self._send(200, answers.app)
            if url.path == f"{repo_path}/pulls/{NUMBER}":
                return self._send(200, answers.pull_request)
            if url.path == f"{repo_path}/pulls/{NUMBER}/files":
                # Like GitHub: further pages live under /repositories/{id}/...
                paged = f"{base}/repositories/{REPO_ID}/pulls/{NUMBER}/files?per_page=100"
                link = f'<{paged}&page=2>; rel="next", <{paged}&page=2>; rel="last"'
                return self._send(200, answers.files_pages[0], {"Link": link})
            if url.path == f"/repositories/{REPO_ID}/pulls/{NUMBER}/files":
                paged = f"{base}/repositories/{REPO_ID}/pulls/{NUMBER}/files?per_page=100"
                link = f'<{paged}&page=1>; rel="prev", <{paged}&page=1>; rel="first"'
                return self._send(200, answers.files_pages[1], {"Link": link})
            if url.path == f"{repo_path}/pulls/{NUMBER}/comments":
                return self._send(200, answers.comments)
            if url.path == f"{repo_path}/commits/{HEAD_SHA}/check-runs":
                assert query.get("check_name") == ["failclosed"], query
                return self._send(200, answers.check_runs_for_ref)
            if url.path == f"{repo_path}/commits/{HEAD_SHA}/pulls":
                return self._send(200, answers.commit_pulls)
            if url.path.startswith(f"{repo_path}/contents/"):
                path = url.path.removeprefix(f"{repo_path}/contents/")
                data = TREE.get(path)
                if query.get("ref") == [HEAD_SHA] and data is not None:
                    return self._send(200, data, content_type="application/vnd.github.raw")
            return self._send(404, answers.not_found)

    return Handler


# -- recording ------------------------------------------------------------------------------------


def scrubbing_vcr(stand_in: str) -> vcr.VCR:
    def rewrite_request(request: Any) -> Any:
        request.uri = request.uri.replace(stand_in, PUBLIC_BASE)
        if "host" in request.headers:
            request.headers["host"] = urlsplit(PUBLIC_BASE).netloc
        return request

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response["headers"]
        for name in [n for n in headers if n.lower() in ("server", "date")]:
            del headers[name]  # the stand-in's own, not GitHub's
        for name in list(headers):
            headers[name] = [value.replace(stand_in, PUBLIC_BASE) for value in headers[name]]
        body = response["body"]["string"]
        new = re.sub(rb"ghs_[A-Za-z0-9]+", REDACTED_TOKEN.encode(), body)
        if new != body:
            response["body"]["string"] = new
            for name in headers:
                if name.lower() == "content-length":
                    headers[name] = [str(len(new))]
        return response

    return vcr.VCR(
        record_mode="all",
        filter_headers=["authorization"],
        before_record_request=rewrite_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )


def new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def record(spec: Spec, only: list[str] | None = None) -> None:
    from githubkit.cache import MemCacheStrategy

    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Answers(spec)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in = f"http://127.0.0.1:{server.server_address[1]}"
    recorder = scrubbing_vcr(stand_in)
    key = new_private_key()
    repo = f"{OWNER}/{REPO}"

    def client(installation_id: int = INSTALLATION_ID, **kwargs: Any) -> GitHubClient:
        # A fresh token cache per cassette: each one holds its own token request.
        app = GitHubApp(1, key, stand_in + "/", cache_strategy=MemCacheStrategy())
        gh = app.installation(installation_id)
        if kwargs:
            gh = GitHubClient(gh._github, bot_login=app.bot_login, **kwargs)
        return gh

    def expect_error(call: Callable[[], object], error: type[Exception] = GitHubError) -> None:
        try:
            call()
        except error as exc:
            print("   ", exc)
        else:
            raise SystemExit(f"expected a {error.__name__}")

    paths = [*TREE, "missing.py"]
    scenarios: dict[str, Callable[[], object]] = {
        "pull_request": lambda: client().get_pull_request(repo, NUMBER),
        "changed_files": lambda: client().list_changed_files(repo, NUMBER),
        "read_files": lambda: client().read_files(repo, [(HEAD_SHA, path) for path in paths]),
        "read_files_links": lambda: client().read_files(
            repo, [(HEAD_SHA, path) for path in [*LINKS, "app/auth.py", "src"]]
        ),
        "read_files_chunked": lambda: client(paths_per_query=2).read_files(
            repo, [(HEAD_SHA, path) for path in ["app/auth.py", "README.md", "missing.py"]]
        ),
        "check_run": lambda: (gh := client()).update_check_run(
            repo,
            gh.create_check_run(repo, HEAD_SHA, "failclosed"),
            {
                "status": "completed",
                "conclusion": "neutral",
                "output": {"title": "failclosed", "summary": "No findings."},
            },
        ),
        "create_review": lambda: client().create_review(
            repo,
            NUMBER,
            {
                "commit_id": HEAD_SHA,
                "event": "COMMENT",
                "body": "failclosed found 1 issue",
                "comments": [{"path": "app/auth.py", "line": 2, "side": "RIGHT", "body": "x"}],
            },
        ),
        "check_run_tagged": lambda: client().create_check_run(
            repo, HEAD_SHA, "failclosed", external_id=TAGGED_DELIVERY
        ),
        "find_check_run": lambda: (
            (gh := client()).find_check_run(repo, HEAD_SHA, "failclosed", TAGGED_DELIVERY),
            gh.find_check_run(repo, HEAD_SHA, "failclosed", "never-seen"),
        ),
        "error_pull_request_404": lambda: expect_error(
            lambda: client().get_pull_request(repo, 9999)
        ),
        "error_review_422": lambda: expect_error(
            lambda: client().create_review(
                repo,
                NUMBER,
                {
                    "commit_id": HEAD_SHA,
                    "event": "COMMENT",
                    "comments": [{"path": "a.py", "line": 5000, "side": "RIGHT", "body": "x"}],
                },
            )
        ),
        "error_review_502_not_repeated": lambda: expect_error(
            lambda: client().create_review(
                repo,
                NUMBER,
                {"commit_id": HEAD_SHA, "event": "COMMENT", "body": SERVER_ERROR_REVIEW},
            )
        ),
        "error_token_401": lambda: expect_error(
            lambda: client(BAD_INSTALLATION_ID).get_pull_request(repo, NUMBER)
        ),
        "error_graphql_not_found": lambda: expect_error(
            lambda: client().read_files("octocat/nope", [(HEAD_SHA, "a.py")])
        ),
        "pull_requests_for_commit": lambda: client().pull_requests_for_commit(repo, HEAD_SHA),
        "review_comments_with_ids": lambda: client().review_comments(repo, NUMBER),
        "review_comments_by_app": lambda: (
            (gh := client()).review_comments(repo, NUMBER) + gh.review_comments(repo, NUMBER)
        ),
        "reply_to_review_comment": lambda: client().reply_to_review_comment(
            repo, NUMBER, 11, "Fixed in the latest push."
        ),
        "review_threads": lambda: client().review_threads(repo, NUMBER),
        "read_pull_requests": lambda: client().read_pull_requests(repo, [NUMBER], HEAD_SHA),
        "read_pull_requests_by_number": lambda: client().read_pull_requests(
            repo, [NUMBER, OTHER_HEAD_PRS[0]]
        ),
        "error_read_pull_requests_404": lambda: expect_error(
            lambda: client().read_pull_requests(repo, [9999], HEAD_SHA)
        ),
        "resolve_review_threads": lambda: client().resolve_review_threads(
            repo, [thread_id(11), thread_id(10)]
        ),
        "error_resolve_unknown_thread": lambda: expect_error(
            lambda: client().resolve_review_threads(repo, ["PRRT_kwDOnope"])
        ),
        "comment_on_pull_request": lambda: client().comment_on_pull_request(
            repo, NUMBER, "Fixes cannot be pushed to a fork."
        ),
        "error_comment_403": lambda: expect_error(
            lambda: client().comment_on_pull_request(f"{OWNER}/{READ_ONLY_REPO}", 1, "hello")
        ),
        "commit_files": lambda: client().commit_files(repo, HEAD_REF, HEAD_SHA, COMMIT, MESSAGE),
        "error_commit_head_moved": lambda: expect_error(
            lambda: client().commit_files(repo, HEAD_REF, STALE_SHA, COMMIT, MESSAGE), HeadMoved
        ),
        "error_commit_branch_missing": lambda: expect_error(
            lambda: client().commit_files(repo, "gone", HEAD_SHA, COMMIT, MESSAGE)
        ),
    }
    try:
        unknown = set(only or ()) - set(scenarios)
        if unknown:
            raise SystemExit(f"unknown scenarios: {sorted(unknown)}")
        for name, run in scenarios.items():
            if only and name not in only:
                continue
            cassette = CASSETTES / f"{name}.yaml"
            cassette.unlink(missing_ok=True)
            with recorder.use_cassette(str(cassette)):
                result = run()
            print(f"{cassette.relative_to(ROOT)}: {str(result)[:100]}")
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openapi", type=Path, help="api.github.com.json; default: npm pack " + OPENAPI_PACKAGE
    )
    parser.add_argument("scenario", nargs="*", help="record only these (default: all)")
    args = parser.parse_args()
    record(Spec(load_openapi(args.openapi)), args.scenario)


if __name__ == "__main__":
    main()
