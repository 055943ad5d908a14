"""FC141: what a check needs failed to load, and the check is skipped without it."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.denials import body_denies, catches_failures
from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    caught,
    emptied_name,
    refuses_somewhere,
)
from failclosed.analyzers.syntax import own_nodes

REFUSAL = "{name} did not load: refusing"


class CheckSkippedWhenLoadFailed(Rule):
    """
    ## What it does
    Flags a module-level name that an `except` handler sets to `None` (or empty) when
    loading it fails — a policy index, a rule set, a key list — and a function that runs
    its deny check only `if NAME is not None:`, with nothing that refuses on the other path.

    ## Why is this bad?
    `None` here means "the load failed", and the check reads it as "nothing to check": the
    failure of the thing that enforces the policy switches the policy off (CWE-636). A
    missing policy must refuse, not wave everything through.

    ## Example
    ```python
    POLICY_INDEX = None

    def main():
        global POLICY_INDEX
        try:
            POLICY_INDEX = load_policy_index()
        except Exception as e:
            logger.warning("policy index failed to load: %s", e)
            POLICY_INDEX = None

    def call_tool(request):
        if POLICY_INDEX is not None:
            if POLICY_INDEX.denies(request):
                raise PermissionError(request)
        return run(request)
    ```

    ## Use instead
    ```python
    def call_tool(request):
        if POLICY_INDEX is None:
            raise PermissionError("the security policy failed to load")
        if POLICY_INDEX.denies(request):
            raise PermissionError(request)
    ```

    ## Fix safety
    The fix refuses (`PermissionError`) before the check when the name is missing, so
    every request is refused until the load succeeds. Stopping the service when the load
    fails is the other fail-closed choice.
    """

    code = "FC141"
    name = "check-skipped-when-load-failed"
    severity = "warning"
    summary = "What a check needs failed to load, and the check is skipped without it."
    fix_safety = "Requests are refused while the check's data is missing."
    trigger = ("is not None", "if ", "except")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        top = _top_names(info)
        candidates = [
            (node, name)
            for node in fn.statements
            if isinstance(node, ast.If) and (name := _present_global(node.test)) in top
        ]
        if not candidates:
            return
        markers = _failure_markers(info)
        for node, name in candidates:
            if name not in markers or not refuses_somewhere(node.body):
                continue
            if (node.orelse and _refuses_first(node.orelse)) or _refused_when_missing(fn, name):
                continue
            handler, assign, owner = markers[name]
            refusal = (
                f'if {name} is None:\n    raise PermissionError("{REFUSAL.format(name=name)}")\n'
            )
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` runs its check only when `{name}` is loaded, and "
                    f"`{owner}` sets `{name}` to `{ast.unparse(assign.value)}` (line "
                    f"{assign.lineno}) when loading it raises {caught(handler)}: a failed load "
                    "switches the check off."
                ),
                edits=[ReplaceStatements(node, node, (refusal, KEEP))],
                key_nodes=[node.test],
            )


def _refused_when_missing(fn: FunctionInfo, name: str) -> bool:
    """`if NAME is None: raise ...` somewhere in the function: the missing load refuses."""
    for node in fn.statements:
        if not isinstance(node, ast.If) or not _refuses_first(node.body):
            continue
        test = node.test
        missing = (
            isinstance(test, ast.Compare)
            and isinstance(test.ops[0], ast.Is)
            and isinstance(test.left, ast.Name)
            and test.left.id == name
        ) or (
            isinstance(test, ast.UnaryOp)
            and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.Name)
            and test.operand.id == name
        )
        if missing:
            return True
    return False


def _failure_markers(info: ModuleInfo) -> dict[str, tuple[ast.ExceptHandler, ast.Assign, str]]:
    """Module-level names an `except` handler sets to None or empty:
    {"POLICY_INDEX": (handler, the assignment, the function holding it)}. A handler in a
    function counts when the function declares the name `global`."""
    key = "fc141:markers"
    if key not in info.memo:
        top = _top_names(info)
        markers: dict[str, tuple[ast.ExceptHandler, ast.Assign, str]] = {}
        for owner, scope in _scopes_with_handlers(info):
            declared = top if owner == "<module>" else _globals(scope) & top
            if not declared:
                continue
            for node in own_nodes(scope):
                if not isinstance(node, ast.Try | ast.TryStar):
                    continue
                for handler in node.handlers:
                    if not catches_failures(handler, node):
                        continue
                    for stmt in handler.body:
                        name = emptied_name(stmt, none_too=True)
                        if name is not None and name in declared and isinstance(stmt, ast.Assign):
                            markers.setdefault(name, (handler, stmt, owner))
        info.memo[key] = markers
    return info.memo[key]  # type: ignore[return-value]


def _top_names(info: ModuleInfo) -> set[str | None]:
    """Names the module assigns at its top level (memoized)."""
    key = "fc141:top"
    if key not in info.memo:
        info.memo[key] = _module_names(info.tree)
    return info.memo[key]  # type: ignore[return-value]


def _module_names(tree: ast.Module) -> set[str | None]:
    names: set[str | None] = set()
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _scopes_with_handlers(info: ModuleInfo) -> Iterator[tuple[str, ast.AST]]:
    """The module and every function that declares a `global` (the only places a handler
    can set a module-level name)."""
    yield "<module>", info.tree
    if "global " not in info.source:
        return
    for node in ast.walk(info.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            isinstance(stmt, ast.Global) for stmt in own_nodes(node)
        ):
            yield node.name, node


def _globals(scope: ast.AST) -> set[str]:
    return {name for n in own_nodes(scope) if isinstance(n, ast.Global) for name in n.names}


def _present_global(test: ast.expr) -> str | None:
    """`NAME is not None` or `NAME`: the check runs only when the name is loaded."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.IsNot)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test.left.id
    return test.id if isinstance(test, ast.Name) else None


def _refuses_first(body: list[ast.stmt]) -> bool:
    """The other path refuses whatever else holds: its first statement raises or denies."""
    first = body[0]
    return isinstance(first, ast.Raise) or (body_denies([first]) and not isinstance(first, ast.If))


CheckSkippedWhenLoadFailed.VALID = [
    # the missing index refuses
    """
POLICY_INDEX = None

def main():
    global POLICY_INDEX
    try:
        POLICY_INDEX = load_policy_index()
    except Exception:
        POLICY_INDEX = None

def call_tool(request):
    if POLICY_INDEX is not None:
        if POLICY_INDEX.denies(request):
            raise PermissionError(request)
    else:
        raise PermissionError("the security policy failed to load")
    return run(request)
""",
    # an optional dependency: None means "not installed", not "failed"
    """
yaml = None
try:
    import yaml
except ImportError:
    yaml = None

def load(text):
    if yaml is not None:
        if not text:
            raise ValueError("empty")
        return yaml.safe_load(text)
    return json.loads(text)
""",
]

CheckSkippedWhenLoadFailed.INVALID = [
    Invalid(
        """\
POLICY_INDEX = None

def main():
    global POLICY_INDEX
    try:
        POLICY_INDEX = load_policy_index()
    except Exception as e:
        logger.warning("policy index failed to load: %s", e)
        POLICY_INDEX = None

def call_tool(request):
    if POLICY_INDEX is not None:
        if POLICY_INDEX.denies(request):
            raise PermissionError(request)
    return run(request)
""",
        line=12,
        fixed="""\
POLICY_INDEX = None

def main():
    global POLICY_INDEX
    try:
        POLICY_INDEX = load_policy_index()
    except Exception as e:
        logger.warning("policy index failed to load: %s", e)
        POLICY_INDEX = None

def call_tool(request):
    if POLICY_INDEX is None:
        raise PermissionError("POLICY_INDEX did not load: refusing")
    if POLICY_INDEX is not None:
        if POLICY_INDEX.denies(request):
            raise PermissionError(request)
    return run(request)
""",
        expected_message=(
            "`call_tool` runs its check only when `POLICY_INDEX` is loaded, and `main` sets "
            "`POLICY_INDEX` to `None` (line 9) when loading it raises any error: a failed "
            "load switches the check off."
        ),
    ),
]
