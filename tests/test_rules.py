"""Every rule's own examples: VALID code it must leave alone, INVALID code it must flag and fix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.rules import Invalid, Rule, all_rules

VALID = [
    pytest.param(rule, code, id=f"{rule.code}-valid-{i}")
    for rule in all_rules()
    for i, code in enumerate(rule.VALID)
]
INVALID = [
    pytest.param(rule, case, id=f"{rule.code}-invalid-{i}")
    for rule in all_rules()
    for i, case in enumerate(rule.INVALID)
]


def findings_of(rule: type[Rule], code: str):
    report = analyze_source(code, "example.py")
    assert report.errors == [], report.errors
    return [f for f in report.findings if f.rule == rule.code]


@pytest.mark.parametrize(("rule", "code"), VALID)
def test_valid_code_is_left_alone(rule: type[Rule], code: str) -> None:
    assert findings_of(rule, code) == []


@pytest.mark.parametrize(("rule", "case"), INVALID)
def test_invalid_code_is_flagged_and_fixed(rule: type[Rule], case: Invalid) -> None:
    found = findings_of(rule, case.code)
    assert [f.line for f in found] == [case.line], [f.message for f in found]
    finding = found[0]
    if case.expected_message is not None:
        assert finding.message == case.expected_message
    if case.fixed is None:
        assert finding.fix is None
    else:
        assert finding.fix is not None, "expected a verified fix"
        assert finding.fix.apply(case.code) == case.fixed


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_invalid_example_pins_its_message(rule: type[Rule]) -> None:
    unpinned = [i for i, case in enumerate(rule.INVALID) if case.expected_message is None]
    assert unpinned == [], f"{rule.code} INVALID examples {unpinned} set no expected_message"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule: type[Rule]) -> None:
    docs = rule.docs()
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
        assert heading in docs, f"{rule.code} docs lack {heading}"
    assert rule.code.startswith("FC") and rule.name and rule.summary
    assert rule.INVALID, f"{rule.code} has no examples it must flag"


def test_rules_share_the_flow_index_of_the_function_they_check() -> None:
    """A function's flow index is built once (`fn.flow`) for every rule: a rule that builds
    `FunctionFlow(...)` itself indexes the function again for nothing (issue 12)."""
    rules = Path(__file__).resolve().parent.parent / "analyzers" / "rules"
    built = [
        f"{path.name}:{node.lineno}"
        for path in sorted(rules.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FunctionFlow"
    ]
    assert built == []


@pytest.mark.parametrize(
    ("said", "fails_open"),
    [
        ("treated as a session token (no scope enforcement)", True),
        ("public-channel access stays org-wide if this fails", True),
        ("proceeding as if nothing were denied would be a fail-open", False),
        ("policy server unreachable, request would be allowed through", True),
        ("nacl missing, continuing with no verification | metrics", True),
        ("No verification token available", False),
        ("no validation has run yet", False),
    ],
)
def test_what_an_error_path_says_of_itself(said: str, fails_open: bool) -> None:
    """FC116 reads a path's own words: an allow phrase counts unless it is negated or
    hypothetical, and "no verification" counts only when it closes the clause."""
    from failclosed.analyzers.rules.fc116_says_it_fails_open import _says_fails_open

    assert _says_fails_open(said) is fails_open
