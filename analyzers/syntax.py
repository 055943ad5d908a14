"""Pure helpers over the stdlib `ast`: names of callees, a function's own nodes and statements.

They know nothing about permissions; everything in `analyzers/` that walks a tree uses them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def call_name(node: ast.AST) -> str:
    """The last name of a call's callee: `self.app.check(x)` -> `check`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def block_items(node: ast.AST) -> list[ast.AST]:
    """Children that sit in statement blocks (and handlers, match cases)."""
    fields = _block_fields.get(type(node))
    if fields is None:
        fields = _block_fields[type(node)] = tuple(
            name for name in BLOCKS if name in getattr(type(node), "_fields", ())
        )
    items: list[ast.AST] = []
    for name in fields:
        block = getattr(node, name, None)
        if isinstance(block, list):
            items.extend(block)
    return items


_block_fields: dict[type, tuple[str, ...]] = {}


def own_statements(node: ast.AST) -> Iterator[ast.AST]:
    """Statements in `node`'s blocks, nested blocks included, not nested functions or classes."""
    stack = block_items(node)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(block_items(child))


def all_statements(node: ast.AST) -> Iterator[ast.AST]:
    """Every statement (and handler, match case) under `node`, nested functions and classes
    included: `ast.walk` without the expressions, for questions only statements answer."""
    stack = block_items(node)
    while stack:
        child = stack.pop()
        yield child
        stack.extend(block_items(child))


def conjuncts(test: ast.expr) -> list[ast.expr]:
    """The parts of an `and` (`a and b` -> [a, b]); any other test is one part."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return test.values
    return [test]


def text_in(test: ast.expr) -> str | None:
    """ "decision" for `"decision" in data`: the string a membership test looks for."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.In)
        and isinstance(test.left, ast.Constant)
        and isinstance(test.left.value, str)
    ):
        return test.left.value
    return None


def tested_call(test: ast.expr) -> tuple[ast.Call, bool] | None:
    """(call, negated) for `f(...)`, `not f(...)`, `await f(...)`, `not await f(...)`, also
    as the one call of an `and` (`tc_id and gate(tc_id)`: the body runs on the call's yes)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        calls = [t for v in test.values if (t := tested_call(v)) is not None]
        return calls[0] if len(calls) == 1 else None
    negated = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if isinstance(test, ast.Await):
        test = test.value
    return (test, negated) if isinstance(test, ast.Call) else None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def equals_text(test: ast.expr) -> str | None:
    """ "deny" for `decision == "deny"`: the one string a comparison tests for equality."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and isinstance(test.comparators[0].value, str)
    ):
        return test.comparators[0].value
    return None


def words_in(node: ast.AST) -> Iterator[str]:
    """The names, attribute names and string constants in `node`: `Decision.ALLOW` ->
    "Decision", "ALLOW"; `errors["x"]` -> "errors", "x"."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            yield n.id
        elif isinstance(n, ast.Attribute):
            yield n.attr
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            yield n.value


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`ast.iter_child_nodes` as a list, without its generator per field and without the
    `Load`/`Store`/`Del` marker of every name (read as `node.ctx` where it matters, it was a
    third of the nodes walked): the scan's hottest loop."""
    found: list[ast.AST] = []
    fields = _node_fields.get(type(node))
    if fields is None:
        fields = _node_fields[type(node)] = _fields_of(type(node))
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            found.append(value)
        elif isinstance(value, list):
            found.extend([item for item in value if isinstance(item, ast.AST)])
    return found


_node_fields: dict[type, tuple[str, ...]] = {}


def _fields_of(cls: type) -> tuple[str, ...]:
    return tuple(name for name in getattr(cls, "_fields", ()) if name != "ctx")


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes inside `node` that belong to it, not to nested functions, classes or lambdas."""
    stack = child_nodes(node)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, _SCOPES):
            stack.extend(child_nodes(child))


def nodes_in(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The statements of a block and their own nodes: `own_nodes` of each, itself first."""
    for stmt in body:
        yield stmt
        yield from own_nodes(stmt)


def mentions(node: ast.AST, name: str) -> bool:
    """The plain name `name` is read or set anywhere inside `node`."""
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def handler_types(handler: ast.ExceptHandler) -> list[str]:
    """Names of the exceptions a handler catches; [] for a bare `except:`."""
    if handler.type is None:
        return []
    elts = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [call_name(e) or "?" for e in elts]
