"""Re-records the cassettes of `tests/test_app_e2e.py` (tests/cassettes/e2e_*.yaml).

The end-to-end tests deliver signed webhooks to the real app and replay GitHub from these
cassettes. This script drives the very same stack and deliveries (the test module's
`SCENARIOS`) against a local stand-in for GitHub, and vcrpy writes down the traffic:

- The stand-in keeps a small pull request world per scenario: the repository's files at
  each commit (`Scenario.trees`), the pull request's head (moved by each delivery), and the
  review comments posted so far (so a redelivery or a second push lists our earlier
  comments with their fingerprints, as GitHub does).
- A merge-group scenario's repository is its payload's own; `GET /compare/{base}...{head}`
  is answered from the two commits' trees (`comparison`).
- Its REST answers are GitHub's OpenAPI examples (npm `@octokit/openapi`, via `record.py`'s
  `Answers` and `fixed_example`) adjusted to that world, and each is checked against the
  description's schema and githubkit's model before it is served. The job's request
  bodies are checked against the operation's request schema too; a body that does not fit
  is answered 422 and stops the recording.
- GraphQL (`read_files`' query, `createCommitOnBranch`, the review threads' query and
  `resolveReviewThread`) is answered in github.com's shapes, as in `record.py`.
- `Scenario.fail_once` endpoints answer 502 the first time (githubkit retries after 1 s);
  `Scenario.refuse` endpoints answer 403, as GitHub does when the installation lacks the
  permission (the job is expected to fail then, and only then).
- A code-scanning scenario's tree (`GET /git/trees/{sha}?recursive=1`) is the commit's
  files with their folders, shaped on the description's recursive example; the SARIF
  upload (`POST /code-scanning/sarifs`) is checked against the operation's request schema
  and answered 202 with its `code-scanning-sarif-upload` example.

The recording is scrubbed as in `record.py` (its `scrubbing_vcr`): no Authorization
header, the installation token is `ghs_REDACTED`, every URI is https://api.github.com. The
webhook deliveries themselves (host `testserver`, through ASGI) are not recorded. A scenario
that makes no GitHub request (a bad signature) gets an empty cassette.

    .venv/bin/python tests/cassettes/record_e2e.py --openapi path/to/api.github.com.json
    .venv/bin/python tests/cassettes/record_e2e.py   # runs `npm pack @octokit/openapi`
"""

from __future__ import annotations

import argparse
import base64
import copy
import difflib
import hashlib
import json
import logging
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

import test_app_e2e as e2e  # noqa: E402
from githubkit.cache import MemCacheStrategy  # noqa: E402
from record import (  # noqa: E402
    FILE_MODE,
    LINK_MODE,
    OPENAPI_PACKAGE,
    Answers,
    Spec,
    _nullable_to_jsonschema,
    bot_user,
    fixed_example,
    graphql_threads,
    load_openapi,
    new_private_key,
    pull_requests_answer,
    read_aliases,
    scrubbing_vcr,
    thread_id,
)
from support import make_settings  # noqa: E402

from failclosed.app.github.client import GitHubApp  # noqa: E402
from failclosed.app.github.port import Link  # noqa: E402
from failclosed.app.receive.server import create_app  # noqa: E402
from failclosed.app.run.queue import SqliteJobQueue  # noqa: E402
from failclosed.app.run.worker import Workers  # noqa: E402

OWNER, NAME = e2e.REPO.split("/")
REPO_PATH = f"/repos/{e2e.REPO}"
PR_PATH = f"{REPO_PATH}/pulls/{e2e.NUMBER}"
TOKEN_OPERATION = "/app/installations/{installation_id}/access_tokens"
EMPTY_CASSETTE = "interactions: []\nversion: 1\n"
SHA = "[0-9a-f]{40}"


def patch_of(base: bytes | None, head: bytes) -> str:
    """The `patch` GitHub lists for a file: hunks only, no file headers."""
    old = base.decode().splitlines() if base is not None else []
    lines = difflib.unified_diff(old, head.decode().splitlines(), lineterm="", n=3)
    patch = "\n".join(line for line in lines if not line.startswith(("---", "+++")))
    if head and not head.endswith(b"\n"):  # a symbolic link's blob, for one
        patch += "\n\\ No newline at end of file"
    return patch


def blob_of(content: bytes | Link | None) -> bytes | None:
    """A file's blob; a symbolic link's blob is the path it holds, with no newline."""
    return content.target.encode() if isinstance(content, Link) else content


class RequestSchemas:
    """The request-body schemas of the operations the job calls, from the description."""

    OPERATIONS = {
        ("POST", "/repos/{owner}/{repo}/check-runs"),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("POST", "/app/installations/{installation_id}/access_tokens"),
        ("POST", "/repos/{owner}/{repo}/code-scanning/sarifs"),
    }

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.schemas: dict[tuple[str, str], Any] = {}
        for method, template in self.OPERATIONS:
            operation = spec.document["paths"][template][method.lower()]
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            self.schemas[(method, template)] = self._absolute(_nullable_to_jsonschema(schema))

    def _absolute(self, node: Any) -> Any:
        """Inline schemas refer to `#/components/...`: point them at the registry's copy."""
        if isinstance(node, list):
            return [self._absolute(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: self._absolute(value) for key, value in node.items()}
        if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/"):
            out["$ref"] = "urn:openapi" + out["$ref"]
        return out

    def errors(self, method: str, template: str, body: Any) -> list[str]:
        validator = self.spec._validator_class(
            self.schemas[(method, template)], registry=self.spec._registry
        )
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)
        ]


class World:
    """GitHub's state for one scenario, changed by the deliveries and the job's writes."""

    def __init__(self, scenario: e2e.Scenario) -> None:
        self.repo = scenario.repo
        self.trees = scenario.trees
        self.head = e2e.HEAD_SHA
        self.fail_once = set(scenario.fail_once)
        self.refuse = set(scenario.refuse)
        self.comments: list[dict[str, Any]] = []
        self.resolved: set[int] = set()  # the comments whose thread is resolved
        self.problems: list[str] = []
        self.next_id = 1001


def changed_files(spec: Spec, world: World) -> list[dict[str, Any]]:
    """`GET /pulls/{n}/files`: the pull request's base against its current head."""
    return diff_entries(spec, world.trees[e2e.BASE_SHA], world.trees[world.head])


def diff_entries(
    spec: Spec, base: dict[str, bytes | Link], head: dict[str, bytes | Link]
) -> list[dict[str, Any]]:
    """The `diff-entry` list GitHub gives for two trees (a PR's files, a comparison's)."""
    template = fixed_example(spec, "diff-entry-items")[0]
    entries = []
    for path in sorted(set(base) | set(head)):
        if base.get(path) == head.get(path):
            continue
        if path not in head:
            continue  # no scenario removes files
        data = blob_of(head[path])
        assert data is not None
        patch = patch_of(blob_of(base.get(path)), data)
        added = sum(line.startswith("+") for line in patch.splitlines())
        removed = sum(line.startswith("-") for line in patch.splitlines())
        entry = copy.deepcopy(template)
        entry.update(
            sha=hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
            filename=path,
            status="modified" if path in base else "added",
            additions=added,
            deletions=removed,
            changes=added + removed,
            patch=patch,
        )
        entries.append(entry)
    return spec.check(entries, "diff-entry", array=True)


def pull_request(spec: Spec, world: World) -> dict[str, Any]:
    pr = fixed_example(spec, "pull-request")
    # `changed_files` must match the file list: the job fails closed on a shorter list
    pr.update(
        number=e2e.NUMBER, state="open", draft=False, changed_files=len(changed_files(spec, world))
    )
    pr["head"].update(sha=world.head, ref=e2e.HEAD_REF, label=f"{OWNER}:{e2e.HEAD_REF}")
    pr["base"].update(sha=e2e.BASE_SHA, ref="master", label=f"{OWNER}:master")
    for side in ("head", "base"):  # not a fork: the App may push to the branch
        pr[side]["repo"].update(full_name=e2e.REPO, name=NAME)
        pr[side]["repo"]["owner"]["login"] = OWNER
    return spec.check(pr, "pull-request")


def commit_pulls(spec: Spec, world: World) -> list[dict[str, Any]]:
    """`GET /commits/{sha}/pulls`: the scenario's PR contains every commit asked about.

    As on GitHub, the listing shows the PR's current head, so a job for an older commit
    finds no PR whose head is its SHA.
    """
    item = fixed_example(spec, "pull-request-simple-items")[0]
    item.update(number=e2e.NUMBER, state="open", draft=False)
    item["head"].update(sha=world.head, ref=e2e.HEAD_REF, label=f"{OWNER}:{e2e.HEAD_REF}")
    item["base"].update(sha=e2e.BASE_SHA, ref="master", label=f"{OWNER}:master")
    for side in ("head", "base"):
        item[side]["repo"].update(full_name=e2e.REPO, name=NAME)
        item[side]["repo"]["owner"]["login"] = OWNER
    return spec.check([item], "pull-request-simple", array=True)


def comparison(spec: Spec, world: World, base: str, head: str) -> dict[str, Any]:
    """`GET /compare/{base}...{head}` for a merge group: one commit on top of `base`, which
    is therefore the merge base; the example's URLs and shas made the world's."""
    answer = spec.example("commit-comparison")
    answer["files"] = diff_entries(spec, world.trees[base], world.trees[head])
    for key in ("url", "html_url", "permalink_url", "diff_url", "patch_url"):
        answer[key] = (
            answer[key]
            .replace("octocat/Hello-World", world.repo)
            .replace("master...topic", f"{base}...{head}")
        )
    owner = world.repo.split("/")[0]
    answer["permalink_url"] = (
        f"https://github.com/{world.repo}/compare/{owner}:{base}...{owner}:{head}"
    )
    answer["base_commit"]["sha"] = answer["merge_base_commit"]["sha"] = base
    (commit,) = answer["commits"]
    commit["sha"] = head
    commit["parents"] = [{**commit["parents"][0], "sha": base}]
    answer.update(status="ahead", ahead_by=1, behind_by=0, total_commits=1)
    return spec.check(answer, "commit-comparison")


def git_tree(spec: Spec, world: World, sha: str) -> dict[str, Any]:
    """`GET /git/trees/{sha}?recursive=1`: every folder and file of the commit, sorted as
    git lists them, each blob with its git sha and size, a link with mode 120000."""
    answer = spec.example("git-tree-response-recursively-retrieving-a-tree")
    (template,) = answer["tree"]
    base = template["url"].rsplit("/", 1)[0].replace("octocat/Hello-World", world.repo)
    files = world.trees[sha]
    folders = {str(parent) for path in files for parent in PurePosixPath(path).parents}
    entries = []
    for path in sorted((folders - {"."}) | set(files)):
        if path in files:
            data = blob_of(files[path])
            assert data is not None
            digest = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            mode = "120000" if isinstance(files[path], Link) else "100644"
            entry = {"path": path, "mode": mode, "type": "blob", "size": len(data)}
            entry.update(sha=digest, url=f"{base}/{digest}")
        else:
            digest = hashlib.sha1(path.encode()).hexdigest()  # a stand-in's tree id
            url = f"{base.replace('/git/blobs', '/git/trees')}/{digest}"
            entry = {"path": path, "mode": "040000", "type": "tree", "sha": digest, "url": url}
        entries.append(entry)
    answer.update(sha=sha, tree=entries, truncated=False)
    answer["url"] = f"https://api.github.com/repos/{world.repo}/git/trees/{sha}"
    return spec.check(answer, "git-tree")


def sarif_receipt(spec: Spec, world: World) -> dict[str, Any]:
    """The 202 of `POST /code-scanning/sarifs`: the example's id, its URL on our repository."""
    receipt = spec.example("code-scanning-sarif-upload")
    receipt["url"] = receipt["url"].replace("octocat/hello-world", world.repo)
    return spec.check(receipt, "code-scanning-sarifs-receipt")


def graphql_answer(spec: Spec, world: World, body: dict[str, Any]) -> dict[str, Any]:
    """`read_files`' query in github.com's shape, as in `record.py`: each file a
    `TreeEntry` with its mode and blob, null when the commit has no such path. The pull
    requests' query (`read_pull_requests`), the review threads' query and mutation are
    answered from the PR's current head and the comments posted so far."""
    variables = body.get("variables") or {}
    query = body.get("query", "")
    if "createCommitOnBranch" in query:
        return commit_answer(world, variables["input"])
    if "resolveReviewThread" in query:
        return resolve_threads(world, variables)
    if query.startswith(
        ("query PullRequests", "query ReviewThreadPage", "query ReviewCommentPage")
    ):
        return pull_requests_graphql(spec, world, body)
    if "reviewThreads" in query:
        return review_threads(world, variables)
    assert f"{variables.get('owner')}/{variables.get('name')}" == world.repo, variables
    repository: dict[str, Any] = {}
    for commit, sha, files in read_aliases(body):
        tree = world.trees.get(sha)
        repository[commit] = None if tree is None else {alias: entry(tree, p) for alias, p in files}
    return {"data": {"repository": repository}}


def pull_requests_graphql(spec: Spec, world: World, body: dict[str, Any]) -> dict[str, Any]:
    """`read_pull_requests`' queries (see `record.pull_requests_answer`): the scenario's PR
    at its current head, not a fork, with a thread per top-level comment posted so far (its
    replies in it); the commit's associated PRs are that PR, whatever commit is asked about
    (as `GET /commits/{sha}/pulls` lists it, with its current head)."""
    variables = body["variables"]
    assert f"{variables.get('owner')}/{variables.get('name')}" in (world.repo, None), variables
    fields = {
        "number": e2e.NUMBER,
        "state": "OPEN",
        "headRefOid": world.head,
        "baseRefOid": e2e.BASE_SHA,
        "headRefName": e2e.HEAD_REF,
        "headRepository": {"nameWithOwner": world.repo},
        "isDraft": False,
        # must match the file list: the job fails closed on a shorter list
        "changedFiles": len(changed_files(spec, world)),
    }
    threads = graphql_threads(world.comments, world.resolved)
    associated = [
        {
            "number": e2e.NUMBER,
            "state": "OPEN",
            "headRefOid": world.head,
            "baseRepository": {"nameWithOwner": world.repo},
        }
    ]
    pulls = {e2e.NUMBER: (fields, threads)}
    by_id = {thread["id"]: thread for thread in threads}
    return pull_requests_answer(body, pulls, associated, by_id, commits=world.trees)


def review_threads(world: World, variables: dict[str, Any]) -> dict[str, Any]:
    """`PullRequest.reviewThreads` in GitHub's GraphQL shape (see `record.review_threads`):
    a thread per top-level comment, one page."""
    assert variables.get("number") == e2e.NUMBER and variables.get("after") is None, variables
    nodes = []
    for comment in world.comments:
        if comment.get("in_reply_to_id") is not None:
            continue
        user = comment["user"]
        author = {
            "__typename": "Bot" if user["type"] == "Bot" else "User",
            "login": user["login"].removesuffix("[bot]"),  # GraphQL: no [bot]
        }
        first = {"fullDatabaseId": str(comment["id"]), "databaseId": comment["id"]}
        nodes.append(
            {
                "id": thread_id(comment["id"]),
                "isResolved": comment["id"] in world.resolved,
                "comments": {"nodes": [{**first, "author": author}]},
            }
        )
    info = {"hasNextPage": False, "endCursor": "Y3Vyc29yOnYyOpHOAAAAAQ==" if nodes else None}
    connection = {"pageInfo": info, "nodes": nodes}
    return {"data": {"repository": {"pullRequest": {"reviewThreads": connection}}}}


def resolve_threads(world: World, variables: dict[str, Any]) -> dict[str, Any]:
    """`resolveReviewThread`, aliased r<i> for $t<i>: each thread now resolved."""
    by_id = {thread_id(c["id"]): c["id"] for c in world.comments}
    data = {}
    for name, value in variables.items():
        assert value in by_id, f"unknown thread {value}"
        world.resolved.add(by_id[value])
        data["r" + name[1:]] = {"thread": {"id": value, "isResolved": True}}
    return {"data": data}


def entry(tree: dict[str, bytes | Link], path: str) -> dict[str, Any] | None:
    """`Commit.file(path:)`: the `TreeEntry` with its mode (Int) and its blob, or null."""
    data = tree.get(path)
    if isinstance(data, Link):
        return {"mode": LINK_MODE, "object": blob(data.target.encode())}
    return None if data is None else {"mode": FILE_MODE, "object": blob(data)}


def blob(data: bytes) -> dict[str, Any]:
    return {"text": data.decode(), "isBinary": False, "isTruncated": False, "byteSize": len(data)}


def commit_answer(world: World, commit_input: dict[str, Any]) -> dict[str, Any]:
    """`createCommitOnBranch` as github.com answers it (see `record.commit_answer`)."""
    branch = {"repositoryNameWithOwner": e2e.REPO, "branchName": e2e.HEAD_REF}
    if commit_input["branch"] != branch or commit_input["expectedHeadOid"] != world.head:
        world.problems.append(f"unexpected commit target: {commit_input}")
        return {
            "data": {"createCommitOnBranch": None},
            "errors": [
                {
                    "type": "STALE_DATA",
                    "path": ["createCommitOnBranch"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": f'Expected branch to point to "{commit_input["expectedHeadOid"]}"'
                    " but it did not.  Pull and try again.",
                }
            ],
        }
    for addition in commit_input["fileChanges"]["additions"]:
        base64.b64decode(addition["contents"], validate=True)  # GitHub's Base64String
    oid = hashlib.sha1(json.dumps(commit_input, sort_keys=True).encode()).hexdigest()
    return {"data": {"createCommitOnBranch": {"commit": {"oid": oid}}}}


def make_handler(
    spec: Spec, answers: Answers, schemas: RequestSchemas, world_of: Any
) -> type[BaseHTTPRequestHandler]:
    server_error = spec.check(
        {"message": "Server Error", "documentation_url": "https://docs.github.com/rest"},
        "basic-error",
    )

    # What GitHub answers an installation token that lacks the permission an endpoint needs.
    not_accessible = spec.check(
        {
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/code-scanning/code-scanning"
            "#upload-an-analysis-as-sarif-data",
            "status": "403",
        },
        "basic-error",
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def _valid(self, world: World, method: str, template: str, body: Any) -> bool:
            """The request body fits the operation's schema; else a 422 and a problem."""
            problems = schemas.errors(method, template, body)
            if problems:
                world.problems.append(f"{method} {template}: {problems}")
                self._send(422, {"message": "Invalid request.", "errors": problems})
            return not problems

        def _handle(self, method: str) -> None:
            world: World = world_of()
            path = urlsplit(self.path).path
            body = self._body() if method != "GET" else None
            if (method, path) in world.fail_once:
                world.fail_once.discard((method, path))
                return self._send(502, server_error)
            if (method, path) in world.refuse:
                return self._send(403, not_accessible)
            route = getattr(self, f"_{method.lower()}")
            if not route(world, path, body):
                world.problems.append(f"unexpected request {method} {path}")
                self._send(404, answers.not_found)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def _get(self, world: World, path: str, body: Any) -> bool:
            repo = re.escape(world.repo)
            compare = re.fullmatch(rf"/repos/{repo}/compare/({SHA})\.\.\.({SHA})", path)
            tree = re.fullmatch(rf"/repos/{repo}/git/trees/({SHA})", path)
            if compare and {compare[1], compare[2]} <= set(world.trees):
                self._send(200, comparison(spec, world, compare[1], compare[2]))
            elif tree and tree[1] in world.trees and "recursive=1" in self.path:
                self._send(200, git_tree(spec, world, tree[1]))
            elif path == "/app":
                self._send(200, answers.app)
            elif path == PR_PATH:
                self._send(200, pull_request(spec, world))
            elif re.fullmatch(rf"{REPO_PATH}/commits/[0-9a-f]{{40}}/pulls", path):
                self._send(200, commit_pulls(spec, world))
            elif path == f"{PR_PATH}/files":
                self._send(200, changed_files(spec, world))
            elif path == f"{PR_PATH}/comments":
                listed = spec.check(world.comments, "pull-request-review-comment", array=True)
                self._send(200, listed)
            else:
                return False
            return True

        def _post(self, world: World, path: str, body: Any) -> bool:
            template = "/repos/{owner}/{repo}"
            if path == f"/app/installations/{e2e.INSTALLATION_ID}/access_tokens":
                if self._valid(world, "POST", TOKEN_OPERATION, body or {}):
                    self._send(201, answers.token)
            elif path == "/graphql":
                self._send(200, graphql_answer(spec, world, body))
            elif path == f"/repos/{world.repo}/code-scanning/sarifs":
                if self._valid(world, "POST", f"{template}/code-scanning/sarifs", body):
                    self._send(202, sarif_receipt(spec, world))
            elif path == f"/repos/{world.repo}/check-runs":
                if self._valid(world, "POST", f"{template}/check-runs", body):
                    run = copy.deepcopy(answers.check_run_created)
                    run.update(id=e2e.CHECK_RUN_ID, name=body["name"], head_sha=body["head_sha"])
                    self._send(201, spec.check(run, "check-run"))
            elif path == f"{PR_PATH}/reviews":
                if self._valid(world, "POST", f"{template}/pulls/{{pull_number}}/reviews", body):
                    self._send(200, self._review(world, body))
            elif m := re.fullmatch(rf"{PR_PATH}/comments/(\d+)/replies", path):
                operation = f"{template}/pulls/{{pull_number}}/comments/{{comment_id}}/replies"
                if self._valid(world, "POST", operation, body):
                    self._send(201, self._comment(world, body["body"], reply_to=int(m[1])))
            elif path == f"{REPO_PATH}/issues/{e2e.NUMBER}/comments":
                if self._valid(world, "POST", f"{template}/issues/{{issue_number}}/comments", body):
                    comment = copy.deepcopy(answers.issue_comment_template)
                    comment["body"] = body["body"]
                    self._send(201, spec.check(comment, "issue-comment"))
            else:
                return False
            return True

        def _patch(self, world: World, path: str, body: Any) -> bool:
            if path != f"/repos/{world.repo}/check-runs/{e2e.CHECK_RUN_ID}":
                return False
            operation = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
            if self._valid(world, "PATCH", operation, body):
                run = copy.deepcopy(answers.check_run_updated)
                run.update(id=e2e.CHECK_RUN_ID, name=body.get("name", run["name"]))
                run.update({k: body[k] for k in ("head_sha", "status", "conclusion") if k in body})
                self._send(200, spec.check(run, "check-run"))
            return True

        def _review(self, world: World, body: dict[str, Any]) -> dict[str, Any]:
            review = copy.deepcopy(answers.review)
            review.update(id=world.next_id, commit_id=body["commit_id"], body=body["body"])
            world.next_id += 1
            for comment in body.get("comments", []):
                self._comment(world, comment["body"], placed=comment, review=review)
            return spec.check(review, "pull-request-review")

        def _comment(
            self,
            world: World,
            text: str,
            *,
            placed: dict[str, Any] | None = None,
            review: dict[str, Any] | None = None,
            reply_to: int | None = None,
        ) -> dict[str, Any]:
            """A review comment GitHub now lists on the pull request."""
            comment = copy.deepcopy(answers.reply_template)
            comment.pop("in_reply_to_id", None)
            comment.update(id=world.next_id, body=text, commit_id=world.head)
            comment["user"] = bot_user(comment["user"], answers.app["slug"])  # the App wrote it
            comment["original_commit_id"] = world.head
            world.next_id += 1
            if review is not None:
                comment["pull_request_review_id"] = review["id"]
            if placed is not None:
                line, start = placed["line"], placed.get("start_line")
                comment.update(path=placed["path"], side=placed.get("side", "RIGHT"))
                comment.update(line=line, original_line=line)
                comment.update(start_line=start, original_start_line=start)
                comment["start_side"] = placed.get("start_side") if start else None
            if reply_to is not None:
                parent = next((c for c in world.comments if c["id"] == reply_to), None)
                assert parent is not None, f"reply to unknown comment {reply_to}"
                comment.update({k: parent[k] for k in ("path", "line", "side", "original_line")})
                comment["in_reply_to_id"] = reply_to
            world.comments.append(spec.check(comment, "pull-request-review-comment"))
            return comment

    return Handler


class FailedJobs(logging.Handler):
    """Collects the worker's "job failed" records: a recording must not hide one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"worker: {record.getMessage()} {record.exc_text or ''}")

    def take(self) -> list[str]:
        taken, self.messages = self.messages, []
        return taken


def record(spec: Spec, only: list[str]) -> None:
    answers = Answers(spec)
    schemas = RequestSchemas(spec)
    current: dict[str, World] = {}
    handler = make_handler(spec, answers, schemas, lambda: current["world"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in = f"http://127.0.0.1:{server.server_address[1]}"
    recorder = scrubbing_vcr(stand_in)
    key = new_private_key()
    failed_jobs = FailedJobs()
    for name in ("failclosed.app.run.worker", "failclosed.app.run.execute"):
        logging.getLogger(name).addHandler(failed_jobs)
    try:
        for name, scenario in e2e.SCENARIOS.items():
            if only and name not in only:
                continue
            world = current["world"] = World(scenario)
            cassette = HERE / f"e2e_{name}.yaml"
            cassette.unlink(missing_ok=True)
            github_app = GitHubApp(1, key, stand_in + "/", cache_strategy=MemCacheStrategy())
            with tempfile.TemporaryDirectory() as queue_dir:
                queue = SqliteJobQueue(Path(queue_dir) / "jobs.sqlite3")
                sink = Workers(queue, github_app, retry_delays=(), poll_seconds=0.02)
                app = create_app(make_settings(code_scanning=scenario.code_scanning), sink)
                statuses = []
                try:
                    with recorder.use_cassette(str(cassette), ignore_hosts=["testserver"]):
                        for delivery in scenario.deliveries:
                            world.head = delivery.head_sha
                            statuses.append(e2e.deliver(app, delivery).status_code)
                            sink.join()
                finally:
                    sink.stop()
                    queue.close()
            failed = failed_jobs.take()
            if not scenario.refuse:  # a refused write fails its job, as it must
                world.problems.extend(failed)
            if world.problems:
                raise SystemExit(f"{name}: " + "\n".join(world.problems))
            if not cassette.exists():
                cassette.write_text(EMPTY_CASSETTE)
            text = cassette.read_text()
            assert "127.0.0.1" not in text and "Bearer" not in text, name
            requests = text.count("\n- request:") + text.startswith("- request:")
            print(f"{cassette.relative_to(ROOT)}: deliveries {statuses}, {requests} requests")
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openapi", type=Path, help="api.github.com.json; default: npm pack " + OPENAPI_PACKAGE
    )
    parser.add_argument("scenario", nargs="*", help="record only these (default: all)")
    args = parser.parse_args()
    unknown = set(args.scenario) - set(e2e.SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    record(Spec(load_openapi(args.openapi)), args.scenario)


if __name__ == "__main__":
    main()
