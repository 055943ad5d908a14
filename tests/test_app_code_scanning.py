"""The code-scanning job (`app.review.code_scanning`): a default branch's whole tree -> one SARIF
upload, what it reads, what it sends, and how it fails.

The job runs against `FakeGitHub` here (what it asks the port, what the upload carries),
and once against the real `GitHubClient` over a stand-in transport, to count the requests a
1,000-file repository costs. The signed `push` delivery through the real app, with GitHub
replayed from a cassette, is in tests/test_app_e2e.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import FAIL_OPEN, HEAD_SHA, REPO, SAFE, FakeGitHub, OneInstallation, make_job

from failclosed.analyzers.model import Finding, fingerprint
from failclosed.app.github.client import GitHubError, token_client
from failclosed.app.github.port import GitTree, Link, TreeEntry
from failclosed.app.model import Claim, Job, JobKind
from failclosed.app.review import publish
from failclosed.app.review.code_scanning import TreeTruncated, UploadRefused, run_code_scanning
from failclosed.app.run.execute import Finished, JobExecutor, RetryLater

REF = "refs/heads/main"
PERMS = "app/perms.py"
CONFIG = b'[tool.failclosed]\nexclude = ["legacy/"]\n'


def blob(path: str, mode: str = "100644") -> TreeEntry:
    return TreeEntry(path, mode, "blob", 100)


def fake_repository() -> FakeGitHub:
    """A default branch with one fail-open file, one clean one, and what is not read: a
    folder, a README, a symbolic link, a submodule, an excluded folder, a virtualenv."""
    github = FakeGitHub()
    github.tree = GitTree(
        (
            blob("pyproject.toml"),
            TreeEntry("app", "040000", "tree"),
            blob(PERMS),
            blob("app/safe.py"),
            blob("README.md"),
            blob("app/alias.py", mode="120000"),
            TreeEntry("vendor/lib", "160000", "commit"),
            blob("legacy/old.py"),
            blob(".venv/lib/site.py"),
        )
    )
    github.contents = {
        (HEAD_SHA, "pyproject.toml"): CONFIG,
        (HEAD_SHA, PERMS): FAIL_OPEN.encode(),
        (HEAD_SHA, "app/safe.py"): SAFE.encode(),
        (HEAD_SHA, "app/alias.py"): Link("perms.py"),
    }
    return github


def sent_sarif(github: FakeGitHub) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upload's body, and its SARIF decoded: base64, then gzip, then JSON."""
    ((_, body),) = github.called("upload_sarif")
    return body, json.loads(gzip.decompress(base64.b64decode(body["sarif"], validate=True)))


def test_the_whole_tree_goes_up_as_one_sarif_for_the_pushed_commit() -> None:
    github = fake_repository()

    result = run_code_scanning(make_job_for_push(), github)

    body, sarif = sent_sarif(github)
    assert (body["commit_sha"], body["ref"]) == (HEAD_SHA, REF)
    assert set(body) == {"commit_sha", "ref", "sarif"}
    (run,) = sarif["runs"]
    assert run["automationDetails"] == {"id": "failclosed/default-branch/"}
    assert run["invocations"] == [{"executionSuccessful": True}]
    (finding,) = run["results"]
    assert finding["ruleId"] == "FC101"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": PERMS, "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 11  # `return True` in the handler
    (print_,) = finding["partialFingerprints"].values()
    assert re.fullmatch(r"FC101:app/perms\.py:[0-9a-f]{16}", print_)
    assert "fixes" not in finding  # code scanning shows no fixes: not computed
    assert (result.files, result.findings, result.uploaded, result.errors) == (2, 1, 1, 0)
    assert result.sarif_id == github.sarif_id and result.final_state == "done"


def make_job_for_push() -> Job:
    return Job(
        kind=JobKind.CODE_SCANNING,
        delivery_id="d-push",
        event="push",
        action="",
        installation_id=1,
        repository=REPO,
        head_sha=HEAD_SHA,
        ref=REF,
    )


def test_four_calls_whatever_the_files_and_only_python_outside_the_exclusions_is_read() -> None:
    """The tree, the configuration at that commit, every Python file in one read, the
    upload. Links, submodules, the `exclude`d folder and a virtualenv are never read."""
    github = fake_repository()

    result = run_code_scanning(make_job_for_push(), github)

    assert github.names() == ["read_tree", "read_files", "read_files", "upload_sarif"]
    config_read, files_read = github.called("read_files")
    assert config_read == (REPO, [(HEAD_SHA, "pyproject.toml")])
    assert files_read == (REPO, [(HEAD_SHA, "app/perms.py"), (HEAD_SHA, "app/safe.py")])
    assert result.calls == 4


def test_a_tree_without_pyproject_is_scanned_with_the_defaults_and_one_call_less() -> None:
    github = fake_repository()
    github.tree = GitTree(tuple(e for e in github.tree.entries if e.path != "pyproject.toml"))

    result = run_code_scanning(make_job_for_push(), github)

    assert github.names() == ["read_tree", "read_files", "upload_sarif"]
    assert "legacy/old.py" in [path for _, path in github.called("read_files")[0][1]]
    assert result.calls == 3


def test_an_unusable_configuration_and_an_unreadable_file_are_tool_errors_of_the_run() -> None:
    """Uploaded all the same (the other files' alerts stay right), but the run says it was
    not successful and names each file, as GitHub's tool status page shows."""
    github = fake_repository()
    github.contents[(HEAD_SHA, "pyproject.toml")] = b"[tool.failclosed]\nexclude = 3\n"
    del github.contents[(HEAD_SHA, "app/safe.py")]

    result = run_code_scanning(make_job_for_push(), github)

    _, sarif = sent_sarif(github)
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    paths = [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes]
    # The defaults, so `legacy/` is no longer excluded (and this fake has no such file).
    assert paths == ["pyproject.toml", "app/safe.py", "legacy/old.py"]
    assert "[tool.failclosed] cannot be used" in notes[0]["message"]["text"]
    assert "could not be read" in notes[1]["message"]["text"]
    assert result.errors == 3


def test_a_repository_without_python_still_uploads_an_empty_run() -> None:
    """So that the alerts of Python files since deleted are closed."""
    github = FakeGitHub(tree=GitTree((blob("README.md"),)))

    result = run_code_scanning(make_job_for_push(), github)

    _, sarif = sent_sarif(github)
    assert sarif["runs"][0]["results"] == []
    assert github.names() == ["read_tree", "upload_sarif"] and result.uploaded == 0


def test_a_truncated_tree_fails_the_scan_and_uploads_nothing() -> None:
    github = fake_repository()
    github.tree = GitTree(github.tree.entries, truncated=True)

    with pytest.raises(TreeTruncated, match="only in part"):
        run_code_scanning(make_job_for_push(), github)

    assert github.names() == ["read_tree"]


def test_only_code_scanning_jobs_are_taken() -> None:
    with pytest.raises(ValueError, match="code_scanning jobs"):
        run_code_scanning(make_job(), FakeGitHub())


# -- GitHub refusing, GitHub failing ---------------------------------------------------------


def scan_claim() -> Claim:
    return Claim(id=1, job=make_job_for_push(), attempt=1, recovered=False, check_run_id=None)


def test_a_403_on_the_upload_is_logged_with_what_to_do_and_ends_the_job_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    github = fake_repository()
    github.fail["upload_sarif"] = GitHubError(403, "Resource not accessible by integration")
    caplog.set_level(logging.WARNING)

    outcome = JobExecutor(OneInstallation(github)).execute(scan_claim(), lambda _: None)

    assert isinstance(outcome, Finished) and outcome.state == "failed"
    assert "security_events: write" in outcome.reason
    (refused,) = [r for r in caplog.records if r.name == "failclosed.app.review.code_scanning"]
    assert refused.levelno == logging.ERROR
    assert "refused the code scanning upload for octo/app" in refused.getMessage()
    assert "Advanced Security" in refused.getMessage()
    assert github.names().count("upload_sarif") == 1


def test_the_403_is_an_upload_refused_not_a_retryable_error() -> None:
    github = fake_repository()
    github.fail["upload_sarif"] = GitHubError(403, "Advanced Security must be enabled")

    with pytest.raises(UploadRefused, match="Advanced Security must be enabled"):
        run_code_scanning(make_job_for_push(), github)


@pytest.mark.parametrize("status", [502, 0])
def test_a_server_error_or_no_answer_is_retried_like_any_job(status: int) -> None:
    github = fake_repository()
    github.fail["upload_sarif"] = GitHubError(status, "Server Error")

    outcome = JobExecutor(OneInstallation(github)).execute(scan_claim(), lambda _: None)

    assert isinstance(outcome, RetryLater) and outcome.delay == 5.0


def test_a_rate_limited_upload_waits_as_github_asks() -> None:
    github = fake_repository()
    github.fail["upload_sarif"] = GitHubError(403, "rate limited", retry_after=600.0)

    outcome = JobExecutor(OneInstallation(github)).execute(scan_claim(), lambda _: None)

    assert isinstance(outcome, RetryLater) and outcome.delay == 600.0


# -- GitHub's limits (app.review.publish.sarif_upload) ----------------------------------------


def sarif_with(levels: list[str]) -> dict[str, Any]:
    results = [
        {"ruleId": "FC101", "level": level, "message": {"text": str(i)}}
        for i, level in enumerate(levels)
    ]
    return {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "failclosed"}}, "results": results}],
    }


def decoded(upload: publish.SarifUpload) -> dict[str, Any]:
    data = base64.b64decode(str(upload.body["sarif"]))
    assert len(data) == upload.gzipped_bytes
    return json.loads(gzip.decompress(data))


def test_results_past_the_cap_are_cut_blocking_first_and_the_run_says_so() -> None:
    log = sarif_with(["note", "warning", "error", "note", "error"])

    upload = publish.sarif_upload(log, HEAD_SHA, REF, max_results=3)

    (run,) = decoded(upload)["runs"]
    assert [r["level"] for r in run["results"]] == ["error", "error", "warning"]
    assert run["properties"] == {"failclosed/truncatedResults": {"total": 5, "uploaded": 3}}
    assert (upload.results, upload.dropped) == (3, 2)


def test_github_s_own_cap_is_25000_results_and_10_mb_gzipped() -> None:
    assert (publish.MAX_SARIF_RESULTS, publish.MAX_SARIF_GZIP_BYTES) == (25_000, 10_000_000)
    upload = publish.sarif_upload(sarif_with(["error"] * 3), HEAD_SHA, REF)
    assert "properties" not in decoded(upload)["runs"][0] and upload.dropped == 0


def test_a_sarif_over_the_size_cap_is_refused_rather_than_cut() -> None:
    """Cutting files out would close their alerts: nothing is sent instead."""
    log = sarif_with(["error"] * 200)

    with pytest.raises(publish.SarifTooLarge, match="over code scanning's 100: nothing was"):
        publish.sarif_upload(log, HEAD_SHA, REF, max_gzip_bytes=100)


def test_review_comments_and_sarif_share_one_identity_per_finding() -> None:
    finding = Finding("FC101", "app/a b.py", 3, 4, "error", "m", "f", key="abc")
    assert fingerprint(finding) == publish.fingerprint(finding) == "FC101:app/a%20b.py:abc"


# -- the cost of a 1,000-file repository, through the real client -----------------------------

FILES = 1_000


class StandIn:
    """GitHub's answers for one commit of FILES Python files, counting the requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.paths = [f"pkg/m{i:04d}.py" for i in range(FILES)]

    def tree(self) -> dict[str, Any]:
        entries = [
            {"path": "pyproject.toml", "mode": "100644", "type": "blob", "sha": "3" * 40},
            {"path": "pkg", "mode": "040000", "type": "tree", "sha": "1" * 40},
        ]
        entries += [
            {"path": path, "mode": "100644", "type": "blob", "sha": "2" * 40, "size": 30}
            for path in self.paths
        ]
        return {
            "sha": HEAD_SHA,
            "url": "https://api.github.com/x",
            "tree": entries,
            "truncated": False,
        }

    def files(self, body: dict[str, Any]) -> dict[str, Any]:
        variables = body["variables"]
        found: dict[str, Any] = {}
        for name, path in variables.items():
            if re.fullmatch(r"p\d+", name):
                text = self.text(path, name)
                size = len(text.encode())
                found[f"f{name[1:]}"] = {
                    "mode": 33188,
                    "object": {
                        "text": text,
                        "isBinary": False,
                        "isTruncated": False,
                        "byteSize": size,
                    },
                }
        return {"data": {"repository": {"c0": found}}}

    def text(self, path: str, name: str) -> str:
        if path == "pyproject.toml":
            return '[project]\nname = "big"\n'
        return FAIL_OPEN if path == self.paths[0] else f"def f():\n    return {name[1:]}\n"

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.url.path.endswith(f"/git/trees/{HEAD_SHA}"):
            assert request.url.params["recursive"] == "1"
            return httpx.Response(200, json=self.tree())
        if request.url.path == "/graphql":
            return httpx.Response(200, json=self.files(json.loads(request.content)))
        if request.url.path.endswith("/code-scanning/sarifs"):
            self.upload = json.loads(request.content)
            return httpx.Response(202, json={"id": "47177e22", "url": "https://api.github.com/y"})
        return httpx.Response(404, json={"message": "Not Found"})


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    github = StandIn()
    monkeypatch.setattr(
        httpx.HTTPTransport, "handle_request", lambda _self, request: github.answer(request)
    )
    yield github


def test_a_1000_file_repository_costs_23_requests(stand_in: StandIn) -> None:
    """One for the tree, one GraphQL query for pyproject.toml, 20 of 50 files each, one
    upload. The installation token, when the App asks for one, is cached for the hour and
    is not counted here."""
    with token_client("ghs_test_token_for_the_stand_in") as client:
        result = run_code_scanning(make_job_for_push(), client)

    methods = [
        method + " " + re.sub(r"/repos/octo/app", "", path) for method, path in stand_in.requests
    ]
    assert methods == [
        f"GET /git/trees/{HEAD_SHA}",
        *["POST /graphql"] * 21,
        "POST /code-scanning/sarifs",
    ]
    assert len(stand_in.requests) == 23 and result.calls == 4
    sarif = json.loads(gzip.decompress(base64.b64decode(stand_in.upload["sarif"])))
    assert [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    ] == ["pkg/m0000.py"]
    assert result.files == FILES
