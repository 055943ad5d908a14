"""The README's rules table says what the rule registry says (as docs/rules.md is checked
in tests/test_engine.py): every rule once, in order, with its code, name and severity."""

from __future__ import annotations

from pathlib import Path

from failclosed.analyzers.rules import all_rules

README = Path(__file__).resolve().parent.parent / "README.md"
HEADER = "| Code | Name | Severity | What |"


def rules_table() -> list[list[str]]:
    """The cells of each row of the table under `## Rules`, header and rule excluded."""
    lines = README.read_text().split("## Rules\n", 1)[1].splitlines()
    start = lines.index(HEADER)
    rows = []
    for line in lines[start + 2 :]:  # after the header and its `| --- |` line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_the_readme_lists_every_rule_with_its_code_name_and_severity() -> None:
    table = [tuple(row[:3]) for row in rules_table()]
    registry = [(rule.code, rule.name, rule.severity) for rule in all_rules()]
    assert table == registry, (
        "README.md's rules table and analyzers/rules disagree: "
        "edit the table's Code, Name and Severity to match the rules"
    )


def test_every_row_of_the_readme_table_says_what_its_rule_finds() -> None:
    rows = rules_table()
    assert rows and all(len(row) == 4 and row[3] for row in rows), rows
