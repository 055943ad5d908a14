"""The contract every rule follows: one class, one file, its own examples.

A rule looks at one function at a time (`check`) and yields `Hit`s: where, why, and the
edits that close the path. The engine turns hits into findings, applies configuration and
suppressions, builds and verifies the fixes. `VALID` and `INVALID` are the rule's examples;
the test suite runs every one of them.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from failclosed.analyzers.fixes import Edit
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.model import Severity
from failclosed.analyzers.wordfinder import Occurrences


@dataclass(frozen=True)
class Invalid:
    """Code the rule must flag: the finding's first line, its message exactly as the user
    reads it, and, if fixable, the fixed code."""

    code: str
    line: int
    fixed: str | None = None
    expected_message: str | None = None


@dataclass
class Hit:
    """A rule's raw report, before the engine dresses it as a Finding."""

    node: (
        ast.stmt | ast.expr | ast.excepthandler | ast.arg | ast.keyword
    )  # its lines are the finding's lines
    message: str
    edits: Sequence[Edit] = ()
    key_nodes: Sequence[ast.AST] = field(default_factory=list)
    severity: Severity | None = None
    function: str | None = None  # where the hit is, when not in the function being checked
    region: tuple[int, int] | None = None  # lines of the path, for a fallback rule's overlap


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    summary: ClassVar[str]
    fix_safety: ClassVar[str] = ""
    # The rule runs on a function only if its source contains one of these (speed).
    trigger: ClassVar[tuple[str, ...]] = ("except", "finally")
    # ... and only in files whose text matches this, when set (one pass over the file),
    file_trigger: ClassVar[re.Pattern[str] | None] = None
    # ... or contains one of these words (found with the trigger words in one pass: far
    # cheaper than a pattern that has to be tried at every position of the file).
    file_words: ClassVar[tuple[str, ...]] = ()
    # Every match of `file_trigger` starts with one of these, when set: the pattern is then
    # tried only where they occur (a tested invariant).
    file_trigger_at: ClassVar[tuple[str, ...]] = ()
    # A fallback rule reports a path only when no other rule reported one on the same lines.
    fallback: ClassVar[bool] = False
    VALID: ClassVar[list[str]] = []

    @classmethod
    def wanted_in(cls, text: str, found: Occurrences) -> bool:
        """Whether the file's text can hold what the rule looks for; `found` holds where the
        rules' trigger and file words occur in it (the engine finds them in one pass)."""
        if cls.trigger and not found.any_of(cls.trigger):
            return False  # it runs only on functions that hold one
        if cls.file_trigger is None and not cls.file_words:
            return True
        if found.any_of(cls.file_words):
            return True
        if cls.file_trigger is None:
            return False
        if cls.file_trigger_at:
            return any(
                cls.file_trigger.match(text, start)
                for word in cls.file_trigger_at
                for start in found.starts.get(word, ())
            )
        return cls.file_trigger.search(text) is not None

    INVALID: ClassVar[list[Invalid]] = []

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        """Yield a Hit for every fail-open path in `fn`."""
        raise NotImplementedError

    @classmethod
    def docs(cls) -> str:
        """The rule's documentation: its docstring, which follows Ruff's headings."""
        return inspect.cleandoc(cls.__doc__ or "")
