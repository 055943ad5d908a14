"""`app.github.client` against recorded GitHub answers (vcrpy cassettes, replay only, no network).

The cassettes in tests/cassettes/ were recorded by tests/cassettes/record.py against a local
stand-in built from GitHub's OpenAPI examples, with every URI rewritten to
https://api.github.com: the client here uses the production default base URL. Unmatched
requests fail (`record_mode="none"`), so nothing reaches a network.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr
from githubkit.cache import MemCacheStrategy
from githubkit.exception import SecondaryRateLimitExceeded
from githubkit.response import Response
from support import new_private_key

from failclosed.app.github.client import (
    ACTIONS_BOT_LOGIN,
    DEFAULT_BASE_URL,
    REST_API_VERSION,
    GitHubApp,
    GitHubClient,
    GitHubError,
    _translate_errors,
    comparison_of,
    read_query,
    safe_to_repeat,
    shared_ssl_context,
    split_repo,
    token_client,
)
from failclosed.app.github.port import (
    ChangedFile,
    Comparison,
    GitHubPort,
    HeadMoved,
    Link,
    PullRequest,
    ReviewComment,
)
from failclosed.app.model import RetryableError

SERVER_ERROR_REVIEW = "the stand-in answers 502 to this review"  # as in cassettes/record.py
TAGGED_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"  # as in cassettes/record.py

CASSETTES = Path(__file__).parent / "cassettes"
REPO = "octocat/Hello-World"
NUMBER = 1347
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
STALE_SHA = "e5bd3914e2e596debea16f433f57875b5b90bcd6"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
FIX = {"app/auth.py": b"def allowed(user):\n    return user.is_admin\n", "logo.png": PNG}
MESSAGE = "failclosed: fix 1 finding\n\nFC101 in app/auth.py"

replay = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["authorization"],
)


@pytest.fixture(scope="module")
def private_key() -> str:
    """A throwaway key: replay does not check the JWT, only that one is made."""
    return new_private_key()


@pytest.fixture
def app(private_key: str) -> GitHubApp:
    # A fresh token cache per test: each cassette replays its own token request.
    return GitHubApp(1, private_key, cache_strategy=MemCacheStrategy())


@contextmanager
def played(name: str, *, match_body: bool = False) -> Iterator[Any]:
    """Replays tests/cassettes/{name}.yaml; every recorded request must be made.

    With `match_body`, a request replays only if its body equals the recorded one (JSON
    compared as data), so what the test reads in `cassette.requests` is what was sent.
    """
    options: dict[str, Any] = {}
    if match_body:
        options["match_on"] = ["method", "scheme", "host", "port", "path", "query", "body"]
    with replay.use_cassette(f"{name}.yaml", **options) as recorded:
        yield recorded
    assert recorded.all_played, f"{name}: not every recorded request was made"


def requests_to(recorded: Any, path: str) -> list[Any]:
    return [r for r in recorded.requests if r.path == path]


def test_client_implements_the_port(app: GitHubApp) -> None:
    client: GitHubPort = app.installation(42)
    assert isinstance(client, GitHubClient)
    assert app.base_url == DEFAULT_BASE_URL
    assert "BEGIN" not in repr(app)


def test_a_token_client_is_the_same_client() -> None:
    """The GitHub Action's client: the same `GitHubClient`, authenticated by a token; the
    comments it recognises as its own are those of the account the token posts as."""
    client: GitHubPort = token_client("ghs_" + "0" * 36)
    assert isinstance(client, GitHubClient)
    assert client._bot_login() == ACTIONS_BOT_LOGIN == "github-actions[bot]"
    with pytest.raises(ValueError, match="token"):
        token_client("")


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The `verify` of every `httpx.Client` built from now on; and no SSL context may be
    built (each loads the CA bundle: issue 11)."""
    shared_ssl_context()  # the process's one, built before counting if not yet
    built: list[Any] = []
    real_init = httpx.Client.__init__

    def init(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("verify"))
        real_init(self, *args, **kwargs)

    def no_new_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        raise AssertionError("a new SSL context was built")

    monkeypatch.setattr(httpx.Client, "__init__", init)
    monkeypatch.setattr(ssl, "create_default_context", no_new_context)
    return built


def test_an_entered_client_sends_a_job_over_one_http_client(
    app: GitHubApp, clients_built: list[Any]
) -> None:
    """Inside `with`, the token request and every call share one `httpx.Client` (and so its
    kept-alive connection); it uses the process's SSL context instead of building one."""
    with played("check_run") as cassette, app.installation(42) as client:
        check_id = client.create_check_run(REPO, HEAD_SHA, "failclosed")
        client.update_check_run(REPO, check_id, {"status": "completed", "conclusion": "neutral"})
    assert len(cassette.requests) == 3  # the token, the create, the update
    assert clients_built == [shared_ssl_context()]


def test_a_client_used_outside_with_builds_one_per_request_on_the_shared_context(
    app: GitHubApp, clients_built: list[Any]
) -> None:
    """What jobs did before issue 11 (and what a call outside a job still does): a new
    `httpx.Client` per request, but no longer a new SSL context with it."""
    with played("check_run"):
        client = app.installation(42)
        check_id = client.create_check_run(REPO, HEAD_SHA, "failclosed")
        client.update_check_run(REPO, check_id, {"status": "completed", "conclusion": "neutral"})
    shared = shared_ssl_context()
    assert len(clients_built) == 2 and all(verify is shared for verify in clients_built)


def test_the_shared_ssl_context_is_httpxs_default_built_once() -> None:
    context = shared_ssl_context()
    assert shared_ssl_context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded


def test_closing_the_client_cannot_fail_the_job(
    app: GitHubApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_close(self: httpx.Client) -> None:
        raise OSError("socket already gone")

    monkeypatch.setattr(httpx.Client, "close", broken_close)
    with caplog.at_level(logging.WARNING), app.installation(42):
        pass
    assert "could not close the GitHub client: OSError" in caplog.text


def test_get_pull_request_maps_a_fork_head(app: GitHubApp) -> None:
    with played("pull_request") as cassette:
        pr = app.installation(42).get_pull_request(REPO, NUMBER)
        assert pr == PullRequest(
            number=NUMBER,
            head_sha=HEAD_SHA,
            base_sha="6dcb09b5b57875f334f61aebed695e2e4193db5e",
            head_ref="fix-auth",
            head_repo="contributor/Hello-World",
            draft=False,
            changed_files=5,
        )
        token_request, pr_request = cassette.requests
        assert token_request.path == "/app/installations/42/access_tokens"
        assert pr_request.headers["X-GitHub-Api-Version"] == REST_API_VERSION


def test_list_changed_files_follows_two_pages(app: GitHubApp) -> None:
    with played("changed_files") as cassette:
        files = app.installation(42).list_changed_files(REPO, NUMBER)
        assert len(files) == 103
        assert files[0].path == "src/module_000.py"
        assert files[0].patch and files[0].patch.startswith("@@")
        assert files[100:] == [
            ChangedFile("app/auth.py", "renamed", "app/old_auth.py", files[100].patch),
            ChangedFile("logo.png", "added", None, None),  # binary: no patch
            ChangedFile("old.txt", "removed", None, "@@ -1 +0,0 @@\n-gone"),
        ]
        first, second = [r for r in cassette.requests if r.path.endswith("/files")]
        assert first.query == [("per_page", "100")]
        assert second.path == f"/repositories/1296269/pulls/{NUMBER}/files"  # the Link header's
        assert ("page", "2") in second.query
        assert second.headers["X-GitHub-Api-Version"] == REST_API_VERSION


def read_at(client: GitHubClient, sha: str, paths: list[str]) -> dict[str, bytes | None]:
    """`read_files` of `paths` at one commit, by path."""
    got = client.read_files(REPO, [(sha, path) for path in paths])
    assert {at for at, _ in got} == {sha}
    return {path: data for (_, path), data in got.items()}


def test_read_files_one_graphql_request_for_many_paths(app: GitHubApp) -> None:
    with played("read_files") as cassette:
        paths = ["app/auth.py", "README.md", "logo.png", "data/big.json", "empty.txt", "src"]
        paths.append("app/latin.py")
        got = read_at(app.installation(42), HEAD_SHA, [*paths, "missing.py"])
        assert got["app/auth.py"] == b"def allowed(user):\n    return True\n"
        assert got["README.md"] == "h\u00e9llo \u2713\n".encode()
        assert got["logo.png"] is not None and got["logo.png"].startswith(b"\x89PNG")
        assert got["data/big.json"] is not None and got["data/big.json"].endswith(b"199]}\n")
        assert got["empty.txt"] == b""
        assert got["src"] is None  # a directory
        assert got["missing.py"] is None
        # The exact bytes of a file that is not UTF-8, not GraphQL's transcoded text.
        assert got["app/latin.py"] == b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n"
        assert len(requests_to(cassette, "/graphql")) == 1
        # Only the binary, the truncated and the non-UTF-8 blob go through REST, by SHA.
        raw = [r for r in cassette.requests if "/contents/" in r.path]
        assert sorted(r.path.rsplit("/contents/", 1)[1] for r in raw) == [
            "app/latin.py",
            "data/big.json",
            "logo.png",
        ]
        assert all(("ref", HEAD_SHA) in r.query for r in raw)


def test_read_files_tells_links_by_their_mode_in_the_same_query(app: GitHubApp) -> None:
    """A symbolic link's blob text is its target's path (`auth.py` parses as Python): the
    file's `TreeEntry.mode` (40960, octal 120000), read in the one query, makes it a `Link`."""
    with played("read_files_links", match_body=True) as cassette:
        paths = ["app/link.py", "app/outside.py", "app/auth.py", "src"]
        got = read_at(app.installation(42), HEAD_SHA, paths)
        assert got == {
            "app/link.py": Link("auth.py"),
            "app/outside.py": Link("../../etc/passwd"),
            "app/auth.py": b"def allowed(user):\n    return True\n",
            "src": None,  # a directory (mode 16384): no blob
        }
        (query,) = requests_to(cassette, "/graphql")
        text = json.loads(query.body)["query"]
        assert "file(path: $p0) { mode object { ... on Blob {" in text
        assert len(cassette.requests) == 2  # the token and the one query: no REST read


def test_read_files_asks_each_commit_once_for_all_its_paths() -> None:
    """Head and base in one query: one `object(expression:)` per commit, the files in it
    numbered across commits, so the answer's aliases map back to (sha, path)."""
    query = read_query([2, 1])
    assert query.count("object(expression:") == 2
    assert "c0: object(expression: $c0)" in query and "c1: object(expression: $c1)" in query
    assert query.index("f1: file(path: $p1)") < query.index("c1: object") < query.index("f2: file")
    assert "$c1: String!, $p0: String!, $p1: String!, $p2: String!" in query


def test_read_files_chunks_big_requests(app: GitHubApp) -> None:
    with played("read_files_chunked") as cassette:
        client = GitHubClient(
            app.installation(42)._github, bot_login=app.bot_login, paths_per_query=2
        )
        got = read_at(client, HEAD_SHA, ["app/auth.py", "README.md", "missing.py"])
        assert got["app/auth.py"] and got["README.md"]
        assert got["missing.py"] is None
        assert len(requests_to(cassette, "/graphql")) == 2


def test_the_cassette_has_an_outdated_comment_as_github_sends_it() -> None:
    """`line` and `position` null, `original_line` kept: what a second push leaves behind.

    githubkit 0.16.1 happens to accept it (its `Missing[T]` includes None), but comments are
    read as raw JSON anyway, so no model change can break finding our earlier comments.
    """
    import json

    import yaml

    data = yaml.safe_load((CASSETTES / "review_comments_with_ids.yaml").read_text())
    comments = json.loads(data["interactions"][-1]["response"]["body"]["string"])
    outdated = [c for c in comments if c["line"] is None]
    assert len(outdated) == 1
    assert outdated[0]["position"] is None
    assert isinstance(outdated[0]["original_line"], int)


def test_review_comments_with_ids_replies_and_an_outdated_comment(app: GitHubApp) -> None:
    with played("review_comments_with_ids") as cassette:
        comments = app.installation(42).review_comments(REPO, NUMBER)
        fingerprinted = "<!-- failclosed:fp:0123abcd --> fails open"
        assert comments == [
            ReviewComment(10, "Great stuff!", "file1.txt", None),
            # Outdated: "line": null in the answer, still listed. Written by our App.
            ReviewComment(11, fingerprinted, "file1.txt", None, by_app=True),
            ReviewComment(12, "Fixed, thanks.", "app/auth.py", in_reply_to_id=11),
            # The same fingerprint from another App's bot and from a person: not ours.
            ReviewComment(13, fingerprinted, "file1.txt", None, by_app=False),
            ReviewComment(14, fingerprinted, "file1.txt", None, by_app=False),
        ]
        listed = json.loads(cassette.responses[-1]["body"]["string"])
        assert [c["line"] for c in listed] == [2, None, 2, 2, 2]
        assert [(c["user"]["login"], c["user"]["type"]) for c in listed[1:]] == [
            ("octoapp[bot]", "Bot"),
            ("octocat", "User"),
            ("other-app[bot]", "Bot"),
            ("octocat", "User"),
        ]
        # Our bot's login comes from GET /app, made as the App (JWT), not the installation.
        (app_request,) = requests_to(cassette, "/app")
        assert json.loads(cassette.responses[0]["body"]["string"])["slug"] == "octoapp"
        assert app_request.method == "GET"
        (request,) = requests_to(cassette, f"/repos/{REPO}/pulls/{NUMBER}/comments")
        assert ("per_page", "100") in request.query


def test_the_apps_bot_login_is_read_once_per_process(app: GitHubApp) -> None:
    """Two listings, one GET /app: the cassette holds one, and replay cannot repeat it."""
    with played("review_comments_by_app") as cassette:
        client = app.installation(42)
        first = client.review_comments(REPO, NUMBER)
        second = app.installation(42).review_comments(REPO, NUMBER)
        assert first == second
        assert [c.id for c in first if c.by_app] == [11]
        assert len(requests_to(cassette, "/app")) == 1
        assert len(requests_to(cassette, f"/repos/{REPO}/pulls/{NUMBER}/comments")) == 2
        assert app.bot_login() == "octoapp[bot]"


def test_pull_requests_for_commit_keeps_open_prs_of_this_repo_headed_there(
    app: GitHubApp,
) -> None:
    with played("pull_requests_for_commit") as cassette:
        numbers = app.installation(42).pull_requests_for_commit(REPO, HEAD_SHA)
        # Left out: 1300 (closed), 1350 (a later head), 7 (based on the fork itself).
        assert numbers == [NUMBER]
        listed = json.loads(cassette.responses[-1]["body"]["string"])
        assert [pr["number"] for pr in listed] == [NUMBER, 1300, 1350, 7]
        (request,) = requests_to(cassette, f"/repos/{REPO}/commits/{HEAD_SHA}/pulls")
        assert request.method == "GET"
        assert request.headers["X-GitHub-Api-Version"] == REST_API_VERSION


def test_reply_to_review_comment(app: GitHubApp) -> None:
    with played("reply_to_review_comment", match_body=True) as cassette:
        app.installation(42).reply_to_review_comment(REPO, NUMBER, 11, "Fixed in the latest push.")
        request = cassette.requests[-1]
        assert (request.method, request.path) == (
            "POST",
            f"/repos/{REPO}/pulls/{NUMBER}/comments/11/replies",
        )
        assert json.loads(request.body) == {"body": "Fixed in the latest push."}


def test_comment_on_pull_request_is_an_issue_comment(app: GitHubApp) -> None:
    with played("comment_on_pull_request", match_body=True) as cassette:
        app.installation(42).comment_on_pull_request(
            REPO, NUMBER, "Fixes cannot be pushed to a fork."
        )
        request = cassette.requests[-1]
        assert (request.method, request.path) == ("POST", f"/repos/{REPO}/issues/{NUMBER}/comments")
        assert json.loads(request.body) == {"body": "Fixes cannot be pushed to a fork."}


def test_comment_403_becomes_github_error(app: GitHubApp) -> None:
    with played("error_comment_403"), pytest.raises(GitHubError) as info:
        app.installation(42).comment_on_pull_request("octocat/Spoon-Knife", 1, "hello")
    assert info.value.status == 403
    assert "Resource not accessible by integration" in str(info.value)
    assert not info.value.retryable


def test_commit_files_is_one_graphql_mutation(app: GitHubApp) -> None:
    with played("commit_files", match_body=True) as cassette:
        oid = app.installation(42).commit_files(REPO, "fix-auth", HEAD_SHA, FIX, MESSAGE)
        assert oid == "070c65bd7d9608a138010e637ce114253f80f033"
        token, mutation = cassette.requests  # nothing else: no REST git-data calls
        assert token.path == "/app/installations/42/access_tokens"
        assert (mutation.method, mutation.path) == ("POST", "/graphql")
        sent = json.loads(mutation.body)
        assert "createCommitOnBranch" in sent["query"]
        commit_input = sent["variables"]["input"]
        assert commit_input["branch"] == {
            "repositoryNameWithOwner": REPO,
            "branchName": "fix-auth",
        }
        assert commit_input["expectedHeadOid"] == HEAD_SHA
        assert commit_input["message"] == {
            "headline": "failclosed: fix 1 finding",
            "body": "FC101 in app/auth.py",
        }
        additions = commit_input["fileChanges"]["additions"]
        assert {a["path"]: base64.b64decode(a["contents"], validate=True) for a in additions} == FIX
        assert "deletions" not in commit_input["fileChanges"]


def test_commit_files_head_moved(app: GitHubApp) -> None:
    """GitHub's answer to a stale `expectedHeadOid`: 200, null result, STALE_DATA error."""
    with played("error_commit_head_moved", match_body=True) as cassette:
        with pytest.raises(HeadMoved) as info:
            app.installation(42).commit_files(REPO, "fix-auth", STALE_SHA, FIX, MESSAGE)
        assert "fix-auth" in str(info.value)
        response = cassette.responses[-1]
        assert response["status"]["code"] == 200
        answer = json.loads(response["body"]["string"])
        assert answer["data"] == {"createCommitOnBranch": None}
        assert [e["type"] for e in answer["errors"]] == ["STALE_DATA"]
        assert answer["errors"][0]["message"].startswith("Expected branch to point to")


def test_commit_files_other_graphql_errors_are_github_errors(app: GitHubApp) -> None:
    with played("error_commit_branch_missing"):
        with pytest.raises(GitHubError) as info:
            app.installation(42).commit_files(REPO, "gone", HEAD_SHA, FIX, MESSAGE)
        assert not isinstance(info.value, HeadMoved)
        assert info.value.status == 404
        assert "refs/heads/gone" in str(info.value)


def test_commit_files_refuses_an_empty_commit(app: GitHubApp) -> None:
    with pytest.raises(ValueError, match="at least one file"):
        app.installation(42).commit_files(REPO, "fix-auth", HEAD_SHA, {}, MESSAGE)


def test_check_run_create_then_update(app: GitHubApp) -> None:
    with played("check_run") as cassette:
        client = app.installation(42)
        check_id = client.create_check_run(REPO, HEAD_SHA, "failclosed")
        assert check_id == 4
        update = {
            "status": "completed",
            "conclusion": "neutral",
            "output": {"title": "failclosed", "summary": "No findings."},
        }
        client.update_check_run(REPO, check_id, update)
        create, patch = cassette.requests[1:]
        assert (create.method, create.path) == ("POST", f"/repos/{REPO}/check-runs")
        assert b'"status": "in_progress"' in create.body or b'"status":"in_progress"' in create.body
        assert (patch.method, patch.path) == ("PATCH", f"/repos/{REPO}/check-runs/4")


def test_a_check_run_is_tagged_with_its_delivery(app: GitHubApp) -> None:
    with played("check_run_tagged", match_body=True) as cassette:
        app.installation(42).create_check_run(
            REPO, HEAD_SHA, "failclosed", external_id=TAGGED_DELIVERY
        )
        (create,) = requests_to(cassette, f"/repos/{REPO}/check-runs")
        assert json.loads(create.body)["external_id"] == TAGGED_DELIVERY


def test_find_check_run_adopts_the_run_a_dead_worker_tagged(app: GitHubApp) -> None:
    with played("find_check_run") as cassette:
        client = app.installation(42)
        assert client.find_check_run(REPO, HEAD_SHA, "failclosed", TAGGED_DELIVERY) == 4002
        assert client.find_check_run(REPO, HEAD_SHA, "failclosed", "never-seen") is None
        (listing, _) = requests_to(cassette, f"/repos/{REPO}/commits/{HEAD_SHA}/check-runs")
        assert ("check_name", "failclosed") in listing.query
        assert ("filter", "all") in listing.query


def test_create_review(app: GitHubApp) -> None:
    with played("create_review") as cassette:
        app.installation(42).create_review(
            REPO,
            NUMBER,
            {
                "commit_id": HEAD_SHA,
                "event": "COMMENT",
                "body": "failclosed found 1 issue",
                "comments": [{"path": "app/auth.py", "line": 2, "side": "RIGHT", "body": "x"}],
            },
        )
        assert cassette.requests[-1].path == f"/repos/{REPO}/pulls/{NUMBER}/reviews"


def test_404_becomes_github_error(app: GitHubApp) -> None:
    with played("error_pull_request_404"):
        with pytest.raises(GitHubError) as info:
            app.installation(42).get_pull_request(REPO, 9999)
        assert info.value.status == 404
        assert "GET /repos/octocat/Hello-World/pulls/9999 failed: 404 Not Found" in str(info.value)
        assert not info.value.retryable


def test_422_carries_githubs_reason(app: GitHubApp) -> None:
    with played("error_review_422"):
        body = {
            "commit_id": HEAD_SHA,
            "event": "COMMENT",
            "comments": [{"path": "a.py", "line": 5000, "side": "RIGHT", "body": "x"}],
        }
        with pytest.raises(GitHubError) as info:
            app.installation(42).create_review(REPO, NUMBER, body)
        assert info.value.status == 422
        assert "line must be part of the diff" in str(info.value)


def test_a_review_answered_502_is_not_posted_again(app: GitHubApp) -> None:
    """GitHub may have stored it: the job fails (retryable) instead of a second review."""
    with played("error_review_502_not_repeated") as cassette:
        body = {"commit_id": HEAD_SHA, "event": "COMMENT", "body": SERVER_ERROR_REVIEW}
        with pytest.raises(GitHubError) as info:
            app.installation(42).create_review(REPO, NUMBER, body)
        assert (info.value.status, info.value.retryable) == (502, True)
        assert len(requests_to(cassette, f"/repos/{REPO}/pulls/{NUMBER}/reviews")) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "safe"),
    [
        ("GET", "/repos/o/r/pulls/1", b"", True),
        ("PATCH", "/repos/o/r/check-runs/4", b'{"status": "completed"}', True),
        ("POST", "/repos/o/r/check-runs", b'{"name": "failclosed"}', False),
        ("POST", "/repos/o/r/pulls/1/reviews", b"{}", False),
        ("POST", "/graphql", b'{"query": "query Read($owner: String!) {}"}', True),
        (
            "POST",
            "/api/graphql",
            json.dumps({"query": "\n  query { viewer { login } }"}).encode(),
            True,
        ),
        ("POST", "/graphql", b'{"query": "mutation CommitFiles($input: X!) {}"}', False),
        ("POST", "/graphql", b"not json", False),
    ],
)
def test_only_requests_safe_to_repeat_are_retried_on_5xx(
    method: str, path: str, body: bytes, safe: bool
) -> None:
    assert safe_to_repeat(method, path, body) is safe


def test_installation_token_failure_becomes_github_error(app: GitHubApp) -> None:
    with played("error_token_401"):
        with pytest.raises(GitHubError) as info:
            app.installation(999).get_pull_request(REPO, NUMBER)
        assert info.value.status == 401
        assert "installation token request failed: 401" in str(info.value)


def test_graphql_not_found_becomes_github_error(app: GitHubApp) -> None:
    with played("error_graphql_not_found"):
        with pytest.raises(GitHubError) as info:
            app.installation(42).read_files("octocat/nope", [(HEAD_SHA, "a.py")])
        assert info.value.status == 404
        assert "Could not resolve to a Repository" in str(info.value)


def test_unrecorded_request_does_not_reach_the_network(app: GitHubApp) -> None:
    with replay.use_cassette("pull_request.yaml"), pytest.raises(GitHubError):
        app.installation(42).get_pull_request(REPO, 1)


def test_bad_repo_name_is_refused() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        split_repo("just-a-name")


def test_cassettes_hold_no_token() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    names = {path.stem for path in cassettes}
    assert {"commit_files", "error_commit_head_moved", "review_comments_with_ids"} <= names
    assert len(cassettes) >= 18
    for path in cassettes:
        text = path.read_text()
        assert set(re.findall(r"ghs_\w+", text)) <= {"ghs_REDACTED"}, path.name
        assert "Bearer" not in text, path.name
        assert not re.search(r"(?im)^\s*authorization:", text), path.name
        assert not re.search(r"\beyJ[\w-]{10,}\.", text), path.name  # a JWT
        assert "127.0.0.1" not in text, path.name


def test_a_rate_limit_carries_the_wait_github_asked_for() -> None:
    """githubkit gives up after one wait; the error keeps Retry-After for the worker."""
    request = httpx.Request("GET", "https://api.github.com/repos/o/r/pulls/1")
    raw = httpx.Response(
        403, request=request, headers={"retry-after": "60"}, json={"message": "slow down"}
    )
    failure = SecondaryRateLimitExceeded(Response(raw, Any), timedelta(seconds=60))
    with pytest.raises(GitHubError) as caught, _translate_errors("reading pull request o/r#1"):
        raise failure
    assert (caught.value.status, caught.value.retry_after) == (403, 60.0)
    assert caught.value.retryable
    assert "rate limited" in str(caught.value)
    assert not GitHubError(403, "forbidden").retryable


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable"),
    [
        (0, None, True),
        (502, None, True),
        (429, None, True),
        (403, 60.0, True),
        (403, None, False),
        (404, None, False),
        (422, None, False),
    ],
)
def test_a_failure_worth_retrying_is_a_retryable_error(
    status: int, retry_after: float | None, retryable: bool
) -> None:
    """The job queue retries what is a `RetryableError`: GitHub gave no answer, a server
    error or a rate limit, wherever the error was raised."""
    error = GitHubError(status, "a request", retry_after=retry_after)
    assert isinstance(error, GitHubError)
    assert isinstance(error, RetryableError) is retryable is error.retryable
    assert (error.status, error.retry_after) == (status, retry_after)


# -- GET /compare: what a merge group changes (its traffic is in tests/test_app_e2e.py) --------

BASEHEAD = f"{'b' * 40}...{HEAD_SHA}"


def test_a_comparison_gives_its_merge_base_and_files_as_a_pull_request_lists_them() -> None:
    answer = {
        "status": "ahead",
        "merge_base_commit": {"sha": "b" * 40},
        "files": [
            {"filename": "app/new.py", "status": "renamed", "previous_filename": "app/old.py"},
            {"filename": "logo.png", "status": "added"},  # binary: no patch
            {"filename": "app/auth.py", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b"},
        ],
    }

    assert comparison_of(answer, BASEHEAD) == Comparison(
        "b" * 40,
        (
            ChangedFile("app/new.py", "renamed", previous_path="app/old.py"),
            ChangedFile("logo.png", "added"),
            ChangedFile("app/auth.py", "modified", patch="@@ -1 +1 @@\n-a\n+b"),
        ),
    )


def test_identical_commits_change_nothing() -> None:
    answer = {"status": "identical", "merge_base_commit": {"sha": HEAD_SHA}}

    assert comparison_of(answer, BASEHEAD) == Comparison(HEAD_SHA, ())


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "ahead", "merge_base_commit": {"sha": "b" * 40}},  # no files listed
        {"status": "ahead", "files": []},  # no merge base
        {"status": "ahead", "merge_base_commit": None, "files": []},
        {"merge_base_commit": {"sha": "b" * 40}, "files": [{"status": "added"}]},
        {"merge_base_commit": {"sha": "b" * 40}, "files": "app/auth.py"},
        [],
    ],
)
def test_a_comparison_missing_what_the_job_needs_is_an_error_not_no_change(answer: Any) -> None:
    with pytest.raises(GitHubError, match="unexpected data from GitHub"):
        comparison_of(answer, BASEHEAD)
