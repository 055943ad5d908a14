"""The analyzer over a corpus of realistic modules, with exact expected findings and patches.

Every `tests/corpus/<topic>.py` marks each line where a finding must start with a trailing
`# expect: FC101` comment (several codes comma-separated); unmarked lines must have none.
`<topic>.fixed.py` is the file expected after applying every finding's fix, bottom-up.
Files named `pending_*.py` hold known gaps of the analyzer: they are expected to fail until
the analyzer catches up (strict xfail, so fixing a gap makes the suite say so).
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.model import Finding, Report
from failclosed.analyzers.rules import all_rules

CORPUS = Path(__file__).parent / "corpus"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+?)\s*$")
DENY_FUNCTIONS = re.compile(r"def (is_rate_limited|is_banned|is_private_address)\b")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.py") if not p.name.endswith(".fixed.py"))


def fixed_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.fixed.py")


def display(path: Path) -> str:
    """A path outside tests/, so the engine does not skip the file as test code."""
    return f"corpus/{path.name}"


def expected(source: str) -> set[tuple[int, str]]:
    """(line, rule) for every `# expect:` marker."""
    found = set()
    for number, line in enumerate(source.splitlines(), start=1):
        if m := EXPECT.search(line):
            found |= {(number, code.strip()) for code in m.group(1).split(",") if code.strip()}
    return found


def analyze(path: Path, source: str) -> Report:
    report = analyze_source(source.encode("utf-8"), display(path))
    assert report.errors == [], report.errors
    return report


def apply_all(source: str, findings: list[Finding]) -> str:
    """Apply every finding's fix, from the bottom of the file up."""
    fixes = sorted((f.fix for f in findings if f.fix), key=lambda x: (x.line, x.end_line))
    for earlier, later in itertools.pairwise(fixes):
        assert earlier.end_line < later.line, f"overlapping fixes: {earlier} and {later}"
    for fix in reversed(fixes):
        source = fix.apply(source)
    return source


def describe(findings: list[Finding]) -> str:
    return "\n".join(f"{f.line}: {f.rule} {f.severity}: {f.message}" for f in findings)


def params() -> list[object]:
    out = []
    for path in corpus_files():
        marks = []
        if path.name.startswith("pending_"):
            marks.append(pytest.mark.xfail(strict=True, reason="known gap, see report"))
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", params())
def test_corpus_file(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    ast.parse(source, filename=str(path))  # the corpus is valid Python 3
    report = analyze(path, source)

    found = {(f.line, f.rule) for f in report.findings}
    assert found == expected(source), describe(report.findings)

    fixed = fixed_path(path).read_text(encoding="utf-8")
    assert apply_all(source, report.findings) == fixed

    after = analyze(fixed_path(path), fixed)
    blocking = [f for f in after.findings if f.severity != "note"]
    assert blocking == [], describe(blocking)


def test_corpus_is_well_formed() -> None:
    files = corpus_files()
    assert len([p for p in files if not p.name.startswith("pending_")]) >= 10
    for path in files:
        assert fixed_path(path).is_file(), f"{path.name} has no .fixed.py"
        lines = path.read_text(encoding="utf-8").count("\n")
        assert 40 <= lines <= 150, f"{path.name} has {lines} lines"


def test_corpus_covers_every_rule_and_both_polarities() -> None:
    sources = [
        p.read_text(encoding="utf-8") for p in corpus_files() if not p.name.startswith("pending_")
    ]
    codes = {rule for source in sources for _, rule in expected(source)}
    wanted = {rule.code for rule in all_rules()} - {"FC900"}
    assert wanted <= codes, f"no corpus finding for {sorted(wanted - codes)}"
    assert any(DENY_FUNCTIONS.search(source) for source in sources), "no deny-polarity check"
