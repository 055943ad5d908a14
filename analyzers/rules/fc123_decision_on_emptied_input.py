"""FC123: input that could not be read is replaced by an empty value, and judged as that."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import assigns, caught, is_empty_collection, tries, unawaited
from failclosed.analyzers.syntax import call_name, dotted_name
from failclosed.analyzers.vocabulary import DECISION_WORD

# What a call that judges its input is named like: it decides on what it is given.
JUDGING_CALL = re.compile(
    r"(?i)(?<![a-z])(approv\w*|needs?_approval\w*|evaluat\w*|check\w*|verif\w*|validat\w*"
    r"|authori[sz]\w*|polic\w*|guard\w*|moderat\w*|scan\w*|classif\w*|judge\w*|enforce\w*"
    r"|decide\w*|is_(allowed|permitted|safe|blocked))"
)
# What an empty value denies rather than approves: no roles, no scopes, no grants.
GRANTS = re.compile(
    r"(?i)(roles?|scopes?|permissions?|perms|groups?|grants?|privileges?|claims|entitlements?"
    r"|allow\w*|capabilit\w*)$"
)


class DecisionOnEmptiedInput(Rule):
    """
    ## What it does
    Flags a permission decision that, when the input it judges cannot be read (a JSON
    parse error, a malformed payload), replaces that input with an empty value — `{}`,
    `[]`, `""` — and passes it on to the check whose answer the function returns.

    ## Why is this bad?
    A check that looks at the arguments of a tool call, the fields of a request or the
    lines of a document finds nothing to refuse in an empty one. The unreadable input, the
    very one nobody could inspect, is then approved (CWE-636). If you can't verify it's
    safe, it isn't.

    ## Example
    ```python
    async def needs_approval(tool, call) -> bool:
        try:
            args = json.loads(call.arguments)
        except json.JSONDecodeError:
            args = {}
        return await tool.approval_policy(args)
    ```

    ## Use instead
    ```python
        except json.JSONDecodeError:
            raise
    ```

    ## Fix safety
    The fix re-raises the error instead of judging an empty input, so the caller's own
    error handling decides, as for any other failure. Where the caller should get an
    explicit answer instead (require approval, deny), return it by hand.
    """

    code = "FC123"
    name = "decision-on-emptied-input"
    severity = "warning"
    summary = "Input that could not be read is replaced by an empty value and judged as that."
    fix_safety = "The error propagates instead of an empty input being judged."
    # the handler empties a name: `= {}`, `= []`, `= ""`, `= dict()`
    trigger = ("= {}", "= []", '= ""', "= ''", "= dict()", "= list()", "= set()", "= str()")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if fn.polarity is None and not DECISION_WORD.search(fn.node.name):
            return
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                for stmt in handler.body:
                    name = _emptied_name(stmt, node)
                    judge = _judged_and_answered(fn, name, node) if name else None
                    if judge is None:
                        continue
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` sets `{ast.unparse(stmt)}` when reading it raises "
                            f"{caught(handler)}, and returns what `{call_name(judge)}()` "
                            "makes of it: an empty input has nothing to refuse, so input "
                            "nobody could read is approved."
                        ),
                        edits=[ReplaceStatements(stmt, stmt, ("raise",))],
                        key_nodes=[handler, judge],
                    )


def _emptied_name(stmt: ast.stmt, node: ast.Try) -> str | None:
    """`args = {}` in the handler, for a name the try body set: the input, emptied."""
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and _is_empty(stmt.value)
    ):
        return None
    name = stmt.targets[0].id
    if GRANTS.search(name):
        return None  # judging no roles denies: emptying them is fail-closed
    return name if assigns(node.body, name) else None


def _is_empty(value: ast.expr) -> bool:
    """An empty collection, `""` or `str()`: input with nothing in it to refuse."""
    if is_empty_collection(value):
        return True
    if isinstance(value, ast.Constant):
        return value.value == ""
    return isinstance(value, ast.Call) and dotted_name(value.func) == "str" and not value.args


def _judged_and_answered(fn: FunctionInfo, name: str, node: ast.Try) -> ast.Call | None:
    """After the try, a judging call takes `name` and its answer is what `fn` returns
    (`return check(args)`, or `verdict = check(args)` ... `return bool(verdict)`)."""
    end = node.end_lineno or node.lineno
    later = [s for s in fn.statements if isinstance(s, ast.stmt) and s.lineno > end]
    for stmt in later:
        if not isinstance(stmt, ast.Return | ast.Assign):
            continue
        call = unawaited(stmt.value)
        if not (isinstance(call, ast.Call) and _judges(call) and _takes(call, name)):
            continue
        if isinstance(stmt, ast.Return):
            return call
        targets = {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        if any(_returns_one_of(s, targets) for s in later if s.lineno > stmt.lineno):
            return call
    return None


def _judges(call: ast.Call) -> bool:
    return JUDGING_CALL.search(dotted_name(call.func) or call_name(call)) is not None


def _takes(call: ast.Call, name: str) -> bool:
    args = [*call.args, *(k.value for k in call.keywords)]
    return any(isinstance(a, ast.Name) and a.id == name for a in args)


def _returns_one_of(stmt: ast.stmt, names: set[str]) -> bool:
    """`return verdict`, `return bool(verdict)`, `return not verdict.flagged`."""
    if not isinstance(stmt, ast.Return) or stmt.value is None:
        return False
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(stmt.value))


DecisionOnEmptiedInput.VALID = [
    # the unreadable input is refused
    """
async def needs_approval(tool, call) -> bool:
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        return True
    return await tool.approval_policy(args)
""",
    # an empty default for display, not judged
    """
def render_approval(call) -> str:
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        args = {}
    return template.render(args=args)
""",
    # the judged value is not the one that was emptied
    """
def is_allowed(request) -> bool:
    try:
        extra = json.loads(request.headers["x-extra"])
    except (KeyError, ValueError):
        extra = {}
    log.debug("extra=%s", extra)
    return policy.check(request.user, request.path)
""",
    # no roles could be read: judging no roles denies
    """
def can_edit(user, doc) -> bool:
    try:
        roles = directory.roles(user)
    except LookupError:
        roles = []
    return check_roles(roles, doc)
""",
]

DecisionOnEmptiedInput.INVALID = [
    Invalid(
        """\
async def needs_approval(tool, call) -> bool:
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        args = {}
    return await tool.approval_policy(args)
""",
        line=5,
        fixed="""\
async def needs_approval(tool, call) -> bool:
    try:
        args = json.loads(call.arguments)
    except json.JSONDecodeError:
        raise
    return await tool.approval_policy(args)
""",
        expected_message=(
            "`needs_approval` sets `args = {}` when reading it raises `JSONDecodeError`, and "
            "returns what `approval_policy()` makes of it: an empty input has nothing to "
            "refuse, so input nobody could read is approved."
        ),
    ),
    Invalid(
        """\
def is_safe_document(raw) -> bool:
    try:
        lines = parse_document(raw)
    except ParseError:
        lines = []
    verdict = moderation.scan(lines)
    return not verdict.flagged
""",
        line=5,
        fixed="""\
def is_safe_document(raw) -> bool:
    try:
        lines = parse_document(raw)
    except ParseError:
        raise
    verdict = moderation.scan(lines)
    return not verdict.flagged
""",
        expected_message=(
            "`is_safe_document` sets `lines = []` when reading it raises `ParseError`, and "
            "returns what `scan()` makes of it: an empty input has nothing to refuse, so "
            "input nobody could read is approved."
        ),
    ),
]
