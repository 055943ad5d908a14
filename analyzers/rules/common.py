"""Small helpers several rules share: describing a failure, building the usual edits."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator

from analyzers.fixes import KEEP, Edit, ReplaceStatements, RewordMessage
from analyzers.semantics import (
    ALLOW_LANGUAGE,
    FunctionInfo,
    ModuleInfo,
    handler_types,
    own_nodes,
)


def tries(fn: FunctionInfo) -> Iterator[ast.Try]:
    """The function's own try statements (not those of nested functions)."""
    for node in fn.statements:
        if isinstance(node, ast.Try | ast.TryStar):
            yield node


def caught(handler: ast.ExceptHandler) -> str:
    """`TimeoutError`, `any exception` for a bare or broad handler."""
    types = handler_types(handler)
    if not types or types in (["Exception"], ["BaseException"]):
        return "any error"
    return " or ".join(f"`{t}`" for t in types)


BUILTINS = set(dir(builtins))


def failing_call(node: ast.Try) -> str:
    """The call in the try body that fails, e.g. `self.client.check()`.

    The innermost call of the first statement that makes one, builtins aside:
    `set(httpx.get(url).json())` -> `httpx.get()`.
    """
    for stmt in node.body:
        calls = [
            child
            for child in ast.walk(stmt)
            if isinstance(child, ast.Call)
            and not (isinstance(child.func, ast.Name) and child.func.id in BUILTINS)
        ]
        if calls:
            return f"`{ast.unparse(calls[-1].func)}()`"
    return "the check"


def reword_edits(info: ModuleInfo, scope: ast.AST) -> list[Edit]:
    """Edits that stop log messages in `scope` from saying the code allows."""
    nodes = list(own_nodes(scope))
    inside_fstrings = {id(v) for n in nodes if isinstance(n, ast.JoinedStr) for v in n.values}
    return [
        RewordMessage(node)
        for node in nodes
        if isinstance(node, ast.Constant | ast.JoinedStr)
        and id(node) not in inside_fstrings
        and _says_allow(node)
    ]


def _says_allow(node: ast.Constant | ast.JoinedStr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(ALLOW_LANGUAGE.search(node.value))
    return any(
        isinstance(v, ast.Constant) and isinstance(v.value, str) and ALLOW_LANGUAGE.search(v.value)
        for v in node.values
    )


def append_to_handler(handler: ast.ExceptHandler, statement: str) -> ReplaceStatements:
    """Make `statement` the handler's last word: replaces `pass`/`continue`, else appends."""
    last = handler.body[-1]
    if isinstance(last, ast.Pass | ast.Continue) or (
        isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant)
    ):
        return ReplaceStatements(last, last, (statement,))
    return ReplaceStatements(last, last, (KEEP, statement))


def deny_statement(deny: str | None) -> str:
    """`return False` when the deny value is known, else re-raise the error."""
    return f"return {deny}" if deny is not None else "raise"
