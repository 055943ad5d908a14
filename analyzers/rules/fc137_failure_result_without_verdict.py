"""FC137: a failure builds the result without the verdict that callers block on."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught
from failclosed.analyzers.syntax import dotted_name

# A read of a verdict that refuses: `result.output.is_denied()`, `reply.verdict.blocked`.
DENY_READ = re.compile(r"(?i)^(is_)?(denied|deny|blocked|block|rejected|reject|forbidden)$")
# A constructor of a refusal: `HookResult.deny(...)`, `Verdict.block(...)`.
DENY_MAKER = re.compile(r"(?i)^(deny|block|reject|forbid|refuse)$")
CLASS_NAME = re.compile(r"^_*[A-Z]\w*$")
REASON = '"failed closed: the check could not run"'


class FailureResultWithoutVerdict(Rule):
    """
    ## What it does
    Flags a result object built on a failure path — an `except` handler, a timeout — without
    the field that carries the verdict, when the success path fills that field and the
    module blocks only when the field says "deny" (`if r.output and r.output.is_denied()`).

    ## Why is this bad?
    A result without a verdict is not a refusal: the caller asks "was it denied?", hears
    no, and lets the action through. A hook that crashes or times out, a policy check that
    raises, then allows what it was there to stop (CWE-636).

    ## Example
    ```python
    try:
        output = hook.run(event)
    except Exception as e:
        return HookExecutionResult(hook=hook.name, success=False, error=str(e))
    return HookExecutionResult(hook=hook.name, success=True, output=output)
    ...
    if result.output and result.output.is_denied():
        block()
    ```

    ## Use instead
    ```python
    except Exception as e:
        return HookExecutionResult(
            hook=hook.name, success=False, error=str(e), output=HookResult.deny(str(e))
        )
    ```

    ## Fix safety
    The fix fills the verdict with the module's own refusal (`HookResult.deny(...)`), so a
    failing hook blocks. It is offered only when the module builds refusals that way; an
    advisory hook whose failures should not block needs that said in its contract instead.
    """

    code = "FC137"
    name = "failure-result-without-verdict"
    severity = "warning"
    summary = "A failure builds the result without the verdict that callers block on."
    fix_safety = "The failure's result carries the module's own refusal."
    # only files that read a refusal from a field: `.output.is_denied()`, `.verdict.blocked`
    file_trigger = re.compile(r"\.(is_)?(denied|deny|blocked|block|rejected|reject|forbidden)\b")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        verdicts = _verdict_fields(info)
        if not verdicts:
            return
        for handler, call in _results_built_on_failure(fn):
            missing = _missing_verdict(call, verdicts)
            if missing is None:
                continue
            refusal = _refusal(info)
            edits = [] if refusal is None else [_add_keyword(call, missing, refusal, info)]
            yield Hit(
                node=call,
                message=(
                    f"`{fn.qualname}` builds `{_class_of(call)}` without `{missing}` when it "
                    f"catches {caught(handler)}, and the module blocks only when `{missing}` "
                    "says deny: the failure lets the action through."
                ),
                edits=edits,
                key_nodes=[call],
            )


def _verdict_fields(info: ModuleInfo) -> dict[str, set[str]]:
    """Class -> the keywords it is built with that the module reads a refusal from:
    {"HookExecutionResult": {"output"}} when `r.output.is_denied()` is asked somewhere."""
    key = "fc137:verdicts"
    if key not in info.memo:
        read = {
            node.value.attr
            for node in ast.walk(info.tree)
            if isinstance(node, ast.Attribute)
            and DENY_READ.match(node.attr)
            and isinstance(node.value, ast.Attribute)
        }
        fields: dict[str, set[str]] = {}
        if read:
            for node in ast.walk(info.tree):
                name = _class_of(node)
                if name is None or not isinstance(node, ast.Call):
                    continue
                built = {kw.arg for kw in node.keywords if kw.arg in read}
                if built:
                    fields.setdefault(name, set()).update(k for k in built if k)
        info.memo[key] = fields
    return info.memo[key]  # type: ignore[return-value]


def _class_of(call: ast.AST) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.id if isinstance(func, ast.Name) else None
    return name if name and CLASS_NAME.match(name) else None


def _results_built_on_failure(fn: FunctionInfo) -> Iterator[tuple[ast.ExceptHandler, ast.Call]]:
    """`return SomeResult(...)` in an `except` handler that catches a failure."""
    for node in fn.nodes:
        if not isinstance(node, ast.Try | ast.TryStar):
            continue
        for handler in node.handlers:
            if not catches_failures(handler, node):
                continue
            for stmt in handler.body:
                if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Call):
                    yield handler, stmt.value


def _missing_verdict(call: ast.Call, verdicts: dict[str, set[str]]) -> str | None:
    name = _class_of(call)
    if name is None or name not in verdicts or any(kw.arg is None for kw in call.keywords):
        return None  # `**fields` may carry the verdict
    given = {kw.arg for kw in call.keywords}
    missing = sorted(verdicts[name] - given)
    return missing[0] if missing else None


def _refusal(info: ModuleInfo) -> str | None:
    """The module's own way to build a refusal: `HookResult.deny("...")`."""
    for node in ast.walk(info.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and DENY_MAKER.match(node.func.attr)
            and isinstance(node.func.value, ast.Name)
            and CLASS_NAME.match(node.func.value.id)
        ):
            return f"{ast.unparse(node.func)}({REASON if node.args or node.keywords else ''})"
    return _refusal_defined(info)


def _refusal_defined(info: ModuleInfo) -> str | None:
    """`HookResult.deny(reason)` when the module defines that classmethod, unused so far."""
    for cls in ast.walk(info.tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef) or not DENY_MAKER.match(fn.name):
                continue
            if not any(
                dotted_name(d) in ("classmethod", "staticmethod") for d in fn.decorator_list
            ):
                continue
            params = fn.args.posonlyargs + fn.args.args
            required = len(params) - len(fn.args.defaults) - (0 if _static(fn) else 1)
            if required in (0, 1):
                return f"{cls.name}.{fn.name}({REASON if required else ''})"
    return None


def _static(fn: ast.FunctionDef) -> bool:
    return any(dotted_name(d) == "staticmethod" for d in fn.decorator_list)


def _add_keyword(call: ast.Call, name: str, value: str, info: ModuleInfo) -> ReplaceExpression:
    """The call with `name=value` after its last argument, in the call's own layout."""
    text = ast.get_source_segment(info.source, call) or ast.unparse(call)
    inner = text[:-1].rstrip()
    closing = text[len(inner) :]
    comma = inner.endswith(",")
    arguments: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    last = max(arguments, key=lambda a: (a.lineno, a.col_offset), default=None)
    keyword = f"{name}={value}"
    if last is not None and last.lineno > call.lineno:  # one argument per line: keep it so
        new = (
            f"{inner}{'' if comma else ','}\n{' ' * last.col_offset}{keyword}{',' if comma else ''}"
        )
    else:
        new = f"{inner}{' ' if comma else ', ' if arguments else ''}{keyword}"
    return ReplaceExpression(call, _relative_to_block(new + closing, info, call))


def _relative_to_block(text: str, info: ModuleInfo, call: ast.Call) -> str:
    """libcst re-indents an expression's continuation lines by the enclosing block's
    indentation: give them relative to it, as they sit in the file."""
    line = info.lines[call.lineno - 1]
    block = len(line) - len(line.lstrip())
    first, *rest = text.split("\n")
    trimmed = [r[block:] if r[:block].isspace() else r.lstrip() for r in rest]
    return "\n".join([first, *trimmed])


FailureResultWithoutVerdict.VALID = [
    # the failure's result carries a refusal
    """
async def run_hook(hook, event):
    try:
        output = await hook.run(event)
    except Exception as e:
        return HookExecutionResult(name=hook.name, success=False, output=HookResult.deny(str(e)))
    return HookExecutionResult(name=hook.name, success=True, output=output)

def is_blocked(results):
    return any(r.output and r.output.is_denied() for r in results)
""",
    # nobody reads a refusal from the field: the result is only a report
    """
def run_job(job):
    try:
        output = job.run()
    except Exception as e:
        return JobResult(name=job.name, error=str(e))
    return JobResult(name=job.name, output=output)
""",
    # `**fields` may hold the verdict
    """
def run_hook(hook, fields):
    try:
        output = hook.run()
    except Exception:
        return HookExecutionResult(**fields)
    return HookExecutionResult(output=output)

def blocked(r):
    return r.output.is_denied()
""",
]

FailureResultWithoutVerdict.INVALID = [
    Invalid(
        """\
async def run_hook(hook, event):
    try:
        output = await asyncio.wait_for(hook.run(event), timeout=5)
    except asyncio.TimeoutError:
        return HookExecutionResult(
            name=hook.name,
            success=False,
            error="hook timed out",
        )
    if output is None:
        output = HookResult.deny("no answer")
    return HookExecutionResult(name=hook.name, success=True, output=output)

def is_blocked(results):
    return any(r.output and r.output.is_denied() for r in results)
""",
        line=5,
        fixed="""\
async def run_hook(hook, event):
    try:
        output = await asyncio.wait_for(hook.run(event), timeout=5)
    except asyncio.TimeoutError:
        return HookExecutionResult(
            name=hook.name,
            success=False,
            error="hook timed out",
            output=HookResult.deny("failed closed: the check could not run"),
        )
    if output is None:
        output = HookResult.deny("no answer")
    return HookExecutionResult(name=hook.name, success=True, output=output)

def is_blocked(results):
    return any(r.output and r.output.is_denied() for r in results)
""",
        expected_message=(
            "`run_hook` builds `HookExecutionResult` without `output` when it catches "
            "`TimeoutError`, and the module blocks only when `output` says deny: the failure "
            "lets the action through."
        ),
    ),
    Invalid(
        """\
def check_tool(policy, call):
    try:
        verdict = policy.evaluate(call)
    except PolicyError as e:
        return Outcome(call.id, error=str(e))
    return Outcome(call.id, verdict=verdict)

def gate(outcome):
    if outcome.verdict and outcome.verdict.blocked:
        raise PermissionError(outcome)
""",
        line=5,
        fixed=None,
        expected_message=(
            "`check_tool` builds `Outcome` without `verdict` when it catches `PolicyError`, "
            "and the module blocks only when `verdict` says deny: the failure lets the action "
            "through."
        ),
    ),
]
