"""The engine's one-pass word finder: it must answer exactly what a substring test per word
answers, since it decides which rules run on which functions."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from failclosed.analyzers.engine import _word_finder
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.wordfinder import WordFinder

ROOT = Path(__file__).resolve().parent.parent


def test_overlapping_words_are_all_found_where_they_start() -> None:
    found = WordFinder(["allow", "allowlist", "low", "x😀y"]).find("an allowlist; x😀y")
    assert found.starts == {"allow": [3], "low": [5], "allowlist": [3], "x😀y": [14]}
    assert "allowlist" in found
    assert "deny" not in found


def test_within_counts_only_whole_occurrences_inside_the_span() -> None:
    text = "if a:\n    return allow\nallow"
    found = WordFinder(["allow", "return"]).find(text)
    first = text.index("allow")
    assert found.within(["allow", "return"], 0, first + 5) == {"allow", "return"}
    assert found.within(["allow"], 0, first + 4) == set()  # cut before its end
    assert found.within(["allow"], first + 1, len(text)) == {"allow"}  # the later one


def test_no_words_finds_nothing() -> None:
    found = WordFinder([]).find("anything")
    assert found.starts == {}
    assert not found.any_of(["anything"])


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab \n😀", max_size=60),
    words=st.lists(st.text(alphabet="ab \n😀", min_size=1, max_size=4), max_size=6),
    span=st.tuples(st.integers(0, 60), st.integers(0, 60)),
)
def test_answers_what_a_substring_test_per_word_answers(
    text: str, words: list[str], span: tuple[int, int]
) -> None:
    found = WordFinder(words).find(text)
    assert set(found.starts) == {word for word in words if word in text}
    start, end = sorted(span)
    assert found.within(words, start, end) == {w for w in words if w in text[start:end]}


def _sample_texts() -> list[str]:
    """Every rule's examples, and the test corpus: code the patterns were written for."""
    texts = [code for rule in all_rules() for code in rule.VALID]
    texts += [example.code for rule in all_rules() for example in rule.INVALID]
    texts += [path.read_text() for path in sorted((ROOT / "tests" / "corpus").rglob("*.py"))]
    texts += ['getattr(u, "is_admin", True) or d.get("role", "a")', 'd.get  ("allowed", True)']
    return texts


def test_a_file_pattern_tried_only_where_its_words_occur_matches_as_a_search_does() -> None:
    finder = _word_finder()
    rules = [rule for rule in all_rules() if rule.file_trigger is not None and rule.file_trigger_at]
    assert rules  # the rules that use it
    for text in _sample_texts():
        found = finder.find(text)
        for rule in rules:
            assert rule.file_trigger is not None
            anchored = any(
                rule.file_trigger.match(text, start)
                for word in rule.file_trigger_at
                for start in found.starts.get(word, ())
            )
            assert anchored == (rule.file_trigger.search(text) is not None), (rule.code, text)
