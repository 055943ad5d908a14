"""Build fail-closed patches with libcst, keeping the file's formatting and comments.

Rules describe a fix as a few edits on `ast` nodes (replace this expression, replace these
statements, reword this message). Here those edits are applied to the libcst tree of the
same source, located by position, and the result is turned into one whole-line
replacement so it can become a GitHub ```suggestion block.
"""

from __future__ import annotations

import ast
import bisect
import sys
import tokenize
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from failclosed.analyzers.model import Fix, split_lines
from failclosed.analyzers.vocabulary import REWORDINGS

KEEP = "<keep>"  # in ReplaceStatements.new: keep the original statement here


@dataclass(frozen=True)
class ReplaceExpression:
    """Swap one expression, e.g. `True` -> `False`, `Decision.ALLOW` -> `Decision.DENY`."""

    node: ast.expr
    new: str


@dataclass(frozen=True)
class ReplaceStatements:
    """Replace the statements `first`..`last` of one block with `new` (source lines or KEEP)."""

    first: ast.stmt
    last: ast.stmt
    new: tuple[str, ...]


@dataclass(frozen=True)
class RewordMessage:
    """Make a log message stop saying it allows: "auto-allowing" -> "denying"."""

    node: ast.expr


@dataclass(frozen=True)
class HoistFinallyReturn:
    """`try: ... finally: return x` -> the try body, then `return x` after it.

    With `drop`, the `return x` is dropped instead: the try body returns on every path, so a
    return after it would be dead code.
    """

    node: ast.Try
    drop: bool = False


@dataclass(frozen=True)
class UnwrapWith:
    """`with suppress(PermissionDenied): body` -> `body`, so the deny propagates."""

    node: ast.With | ast.AsyncWith


@dataclass(frozen=True)
class RewordComments:
    """Make the comments on lines `first`..`last` stop saying the code allows.

    A fix that flips `return True  # fail open` must not leave the comment contradicting it.
    """

    first: int
    last: int


# the edits that name an ast node (the libcst tree is changed where that node is)
NodeEdit = ReplaceExpression | ReplaceStatements | RewordMessage | HoistFinallyReturn | UnwrapWith
Edit = NodeEdit | RewordComments


def reword(text: str) -> str:
    """The message with its allow wording turned into deny wording."""
    for pattern, replacement in REWORDINGS:
        text = pattern.sub(replacement, text)
    return text


class FixError(Exception):
    """An edit could not be located or applied; the finding is then offered without a fix."""


def build_fix(
    source: str,
    edits: Sequence[Edit],
    tree: ast.Module | None = None,
    lines: list[str] | None = None,
) -> Fix | None:
    """The whole-line Fix that applies `edits` to `source`.

    With the module's `tree`, only the top-level statement holding the edits is parsed by
    libcst, and with its `lines` (split once by the caller) nothing here reads the whole
    file: a file with thousands of findings costs each fix the size of its function.
    """
    comments = [e for e in edits if isinstance(e, RewordComments)]
    placed: list[NodeEdit] = [e for e in edits if not isinstance(e, RewordComments)]
    if not placed:
        return None  # rewording alone is no fix
    lines = lines if lines is not None else split_lines(source)
    first, last = _region(placed, tree, len(lines))
    first = _with_comments_above(lines, first, comments)
    reworded = _reword_comments(lines, comments, first, last)
    segment = "".join(lines[first - 1 : last])
    with _deeper_recursion(DEEP_RECURSION):  # libcst visits recursively: long expressions
        module = cst.parse_module("".join(reworded[first - 1 : last]))
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
        transformer = _Applier(placed, positions, reworded, offset=first - 1)
        patched = module.visit(transformer).code
    if transformer.pending:
        raise FixError(f"could not locate {transformer.pending} edit(s)")
    fix = line_replacement(segment, patched)
    if fix is None:
        return None
    return Fix(fix.line + first - 1, fix.end_line + first - 1, fix.replacement)


def _with_comments_above(lines: list[str], first: int, comments: Sequence[RewordComments]) -> int:
    """Start the region at comment lines just above it that are to be reworded."""
    wanted = min((c.first for c in comments), default=first)
    while first > wanted and lines[first - 2].lstrip().startswith("#"):
        first -= 1
    return first


def _reword_comments(
    lines: list[str], comments: Sequence[RewordComments], first: int, last: int
) -> list[str]:
    """`lines` with allow wording in the chosen comments turned into deny wording.

    Only the text after `#` changes, so every code position stays where it was.
    """
    wanted = {n for e in comments for n in range(max(e.first, first), min(e.last, last) + 1)}
    out = list(lines)
    if not wanted:
        return out
    segment = iter(lines[first - 1 : last])
    try:
        for tok in tokenize.generate_tokens(lambda: next(segment, "")):
            number = tok.start[0] + first - 1
            if tok.type == tokenize.COMMENT and number in wanted:
                line, col = out[number - 1], tok.start[1]
                out[number - 1] = line[:col] + reword(line[col:])
    except (tokenize.TokenError, SyntaxError):
        return list(lines)
    return out


MAX_NESTING = 2_000  # libcst's native parser overflows the C stack on far deeper nesting


def _region(edits: Sequence[NodeEdit], tree: ast.Module | None, total: int) -> tuple[int, int]:
    """Lines of the top-level statement holding every edit (the whole file without a tree)."""
    if tree is None:
        return 1, max(total, 1)
    lines = [n.lineno for e in edits for n in _nodes_of(e)]
    # the last top-level statement starting at or before the first edit (a binary search:
    # a file with thousands of functions must not cost each fix a walk of all of them)
    index = bisect.bisect_right(tree.body, min(lines), key=_start) - 1
    if index >= 0:
        stmt = tree.body[index]
        start, end = _start(stmt), stmt.end_lineno or stmt.lineno
        if start <= min(lines) and max(lines) <= end:
            if _nesting(stmt) > MAX_NESTING:
                raise FixError("expression nesting too deep for libcst")
            return start, end
    return 1, max(total, 1)


def _start(stmt: ast.stmt) -> int:
    """The statement's first line, its decorators included."""
    return min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])


def _nodes_of(edit: NodeEdit) -> list[ast.stmt | ast.expr]:
    if isinstance(edit, ReplaceStatements):
        return [edit.first, edit.last]
    return [edit.node]


def _nesting(root: ast.AST) -> int:
    """How deep libcst will nest this code: `a and b and c` counts as three levels."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        step = len(node.values) if isinstance(node, ast.BoolOp) else 1
        stack.extend((child, depth + step) for child in ast.iter_child_nodes(node))
    return deepest


DEEP_RECURSION = 20_000


@contextmanager
def _deeper_recursion(limit: int) -> Iterator[None]:
    """Raise the recursion limit for libcst's visitors; put it back afterwards."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def line_replacement(old: str, new: str) -> Fix | None:
    """The smallest whole-line replacement that turns `old` into `new`."""
    a = split_lines(old)
    b = split_lines(new)
    if a == b:
        return None
    top = 0
    while top < min(len(a), len(b)) and a[top] == b[top]:
        top += 1
    bottom = 0
    while bottom < min(len(a), len(b)) - top and a[-1 - bottom] == b[-1 - bottom]:
        bottom += 1
    if top == len(a) - bottom:  # a pure insertion: anchor it on the line above
        top = max(top - 1, 0)
    return Fix(top + 1, len(a) - bottom, "".join(b[top : len(b) - bottom]))


def _char_col(lines: list[str], line: int, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; libcst columns count characters."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _span(node: ast.expr, lines: list[str]) -> tuple[int, int, int, int]:
    return (
        node.lineno,
        _char_col(lines, node.lineno, node.col_offset),
        node.end_lineno or node.lineno,
        _char_col(lines, node.end_lineno or node.lineno, node.end_col_offset or 0),
    )


def _cst_span(pos: CodeRange, offset: int) -> tuple[int, int, int, int]:
    return (pos.start.line + offset, pos.start.column, pos.end.line + offset, pos.end.column)


class _Applier(cst.CSTTransformer):
    """Applies edits to the nodes whose positions match the ast nodes they name."""

    def __init__(
        self, edits: Sequence[NodeEdit], positions, lines: list[str], offset: int = 0
    ) -> None:
        super().__init__()
        self.positions = positions
        self.offset = offset  # the libcst tree starts at file line offset + 1
        self.lines = lines
        self.expr_edits: dict[tuple[int, int, int, int], Edit] = {}
        self.stmt_edits: dict[int, ReplaceStatements] = {}
        self.block_edits: dict[int, HoistFinallyReturn | UnwrapWith] = {}
        for edit in edits:
            if isinstance(edit, ReplaceExpression | RewordMessage):
                self.expr_edits[_span(edit.node, lines)] = edit
            elif isinstance(edit, ReplaceStatements):
                self.stmt_edits[edit.first.lineno] = edit
            else:
                self.block_edits[edit.node.lineno] = edit
        self.pending = len(edits)
        self.done: set[int] = set()

    def _start_line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line + self.offset

    # expressions ---------------------------------------------------------------------
    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode):
        result = super().on_leave(original, updated)
        if isinstance(original, cst.BaseExpression) and original in self.positions:
            edit = self.expr_edits.get(_cst_span(self.positions[original], self.offset))
            if edit is not None and id(edit) not in self.done:
                self.done.add(id(edit))
                self.pending -= 1
                return self._edit_expression(edit, updated)
        return result

    def _edit_expression(self, edit: Edit, node: cst.CSTNode) -> cst.CSTNode:
        if isinstance(edit, ReplaceExpression):
            new = cst.parse_expression(edit.new)
            if isinstance(node, cst.SimpleString) and isinstance(new, cst.SimpleString):
                # keep the file's quote style: "allow" -> "deny", not 'deny'
                quoted = f"{node.prefix}{node.quote}{new.raw_value}{node.quote}"
                return node.with_changes(value=quoted)
            return (  # every expression has parentheses (lpar, rpar) to keep
                new.with_changes(lpar=node.lpar, rpar=node.rpar)
                if isinstance(node, cst.BaseExpression)
                else new
            )
        return _reword_node(node)

    # statements ----------------------------------------------------------------------
    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock):
        return updated.with_changes(body=self._replace_in(original.body, updated.body))

    def leave_Module(self, original: cst.Module, updated: cst.Module):
        return updated.with_changes(body=self._replace_in(original.body, updated.body))

    def _replace_in(self, originals: Sequence[cst.CSTNode], updated: Sequence[cst.CSTNode]):
        out: list[cst.CSTNode] = []
        i = 0
        while i < len(originals):
            line = self._start_line(originals[i])
            block_edit = self.block_edits.get(line)
            if block_edit is not None and id(block_edit) not in self.done:
                if isinstance(block_edit, HoistFinallyReturn):
                    out.extend(_hoist_finally_return(updated[i], block_edit.drop))
                else:
                    out.extend(_unwrap_with(updated[i]))
                self.done.add(id(block_edit))
                self.pending -= 1
                i += 1
                continue
            edit = self.stmt_edits.get(line)
            if edit is None or id(edit) in self.done:
                out.append(updated[i])
                i += 1
                continue
            j = i
            while j + 1 < len(originals) and self._start_line(originals[j]) < edit.last.lineno:
                j += 1
            out.extend(self._statements(edit, originals[i], updated[i : j + 1]))
            self.done.add(id(edit))
            self.pending -= 1
            i = j + 1
        return out

    def _statements(self, edit: ReplaceStatements, first: cst.CSTNode, kept: Sequence[cst.CSTNode]):
        module_config = cst.Module(body=[])
        result: list[cst.CSTNode] = []
        keep_iter = iter(kept)
        for text in edit.new:
            if text == KEEP:
                result.append(next(keep_iter))
                continue
            stmt = cst.parse_statement(text, config=module_config.config_for_parsing)
            if (
                not result
                and isinstance(stmt, cst.SimpleStatementLine)
                and isinstance(first, cst.SimpleStatementLine)
            ):
                # keep the comments that belonged to the replaced line
                stmt = stmt.with_changes(
                    leading_lines=first.leading_lines,
                    trailing_whitespace=first.trailing_whitespace,
                )
            result.append(stmt)
        return result


def _reword_node(node: cst.CSTNode) -> cst.CSTNode:
    if isinstance(node, cst.SimpleString):
        return node.with_changes(value=reword(node.value))
    if isinstance(node, cst.ConcatenatedString):
        return node.with_changes(left=_reword_node(node.left), right=_reword_node(node.right))
    if isinstance(node, cst.FormattedString):
        parts = [
            p.with_changes(value=reword(p.value)) if isinstance(p, cst.FormattedStringText) else p
            for p in node.parts
        ]
        return node.with_changes(parts=parts)
    return node


def _hoist_finally_return(node: cst.CSTNode, drop: bool) -> list[cst.CSTNode]:
    """Move a `finally` that only returns out of the try, so errors propagate again."""
    if not isinstance(node, cst.Try) or node.finalbody is None:
        raise FixError("try has no finally")
    final_body = node.finalbody.body
    body = final_body.body if isinstance(final_body, cst.IndentedBlock) else ()
    if len(body) != 1:
        raise FixError("finally does more than return")
    returned = [] if drop else [body[0]]
    if node.handlers:
        return [node.with_changes(finalbody=None), *returned]
    inner = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    first = inner[0].with_changes(leading_lines=node.leading_lines) if inner else None
    return [*([first] if first else []), *inner[1:], *returned]


def _unwrap_with(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The body of a single-item `with`, in its place, keeping the comments above it."""
    if not isinstance(node, cst.With) or len(node.items) != 1:
        raise FixError("not a single-item with statement")
    if not isinstance(node.body, cst.IndentedBlock):
        raise FixError("with body on the same line")
    inner: list[cst.CSTNode] = list(node.body.body)
    first = node.body.body[0]
    if not isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement):
        raise FixError("not a statement")  # unreachable: every statement is one of the two
    inner[0] = first.with_changes(leading_lines=[*node.leading_lines, *first.leading_lines])
    return inner
