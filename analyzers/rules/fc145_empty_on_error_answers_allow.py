"""FC145: a handler empties what the check reads, and the code after it answers "allowed"."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag
from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.flow import FunctionFlow
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import append_to_handler, caught, failing_call, tries
from failclosed.analyzers.syntax import call_name, dotted_name

# A function's own account that an empty answer passes: "empty means clean".
EMPTY_MEANS_CLEAN = re.compile(
    r"(?i)(empty|no (items|entries))( list| result| answer)? (means|=|is|==) "
    r"(clean|ok|safe|passed|pass|allowed|no (findings|issues|problems|violations|errors))"
)
UNKNOWN = object()  # a value the straight-line reading cannot know
LOG_CALLS = ("log", "logger", "logging", "print", "warn", "console", "_log", "LOG", "LOGGER")
LOG_METHODS = ("debug", "info", "warning", "warn", "error", "exception", "critical")
EMPTY_FACTORIES: dict[str, object] = {
    "dict": {},
    "list": [],
    "set": set(),
    "tuple": (),
    "frozenset": frozenset(),
}


class EmptyOnErrorAnswersAllow(Rule):
    """
    ## What it does
    Reads, statement by statement, what a permission check does after an `except` handler
    that only logs and sets what the check reads to an empty value (`policy = {}`,
    `denied = []`, `rules = None`). When the check's answer on that path is *allowed*, the
    handler is flagged: `denied = policy.get("deny", [])` is empty, so `tool not in denied`
    is `True`.

    ## Why is this bad?
    An empty policy, deny list or set of rules means "nothing forbids it". Setting it on a
    load error turns a broken or unreachable policy into "everything is allowed" (CWE-636).

    ## Example
    ```python
    def tool_allowed(tool, session) -> bool:
        try:
            policy = load_policy(session.policy_path)
        except (OSError, ValueError):
            log.warning("policy unreadable, using defaults")
            policy = {}
        return tool not in policy.get("deny", [])
    ```

    ## Use instead
    ```python
        except (OSError, ValueError):
            log.warning("policy unreadable, using defaults")
            raise
    ```

    ## Fix safety
    The fix re-raises from the handler: the check fails instead of answering. Callers that
    must answer anyway should catch the error and deny.
    """

    code = "FC145"
    name = "empty-on-error-answers-allow"
    severity = "error"
    summary = "A handler empties what a check reads, and the check then answers allowed."
    fix_safety = "The handler re-raises: the check fails instead of allowing."
    trigger = ("except",)
    fallback = True  # a path another rule reported is reported once

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        collects = fn.polarity is None and _answers_problems(fn)
        if fn.polarity is None and not collects:
            return
        allow = fn.polarity == "allow"
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                emptied = _emptied(handler)
                if not emptied:
                    continue
                flow = fn.flow
                answer = _answer_after(flow, node, emptied)
                if not (_no_problems(answer) if collects else answer is allow):
                    continue
                names = ", ".join(f"`{name}`" for name in emptied)
                yield Hit(
                    node=handler,
                    message=(
                        f"`{fn.qualname}` sets {names} empty when {failing_call(node)} raises "
                        f"{caught(handler)}, and then answers `{answer!r}` "
                        f"({'nothing found' if collects else 'allowed'}): a check that "
                        "cannot read what it checks lets everything through."
                    ),
                    edits=[append_to_handler(handler, "raise")],
                    key_nodes=[handler],
                )


def _answers_problems(fn: FunctionInfo) -> bool:
    """It answers with the problems it found, so an empty answer passes: by name and type
    (`find_violations`), or by its own account ("empty means clean")."""
    doc = ast.get_docstring(fn.node) if not isinstance(fn.node, ast.Module) else None
    return fn.collects_denials or bool(doc and EMPTY_MEANS_CLEAN.search(doc))


def _no_problems(answer: object) -> bool:
    return isinstance(answer, list | tuple | set | frozenset) and not answer


def _emptied(handler: ast.ExceptHandler) -> dict[str, object]:
    """The names a handler that only logs sets to empty values; {} for any other handler."""
    found: dict[str, object] = {}
    for stmt in handler.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            if _logs(stmt.value):
                continue
            return {}
        if isinstance(stmt, ast.Pass):
            continue
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            return {}
        target = stmt.targets[0]
        value = _evaluate(stmt.value, {})
        if not isinstance(target, ast.Name) or value is UNKNOWN or value:
            return {}
        found[target.id] = value
    return found


def _logs(call: ast.Call) -> bool:
    """`log.warning(...)`, `logger.exception(...)`, `print(...)`: the handler only reports."""
    name = dotted_name(call.func) or ""
    return name.split(".")[0] in LOG_CALLS or name.rsplit(".", 1)[-1] in LOG_METHODS


def _answer_after(flow: FunctionFlow, node: ast.Try, env: dict[str, object]) -> object:
    """What the function returns after `node` with `env` known, read straight down its block."""
    place = flow.places.get(id(node))
    if place is None or place.owner is not flow.fn:
        return UNKNOWN  # only a try at the top level of the function: no enclosing loop
    env = dict(env)
    for stmt in place.block[place.index + 1 :]:
        if isinstance(stmt, ast.Return):
            return _evaluate(stmt.value, env) if stmt.value is not None else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if not isinstance(target, ast.Name):
                return UNKNOWN
            env[target.id] = _evaluate(stmt.value, env)
        elif isinstance(stmt, ast.Expr):
            continue  # a log call
        elif isinstance(stmt, ast.If):
            taken = _evaluate(stmt.test, env)
            if taken is UNKNOWN:
                return UNKNOWN
            branch = stmt.body if taken else stmt.orelse
            if branch:
                last = branch[-1]
                if isinstance(last, ast.Return) and last.value is not None:
                    return _evaluate(last.value, env)
                return UNKNOWN
        else:
            return UNKNOWN
    return UNKNOWN


def _evaluate(expr: ast.expr, env: dict[str, object]) -> object:
    """The value of `expr` when it follows from constants, empty collections and `env`."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Name):
        return env.get(expr.id, UNKNOWN)
    if isinstance(expr, ast.List | ast.Tuple | ast.Set) and not expr.elts:
        return [] if isinstance(expr, ast.List) else () if isinstance(expr, ast.Tuple) else set()
    if isinstance(expr, ast.Dict) and not expr.keys:
        return {}
    if isinstance(expr, ast.Call):
        return _call(expr, env)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        inner = _evaluate(expr.operand, env)
        return UNKNOWN if inner is UNKNOWN else not inner
    if isinstance(expr, ast.BoolOp):
        return _bool_op(expr, env)
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1:
        return _compare(expr, env)
    return UNKNOWN


def _call(call: ast.Call, env: dict[str, object]) -> object:
    name = call_name(call)
    if name in EMPTY_FACTORIES and not call.args and not call.keywords:
        return EMPTY_FACTORIES[name]
    if name in ("len", "bool", "any", "all") and len(call.args) == 1:
        inner = _empty_source(call.args[0], env)
        if inner is UNKNOWN:
            return UNKNOWN
        return {"len": 0, "bool": False, "any": False, "all": True}[name]
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "get" and call.args:
        owner = _evaluate(func.value, env)
        if owner in ({}, None) and owner is not UNKNOWN and isinstance(owner, dict):
            return _evaluate(call.args[1], env) if len(call.args) > 1 else None
    return UNKNOWN


def _empty_source(expr: ast.expr, env: dict[str, object]) -> object:
    """An empty collection `expr` is, or iterates over (`x for x in denied`)."""
    if isinstance(expr, ast.GeneratorExp | ast.ListComp | ast.SetComp):
        expr = expr.generators[0].iter
    value = _evaluate(expr, env)
    if isinstance(value, list | tuple | set | frozenset | dict) and not value:
        return value
    return UNKNOWN


def _bool_op(expr: ast.BoolOp, env: dict[str, object]) -> object:
    values = [_evaluate(v, env) for v in expr.values]
    is_and = isinstance(expr.op, ast.And)
    for value in values:
        if value is UNKNOWN:
            return UNKNOWN
        if bool(value) is not is_and:
            return value  # `a or b`: the first truthy; `a and b`: the first falsy
    return values[-1]


def _compare(expr: ast.Compare, env: dict[str, object]) -> object:
    op = expr.ops[0]
    right = _evaluate(expr.comparators[0], env)
    if isinstance(op, ast.In | ast.NotIn):
        if isinstance(right, list | tuple | set | frozenset | dict) and not right:
            return isinstance(op, ast.NotIn)  # nothing is in an empty collection
        return UNKNOWN
    left = _evaluate(expr.left, env)
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if isinstance(op, ast.Is | ast.IsNot):
        return (left is right) is isinstance(op, ast.Is)
    try:
        compare = {
            ast.Eq: lambda a, b: a == b,
            ast.NotEq: lambda a, b: a != b,
            ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b,
            ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b,
        }[type(op)]
        return bool(compare(left, right))
    except (KeyError, TypeError):
        return UNKNOWN


EmptyOnErrorAnswersAllow.INVALID = [
    Invalid(
        """\
def tool_allowed(tool, session) -> bool:
    try:
        policy = load_policy(session.policy_path)
    except (OSError, ValueError):
        log.warning("policy unreadable, using defaults")
        policy = {}
    denied = policy.get("deny", [])
    return tool not in denied
""",
        line=4,
        fixed="""\
def tool_allowed(tool, session) -> bool:
    try:
        policy = load_policy(session.policy_path)
    except (OSError, ValueError):
        log.warning("policy unreadable, using defaults")
        policy = {}
        raise
    denied = policy.get("deny", [])
    return tool not in denied
""",
        expected_message=(
            "`tool_allowed` sets `policy` empty when `load_policy()` raises `OSError` or "
            "`ValueError`, and then answers `True` (allowed): a check that cannot read what "
            "it checks lets everything through."
        ),
    ),
    Invalid(
        """\
def is_blocked(ip) -> bool:
    try:
        ranges = fetch_blocklist()
    except ConnectionError:
        ranges = []
    return any(ip in r for r in ranges)
""",
        line=4,
        fixed="""\
def is_blocked(ip) -> bool:
    try:
        ranges = fetch_blocklist()
    except ConnectionError:
        ranges = []
        raise
    return any(ip in r for r in ranges)
""",
        expected_message=(
            "`is_blocked` sets `ranges` empty when `fetch_blocklist()` raises "
            "`ConnectionError`, and then answers `False` (allowed): a check that cannot read "
            "what it checks lets everything through."
        ),
    ),
]

EmptyOnErrorAnswersAllow.VALID = [
    # the empty deny list leads to a refusal: no rules, no access
    """
def tool_allowed(tool, session) -> bool:
    try:
        policy = load_policy(session.policy_path)
    except (OSError, ValueError):
        policy = {}
    allowed = policy.get("allow", [])
    return tool in allowed
""",
    # the answer depends on something the emptied value does not decide
    """
def tool_allowed(tool, session) -> bool:
    try:
        policy = load_policy(session.policy_path)
    except (OSError, ValueError):
        policy = {}
    return session.is_admin(tool, policy)
""",
    # not a permission function
    """
def render_theme(name):
    try:
        theme = load_theme(name)
    except OSError:
        theme = {}
    return theme.get("dark", True)
""",
]

EmptyOnErrorAnswersAllow.INVALID += [
    # a scanner whose range count fails reads as "nothing to scan": no findings, gate passes
    Invalid(
        """\
def secret_scan(repo, base) -> list[str]:
    \"\"\"Leaked secrets in the new commits; an empty list means clean.\"\"\"
    try:
        new_commits = int(git(repo, "rev-list", "--count", f"{base}..HEAD"))
    except (GitError, ValueError):
        new_commits = 0
    if new_commits == 0:
        return []
    return run_scanner(repo, base)
""",
        line=5,
        fixed="""\
def secret_scan(repo, base) -> list[str]:
    \"\"\"Leaked secrets in the new commits; an empty list means clean.\"\"\"
    try:
        new_commits = int(git(repo, "rev-list", "--count", f"{base}..HEAD"))
    except (GitError, ValueError):
        new_commits = 0
        raise
    if new_commits == 0:
        return []
    return run_scanner(repo, base)
""",
        expected_message=(
            "`secret_scan` sets `new_commits` empty when `git()` raises `GitError` or "
            "`ValueError`, and then answers `[]` (nothing found): a check that cannot read "
            "what it checks lets everything through."
        ),
    ),
]

EmptyOnErrorAnswersAllow.VALID += [
    # a list that is not a verdict: nothing says an empty answer passes anything
    """
def recent_tags(repo) -> list[str]:
    try:
        count = int(git(repo, "tag", "--list").count("\\n"))
    except (GitError, ValueError):
        count = 0
    if count == 0:
        return []
    return git(repo, "tag", "--list").split()
""",
]
