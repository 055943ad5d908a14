"""The functions and modules the rules look at: `FunctionInfo` (a function with what the
analyzer decided about it, computed on first use) and `ModuleInfo` (module-wide facts).

Everything here reads the stdlib `ast`, which is fast enough to run on every file; libcst
is only used later, to build fixes (see `analyzers.fixes`).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from failclosed.analyzers.denials import denies_by_raising
from failclosed.analyzers.flow import FunctionFlow, is_exit_call
from failclosed.analyzers.model import split_lines
from failclosed.analyzers.polarity import Polarity, caller_votes, is_middleware, polarity_of
from failclosed.analyzers.settings import Config
from failclosed.analyzers.syntax import (
    FunctionNode,
    block_items,
    call_name,
    dotted_name,
    own_nodes,
    own_statements,
)
from failclosed.analyzers.vocabulary import (
    DENIAL_LIST,
    IF_CALL,
    MAX_NAME,
    SECURITY_CONTEXT,
    TEST_DOUBLE,
)


@dataclass
class FunctionInfo:
    """A function with what the analyzer decided about it.

    Cheap facts (name-based) are decided up front; facts that need a walk of the body are
    computed on first use, so the many functions no rule looks at cost almost nothing.
    """

    node: FunctionNode
    qualname: str
    class_node: ast.ClassDef | None
    test_double: bool
    config: Config
    module: ModuleInfo | None = None

    @cached_property
    def polarity(self) -> Polarity | None:
        """ "allow" or "deny" for a permission check by name, class, config or evidence."""
        return polarity_of(
            self.node, self.class_node, self.config, self._callers, self._tested, self.statements
        )

    @cached_property
    def polarity_from_callers(self) -> bool:
        """Only what callers do with the answer makes this a check: an inference."""
        return (
            self.polarity is not None
            and polarity_of(self.node, self.class_node, self.config, statements=self.statements)
            is None
        )

    def _tested(self) -> set[str]:
        """Names of functions the module calls right in an `if` test (one regex pass)."""
        if self.module is None:
            return set()
        memo = self.module.memo
        if "tested" not in memo:
            memo["tested"] = set(IF_CALL.findall(self.module.source))
        return memo["tested"]  # type: ignore[return-value]

    def _callers(self) -> dict[str, Counter[Polarity]]:
        if self.module is None:
            return {}
        memo = self.module.memo
        if "callers" not in memo:
            memo["callers"] = caller_votes(self.module.tree)
        return memo["callers"]  # type: ignore[return-value]

    @cached_property
    def collects_denials(self) -> bool:
        """It answers with the problems it found (`security_errors`, `find_violations`):
        an empty answer means "nothing to block"."""
        name = self.node.name[:MAX_NAME]
        returns = ast.unparse(self.node.returns) if self.node.returns else ""
        if not DENIAL_LIST.search(name) and not DENIAL_LIST.search(returns):
            return False
        context = " ".join([name, returns, self.class_node.name if self.class_node else ""])
        return bool(SECURITY_CONTEXT.search(context.replace("_", " ")))

    @cached_property
    def middleware(self) -> bool:
        """Takes `call_next`/`get_response`, or is `dispatch`/`__call__` of a middleware."""
        return is_middleware(self.node, self.class_node)

    @cached_property
    def nodes(self) -> list[ast.AST]:
        """`own_nodes` of the function, walked once for every rule that asks."""
        return list(own_nodes(self.node))

    @cached_property
    def statements(self) -> list[ast.AST]:
        """The function's own statements and except handlers, nested blocks included."""
        return list(own_statements(self.node))

    @cached_property
    def tries(self) -> list[ast.Try]:
        """The function's own `try` statements (`try/except*` too, read alike), once."""
        return [n for n in self.statements if isinstance(n, ast.Try | ast.TryStar)]  # type: ignore[misc]

    @cached_property
    def flow(self) -> FunctionFlow:
        """The function's `FunctionFlow` (`analyzers.flow`), indexed once for every rule."""
        return FunctionFlow(self.node)

    @cached_property
    def guard(self) -> bool:
        """Denies by raising or by answering 401/403: returning normally is the allow."""
        return denies_by_raising(self.statements)

    @cached_property
    def returns_bool(self) -> bool:
        """Answers with `return True/False` somewhere: a predicate, not a guard."""
        return any(
            isinstance(n, ast.Return)
            and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, bool)
            for n in self.statements
        )

    @property
    def pure_guard(self) -> bool:
        """Denies by raising and never answers with a bool: returning at all is the allow."""
        return self.guard and not self.returns_bool and not self.middleware


@dataclass
class ModuleInfo:
    """Module-wide facts rules need: source lines, enum members in use, the config."""

    tree: ast.Module
    lines: list[str]
    path: str
    config: Config
    source: str = ""
    members: dict[str, set[str]] = field(default_factory=dict)
    memo: dict[str, object] = field(default_factory=dict)  # per-module facts rules compute once

    def file_matches(self, pattern: re.Pattern[str]) -> bool:
        """Does the whole file match `pattern`? Searched once per file and pattern."""
        key = f"matches:{pattern.pattern}"
        if key not in self.memo:
            self.memo[key] = pattern.search(self.source) is not None
        return bool(self.memo[key])

    def segment(self, node: ast.AST) -> str:
        """Source text of `node`'s lines (whole lines; cheap, no tokenizing)."""
        start = getattr(node, "lineno", 1)
        end = getattr(node, "end_lineno", start) or start
        return "".join(self.lines[start - 1 : end])


def module_info(tree: ast.Module, source: str, path: str, config: Config) -> ModuleInfo:
    """Collect the facts rules share about a module."""
    return ModuleInfo(tree, split_lines(source), path, config, source)


def never_returning(info: ModuleInfo) -> set[str]:
    """The module's functions (`die`) and methods (`Resource.unauthorized_result`) that
    never return to their caller: annotated `NoReturn`/`Never`, or with no `return` and a
    body that ends by raising (not `NotImplementedError`: a subclass overrides it). Found
    once per module; see `calls_never_returning` for how a call is matched."""
    key = "never_returning"
    if key not in info.memo:
        found: set[str] = set()
        for node in info.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _never_returns(node):
                found.add(node.name)
            elif isinstance(node, ast.ClassDef):
                found.update(
                    f"{node.name}.{item.name}"
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and _never_returns(item)
                )
        info.memo[key] = found
    return info.memo[key]  # type: ignore[return-value]


def calls_never_returning(call: ast.Call, fn: FunctionInfo, info: ModuleInfo) -> bool:
    """`die(...)` of a module function, or `self.refuse(...)` of a method of `fn`'s own
    class, that never returns."""
    enders = never_returning(info)
    if not enders:
        return False
    if isinstance(call.func, ast.Name):
        return call.func.id in enders
    return (
        isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in ("self", "cls")
        and fn.class_node is not None
        and f"{fn.class_node.name}.{call.func.attr}" in enders
    )


def _never_returns(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if node.returns is not None and ast.unparse(node.returns).rsplit(".", 1)[-1] in (
        "NoReturn",
        "Never",
    ):
        return any(isinstance(n, ast.Raise) or is_exit_call(n) for n in own_nodes(node))
    last = node.body[-1]
    if not isinstance(last, ast.Raise) or last.exc is None:
        return False
    if call_name(last.exc) == "NotImplementedError":
        return False
    return not any(isinstance(n, ast.Return | ast.Yield | ast.YieldFrom) for n in own_nodes(node))


def enum_members(info: ModuleInfo) -> dict[str, set[str]]:
    """`Decision` -> {"ALLOW", "DENY"}: members defined in classes or used as `X.MEMBER`."""
    if info.members:
        return info.members
    members: dict[str, set[str]] = {}
    for node in ast.walk(info.tree):
        if isinstance(node, ast.Attribute) and node.attr.isupper():
            base = dotted_name(node.value)
            if base:
                members.setdefault(base.rsplit(".", 1)[-1], set()).add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                if isinstance(stmt, ast.AnnAssign):
                    targets = [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        members.setdefault(node.name, set()).add(target.id)
    info.members = members
    return members


MODULE = "<module>"


def module_function(tree: ast.Module) -> FunctionNode | None:
    """The module's own top-level code as a pseudo-function (None for an empty module).

    Hook scripts often do their work at module level (`try: ... except: sys.exit(0)`), and
    settings modules read their secrets there.
    """
    if not tree.body:
        return None
    last = tree.body[-1]
    node = ast.FunctionDef(
        name=MODULE,
        args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=tree.body,
        decorator_list=[],
        returns=None,
        type_comment=None,
    )
    node.lineno, node.col_offset = tree.body[0].lineno, 0
    node.end_lineno, node.end_col_offset = last.end_lineno, last.end_col_offset
    return node


def iter_functions(info: ModuleInfo) -> Iterator[FunctionInfo]:
    """Every function and method, with its qualified name and classification.

    The module's top-level code comes first, as the pseudo-function `<module>`.
    """
    top = module_function(info.tree)
    if top is not None:
        yield classify(top, MODULE, None, False, info.config, info)
    stack: list[tuple[ast.AST, str, ast.ClassDef | None, bool]] = [(info.tree, "", None, False)]
    while stack:
        parent, prefix, cls, double = stack.pop()
        for child in block_items(parent):
            if isinstance(child, ast.ClassDef):
                is_double = double or bool(TEST_DOUBLE.match(child.name))
                stack.append((child, f"{prefix}{child.name}.", child, is_double))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield classify(child, f"{prefix}{child.name}", cls, double, info.config, info)
                stack.append((child, f"{prefix}{child.name}.", None, double))
            else:
                stack.append((child, prefix, cls, double))


def classify(
    node: FunctionNode,
    qualname: str,
    cls: ast.ClassDef | None,
    double: bool,
    config: Config,
    module: ModuleInfo | None = None,
) -> FunctionInfo:
    """A function as the rules see it; its facts are decided when first asked for."""
    is_double = double or node.name.startswith("test_")
    return FunctionInfo(node, qualname, cls, is_double, config, module)


def functions_by_qualname(info: ModuleInfo) -> dict[str, FunctionInfo]:
    """Every function of the module by qualified name, for following same-module calls."""
    if "functions" not in info.memo:
        info.memo["functions"] = {fn.qualname: fn for fn in iter_functions(info)}
    return info.memo["functions"]  # type: ignore[return-value]


def resolve_call(call: ast.Call, caller: FunctionInfo, info: ModuleInfo) -> FunctionInfo | None:
    """The same-module function `helper(...)` or `self.helper(...)` calls, if there is one."""
    functions = functions_by_qualname(info)
    if isinstance(call.func, ast.Name):
        return functions.get(call.func.id)
    if (
        isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in ("self", "cls")
        and "." in caller.qualname
    ):
        owner = caller.qualname.rsplit(".", 1)[0]
        return functions.get(f"{owner}.{call.func.attr}")
    return None
