"""The engine around the rules: suppressions, configuration, odd inputs, many files."""

from __future__ import annotations

import os
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from support import FC101_FUNCTION

from failclosed.analyzers.config import ConfigError, config_from_mapping, load_config
from failclosed.analyzers.engine import analyze_paths, analyze_source, balanced_chunks
from failclosed.analyzers.output import format_rules, summary_line
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.settings import Config
from failclosed.analyzers.vocabulary import MAX_NAME

# The FC101 sample with room for a comment at the end of its `return True` line.
FAIL_OPEN = FC101_FUNCTION.removesuffix("\n") + "{comment}\n"


def rules_and_lines(source: str | bytes, config: Config | None = None) -> list[tuple[str, int]]:
    report = analyze_source(source, "app/perms.py", config)
    assert report.errors == []
    return [(f.rule, f.line) for f in report.findings]


def test_suppression_with_a_reason_hides_the_finding() -> None:
    source = FAIL_OPEN.format(comment="  # failclosed: ignore[FC101] dev stub, never deployed")
    assert rules_and_lines(source) == []


def test_suppression_without_a_reason_is_reported_and_not_honoured() -> None:
    source = FAIL_OPEN.format(comment="  # failclosed: ignore[FC101]")
    assert rules_and_lines(source) == [("FC101", 6), ("FC900", 6)]


def test_suppression_of_another_rule_does_not_hide_the_finding() -> None:
    source = FAIL_OPEN.format(comment="  # failclosed: ignore[FC103] not this one")
    assert rules_and_lines(source) == [("FC101", 6)]


def test_suppression_text_inside_a_string_is_not_a_suppression() -> None:
    source = FAIL_OPEN.format(comment="") + 'NOTE = "# failclosed: ignore[FC101] nope"\n'
    assert rules_and_lines(source) == [("FC101", 6)]


def test_configured_names_make_a_function_a_permission_check() -> None:
    source = (
        FAIL_OPEN.format(comment="")
        .replace("has_permission", "gatekeep")
        .replace("auto-allowing", "ignoring")
    )
    assert rules_and_lines(source) == []
    config = config_from_mapping({"permission-functions": ["gate.*"]})
    assert rules_and_lines(source, config) == [("FC101", 6)]


def test_configured_deny_names_flip_polarity() -> None:
    source = textwrap.dedent(
        """\
        def in_penalty_box(user):
            try:
                return store.lookup(user)
            except TimeoutError:
                return False
        """
    )
    assert rules_and_lines(source) == []
    config = config_from_mapping({"deny-functions": ["in_penalty_box"]})
    report = analyze_source(source, "app/perms.py", config)
    assert [(f.rule, f.line) for f in report.findings] == [("FC101", 5)]
    assert report.findings[0].fix is not None
    assert "return True" in report.findings[0].fix.replacement


def test_severity_override_and_exit_code() -> None:
    config = config_from_mapping({"severity": {"fc101": "warning"}})
    report = analyze_source(FAIL_OPEN.format(comment=""), "app/perms.py", config)
    assert [f.severity for f in report.findings] == ["warning"]
    assert report.exit_code() == 0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"permision-functions": []}, "unknown key"),
        ({"severity": {"FC101": "fatal"}}, "severity"),
        ({"severity": {"FC1O1": "note"}}, "unknown rule"),
        ({"exclude": "tests"}, "exclude must be a list"),
        ({"permission-functions": ["("]}, "bad pattern"),
        # issue 11: this pattern backtracks for ever on `check_a_a_a_..._x`
        ({"permission-functions": ["check_(\\w+_?)+_permission"]}, "repeats a repetition"),
        ({"deny-functions": ["(a*)*b"]}, "repeats a repetition"),
        # alternatives that match the same text, repeated: `check` + 100 `_` + `x` ran on
        ({"permission-functions": ["check(_|__)+permission"]}, "or an alternation"),
        ({"deny-functions": ["(a|ab)*c"]}, "or an alternation"),
    ],
)
def test_bad_configuration_is_a_clear_error(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(section)


@pytest.mark.parametrize(
    "pattern", ["check_\\w+_permission", "(can|may)_\\w+", "(is_)?allowed_[a-z]+", "(a|b)+x"]
)
def test_patterns_without_a_repeated_alternation_are_accepted(pattern: str) -> None:
    config = config_from_mapping({"permission-functions": [pattern]})
    assert [p.pattern for p in config.permission_functions] == [pattern]


def test_config_is_read_from_the_nearest_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.failclosed]\nexclude = ["vendor/**"]\n')
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    assert load_config(start=nested).exclude == ("vendor/**",)
    (tmp_path / "pyproject.toml").write_text("[tool.failclosed\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(start=nested)


def test_test_code_is_not_analysed() -> None:
    source = FAIL_OPEN.format(comment="")
    for path in ("tests/test_perms.py", "pkg/tests/helpers.py", "conftest.py", "x_test.py"):
        assert analyze_source(source, path).findings == []


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda s: s.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda s: s.replace("    ", "\t"), id="tabs"),
        pytest.param(lambda s: s.rstrip("\n"), id="no-trailing-newline"),
    ],
)
def test_line_endings_and_indentation_are_kept_by_fixes(transform) -> None:
    source = transform(FAIL_OPEN.format(comment=""))
    report = analyze_source(source, "app/perms.py")
    (finding,) = report.findings
    assert finding.fix is not None
    fixed = finding.fix.apply(source)
    expected = transform(
        FAIL_OPEN.format(comment="")
        .replace("auto-allowing", "denying")
        .replace("return True", "return False")
    )
    assert fixed == expected


def test_encoding_cookie_is_honoured() -> None:
    source = "# -*- coding: latin-1 -*-\n" + FAIL_OPEN.format(comment="  # r\xe9seau")
    report = analyze_source(source.encode("latin-1"), "app/perms.py")
    assert [(f.rule, f.line) for f in report.findings] == [("FC101", 7)]
    assert report.findings[0].fix is not None
    assert report.findings[0].fix.replacement.endswith("return False  # r\xe9seau\n")


def test_non_ascii_before_the_allow_value_keeps_the_fix_in_place() -> None:
    source = FAIL_OPEN.format(comment="").replace("return True", 'décision = "é"; return True')
    (finding,) = analyze_source(source, "app/perms.py").findings
    assert finding.fix is not None
    assert 'décision = "é"; return False' in finding.fix.apply(source)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"print 'hello'\n", "does not parse as Python 3"),
        (b"x = 1\x00\n", "null bytes"),
        (b"# -*- coding: klingon -*-\n", "cannot decode"),
        (b"x = '\xff'\n", "cannot decode"),
    ],
)
def test_unanalysable_input_is_an_error_not_a_skip(data: bytes, message: str) -> None:
    report = analyze_source(data, "bad.py")
    assert [e.path for e in report.errors] == ["bad.py"]
    assert message in report.errors[0].message
    assert report.exit_code() == 2


NEWER_PYTHON = [
    "type Allowed = bool\n",  # PEP 695
    "def first[T](items: list[T]) -> T:\n    return items[0]\n",
    "class Box[T]:\n    pass\n",
    'message = f"{user["name"]} denied"\n',  # PEP 701
    'message = f"{"\\n".join(lines)}"\n',
]


@pytest.mark.parametrize("source", NEWER_PYTHON)
def test_newer_python_syntax_names_the_version_parsed_and_what_to_do(source: str) -> None:
    """Issue 11: 3.12+ syntax said only "does not parse as Python 3"."""
    report = analyze_source("import os\n" + source, "app/new.py")
    if sys.version_info >= (3, 12):
        assert report.errors == []
        return
    minor = sys.version_info.minor
    (error,) = report.errors
    assert error.message.startswith(f"does not parse as Python 3.{minor} (line 2): ")
    assert error.message.endswith(
        f" (Python 3.{minor + 1}+ syntax? run failclosed on Python 3.{minor + 1} or later)"
    )


def test_a_plain_syntax_error_gets_no_newer_python_hint() -> None:
    (error,) = analyze_source("def has_permission(:\n", "app/broken.py").errors
    assert error.message == (
        f"does not parse as Python 3.{sys.version_info.minor} (line 1): invalid syntax"
    )


def test_many_files_in_parallel_match_one_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(80):
        body = FAIL_OPEN.format(comment="") if i % 3 == 0 else "x = 1\n"
        (tmp_path / f"mod{i:02}.py").write_text(body)
    (tmp_path / "broken.py").write_text("def f(:\n")
    serial = analyze_paths(["."], jobs=1)
    parallel = analyze_paths(["."], jobs=2)
    assert serial == parallel
    assert len(serial.findings) == 27
    assert [e.path for e in serial.errors] == ["broken.py"]
    assert serial.findings[0].path == "mod00.py"


def test_chunks_hold_every_file_once_biggest_first(tmp_path: Path) -> None:
    sizes = [5000, 10, 10, 3000, 10, 10, 10, 2000, 10, 10]
    files = []
    for i, size in enumerate(sizes):
        (tmp_path / f"m{i}.py").write_text("x" * size)
        files.append((str(tmp_path / f"m{i}.py"), f"m{i}.py"))
    files.append((str(tmp_path / "gone.py"), "gone.py"))  # vanished: size 0, still analysed
    chunks = balanced_chunks(files, 4)
    assert sorted(pair for chunk in chunks for pair in chunk) == sorted(files)
    assert chunks[0] == [files[0]]  # the biggest alone: no chunk holds much more than its share
    assert [pair[1] for pair in chunks[1]] == ["m3.py"]
    assert len(chunks) <= 5
    assert balanced_chunks([], 4) == []


def test_excluded_and_vendored_folders_are_not_walked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("src", "vendor", ".venv", "node_modules"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "perms.py").write_text(FAIL_OPEN.format(comment=""))
    report = analyze_paths(["."], Config(exclude=("vendor/**",)))
    assert [f.path for f in report.findings] == ["src/perms.py"]


def test_missing_path_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = analyze_paths(["nope.py"])
    assert [(e.path, e.message) for e in report.errors] == [
        ("nope.py", "no such file or directory")
    ]


def test_rule_docs_page_is_up_to_date() -> None:
    docs = Path(__file__).parent.parent / "docs" / "rules.md"
    assert docs.read_text() == format_rules(all_rules(), "markdown"), (
        "regenerate with: failclosed rules --format markdown > docs/rules.md"
    )


def test_a_checkout_under_a_tests_folder_is_not_test_code(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "tests" / "proj"
    (project / "app").mkdir(parents=True)
    (project / "app" / "perms.py").write_text(FAIL_OPEN.format(comment=""))
    (project / "tests").mkdir()
    (project / "tests" / "test_perms.py").write_text(FAIL_OPEN.format(comment=""))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = analyze_paths([str(project)])
    assert [(Path(f.path).name, f.rule) for f in report.findings] == [("perms.py", "FC101")]


def test_warnings_about_the_scanned_code_are_not_printed() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = analyze_source('x = 1if True else 2\ny = "\\d"\n', "odd.py")
    assert report.errors == []
    assert [str(w.message) for w in caught] == []


def test_fix_in_a_big_file_is_built_from_its_own_statement() -> None:
    """Fix lines are file lines even though libcst only sees the function's class."""
    filler = "".join(f"def helper_{i}(a):\n    return a + {i}\n\n" for i in range(2000))
    method = textwrap.indent(FAIL_OPEN.format(comment=""), "    ").replace(
        "    def has_permission(user,", "    def has_permission(self, user,"
    )
    source = filler + "class Gate:\n" + method
    (finding,) = analyze_source(source, "app/gate.py").findings
    assert finding.fix is not None
    start = filler.count("\n") + 1
    assert (finding.fix.line, finding.fix.end_line) == (start + 5, start + 6)
    assert finding.fix.replacement == (
        '            logger.warning("Permission request failed: %s, denying", e)\n'
        "            return False\n"
    )


def test_f_string_messages_are_reworded_by_the_fix() -> None:
    source = FAIL_OPEN.format(comment="").replace(
        '"Permission request failed: %s, auto-allowing", e', 'f"check failed: {e}, granting access"'
    )
    (finding,) = analyze_source(source, "app/perms.py").findings
    assert finding.fix is not None
    assert finding.fix.replacement == (
        '        logger.warning(f"check failed: {e}, denying")\n        return False\n'
    )


def test_a_fix_that_leaves_another_fail_open_path_is_not_offered() -> None:
    """Hoisting this `finally` return would expose an FC102 path: no fix, finding stays."""
    source = textwrap.dedent(
        """\
        def is_banned(user):
            banned = False
            try:
                banned = svc.banned(user)
            except ValueError:
                log.warning("bad answer")
            finally:
                return banned
        """
    )
    (finding,) = analyze_source(source, "app/bans.py").findings
    assert (finding.rule, finding.fix) == ("FC104", None)


def test_many_findings_in_one_file_all_get_verified_fixes() -> None:
    source = "".join(
        f"class Perm{i}(BasePermission):\n"
        "    def has_permission(self, request, view):\n"
        "        try:\n"
        "            return acl.check(request.user)\n"
        "        except Exception:\n"
        "            return True\n\n"
        for i in range(60)
    )
    report = analyze_source(source, "app/perms.py")
    assert len(report.findings) == 60
    assert all(
        f.fix is not None and f.fix.replacement.strip() == "return False" for f in report.findings
    )


def test_identifiers_are_cut_before_any_pattern_reads_them() -> None:
    # a pull request can carry an 80,000-character name; patterns over names must stay
    # bounded (issue 11), and the finding must still be reported
    long_name = "check_permission_" + "x" * 50_000
    source = (
        f"def {long_name}(user):\n"
        "    try:\n"
        "        return acl.allowed(user)\n"
        "    except Exception:\n"
        "        return True\n"
    )
    report = analyze_source(source, "app/perms.py")
    assert report.errors == []
    assert [f.rule for f in report.findings] == ["FC101"]
    assert len(report.findings[0].function) <= MAX_NAME
    assert report.findings[0].fix is not None  # fixes are built from the text, not the names


def test_patterns_without_nested_quantifiers_are_accepted() -> None:
    config = config_from_mapping(
        {"permission-functions": ["check_\\w+_permission", "(may|can)_(edit|view)"]}
    )
    assert [p.pattern for p in config.permission_functions] == [
        "check_\\w+_permission",
        "(may|can)_(edit|view)",
    ]


def test_a_fifo_named_like_python_is_an_error_not_a_hang(tmp_path: Path) -> None:
    # issue 11, item 7: reading a FIFO blocks for ever
    fifo = tmp_path / "x.py"
    os.mkfifo(fifo)
    report = analyze_paths([str(tmp_path)], jobs=1)
    assert [e.message for e in report.errors] == [
        "not a regular file (a pipe, socket or device): not analysed"
    ]
    assert report.exit_code() == 2


def test_a_fifo_as_the_configuration_is_a_clear_error(tmp_path: Path) -> None:
    fifo = tmp_path / "pyproject.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)


INNER_SUPPRESSION = """\
def has_permission(user):
    allowed = True
    try:
        allowed = acl.check(user)
    except Exception:{on_handler}
        log.warning("acl down")
        metrics.incr("acl.down"){inside}
    return allowed
"""


def test_a_suppression_inside_a_multiline_finding_does_not_silence_it() -> None:
    # issue 11, item 5: only the finding's own reported line counts
    inner = "  # failclosed: ignore[FC102] counted elsewhere"
    code = INNER_SUPPRESSION.format(on_handler="", inside=inner)
    assert [(f.rule, f.line) for f in analyze_source(code, "app/x.py").findings] == [("FC102", 5)]
    code = INNER_SUPPRESSION.format(on_handler=inner, inside="")
    assert analyze_source(code, "app/x.py").findings == []


def test_a_folder_that_cannot_be_read_is_a_named_error(tmp_path: Path, monkeypatch) -> None:
    """Root can read any folder, so the refusal is made where os.walk lists folders."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src" / "locked").mkdir(parents=True)
    (tmp_path / "src" / "ok.py").write_text("x = 1\n")
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = analyze_paths(["src"], jobs=1)
    assert [(e.path, e.message) for e in report.errors] == [
        ("src/locked", "cannot read this folder: Permission denied")
    ]
    assert report.exit_code() == 2


def test_a_folder_link_leaving_the_tree_is_a_named_error(tmp_path: Path, monkeypatch) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "perms.py").write_text(FAIL_OPEN.format(comment=""))
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "inner").mkdir()
    (repo / "pkg" / "inner" / "perms.py").write_text(FAIL_OPEN.format(comment=""))
    (repo / "linked").symlink_to(outside, target_is_directory=True)
    (repo / "alias").symlink_to(repo / "pkg" / "inner", target_is_directory=True)
    (repo / "broken.py").symlink_to(tmp_path / "gone.py")
    monkeypatch.chdir(repo)
    report = analyze_paths(["."], jobs=1)
    assert [f.path for f in report.findings] == ["pkg/inner/perms.py"]  # once, not via alias
    assert [e.path for e in report.errors] == ["broken.py", "linked"]
    assert "outside the scanned tree" in report.errors[1].message
    assert report.exit_code() == 2


def test_a_run_whose_files_are_all_excluded_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "perms.py").write_text(FAIL_OPEN.format(comment=""))
    everything_out = analyze_paths(["."], Config(exclude=("vendor/**",)))
    assert everything_out.excluded == ["vendor/perms.py"]
    assert "nothing analysed" in summary_line(everything_out)
    assert everything_out.to_json()["excluded"] == ["vendor/perms.py"]
    (tmp_path / "app.py").write_text("x = 1\n")
    partly = analyze_paths(["."], Config(exclude=("vendor/**",)))
    assert partly.excluded == [] and "excluded" not in partly.to_json()


def test_a_file_with_many_findings_is_read_a_bounded_number_of_times(monkeypatch) -> None:
    """Building and verifying N fixes must not split the whole file once per fix (issue 11,
    item 10: 2,000 findings took minutes). Counted in characters read, not in seconds."""
    import failclosed.analyzers.engine
    import failclosed.analyzers.fixes
    import failclosed.analyzers.model

    template = (
        "def can_edit_{i}(user, doc) -> bool:\n"
        "    try:\n"
        "        role = lookup_role(user, {i})\n"
        "    except RoleLookupError:\n"
        "        return True\n"
        "    return role in ('editor', 'admin')\n\n"
    )
    source = "".join(template.format(i=i) for i in range(60))
    read: list[int] = []
    real = failclosed.analyzers.model.split_lines

    def counting(text: str) -> list[str]:
        read.append(len(text))
        return real(text)

    for module in (
        failclosed.analyzers.engine,
        failclosed.analyzers.fixes,
        failclosed.analyzers.model,
    ):
        monkeypatch.setattr(module, "split_lines", counting)
    report = analyze_source(source, "many.py")
    assert len([f for f in report.findings if f.fix]) == 60
    # each re-analysis of a patched file reads it a few times; never once per fix
    assert sum(read) < 15 * len(source), (sum(read) / len(source), len(read))


HOOK_INSTALLER = '''"""Installs the hook below into .claude/hooks."""

HOOK_SCRIPT = """#!/usr/bin/env python3
import json
import sys


def main():
    try:
        event = json.loads(sys.stdin.read())
    except json.JSONDecodeError:
        sys.exit(0)  # cannot parse: allow
    if event.get("tool_name") == "Bash" and "rm -rf" in event["tool_input"]["command"]:
        sys.exit(2)
    sys.exit(0)
"""

EXAMPLE = """print("#!/usr/bin/env python3 is only quoted here")"""
'''


def test_a_python_script_held_in_a_string_is_analysed_on_the_files_lines() -> None:
    """An installer's HOOK_SCRIPT runs as a hook: its fail-open exit is reported where it
    sits in the file, without a fix (it could not be written back into the literal)."""
    report = analyze_source(HOOK_INSTALLER, "installer.py")
    assert [(f.rule, f.line, f.fix) for f in report.findings] == [("FC108", 12, None)]
    assert HOOK_INSTALLER.splitlines()[11].strip().startswith("sys.exit(0)")


def test_a_match_statement_after_the_try_does_not_stop_the_analysis() -> None:
    # the function's statements include each `case`, which has no line number (found by mypy)
    source = textwrap.dedent(
        """\
        async def needs_approval(tool, call, kind) -> bool:
            try:
                args = json.loads(call.arguments)
            except json.JSONDecodeError:
                args = {}
            match kind:
                case "x":
                    pass
            return await tool.approval_policy(args)
        """
    )
    assert rules_and_lines(source) == [("FC123", 5)]
