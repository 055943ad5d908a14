"""Turn a Report, or the list of rules, into text for people, JSON, SARIF or Markdown.

Everything here returns a string and prints nothing, so the CLI decides where output goes
and the tests can compare it exactly.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from failclosed.analyzers.engine import decode
from failclosed.analyzers.model import (
    CWE,
    SEVERITIES,
    AnalysisError,
    Finding,
    Fix,
    Report,
    fingerprint,
    fix_hunk,
    plural,
    split_lines,
)
from failclosed.analyzers.rules import Rule, all_rules

REPORT_FORMATS = ("text", "json", "sarif")
RULES_FORMATS = ("text", "json", "markdown")

SourceReader = Callable[[str], str | None]  # display path -> file text, None if unreadable

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/failclosed/failclosed"
HELP_URI = "https://github.com/failclosed/failclosed/blob/main/docs/rules.md#{anchor}"
SECURITY_SEVERITY = {"error": "8.1", "warning": "5.0", "note": "2.0"}
TAGS = ["security", f"external/cwe/{CWE.lower()}"]
DEFAULT_PRECISION = "high"
# v2: `model.fingerprint` (rule, path and key), the identity review comments use too; v1
# was the key alone, the same for two copies of one function in two files.
FINGERPRINT = "failclosed/v2"
SRCROOT = "%SRCROOT%"


def format_report(report: Report, fmt: str, read_source: SourceReader | None = None) -> str:
    """The report in `fmt` (one of REPORT_FORMATS); `read_source` feeds the text diffs."""
    if fmt == "json":
        return format_json(report)
    if fmt == "sarif":
        return format_sarif(report)
    if fmt == "text":
        return format_text(report, read_source or read_file)
    raise ValueError(f"unknown report format {fmt!r}")


# -- json -------------------------------------------------------------------------------


def format_json(report: Report) -> str:
    """Exactly `Report.to_json()`: the machine-readable contract."""
    return json.dumps(report.to_json(), indent=2) + "\n"


# -- text -------------------------------------------------------------------------------


def read_file(path: str) -> str | None:
    """A file's text as the engine decoded it, or None when it cannot be read."""
    try:
        return decode(Path(path).read_bytes())
    except (OSError, SyntaxError, LookupError, UnicodeDecodeError):
        return None


def format_text(report: Report, read_source: SourceReader = read_file) -> str:
    """One line per finding and its patch as a diff, errors, then a summary line."""
    sources: dict[str, list[str] | None] = {}

    def lines_of(path: str) -> list[str] | None:
        if path not in sources:
            text = read_source(path)
            sources[path] = None if text is None else split_lines(text)
        return sources[path]

    out: list[str] = []
    for finding in report.findings:
        out.append(finding_line(finding))
        if finding.fix:
            out.extend(fix_as_diff(finding.path, finding.fix, lines_of(finding.path)))
    out.extend(f"{shown(error.path)}: error: {shown(error.message)}" for error in report.errors)
    out.append(summary_line(report))
    return "\n".join(out) + "\n"


# Control characters: a file named "a\nb.py" or holding "\x1b[2J" must not write lines or
# terminal commands of its own into the report (tab is kept: code is full of it).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """`text` with control characters spelt out (`\\n`, `\\x1b`), for a terminal."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def finding_line(finding: Finding) -> str:
    where = f" (in {finding.function})" if finding.function else ""
    return shown(
        f"{finding.path}:{finding.line}: {finding.rule} [{finding.severity}] "
        f"{finding.message}{where}"
    )


def fix_as_diff(path: str, fix: Fix, file_lines: list[str] | None) -> list[str]:
    """A one-hunk unified diff of the fixed lines, or just the new lines if the old are unknown.

    The old lines come from the file because a Fix only carries the replacement; when the
    file is gone or shorter than the fix says, showing made-up `-` lines would mislead.
    """
    new = _strip_newlines(split_lines(fix.replacement))
    if file_lines is None or fix.end_line > len(file_lines) or fix.line < 1:
        return [
            f"fix for lines {fix.line}-{fix.end_line} (the original lines could not be read):",
            *(shown(f"+{line}") for line in new),
        ]
    old = _strip_newlines(file_lines[fix.line - 1 : fix.end_line])
    return [f"--- a/{shown(path)}", f"+++ b/{shown(path)}", *map(shown, fix_hunk(fix, old))]


def _strip_newlines(lines: list[str]) -> list[str]:
    return [line.rstrip("\r\n") for line in lines]


def summary_line(report: Report) -> str:
    counts = {s: sum(f.severity == s for f in report.findings) for s in SEVERITIES}
    fixable = sum(f.fix is not None for f in report.findings)
    return (
        f"{plural(len(report.findings), 'finding')} ("
        + ", ".join(plural(counts[s], s) for s in SEVERITIES)
        + f"), {fixable} with a fix; {plural(len(report.errors), 'file')} could not be analysed"
        + (
            f"; nothing analysed: {plural(len(report.excluded), 'Python file')} given "
            "excluded by the configuration"
            if report.excluded
            else ""
        )
    )


# -- sarif ------------------------------------------------------------------------------


def format_sarif(report: Report, rules: Sequence[type[Rule]] | None = None) -> str:
    return json.dumps(sarif_log(report, rules), indent=2) + "\n"


def sarif_log(report: Report, rules: Sequence[type[Rule]] | None = None) -> dict[str, object]:
    """A SARIF 2.1.0 log with one run, in the shape GitHub code scanning accepts."""
    if rules is None:
        rules = all_rules()
    descriptors = [rule_descriptor(rule) for rule in rules]
    known = {rule.code for rule in rules}
    for code in dict.fromkeys(f.rule for f in report.findings if f.rule not in known):
        descriptors.append(unknown_rule_descriptor(code))
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "failclosed",
                        "informationUri": INFORMATION_URI,
                        "version": tool_version(),
                        "rules": descriptors,
                    }
                },
                "invocations": [sarif_invocation(report.errors)],
                "results": [sarif_result(f, index[f.rule]) for f in report.findings],
            }
        ],
    }


def tool_version() -> str:
    try:
        return importlib.metadata.version("failclosed")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def rule_docs(rule: type[Rule]) -> str:
    """The rule's docs with the docstring's indentation removed, so Markdown renders it."""
    return inspect.cleandoc(rule.docs())


def rule_descriptor(rule: type[Rule]) -> dict[str, object]:
    docs = rule_docs(rule) or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": docs_section(docs, "What it does") or rule.summary},
        "help": {"text": docs, "markdown": docs},
        "helpUri": help_uri(rule.code),
        "defaultConfiguration": {"level": rule.severity},
        "properties": {
            "tags": list(TAGS),
            "precision": getattr(rule, "precision", DEFAULT_PRECISION),
            "security-severity": SECURITY_SEVERITY[rule.severity],
        },
    }


def unknown_rule_descriptor(code: str) -> dict[str, object]:
    """For findings whose rule is not installed (e.g. made by hand), so ruleIndex stays valid."""
    return {
        "id": code,
        "shortDescription": {"text": f"failclosed rule {code}"},
        "helpUri": help_uri(code),
        "properties": {"tags": list(TAGS)},
    }


def help_uri(code: str) -> str:
    return HELP_URI.format(anchor=code.lower())


def docs_section(docs: str, title: str) -> str:
    """The text under the Markdown heading `title`, up to the next heading."""
    lines = docs.splitlines()
    heading = re.compile(rf"#+\s*{re.escape(title)}\s*$", re.IGNORECASE)
    for i, line in enumerate(lines):
        if heading.fullmatch(line.strip()):
            body = []
            for following in lines[i + 1 :]:
                if following.startswith("#"):
                    break
                body.append(following)
            return "\n".join(body).strip()
    return ""


def artifact_location(path: str) -> dict[str, str]:
    """Relative paths hang off %SRCROOT%; paths outside the project become file URIs."""
    if PurePosixPath(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path), "uriBaseId": SRCROOT}


def sarif_result(finding: Finding, rule_index: int) -> dict[str, object]:
    location = artifact_location(finding.path)
    place: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": location,
            "region": {"startLine": finding.line, "endLine": finding.end_line},
        }
    }
    if finding.function:
        place["logicalLocations"] = [{"fullyQualifiedName": finding.function, "kind": "function"}]
    result: dict[str, object] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": finding.severity,
        "message": {"text": finding.message},
        "locations": [place],
    }
    if finding.key:
        result["partialFingerprints"] = {FINGERPRINT: fingerprint(finding)}
    if finding.fix:
        result["fixes"] = [sarif_fix(finding.fix, location)]
    return result


def sarif_fix(fix: Fix, location: dict[str, str]) -> dict[str, object]:
    """Whole lines: from column 1 of `line` to column 1 of the line after `end_line`.

    A region without columns would stop before the last line's newline, while the
    replacement ends with one; this region deletes exactly the lines it replaces.
    """
    return {
        "description": {"text": "Make this path fail closed."},
        "artifactChanges": [
            {
                "artifactLocation": location,
                "replacements": [
                    {
                        "deletedRegion": {
                            "startLine": fix.line,
                            "startColumn": 1,
                            "endLine": fix.end_line + 1,
                            "endColumn": 1,
                        },
                        "insertedContent": {"text": fix.replacement},
                    }
                ],
            }
        ],
    }


def sarif_invocation(errors: Sequence[AnalysisError]) -> dict[str, object]:
    """Files that could not be analysed make the run unsuccessful: failing closed."""
    invocation: dict[str, object] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [
            {
                "level": "error",
                "message": {"text": error.message},
                "locations": [
                    {"physicalLocation": {"artifactLocation": artifact_location(error.path)}}
                ],
            }
            for error in errors
        ]
    return invocation


# -- rules ------------------------------------------------------------------------------


def format_rules(rules: Sequence[type[Rule]], fmt: str) -> str:
    """The rule list as a table (text), JSON, or full Markdown docs."""
    if fmt == "json":
        return rules_json(rules)
    if fmt == "markdown":
        return rules_markdown(rules)
    if fmt == "text":
        return rules_text(rules)
    raise ValueError(f"unknown rules format {fmt!r}")


def rules_text(rules: Sequence[type[Rule]]) -> str:
    if not rules:
        return "no rules installed\n"
    rows = [(r.code, r.name, r.severity, r.summary) for r in rules]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + f"  {row[3]}\n"
        for row in rows
    )


def rules_json(rules: Sequence[type[Rule]]) -> str:
    data = {
        "rules": [
            {"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary}
            for r in rules
        ]
    }
    return json.dumps(data, indent=2) + "\n"


def rules_markdown(rules: Sequence[type[Rule]]) -> str:
    """docs/rules.md: an index table, then each rule under a `## CODE` heading (its anchor)."""
    rows = "".join(
        f"| [{r.code}](#{r.code.lower()}) | `{r.name}` | {r.severity} | {_cell(r.summary)} |\n"
        for r in rules
    )
    parts = [
        "# Rules\n",
        "| Code | Name | Severity | Summary |\n| --- | --- | --- | --- |\n" + rows,
    ]
    for rule in rules:
        header = f"## {rule.code}\n\n`{rule.name}` · severity: {rule.severity}\n\n{rule.summary}\n"
        if rule.fix_safety:  # what a one-click fix changes, in a line
            header += f"\n**Fix:** {rule.fix_safety}\n"
        body = demote_headings(rule_docs(rule), top=3)
        parts.append(header + (f"\n{body}\n" if body else ""))
    return "\n".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})(\s)")


def demote_headings(markdown: str, top: int) -> str:
    """Shift headings so the highest becomes level `top`; `#` lines in code are left alone."""
    lines = markdown.splitlines()
    levels = [len(m.group(1)) for m in _headings(lines)]
    if not levels:
        return markdown
    shift = max(top - min(levels), 0)
    out, in_fence = [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and HEADING.match(line):
            line = "#" * shift + line
        out.append(line)
    return "\n".join(out)


def _headings(lines: list[str]) -> list[re.Match[str]]:
    found, in_fence = [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := HEADING.match(line)):
            found.append(m)
    return found
