"""FC117: in a loop over checks, one check that raises is skipped and the verdict stays allow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import (
    AllowValue,
    allow_value,
    gated_by_fail_open_flag,
    under_fail_open_flag,
)
from failclosed.analyzers.denials import catches_failures, is_deny_raise
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceStatements
from failclosed.analyzers.flow import LOOPS, FunctionFlow
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    absent_subject,
    append_to_handler,
    caught,
    reword_edits,
)
from failclosed.analyzers.syntax import call_name, dotted_name, handler_types, own_nodes
from failclosed.analyzers.vocabulary import ALLOW_KEYS, DECISION_WORD, DENIAL_LIST, DENY_EXCEPTION

# What a loop runs when each item decides: a policy, a guard, a validator of requests...
DECIDERS = re.compile(
    r"(?i)polic(y|ies)|guard|validator|evaluator|enforc|authori[sz]|voter|checker|permission"
    r"|rules?(?![a-z])|rules?_|judge|approver|verifier"
)
# ... and items that decide only when the module says its chain enforces something.
CARRIERS = re.compile(r"(?i)plugin|middleware|interceptor|extension")
# What a module says when its middlewares or plugins can be the ones that enforce.
ENFORCING_MODULE = re.compile(
    r"(?i)guardrail|polic(y|ies)|permission|authori[sz]|allowlist|denylist|blocklist|access.control"
)
# Calls that only report: a handler made of these (and `pass`/`continue`) skips the check.
REPORTING = re.compile(
    r"(?i)(^|_)(log|logs|logger|logging|warn|warning|warnings|audit|debug|info|error|exception"
    r"|critical|print|emit|metric|metrics|trace|capture_exception|notify|report)(_|$)"
)
REPORTING_OWNER = re.compile(r"(?i)(^|\.)(log|logger|logging|_logger|_log|LOG|LOGGER|warnings)$")
# Boolean accumulators that say "all checks passed" when they start as True.
PASSED_NAMES = ALLOW_KEYS | {
    "ok", "passed", "compliant", "safe", "valid", "is_valid", "approved", "allowed",
    "all_passed", "all_ok", "permitted", "authorized", "authorised", "result", "verdict",
    "decision",
}  # fmt: skip
# Lists whose entries each say "no": an empty one reads as passed.
VIOLATION_NAME = re.compile(
    r"(?i)violat|denial|denied|deny|block|reject|breach|objection|forbid|offen|fail|problem|issue"
)
GROWS = {"append", "add", "extend", "insert", "update", "setdefault", "appendleft"}


class SkippedCheckInLoop(Rule):
    """
    ## What it does
    Flags a loop over checks (policies, guards, guardrails, validators, evaluators, rules,
    or the plugins and middlewares that enforce them) where an exception from one check is
    caught and skipped: the handler only logs, `pass`es or `continue`s. The loop's verdict
    then keeps its allow default: an accumulator that starts as `Decision.ALLOW`, a list of
    violations whose emptiness means "compliant", or a list of guards built without the
    one that failed, so the gate it feeds allows everything.

    ## Why is this bad?
    A check that raised never said yes. Skipping it counts its silence as consent: a broken
    deny policy, a validator that crashes on hostile input, or a guard whose import fails
    each turn "deny" into "allow" for every request (CWE-636).

    ## Example
    ```python
    def evaluate(request, evaluators):
        verdict = Decision.ALLOW
        for evaluator in evaluators:
            try:
                result = evaluator(request)
            except Exception:
                log.warning("evaluator failed, skipped")
                continue
            if result is Decision.DENY:
                verdict = Decision.DENY
        return verdict
    ```

    ## Use instead
    ```python
            except Exception:
                log.warning("evaluator failed, skipped")
                verdict = Decision.DENY
                break
    ```

    ## Fix safety
    Where an accumulator holds the verdict and its deny value is known, the fix sets it to
    deny and leaves the loop; otherwise the handler re-raises, so the caller's own error
    handling decides (and a gate is not built without the check). Log messages that say
    the code allows are reworded. A skip under a named fail-open setting is not reported.
    """

    code = "FC117"
    name = "skipped-check-in-loop"
    severity = "error"
    summary = (
        "A check that raises inside a loop over checks is skipped, and the verdict stays allow."
    )
    fix_safety = "The failed check denies (verdict set to deny) or the error propagates."
    fallback = True
    trigger = ("except", "isinstance", "is None")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        yield from self._unreadable_items_skipped(fn, info)
        for node in fn.statements:
            if not isinstance(node, ast.Try):
                continue
            for handler in node.handlers:
                if not _skips(handler) or not catches_failures(handler, node):
                    continue
                if gated_by_fail_open_flag(handler) or _catches_denial(handler):
                    continue
                flow = fn.flow
                hit = self._skipped_check(fn, info, flow, node, handler)
                if hit:
                    yield hit

    def _unreadable_items_skipped(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        """A scan that skips the values it cannot read lets them through unchecked."""
        for loop in fn.statements:
            if not isinstance(loop, ast.For | ast.AsyncFor):
                continue
            for i, stmt in enumerate(loop.body):
                skip = _skips_unreadable(stmt, loop.body[:i])
                if skip is None or not _denies_later(fn, loop.body[i + 1 :]):
                    continue
                if not _decides(fn):
                    return
                assert isinstance(stmt, ast.If)
                yield Hit(
                    node=skip,
                    message=(
                        f"`{fn.qualname}` skips a value when `{ast.unparse(stmt.test)}`, before "
                        "the check that can deny it: a value it cannot read passes unchecked."
                    ),
                    edits=[ReplaceStatements(skip, skip, (UNREADABLE_DENY,))],
                    key_nodes=[stmt],
                    severity="warning",
                )

    def _skipped_check(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        node: ast.Try,
        handler: ast.ExceptHandler,
    ) -> Hit | None:
        ancestors = list(flow.ancestors(node))
        loop = next((a for a in ancestors if isinstance(a, LOOPS)), None)
        if not isinstance(loop, ast.For | ast.AsyncFor) or loop.orelse:
            return None
        if under_fail_open_flag(ancestors):
            return None
        subject = _subject_words(fn, loop, node)
        decider = DECIDERS.search(subject) or (
            fn.polarity is not None and _calls_each_item(loop, node)
        )  # a permission check that asks each of its callbacks in turn
        carrier = CARRIERS.search(subject)
        if not decider and not carrier:
            return None
        skips = (
            f"`{fn.qualname}` catches {caught(handler)} from one check in its loop over "
            f"`{_short(loop.iter)}` and skips that check"
        )
        after = _after_loop(fn, loop)
        edits: list[Edit]
        accumulator = _allow_accumulator(fn, info, flow, loop, handler, after)
        if accumulator is not None:
            name, value = accumulator
            edits = [_deny_and_leave(handler, name, value)]
            message = (
                f"{skips}; `{name}` starts as `{value.shown}` and stays so, "
                "so a failing check counts as allow."
            )
            severity = "error"
        elif (found := _violations(flow, loop, node, after)) is not None:
            edits = [append_to_handler(handler, "raise")]
            message = (
                f"{skips}, so it adds nothing to `{found}`, and an empty `{found}` reads as passed."
            )
            severity = "error" if fn.polarity is not None else "warning"
        elif (built := _built_without(flow, loop, node, after)) is not None and (
            decider or info.file_matches(ENFORCING_MODULE)
        ):
            edits = [append_to_handler(handler, "raise")]
            message = f"{skips}, so `{built}` is built without it and what it enforces is gone."
            severity = "warning"
        elif (default := _allow_after_loop(fn, info, flow, loop)) is not None:
            edits = [append_to_handler(handler, "raise")]
            message = f"{skips}, and after the loop the function answers `{default}` (allow)."
            severity = "error" if fn.polarity is not None else "warning"
        else:
            return None
        return Hit(
            node=handler,
            message=message,
            edits=[*edits, *reword_edits(info, handler)],
            key_nodes=[handler],
            severity=severity,  # type: ignore[arg-type]
            region=(handler.lineno, handler.end_lineno or handler.lineno),
        )


def _allow_after_loop(
    fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow, loop: ast.For | ast.AsyncFor
) -> str | None:
    """`for check in checks: ...` then `return True`: no objection is the allow verdict."""
    outcome = flow.after(loop)
    if outcome.kind != "return" or fn.polarity is None:
        return None
    value = allow_value(outcome.value, fn, info)
    return None if value is None else ast.unparse(outcome.value) if outcome.value else None


UNREADABLE_DENY = 'raise PermissionError("cannot check this value: denying")'


def _decides(fn: FunctionInfo) -> bool:
    """A check by its own evidence, or named or documented as one that blocks or allows."""
    if fn.polarity is not None:
        return True
    doc = (ast.get_docstring(fn.node) or "") if fn.qualname != "<module>" else ""
    return bool(DECISION_WORD.search(" ".join([fn.node.name.replace("_", " "), doc[:2000]])))


def _skips_unreadable(stmt: ast.stmt, before: list[ast.stmt]) -> ast.Continue | None:
    """`if not isinstance(value, str): continue`, or `parsed = parse(item)` then
    `if parsed is None: continue`: the item the check cannot read is skipped."""
    if not (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], ast.Continue)
    ):
        return None
    test = stmt.test
    if (
        isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and isinstance(test.operand, ast.Call)
        and call_name(test.operand) == "isinstance"
    ):
        return stmt.body[0]
    missing = absent_subject(test)
    if missing is not None and isinstance(missing[0], ast.Name):
        name = missing[0].id
        source = next(
            (
                b.value
                for b in reversed(before)
                if isinstance(b, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in b.targets)
            ),
            None,
        )
        if isinstance(source, ast.Call) and PARSING.search(call_name(source)):
            return stmt.body[0]
    return None


# Calls that read an item into a shape the check can use: None means "could not read it".
PARSING = re.compile(r"(?i)(parse|decode|load|extract|deseriali[sz]e|read)")


def _denies_later(fn: FunctionInfo, block: list[ast.stmt]) -> bool:
    """Something later in the loop answers no: a deny raise, `return False` in an allow
    check, or a returned error/deny result (`return Result.error(...)`)."""
    for stmt in block:
        for n in [stmt, *own_nodes(stmt)]:
            if isinstance(n, ast.Raise) and n.exc is not None and is_deny_raise(n.exc):
                return True
            if isinstance(n, ast.Return) and n.value is not None:
                value = n.value
                if (isinstance(value, ast.Constant) and value.value is False) and (
                    fn.polarity == "allow"
                ):
                    return True
                if isinstance(value, ast.Call) and DENY_RESULT.search(call_name(value)):
                    return True
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in ("append", "add", "extend")
                and DENIAL_LIST.search(dotted_name(n.func.value) or "")
            ):
                return True  # `denials.append(f"{name}: {reason}")`
    return False


DENY_RESULT = re.compile(r"(?i)^(error|deny|denied|reject\w*|block\w*|forbid\w*|fail\w*)$")


def _calls_each_item(loop: ast.For | ast.AsyncFor, node: ast.Try) -> bool:
    """The try calls the loop's item: `for callback in callbacks: try: callback(event)`."""
    if not isinstance(loop.target, ast.Name):
        return False
    item = loop.target.id
    return any(
        isinstance(n, ast.Call) and (dotted_name(n.func) or "").split(".")[0] == item
        for stmt in node.body
        for n in ast.walk(stmt)
    )


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def _catches_denial(handler: ast.ExceptHandler) -> bool:
    """`except PermissionDenied: continue` leaves a denied item out: the fail-closed filter."""
    return any(DENY_EXCEPTION.search(t) for t in handler_types(handler))


def _skips(handler: ast.ExceptHandler) -> bool:
    """The handler only reports, then passes or continues: the error is dropped."""
    for stmt in handler.body:
        if isinstance(stmt, ast.Pass | ast.Continue):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Expr) and _reports(stmt.value):
            continue
        return False
    return True


def _reports(value: ast.expr) -> bool:
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    if REPORTING.search(call_name(value)):
        return True
    owner = dotted_name(value.func.value) if isinstance(value.func, ast.Attribute) else None
    return owner is not None and REPORTING_OWNER.search(owner) is not None


def _subject_words(fn: FunctionInfo, loop: ast.For | ast.AsyncFor, node: ast.Try) -> str:
    """What the loop runs: its iterable, its target, the calls in the try, the function."""
    calls = [
        dotted_name(n.func) or call_name(n)
        for stmt in node.body
        for n in [stmt, *own_nodes(stmt)]
        if isinstance(n, ast.Call)
    ]
    return " ".join([ast.unparse(loop.iter), ast.unparse(loop.target), fn.node.name, *calls])


def _after_loop(fn: FunctionInfo, loop: ast.For | ast.AsyncFor) -> list[ast.AST]:
    """The function's own nodes that come after the loop."""
    end = loop.end_lineno or loop.lineno
    return [n for n in fn.nodes if getattr(n, "lineno", 0) > end]


def _reads(nodes: list[ast.AST], name: str) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in nodes
    )


def _stores_in(block: list[ast.stmt], skip: ast.AST) -> set[str]:
    """Names bound in `block`, not counting the handler `skip`."""
    names: set[str] = set()
    stack: list[ast.AST] = list(block)
    while stack:
        n = stack.pop()
        if n is skip or isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    return names


def _allow_accumulator(
    fn: FunctionInfo,
    info: ModuleInfo,
    flow: FunctionFlow,
    loop: ast.For | ast.AsyncFor,
    handler: ast.ExceptHandler,
    after: list[ast.AST],
) -> tuple[str, AllowValue] | None:
    """`verdict = Decision.ALLOW` before the loop, updated in it, read after it."""
    targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    for name in sorted(_stores_in(loop.body, handler) - targets):
        initial = flow.value_before(loop, name)
        if initial is None or not _reads(after, name):
            continue
        if isinstance(initial, ast.Constant) and isinstance(initial.value, bool):
            if initial.value is not True or name.lower().lstrip("_") not in PASSED_NAMES:
                continue
            return name, AllowValue(initial, "False", "True")
        value = allow_value(initial, fn, info, loose=True)
        if value is not None and value.deny is not None and value.node is initial:
            return name, value
    return None


def _empty_collection(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Set | ast.Tuple | ast.Dict):
        return not (getattr(value, "elts", None) or getattr(value, "keys", None))
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("list", "set", "dict", "deque", "OrderedDict", "defaultdict")
        and not value.args[value.func.id == "defaultdict" :]
    )


def _grown(
    block: list[ast.stmt],
    skip: ast.AST | None = None,
    items: frozenset[str] = frozenset(),
    deep: bool = True,
) -> set[str]:
    """Collections that `block` adds to: `x.append(...)`, `x[k] = ...`.

    Adding only the loop's own `items` does not count: a filter that leaves an item out
    when its check fails is failing closed.
    """
    names: set[str] = set()
    stack: list[ast.AST] = list(block)
    while stack:
        n = stack.pop()
        if n is skip or isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if deep:
            stack.extend(ast.iter_child_nodes(n))
        elif isinstance(n, ast.Expr):
            stack.append(n.value)
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in GROWS
            and isinstance(n.func.value, ast.Name)
            and not _only_items([*n.args, *(k.value for k in n.keywords)], items)
        ):
            names.add(n.func.value.id)
        if isinstance(n, ast.Assign) and not _only_items([n.value], items):
            names |= {
                t.value.id
                for t in n.targets
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
            }
    return names


def _only_items(values: list[ast.expr], items: frozenset[str]) -> bool:
    return bool(values) and all(isinstance(v, ast.Name) and v.id in items for v in values)


def _violations(
    flow: FunctionFlow, loop: ast.For | ast.AsyncFor, node: ast.Try, after: list[ast.AST]
) -> str | None:
    """`violations = []`, filled by the checks in the try, and "none" read as passed after."""
    for name in sorted(_grown(node.body)):
        if not VIOLATION_NAME.search(name):
            continue
        if _empty_collection(flow.value_before(loop, name)) and _emptiness_tested(after, name):
            return name
    return None


def _emptiness_tested(nodes: list[ast.AST], name: str) -> bool:
    """`len(x) == 0`, `not x`, `if x:`, `bool(x)` after the loop."""

    def is_name(e: ast.AST) -> bool:
        return isinstance(e, ast.Name) and e.id == name

    for n in nodes:
        if (
            isinstance(n, ast.Call)
            and call_name(n) in ("len", "bool")
            and n.args
            and is_name(n.args[0])
        ):
            return True
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not) and is_name(n.operand):
            return True
        if isinstance(n, ast.If | ast.IfExp | ast.While) and is_name(n.test):
            return True
        if isinstance(n, ast.Compare) and is_name(n.left):
            other = n.comparators[0]
            if _empty_collection(other):
                return True
    return False


def _built_without(
    flow: FunctionFlow,
    loop: ast.For | ast.AsyncFor,
    node: ast.Try,
    after: list[ast.AST],
) -> str | None:
    """`guards = []`, filled in the loop but not by the failed check, then handed on.

    Only additions every check makes count (straight in the loop or the try): a result
    added when a check says so (`if result.tripped: hits.append(result)`) is an answer,
    not a member of the gate.
    """
    items = frozenset(n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name))
    block: list[ast.stmt] = [
        s for s in [*loop.body, *node.body, *node.orelse] if isinstance(s, ast.Expr | ast.Assign)
    ]
    for name in sorted(_grown(block, None, items, deep=False)):
        if not _empty_collection(flow.value_before(loop, name)):
            continue
        if _handed_on(after, name):
            return name
    return None


def _handed_on(nodes: list[ast.AST], name: str) -> bool:
    """Returned, passed to a call or constructor, or stored on an object after the loop."""
    for n in nodes:
        if (
            isinstance(n, ast.Return)
            and n.value is not None
            and _reads(list(ast.walk(n.value)), name)
        ):
            return True
        if isinstance(n, ast.Call) and any(
            isinstance(a, ast.Name) and a.id == name
            for a in [*n.args, *(k.value for k in n.keywords)]
        ):
            return True
        if (
            isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Name)
            and n.value.id == name
            and any(isinstance(t, ast.Attribute) for t in n.targets)
        ):
            return True
    return False


def _deny_and_leave(handler: ast.ExceptHandler, name: str, value: AllowValue) -> Edit:
    """`verdict = Decision.DENY` then `break`, in place of the skip."""
    last = handler.body[-1]
    deny = f"{name} = {value.deny}"
    if isinstance(last, ast.Pass | ast.Continue):
        return ReplaceStatements(last, last, (deny, "break"))
    return ReplaceStatements(last, last, (KEEP, deny, "break"))


SkippedCheckInLoop.VALID = [
    # not a check: a formatter that skips what it cannot print
    """
def render(record):
    parts = []
    for value in record.values():
        if not isinstance(value, str):
            continue
        parts.append(value.strip())
    return ", ".join(parts)
""",
    # a broken evaluator is skipped only under the named, default-off setting
    """
def evaluate(request, evaluators, settings):
    verdict = Decision.ALLOW
    for evaluator in evaluators:
        try:
            result = evaluator(request)
        except Exception:
            if not settings.fail_open:
                return Decision.DENY
            log.warning("fail_open: evaluator failed, skipped")
            continue
        if result is Decision.DENY:
            verdict = Decision.DENY
    return verdict
""",
    # the failed check is recorded as a violation: an error is not "compliant"
    """
def review_compliance(self, context):
    violations = []
    for rule in self.rules:
        try:
            if not rule.predicate(context):
                violations.append(rule.name)
        except Exception as exc:
            violations.append(f"{rule.name}: {exc}")
    return {"compliant": len(violations) == 0, "violations": violations}
""",
    # a filter: an item whose check is denied is left out, which fails closed
    """
async def visible_tools(self, tools, token):
    allowed = []
    for tool in tools:
        try:
            await self.authorizer.check(token, tool)
        except Exception:
            continue
        allowed.append(tool)
    return allowed
""",
    # a plugin loader in a module that enforces nothing
    """
def load_exporters(names):
    plugins = []
    for name in names:
        try:
            plugin = import_string(name)()
        except Exception:
            logger.exception("could not load exporter plugin %s", name)
            continue
        plugins.append(plugin)
    return plugins
""",
    # an optional policy package that is not installed
    """
def import_policies(paths):
    policies = []
    for path in paths:
        try:
            policy = import_string(path)
        except ImportError:
            continue
        policies.append(policy)
    return policies
""",
    # the verdict starts as deny
    """
def decide(request, policies):
    verdict = "deny"
    for policy in policies:
        try:
            if policy.permits(request):
                verdict = "allow"
        except Exception:
            continue
    return verdict
""",
]

SkippedCheckInLoop.INVALID = [
    # a tool call the parser cannot read is skipped before the policy sees it
    Invalid(
        """\
def gate_tool_calls(policy, tool_calls):
    denials = []
    for call in tool_calls:
        parsed = parse_tool_call(call)
        if parsed is None:
            continue
        name, args = parsed
        if not policy.permits(name, args):
            denials.append(f"{name}: not permitted")
    return denials
""",
        line=6,
        fixed="""\
def gate_tool_calls(policy, tool_calls):
    denials = []
    for call in tool_calls:
        parsed = parse_tool_call(call)
        if parsed is None:
            raise PermissionError("cannot check this value: denying")
        name, args = parsed
        if not policy.permits(name, args):
            denials.append(f"{name}: not permitted")
    return denials
""",
        expected_message=(
            "`gate_tool_calls` skips a value when `parsed is None`, before the check that can "
            "deny it: a value it cannot read passes unchecked."
        ),
    ),
    # a content filter skips the values it cannot scan: they pass unchecked
    Invalid(
        """\
def screen(record, banned_words):
    \"\"\"Reject a record whose text fields contain a banned word.\"\"\"
    for value in record.values():
        if not isinstance(value, str):
            continue
        if any(word in value.lower() for word in banned_words):
            return Result.reject("banned word")
    return Result.accept()
""",
        line=5,
        fixed="""\
def screen(record, banned_words):
    \"\"\"Reject a record whose text fields contain a banned word.\"\"\"
    for value in record.values():
        if not isinstance(value, str):
            raise PermissionError("cannot check this value: denying")
        if any(word in value.lower() for word in banned_words):
            return Result.reject("banned word")
    return Result.accept()
""",
        expected_message=(
            "`screen` skips a value when `not isinstance(value, str)`, before the check that "
            "can deny it: a value it cannot read passes unchecked."
        ),
    ),
    # a permission check that asks each callback in turn; after the loop it allows
    Invalid(
        """\
async def is_message_permitted(self, message, context):
    for hook in self._hooks:
        try:
            allowed = await hook(message, context)
        except Exception as e:
            logger.warning("hook %s raised: %s", hook, e)
            continue
        if allowed is False:
            return False
    return True
""",
        line=5,
        fixed="""\
async def is_message_permitted(self, message, context):
    for hook in self._hooks:
        try:
            allowed = await hook(message, context)
        except Exception as e:
            logger.warning("hook %s raised: %s", hook, e)
            raise
        if allowed is False:
            return False
    return True
""",
        expected_message=(
            "`is_message_permitted` catches any error from one check in its loop over "
            "`self._hooks` and skips that check, and after the loop the function answers "
            "`True` (allow)."
        ),
    ),
    # a plugin that raises keeps the strictest verdict at ALLOW
    Invalid(
        """\
class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

def evaluate_plugins(request, evaluators):
    worst = Decision.ALLOW
    for evaluator in evaluators:
        try:
            verdict = evaluator(request)
        except Exception as exc:
            log.warning("evaluator %r raised and was skipped: %s", evaluator, exc)
            continue
        if verdict is Decision.DENY:
            worst = verdict
    return worst
""",
        line=10,
        fixed="""\
class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

def evaluate_plugins(request, evaluators):
    worst = Decision.ALLOW
    for evaluator in evaluators:
        try:
            verdict = evaluator(request)
        except Exception as exc:
            log.warning("evaluator %r raised and was skipped: %s", evaluator, exc)
            worst = Decision.DENY
            break
        if verdict is Decision.DENY:
            worst = verdict
    return worst
""",
        expected_message=(
            "`evaluate_plugins` catches any error from one check in its loop over "
            "`evaluators` and skips that check; `worst` starts as `Decision.ALLOW` and stays "
            "so, so a failing check counts as allow."
        ),
    ),
    # a validator that raises adds no violation, and no violation means compliant
    Invalid(
        """\
def screen_request(self, request):
    violations = []
    for rule in self.rules:
        try:
            if not rule.predicate(request):
                violations.append(rule.name)
        except Exception as exc:
            self._emit_audit({"event": "rule_crashed", "error": str(exc)})
    return not violations
""",
        line=7,
        fixed="""\
def screen_request(self, request):
    violations = []
    for rule in self.rules:
        try:
            if not rule.predicate(request):
                violations.append(rule.name)
        except Exception as exc:
            self._emit_audit({"event": "rule_crashed", "error": str(exc)})
            raise
    return not violations
""",
        expected_message=(
            "`screen_request` catches any error from one check in its loop over `self.rules` "
            "and skips that check, so it adds nothing to `violations`, and an empty "
            "`violations` reads as passed."
        ),
    ),
    # a guard that fails to load is left out of the gate, which then allows every call
    Invalid(
        """\
class ToolGate:
    def __init__(self, guards):
        self.guards = guards

    @classmethod
    def from_config(cls, config):
        guards = []
        for spec in config.guard_specs:
            try:
                guard = resolve_guard(spec)
            except Exception:
                logger.exception("could not resolve guard %r; skipping", spec.name)
                continue
            guards.append(guard)
        return cls(guards)
""",
        line=11,
        fixed="""\
class ToolGate:
    def __init__(self, guards):
        self.guards = guards

    @classmethod
    def from_config(cls, config):
        guards = []
        for spec in config.guard_specs:
            try:
                guard = resolve_guard(spec)
            except Exception:
                logger.exception("could not resolve guard %r; skipping", spec.name)
                raise
            guards.append(guard)
        return cls(guards)
""",
        expected_message=(
            "`ToolGate.from_config` catches any error from one check in its loop over "
            "`config.guard_specs` and skips that check, so `guards` is built without it and "
            "what it enforces is gone."
        ),
    ),
]
