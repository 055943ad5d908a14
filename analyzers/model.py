"""The analyzer's vocabulary: findings, fixes and errors, as plain immutable data."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

Severity = Literal["error", "warning", "note"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")
CWE = "CWE-636"
_LINE_END = re.compile(r"(\r\n|\r|\n)")


def split_lines(text: str) -> list[str]:
    """Lines as Python numbers them, ends kept.

    Only \\n, \\r\\n and \\r end a line for Python; `str.splitlines` also splits on form
    feeds, U+2028 and friends, which would shift every line number after them.
    """
    parts = _LINE_END.split(text)
    lines = [body + end for body, end in zip(parts[0::2], parts[1::2], strict=False)]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def plural(count: int, word: str) -> str:
    """`1 finding`, `2 findings`: the count and the word, plural unless the count is 1."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class Fix:
    """Replace lines `line`..`end_line` (1-based, inclusive) with `replacement`.

    Whole lines, so that a fix can become a GitHub ```suggestion block as is.
    `replacement` ends with a newline unless it is empty (the lines are deleted).
    """

    line: int
    end_line: int
    replacement: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "end_line": self.end_line, "replacement": self.replacement}

    def apply(self, source: str) -> str:
        """`source` with this fix's lines replaced."""
        lines = split_lines(source)
        return "".join([*lines[: self.line - 1], self.replacement, *lines[self.end_line :]])


def apply_fixes(source: str, fixes: list[Fix]) -> str:
    """`source` with every fix applied; they must not overlap. The file is split and
    joined once, whatever the number of fixes."""
    lines = split_lines(source)
    for fix in sorted(fixes, key=lambda f: f.line, reverse=True):
        lines[fix.line - 1 : fix.end_line] = [fix.replacement] if fix.replacement else []
    return "".join(lines)


def fix_hunk(fix: Fix, old: list[str]) -> list[str]:
    """The fix as one unified-diff hunk: its header, then only the changed lines marked.

    `old` is the text of lines `fix.line..fix.end_line` without line ends. Shared by the
    CLI's text output and the App's ```diff comments.
    """
    new = [line.rstrip("\r\n") for line in split_lines(fix.replacement)]
    header = f"@@ -{_hunk_range(fix.line, len(old))} +{_hunk_range(fix.line, len(new))} @@"
    body: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            body.extend(f" {line}" for line in old[i1:i2])
            continue
        body.extend(f"-{line}" for line in old[i1:i2])
        body.extend(f"+{line}" for line in new[j1:j2])
    return [header, *body]


def _hunk_range(start: int, count: int) -> str:
    """Unified diff convention: an empty side names the line before it."""
    return f"{start},{count}" if count else f"{start - 1},0"


@dataclass(frozen=True)
class Finding:
    """One fail-open path: where it is, what is wrong, and how to close it.

    `key` identifies the finding's code independently of where it sits in the file
    (the rule, the function and the normalised code of the handler, guard and allow
    value), so that two versions of a file can be compared.
    """

    rule: str
    path: str
    line: int
    end_line: int
    severity: Severity
    message: str
    function: str
    fix: Fix | None = None
    key: str = field(default="", compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "severity": self.severity,
            "message": self.message,
            "function": self.function,
            "fix": self.fix.to_json() if self.fix else None,
        }


def fingerprint(finding: Finding) -> str:
    """`<rule>:<path>:<key>`: a finding's one identity, the same on every push while its
    code is (the review comments' hidden marker, SARIF's `partialFingerprints`).

    The path is part of it: the key alone names the code, not where it is, and two copies
    of one function in two files are two fail-open paths. The path is percent-encoded (a
    no-op for ordinary paths) so that a space or `-->` in a file name cannot break an HTML
    comment. A finding without a key (built by hand) falls back to its lines.
    """
    key = finding.key or f"L{finding.line}-{finding.end_line}"
    return f"{finding.rule}:{quote(finding.path, safe='/')}:{quote(key, safe='')}"


@dataclass(frozen=True)
class AnalysisError:
    """A file that could not be analysed: it is reported, never skipped silently."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class Report:
    """Everything one run found, in a stable order."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[AnalysisError] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # set when nothing else was analysed

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.errors.extend(other.errors)
        self.excluded.extend(other.excluded)

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (f.path, f.line, f.rule))
        self.errors.sort(key=lambda e: e.path)

    @property
    def blocking(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def exit_code(self) -> int:
        """0 nothing blocking, 1 blocking findings, 2 something could not be analysed."""
        if self.errors:
            return 2
        return 1 if self.blocking else 0

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "findings": [f.to_json() for f in self.findings],
            "errors": [e.to_json() for e in self.errors],
        }
        if self.excluded:
            shown["excluded"] = list(self.excluded)  # nothing analysed: all were excluded
        return shown
