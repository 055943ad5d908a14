"""Just enough control flow: where does a function go after an `except` handler ends?

Straight-line only. Anything this cannot follow with certainty is `unknown`, and rules
stay quiet on unknown paths: a missed finding costs less than a false alarm.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from failclosed.analyzers.syntax import (
    FunctionNode,
    call_name,
    dotted_name,
    mentions,
    own_nodes,
    text_in,
)

SIMPLE = (
    ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Pass, ast.Delete,
    ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal,
)  # fmt: skip
LOOPS = (ast.For, ast.AsyncFor, ast.While)
EXIT_CALLS = {"sys.exit", "exit", "os._exit", "quit"}


@dataclass
class Outcome:
    """How control leaves the function after a point: a return, a raise, an exit, or unknown."""

    kind: Literal["return", "raise", "end", "exit", "unknown"]
    node: ast.AST | None = None
    assigned: set[str] = field(default_factory=set)
    passed: list[ast.stmt] = field(default_factory=list)  # statements run on the way

    @property
    def value(self) -> ast.expr | None:
        return self.node.value if isinstance(self.node, ast.Return) else None


@dataclass
class Place:
    """Where a statement sits: its block, index in it and the node owning the block."""

    block: list[ast.stmt]
    index: int
    owner: ast.AST


class FunctionFlow:
    """Index of a function's statements, for walking forwards and backwards in blocks."""

    def __init__(self, fn: FunctionNode) -> None:
        self.fn = fn
        self.places: dict[int, Place] = {}
        self._assigned: dict[int, set[str]] = {}
        self._index(fn)

    def _index(self, owner: ast.AST) -> None:
        stack = [owner]
        while stack:
            node = stack.pop()
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                block = getattr(node, name, None)
                if not isinstance(block, list):
                    continue
                for i, stmt in enumerate(block):
                    self.places[id(stmt)] = Place(block, i, node)
                    if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        stack.append(stmt)

    def owner_of(self, node: ast.AST) -> ast.AST | None:
        place = self.places.get(id(node))
        return place.owner if place else None

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        """Enclosing statements and handlers, innermost first, up to the function."""
        current = self.owner_of(node)
        while current is not None and current is not self.fn:
            yield current
            current = self.owner_of(current)

    def after(self, stmt: ast.AST, known: dict[str, object] | None = None) -> Outcome:
        """Follow the statements after `stmt` until control leaves the function.

        `known` holds constant values of names on this path (`decision == "allow"`): an
        `if` whose test they decide as false, with no `else`, is passed over.
        """
        assigned: set[str] = set()
        passed: list[ast.stmt] = []
        current: ast.AST | None = stmt
        while current is not None and current is not self.fn:
            place = self.places.get(id(current))
            if place is None:
                return Outcome("unknown", current, assigned)
            for nxt in place.block[place.index + 1 :]:
                outcome = _step(nxt, assigned, known or {})
                if outcome is not None:
                    outcome.assigned, outcome.passed = assigned, passed
                    return outcome
                passed.append(nxt)
            owner = place.owner
            if isinstance(owner, LOOPS) and place.block is owner.body and owner.orelse:
                return Outcome("unknown", owner, assigned)
            if isinstance(owner, ast.Try) and place.block is owner.body and owner.orelse:
                return Outcome("unknown", owner, assigned)
            if (
                isinstance(owner, ast.Try)
                and place.block is not owner.finalbody
                and any(_may_leave(s) for s in owner.finalbody)
            ):
                return Outcome("unknown", owner, assigned)
            current = owner
            if isinstance(owner, ast.ExceptHandler):
                current = self.owner_of(owner)  # the Try
        return Outcome("end", None, assigned, passed)

    def after_loop_exit(self, stmt: ast.AST) -> Outcome:
        """Where `continue` in the innermost loop around `stmt` eventually leads: past the loop."""
        for node in self.ancestors(stmt):
            if isinstance(node, LOOPS):
                if node.orelse:
                    return Outcome("unknown", node)
                return self.after(node)
        return Outcome("unknown", stmt)

    def assigned(self, stmt: ast.AST) -> set[str]:
        """`assigned_names(stmt)`, walked once: looking back from every try of a long
        function walks the same statements again and again."""
        names = self._assigned.get(id(stmt))
        if names is None:
            names = self._assigned[id(stmt)] = assigned_names(stmt)
        return names

    def value_before(self, stmt: ast.AST, name: str) -> ast.expr | None:
        """The value last assigned to `name` on the straight line before `stmt`, if certain."""
        value, position = self.unpacked_before(stmt, name)
        return value if position is None else None

    def unpacked_before(self, stmt: ast.AST, name: str) -> tuple[ast.expr | None, int | None]:
        """Like `value_before`, and for `a, b = f()` the position of `name` too: (`f()`, 0)."""
        current: ast.AST | None = stmt
        while current is not None and current is not self.fn:
            place = self.places.get(id(current))
            if place is None:
                return None, None
            for prev in reversed(place.block[: place.index]):
                if isinstance(prev, ast.Assign | ast.AnnAssign):
                    targets = prev.targets if isinstance(prev, ast.Assign) else [prev.target]
                    if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                        return prev.value, None
                    position = _position_in(targets, name)
                    if prev.value is not None and position is not None:
                        return prev.value, position
                if name in self.assigned(prev):
                    return None, None
            current = place.owner
            if isinstance(current, ast.ExceptHandler):
                current = self.owner_of(current)
        return None, None


def _position_in(targets: Sequence[ast.expr], name: str) -> int | None:
    """0 for `name` in `name, reason = ...`: a flat tuple target without a starred part."""
    if len(targets) != 1 or not isinstance(targets[0], ast.Tuple | ast.List):
        return None
    elts = targets[0].elts
    if any(not isinstance(e, ast.Name) for e in elts):
        return None
    names = [e.id for e in elts if isinstance(e, ast.Name)]
    return names.index(name) if name in names else None


def _step(stmt: ast.stmt, assigned: set[str], known: dict[str, object]) -> Outcome | None:
    """One statement on the way out: an Outcome when it decides, None to go on."""
    if isinstance(stmt, ast.Return):
        return Outcome("return", stmt)
    if isinstance(stmt, ast.Raise):
        return Outcome("raise", stmt)
    if isinstance(stmt, ast.Expr) and is_exit_call(stmt.value):
        return Outcome("exit", stmt)
    if isinstance(stmt, SIMPLE):
        assigned |= assigned_names(stmt)
        return None
    if isinstance(stmt, ast.If) and not _may_leave(stmt):
        assigned |= assigned_names(stmt)
        return None
    if isinstance(stmt, ast.If) and not stmt.orelse and evaluate(stmt.test, known) is False:
        return None  # the test is false on this path: its body does not run
    return Outcome("unknown", stmt)


def evaluate(test: ast.expr, known: dict[str, object]) -> bool | None:
    """The truth of `name`, `not name`, `name == "x"`, `name != "x"` from known constants."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = evaluate(test.operand, known)
        return None if inner is None else not inner
    if isinstance(test, ast.Name) and test.id in known:
        return bool(known[test.id])
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.left, ast.Name)
        and test.left.id in known
        and isinstance(test.comparators[0], ast.Constant)
    ):
        value, other = known[test.left.id], test.comparators[0].value
        if isinstance(test.ops[0], ast.Eq | ast.Is):
            return value == other
        if isinstance(test.ops[0], ast.NotEq | ast.IsNot):
            return value != other
    return None


def _may_leave(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Return | ast.Raise | ast.Break | ast.Continue)
        or (isinstance(n, ast.Call) and is_exit_call(n))
        for n in own_nodes(node)
    )


def is_exit_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (dotted_name(node.func) or "") in EXIT_CALLS


def assigned_names(node: ast.AST) -> set[str]:
    """Plain names a statement binds (targets, for-loop variables, `as` names)."""
    names = set()
    for n in [node, *own_nodes(node)]:
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
    return names


def swallows(handler: ast.ExceptHandler) -> bool:
    """The handler neither leaves (return/raise/break/exit) nor re-raises: the error is dropped.

    `continue` counts as swallowing; the caller decides where it leads.
    """
    return _drops(handler, ignored=set())


def swallows_the_rest(handler: ast.ExceptHandler) -> bool:
    """The handler passes some exceptions on first (`if isinstance(e, HTTPException):
    raise`) and drops every other one: a guard's own refusals go on, its failures vanish."""
    passed_on = {
        id(n)
        for stmt in handler.body
        if _passes_on(stmt, handler.name)
        for n in [stmt, *own_nodes(stmt)]
    }
    return bool(passed_on) and _drops(handler, passed_on)


def raises_only_if(handler: ast.ExceptHandler) -> ast.If | None:
    """`if not cache_hit: raise AuditFailed(...) from exc`, and otherwise the handler drops
    the error: whether the failure stops anything hangs on state that says nothing about
    the failure. None when the handler has no such `if`, or drops nothing without it, or
    the test is about the error itself or a debug or test mode."""
    for stmt in handler.body:
        if (
            isinstance(stmt, ast.If)
            and not stmt.orelse
            and isinstance(stmt.body[-1], ast.Raise)
            and not (handler.name is not None and mentions(stmt.test, handler.name))
            and not DEBUG_MODE.search(ast.unparse(stmt.test))
            and _drops(handler, {id(n) for n in [stmt, *own_nodes(stmt)]})
        ):
            return stmt
    return None


# `if settings.DEBUG: raise`, `if self.testing: raise`: a development mode, not a decision;
# `if not self.closing: raise`, `if not fail_silently: raise`: an opt-out the caller chose.
DEBUG_MODE = re.compile(
    r"(?i)debug|testing|pytest|\bdev\b|development|closing|closed|shutting_down|shutdown"
    r"|fail_silently|silent"
)


def _drops(handler: ast.ExceptHandler, ignored: set[int]) -> bool:
    for n in own_nodes(handler):
        if id(n) in ignored:
            continue
        if isinstance(n, ast.Return | ast.Raise | ast.Break):
            return False
        if isinstance(n, ast.Call) and (is_exit_call(n) or call_name(n) in ("abort", "fail")):
            return False
    return True


def _passes_on(stmt: ast.stmt, caught: str | None) -> bool:
    """`if isinstance(e, HTTPException): raise` (or `raise e`, or `if "BLOCKED" in str(e):
    raise`): some errors go on as they came, the handler's other statements decide what
    happens to the rest."""
    if caught is None or not isinstance(stmt, ast.If) or stmt.orelse or len(stmt.body) != 1:
        return False
    test, raised = stmt.test, stmt.body[0]
    return (
        (_isinstance_of(test, caught) or _message_holds(test, caught))
        and isinstance(raised, ast.Raise)
        and (raised.exc is None or (isinstance(raised.exc, ast.Name) and raised.exc.id == caught))
    )


def _isinstance_of(test: ast.expr, caught: str) -> bool:
    """`isinstance(e, HTTPException)`."""
    return (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
        and len(test.args) == 2
        and isinstance(test.args[0], ast.Name)
        and test.args[0].id == caught
    )


def _message_holds(test: ast.expr, caught: str) -> bool:
    """`"MACRO BLOCK" in str(e)`: the handler knows its own refusal by its message."""
    if text_in(test) is None:
        return False
    subject = test.comparators[0]  # type: ignore[attr-defined]
    return (
        isinstance(subject, ast.Call)
        and isinstance(subject.func, ast.Name)
        and subject.func.id == "str"
        and len(subject.args) == 1
        and isinstance(subject.args[0], ast.Name)
        and subject.args[0].id == caught
    )


def has_continue(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Continue) for n in own_nodes(handler))


def returns_in(node: ast.AST) -> Iterator[ast.Return]:
    """`return` statements that belong to `node` (not to nested functions)."""
    for n in own_nodes(node):
        if isinstance(n, ast.Return):
            yield n
