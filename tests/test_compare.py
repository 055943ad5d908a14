"""`new_or_changed`: which findings of a new version are new, by key rather than by line."""

from __future__ import annotations

from failclosed.analyzers.compare import new_or_changed
from failclosed.analyzers.model import Finding


def finding(
    key: str, line: int = 10, rule: str = "FC101", function: str = "has_permission"
) -> Finding:
    return Finding(
        rule=rule,
        path="app/perms.py",
        line=line,
        end_line=line,
        severity="error",
        message="fails open",
        function=function,
        key=key,
    )


def test_everything_is_new_without_a_base() -> None:
    head = [finding("a"), finding("b", line=20)]
    assert new_or_changed([], head) == head


def test_identical_findings_are_not_reported() -> None:
    assert new_or_changed([finding("a")], [finding("a")]) == []


def test_moved_code_is_not_reported() -> None:
    assert new_or_changed([finding("a", line=10)], [finding("a", line=42)]) == []


def test_changed_code_is_reported() -> None:
    head = [finding("edited")]
    assert new_or_changed([finding("original")], head) == head


def test_each_base_finding_absorbs_only_one_head_finding() -> None:
    first, second = finding("a", line=10), finding("a", line=30)
    assert new_or_changed([finding("a", line=10)], [first, second]) == [second]


def test_two_base_copies_absorb_two_head_copies() -> None:
    base = [finding("a", line=1), finding("a", line=2)]
    assert new_or_changed(base, [finding("a", line=5), finding("a", line=9)]) == []


def test_rule_and_function_are_part_of_the_identity() -> None:
    base = [finding("a")]
    other_rule = finding("a", rule="FC102")
    other_function = finding("a", function="Policy.allows")
    assert new_or_changed(base, [other_rule, other_function]) == [other_rule, other_function]


def test_findings_fixed_in_head_are_not_reported() -> None:
    assert new_or_changed([finding("a"), finding("b")], [finding("b")]) == []


def test_head_order_is_kept_and_inputs_are_untouched() -> None:
    base = (finding("b", line=5),)
    head = (finding("c", line=30), finding("b", line=5), finding("a", line=1))
    assert new_or_changed(base, head) == [head[0], head[2]]
    assert base == (finding("b", line=5),)
    assert len(head) == 3


def test_identical_paths_pair_up_in_file_order_whatever_order_rules_report_them() -> None:
    # two identical handlers; the base had only the first, the head adds the second one
    later, earlier = finding("same", line=93), finding("same", line=81)
    assert new_or_changed([finding("same", line=81)], [later, earlier]) == [later]
