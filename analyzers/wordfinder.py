"""Which of a fixed set of words a text holds, and where, in one pass over the text.

The engine asks this of every file for the words that decide which rules can run (about
200 of them). A substring test per word reads the file once for each word it does not
hold, which was a fifth of a scan of Django; an Aho-Corasick automaton (pyahocorasick, in C)
reads it once and reports every occurrence, overlapping ones included.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import ahocorasick


class Occurrences:
    """Where each word that a text holds starts in it (offsets in order)."""

    def __init__(self, starts: dict[str, list[int]]) -> None:
        self.starts = starts

    def __contains__(self, word: object) -> bool:
        return word in self.starts

    def any_of(self, words: Iterable[str]) -> bool:
        """Whether the text holds one of `words`."""
        return any(word in self.starts for word in words)

    def within(self, words: Iterable[str], start: int, end: int) -> set[str]:
        """The `words` that occur wholly inside `text[start:end]`."""
        inside = set()
        for word in words:
            offsets = self.starts.get(word)
            if not offsets:
                continue
            first = bisect_left(offsets, start)  # the earliest one from `start` ends first
            if first < len(offsets) and offsets[first] + len(word) <= end:
                inside.add(word)
        return inside


class WordFinder:
    """Finds a fixed set of words in texts; build it once, use it for every file."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(dict.fromkeys(word for word in words if word))
        self._automaton = ahocorasick.Automaton()
        for word in self.words:
            self._automaton.add_word(word, word)
        if self.words:  # an automaton without words cannot be built
            self._automaton.make_automaton()

    def find(self, text: str) -> Occurrences:
        """Every occurrence of the words in `text`."""
        starts: dict[str, list[int]] = {}
        if self.words:
            for end, word in self._automaton.iter(text):
                starts.setdefault(word, []).append(end - len(word) + 1)
        return Occurrences(starts)
