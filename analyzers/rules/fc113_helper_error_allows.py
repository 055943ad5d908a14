"""FC113: a helper answers None on error, and its caller reads None as "allowed"."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import AllowValue, allow_value, gated_by_fail_open_flag
from failclosed.analyzers.denials import body_denies, catches_failures
from failclosed.analyzers.fixes import Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.flow import LOOPS, returns_in, swallows
from failclosed.analyzers.functions import (
    FunctionInfo,
    ModuleInfo,
    functions_by_qualname,
    resolve_call,
)
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    absent_subject,
    append_to_handler,
    caught,
    exit_status_allow,
    exits_with_error,
    failure_branches,
    negated_isinstance,
    present_name,
    tries,
)
from failclosed.analyzers.syntax import call_name, conjuncts, equals_text, text_in
from failclosed.analyzers.vocabulary import ALLOW_KEYS, DENY_KEYS, VERDICT_KEYS


class HelperErrorAllows(Rule):
    """
    ## What it does
    Follows same-module calls one level: a helper that returns `None` (or an empty,
    falsy answer) when its `except` handler runs, and a caller that treats that answer as
    *allowed* — `violation = find_violation(req)` then `if violation is None: return True`.
    The finding sits in the helper, where the fix belongs, and names the caller; when
    several callers keep the helper's answer, a caller that allows on its empty answer
    decided that itself, and the finding is that caller's allow.

    ## Why is this bad?
    `None` means two things here: "checked, no objection" and "could not check". The
    caller cannot tell them apart and allows both, so an outage of the policy backend lets
    every request through (CWE-636).

    ## Example
    ```python
    def find_violation(request):
        try:
            return policy.first_violation(request)
        except PolicyError:
            return None

    def is_allowed(request):
        violation = find_violation(request)
        if violation is None:
            return True
        return False
    ```

    ## Use instead
    ```python
        except PolicyError:
            raise
    ```

    ## Fix safety
    The fix makes the helper re-raise instead of answering `None`, so the caller's error
    handling (or the framework's) takes over. Other callers of the helper that relied on
    `None` for errors now see the exception; a caller's allow is flipped to deny instead
    when several callers share the helper. Severity is `warning`: the inference crosses
    a call.
    """

    code = "FC113"
    name = "helper-error-allows"
    severity = "warning"
    summary = "A helper answers None on error and its caller reads None as allowed."
    fix_safety = "The helper re-raises; its callers now see the error."
    trigger = (
        "is None",
        "if not ",
        "raise ",
        "return {",
        "abort(",
        "status_code",
        "rejected",
        "denied",
        "blocked",
        "exit(",
        "SystemExit",
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in fn.statements:
            if not isinstance(node, ast.If) or not node.body:
                continue
            refusing = _refusing_status(fn, node)
            if refusing is not None:
                yield from _other_status_on_failure(fn, info, node, *refusing)
                continue
            objected = present_name(node.test)
            if objected is not None and _refuses(_simple_statements(node.body)):
                flow = fn.flow
                helper = _helper_of(flow.value_before(node, objected), fn, info)
                if helper is not None:
                    yield from self._error_answers(helper, fn, info, (objected, False), None, node)
                continue
            if objected is not None and not node.orelse and _refuses_inside(node.body):
                flow = fn.flow
                helper = _helper_of(_fallback(flow.value_before(node, objected)), fn, info)
                if helper is not None and _fails_empty(helper):
                    yield _check_skipped(fn, helper, node, objected)
                continue
            tested = _tested_name(node.test)
            first = node.body[0]
            if tested is None or not isinstance(first, ast.Return):
                continue
            value = (
                allow_value(first.value, fn, info)
                or exit_status_allow(first, fn, info)
                or _nothing_found(first, fn)
            )
            if value is None and not (first.value is None and fn.pure_guard):
                continue  # a bare `return` is the allow only of a guard that refuses by raising
            flow = fn.flow
            source, position = flow.unpacked_before(node, tested[0])
            if isinstance(source, ast.Await):
                source = source.value
            if not isinstance(source, ast.Call):
                continue
            helper = resolve_call(source, fn, info)
            if helper is None and _field_of(source) is not None:
                # `name = payload.get("name", "")` with `payload = helper()`: an empty
                # answer of the helper has no field either
                helper = _helper_of(flow.value_before(node, _field_of(source) or ""), fn, info)
                tested = (tested[0], False)
            if helper is None or helper.node is fn.node:
                continue
            yield from self._error_answers(helper, fn, info, tested, value, first, position)

    def _error_answers(
        self,
        helper: FunctionInfo,
        caller: FunctionInfo,
        info: ModuleInfo,
        tested: tuple[str, bool],
        value: AllowValue | None,
        allow_return: ast.Return | ast.If,
        position: int | None = None,
    ) -> Iterator[Hit]:
        """`value` is what the caller answers on an empty `name`; None when the caller's
        `if name:` refuses (`allow_return` is that `if`) and an empty answer skips it.
        `position` is `name`'s place in the helper's tuple answer (`name, why = helper()`).

        A helper whose answer several callers keep and decide on answers for all of them:
        making it raise changes every caller, and a caller that answers "allow" on its empty
        answer made that decision itself. Then the finding is the caller's allow, flipped."""
        name, none_only = tested
        yield from self._failure_answers(helper, caller, name, position, none_only)
        if _held_answers(helper, info) <= 1:  # a shared helper's answer is its callers' call
            yield from self._no_known_key(helper, caller, name, position, none_only)
        reading = (
            f"reads that `{name}` as `{value.shown}` (allow)"
            if value is not None
            else f"skips its refusal (`if {ast.unparse(allow_return.test)}`) on that `{name}`"
            if isinstance(allow_return, ast.If)
            else f"returns without raising its refusal on that `{name}` (allow)"
        )
        for node in tries(helper):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                answer: ast.Return | ast.ExceptHandler | None = None
                edit: Edit | None = None
                for ret in returns_in(handler):
                    if _empty_answer(ret, none_only, position):
                        answer, edit = ret, ReplaceStatements(ret, ret, ("raise",))
                        break
                if answer is None and swallows(handler):
                    flow = helper.flow
                    if any(isinstance(a, LOOPS) for a in flow.ancestors(node)):
                        if value is not None and isinstance(allow_return, ast.Return):
                            yield self._gave_up(helper, caller, handler, name, value, allow_return)
                        continue
                    outcome = flow.after(node)
                    if outcome.kind == "end" or (
                        outcome.kind == "return"
                        and isinstance(outcome.node, ast.Return)
                        and _empty_answer(outcome.node, none_only, position)
                    ):
                        answer, edit = handler, append_to_handler(handler, "raise")
                if answer is None or edit is None:
                    continue
                if (
                    value is not None
                    and value.deny
                    and isinstance(allow_return, ast.Return)
                    and _held_answers(helper, info) > 1
                ):
                    when = "when it catches"
                    yield self._gave_up(helper, caller, handler, name, value, allow_return, when)
                    return
                yield Hit(
                    node=answer,
                    message=(
                        f"`{helper.qualname}` answers {_shown_answer(answer)} when it catches "
                        f"{caught(handler)}, "
                        f"and `{caller.qualname}` {reading}, so a failing check grants access."
                    ),
                    edits=[edit],
                    key_nodes=[handler],
                    function=helper.qualname,
                )

    def _failure_answers(
        self,
        helper: FunctionInfo,
        caller: FunctionInfo,
        name: str,
        position: int | None,
        none_only: bool,
    ) -> Iterator[Hit]:
        """A helper's `if not isinstance(data, dict): return None, ""` or `if
        proc.returncode != 0: return None`: a malformed or failed answer comes back as
        "nothing found", which the caller reads as allowed."""
        for stmt in helper.statements:
            if not isinstance(stmt, ast.If):
                continue
            refusal = 'raise ValueError("malformed answer: cannot decide")'
            if negated_isinstance(stmt.test) is not None:
                blocks = [stmt.body]
            elif _status_test(stmt.test):  # "nothing there" may mean "no objection": not it
                blocks = [block for block, failing in failure_branches(stmt, helper) if failing]
                if not blocks and _bad_status(stmt.test):
                    blocks = [stmt.body]
                refusal = 'raise RuntimeError("the check did not run: cannot decide")'
            elif _bad_status_and(stmt.test):  # `returncode != 0 and not expect_nonzero`
                blocks = [stmt.body]
                refusal = 'raise RuntimeError("the check did not run: cannot decide")'
            else:
                continue
            for block in blocks:
                first = block[-1]  # after a log line, perhaps
                if not isinstance(first, ast.Return) or not _empty_answer(
                    first, none_only, position
                ):
                    continue
                yield Hit(
                    node=first,
                    message=(
                        f"`{helper.qualname}` answers {_shown_answer(first)} when what it "
                        f"reads failed or is malformed (`{ast.unparse(stmt.test)}`), and "
                        f"`{caller.qualname}` reads that `{name}` as allowed, so a failing "
                        "check grants access."
                    ),
                    edits=[ReplaceStatements(first, first, (refusal,))],
                    key_nodes=[stmt.test],
                    function=helper.qualname,
                )

    def _no_known_key(
        self,
        helper: FunctionInfo,
        caller: FunctionInfo,
        name: str,
        position: int | None,
        none_only: bool,
    ) -> Iterator[Hit]:
        """The helper's last `return None, ""` after `if "decision" in data: return ...`:
        it is reached when the answer holds no verdict at all, a malformed answer read as
        "nothing found". An optional key that is no verdict (`"X-Reason" in headers`) is
        not one."""
        body = getattr(helper.node, "body", [])
        if len(body) < 2 or not isinstance(body[-1], ast.Return):
            return
        last, before = body[-1], body[-2]
        if not (
            isinstance(before, ast.If)
            and not before.orelse
            and isinstance(before.body[-1], ast.Return)
            and (key := _key_looked_for(before.test)) is not None
            and key.lower() in VERDICT_KEYS
            and _empty_answer(last, none_only, position)
        ):
            return
        yield Hit(
            node=last,
            message=(
                f"`{helper.qualname}` answers {_shown_answer(last)} when the answer it reads "
                f"holds no `{key}`, and `{caller.qualname}` reads that `{name}` as allowed, so "
                "a malformed answer grants access."
            ),
            edits=[
                ReplaceStatements(
                    last, last, ('raise ValueError("no decision in the answer: cannot decide")',)
                )
            ],
            key_nodes=[before.test, last],
            function=helper.qualname,
        )

    def _gave_up(
        self,
        helper: FunctionInfo,
        caller: FunctionInfo,
        handler: ast.ExceptHandler,
        name: str,
        value: AllowValue,
        allow_return: ast.Return,
        when: str = "once every attempt raised",
    ) -> Hit:
        """A retry helper answers None once every attempt failed (or a shared helper
        answers it on an error): the caller must deny."""
        return Hit(
            node=allow_return,
            message=(
                f"`{caller.qualname}` returns `{value.shown}` (allow) when `{name}` is empty, "
                f"which is what `{helper.qualname}` answers {when} "
                f"{caught(handler)}, so a failing check grants access."
            ),
            edits=[ReplaceExpression(value.node, value.deny)] if value.deny else [],
            key_nodes=[handler, allow_return],
        )


def _refusing_status(fn: FunctionInfo, node: ast.If) -> tuple[str, str, str] | None:
    """(`status`, "changed", `changed_paths`) for `if status == "changed":
    changed_paths.append(path)` where the function then exits non-zero only when
    `changed_paths` holds something (`if not changed_paths: return 0`): the one status
    that blocks."""
    test = node.test
    status = equals_text(test)
    if not isinstance(test, ast.Compare) or not isinstance(test.left, ast.Name):
        return None
    if status is None or node.orelse:
        return None
    collected = next(
        (
            call.func.value.id
            for stmt in node.body
            if isinstance(stmt, ast.Expr)
            and isinstance(call := stmt.value, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in ("append", "add")
            and isinstance(call.func.value, ast.Name)
        ),
        None,
    )
    if collected is None or not _exits_zero_when_empty(fn, collected):
        return None
    return test.left.id, status, collected


def _exits_zero_when_empty(fn: FunctionInfo, name: str) -> bool:
    """`if not changed_paths: return 0` in a function that elsewhere answers a non-zero
    exit status: an empty collection is the go-ahead."""
    for stmt in fn.statements:
        if (
            isinstance(stmt, ast.If)
            and isinstance(stmt.test, ast.UnaryOp)
            and isinstance(stmt.test.op, ast.Not)
            and isinstance(stmt.test.operand, ast.Name)
            and stmt.test.operand.id == name
            and isinstance(stmt.body[0], ast.Return)
            and isinstance(stmt.body[0].value, ast.Constant)
            and stmt.body[0].value.value == 0
        ):
            return any(
                isinstance(r, ast.Return)
                and isinstance(r.value, ast.Constant)
                and isinstance(r.value.value, int)
                and not isinstance(r.value.value, bool)
                and r.value.value != 0
                for r in fn.statements
            )
    return False


def _other_status_on_failure(
    fn: FunctionInfo, info: ModuleInfo, node: ast.If, name: str, refusing: str, into: str
) -> Iterator[Hit]:
    """The helper behind `name` answers another status than `refusing` when it catches a
    failure, or when its child process gave no output: the gate lets that through."""
    source = fn.flow.value_before(node, name)
    if isinstance(source, ast.Await):
        source = source.value
    helper = resolve_call(source, fn, info) if isinstance(source, ast.Call) else None
    if helper is None or helper.node is fn.node:
        return
    judged = {text for n in fn.nodes if isinstance(n, ast.Compare) and (text := equals_text(n))}
    for ret, why in _failed_status_answers(helper):
        if not (isinstance(ret.value, ast.Constant) and isinstance(ret.value.value, str)):
            continue
        if ret.value.value in judged:  # the gate looks at that status itself
            continue
        yield Hit(
            node=ret,
            message=(
                f"`{helper.qualname}` answers {ret.value.value!r} {why}, and `{fn.qualname}` "
                f"exits non-zero only for {refusing!r} (line {node.lineno}), so a step that "
                "failed passes the gate."
            ),
            edits=[
                ReplaceStatements(
                    ret, ret, ('raise RuntimeError("the check did not run: cannot decide")',)
                )
            ],
            key_nodes=[node.test],
            function=helper.qualname,
        )


def _failed_status_answers(helper: FunctionInfo) -> Iterator[tuple[ast.Return, str]]:
    """Returns of a failure path: in a handler of a failure, or in an `if` on a child
    process's empty output (`if not proc.stdout.strip():`) when nothing else tells its
    failure (no `check=True`, no `returncode` read): empty output is then all there is."""
    for node in tries(helper):
        if not _reads_an_answer(node.body):
            continue  # `path.read_text()` failing is about the input, not the check
        for handler in node.handlers:
            if catches_failures(handler, node):
                for ret in returns_in(handler):
                    yield ret, f"when it catches {caught(handler)}"
    checked = any(
        (
            isinstance(n, ast.keyword)
            and n.arg == "check"
            and isinstance(n.value, ast.Constant)
            and n.value.value is True
        )
        or (isinstance(n, ast.Compare) and _zero_tested(n, "returncode"))
        for n in helper.nodes
    )
    for stmt in [] if checked else helper.statements:
        if isinstance(stmt, ast.If) and _no_output(stmt.test):
            for returned in stmt.body:
                if isinstance(returned, ast.Return):
                    yield returned, f"when `{ast.unparse(stmt.test)}`"


def _reads_an_answer(body: list[ast.stmt]) -> bool:
    """The `try` reads what a child process or a service answered: `json.loads(proc.stdout)`,
    `response.json()`."""
    return any(
        (isinstance(n, ast.Attribute) and n.attr in ("stdout", "stderr"))
        or (isinstance(n, ast.Call) and call_name(n) in ("loads", "json"))
        for stmt in body
        for n in ast.walk(stmt)
    )


def _zero_tested(test: ast.Compare, field: str) -> bool:
    """`proc.returncode != 0`, `proc.returncode == 0`: the exit status tells failure."""
    return (
        isinstance(test.left, ast.Attribute)
        and test.left.attr == field
        and any(isinstance(c, ast.Constant) and c.value == 0 for c in test.comparators)
    )


def _no_output(test: ast.expr) -> bool:
    """`not proc.stdout.strip()`, `not result.stdout`: the child said nothing."""
    if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
        return False
    return any(isinstance(n, ast.Attribute) and n.attr == "stdout" for n in ast.walk(test.operand))


def _key_looked_for(test: ast.expr) -> str | None:
    """ "decision" for `"decision" in data` (alone or in an `and`)."""
    return next((key for part in conjuncts(test) if (key := text_in(part)) is not None), None)


def _held_answers(helper: FunctionInfo, info: ModuleInfo) -> int:
    """How many functions of the module keep the helper's answer to decide on it
    (`name = helper(...)`, `name = self.helper(...)`): each of them decides for itself."""
    key = f"held_answers:{helper.qualname}"
    if key not in info.memo:
        info.memo[key] = sum(
            any(
                isinstance(stmt, ast.Assign) and _calls(stmt.value, helper.node.name)
                for stmt in fn.statements
            )
            for fn in functions_by_qualname(info).values()
        )
    return info.memo[key]  # type: ignore[return-value]


def _calls(value: ast.expr, name: str) -> bool:
    """`name(...)` or `self.name(...)` (awaited too): a call of this module's function."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id == name
    return (
        isinstance(func, ast.Attribute)
        and func.attr == name
        and isinstance(func.value, ast.Name)
        and func.value.id in ("self", "cls")
    )


def _check_skipped(fn: FunctionInfo, helper: FunctionInfo, node: ast.If, name: str) -> Hit:
    """The caller runs a whole check only `if name:` and the helper answers nothing when
    it fails: the check, and its refusal, are skipped. The fix belongs in the caller."""
    return Hit(
        node=node,
        message=(
            f"`{fn.qualname}` runs its check only `if {ast.unparse(node.test)}`, and "
            f"`{helper.qualname}` answers an empty `{name}` when it fails: a failing "
            "lookup skips the check and its refusal. Refuse when it is missing."
        ),
        key_nodes=[node.test],
    )


def _simple_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of `body` that are not blocks: where `if value: return deny` refuses
    because of the value itself (an objection), not of a check computed from it."""
    return [s for s in body if not isinstance(s, ast.If | ast.For | ast.While | ast.With | ast.Try)]


def _refuses_inside(body: list[ast.stmt]) -> bool:
    """A branch nested in `body` refuses: `if value:` wraps a check, not a plain answer."""
    return any(
        isinstance(inner, ast.If) and _refuses(inner.body)
        for stmt in body
        for inner in ast.walk(stmt)
        if not isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )


def _field_of(source: ast.Call) -> str | None:
    """`payload` for `payload.get("tool_name", "")`: a field read from a named answer."""
    func = source.func
    if isinstance(func, ast.Attribute) and func.attr == "get" and isinstance(func.value, ast.Name):
        return func.value.id
    return None


def _fallback(source: ast.expr | None) -> ast.expr | None:
    """`price or get_price(pair)`: the call answers when the first value is missing."""
    if isinstance(source, ast.BoolOp) and isinstance(source.op, ast.Or):
        return source.values[-1]
    return source


def _fails_empty(helper: FunctionInfo) -> bool:
    """The helper answers `None` (or an empty value) from a handler of a failure."""
    for node in tries(helper):
        for handler in node.handlers:
            if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                continue
            if any(_empty_answer(ret, False) for ret in returns_in(handler)):
                return True
    return False


def _shown_answer(answer: ast.AST) -> str:
    if isinstance(answer, ast.Return) and answer.value is not None:
        return f"`{ast.unparse(answer.value)}`"
    return "`None`"


def _helper_of(source: ast.expr | None, fn: FunctionInfo, info: ModuleInfo) -> FunctionInfo | None:
    """The same-module function whose answer `source` is, when it is not `fn` itself."""
    if isinstance(source, ast.Await):
        source = source.value
    if not isinstance(source, ast.Call):
        return None
    helper = resolve_call(source, fn, info)
    return None if helper is None or helper.node is fn.node else helper


def _refuses(body: list[ast.stmt]) -> bool:
    """The branch refuses: a deny exception or response, or a failure answer such as
    `return {"success": False, "error": ...}` or `{"allowed": False}`."""
    if body_denies(body) or any(_exits_with_error(stmt) for stmt in body):
        return True
    for stmt in body:
        if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Dict):
            for key, val in zip(stmt.value.keys, stmt.value.values, strict=True):
                if not (isinstance(key, ast.Constant) and isinstance(val, ast.Constant)):
                    continue
                if key.value in ("success", "ok", *ALLOW_KEYS) and val.value is False:
                    return True
                if key.value in DENY_KEYS and val.value is True:
                    return True
    return False


def _status_test(test: ast.expr) -> bool:
    """`proc.returncode != 0`, `resp.status_code >= 400`, `not resp.ok`: a test of how a
    call went, not of whether a value is there."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Attribute)
    return isinstance(test, ast.Compare) and absent_subject(test) is None


def _exits_with_error(stmt: ast.stmt) -> bool:
    """`sys.exit(1)`, `raise SystemExit(2)`: a gate script's "no"."""
    call = (
        stmt.value
        if isinstance(stmt, ast.Expr)
        else stmt.exc
        if isinstance(stmt, ast.Raise)
        else None
    )
    return isinstance(call, ast.Call) and exits_with_error(call)


STATUS_FIELDS = {"returncode", "status_code", "status", "exit_code"}


def _bad_status(test: ast.Compare | ast.expr) -> bool:
    """`proc.returncode not in (0, 1)`, `resp.status_code != 200`, `.status >= 400`: the
    call did not go as it should."""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Attribute)
        and test.left.attr in STATUS_FIELDS
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.NotEq | ast.NotIn | ast.Gt | ast.GtE)
    )


def _bad_status_and(test: ast.expr) -> bool:
    """`result.returncode != 0 and not expect_nonzero`: a bad status, on a condition."""
    return (
        isinstance(test, ast.BoolOp)
        and isinstance(test.op, ast.And)
        and _bad_status(test.values[0])
    )


# A scanner's own account that it answers with what it found ("return normalized findings").
FINDINGS_ANSWER = re.compile(
    r"(?i)\b(findings|vulnerabilities|violations|threats|secrets|detections)\b"
)


def _nothing_found(ret: ast.Return, fn: FunctionInfo) -> AllowValue | None:
    """`return []` in a scanner, which answers with what it found (by name and type, or
    by the first paragraph of its docstring): an empty answer is "nothing found", which
    passes whatever it scans."""
    value = ret.value
    if not (isinstance(value, ast.List | ast.Tuple) and not value.elts):
        return None
    doc = ast.get_docstring(fn.node) if not isinstance(fn.node, ast.Module) else None
    said = bool(doc and FINDINGS_ANSWER.search(doc.split("\n\n")[0]))
    if not (fn.collects_denials or said):
        return None
    return AllowValue(value, None, ast.unparse(value))


def _tested_name(test: ast.expr) -> tuple[str, bool] | None:
    """(`v`, none_only) for `v is None` (True) or `not v` (False), also as one alternative
    of an `or` (`v is None or v == "allow"`): either way a missing `v` passes the test."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        found = [_tested_name(part) for part in test.values]
        return next((f for f in found if f is not None), None)
    subject = absent_subject(test)
    if subject and isinstance(subject[0], ast.Name):
        return subject[0].id, subject[1]
    return None


def _empty_answer(ret: ast.Return, none_only: bool, position: int | None = None) -> bool:
    """`return`, `return None`; with `not v` also `return []`, `{}`, `False`, `0`, `""`.
    With a `position`, the answer is a tuple and its item there is the one that counts."""
    value = ret.value
    if position is not None:
        if not isinstance(value, ast.Tuple) or len(value.elts) <= position:
            return False
        value = value.elts[position]
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return True
    if none_only:
        return False
    if isinstance(value, ast.Constant):
        return not value.value
    return isinstance(value, ast.List | ast.Tuple | ast.Dict | ast.Set) and not (
        value.elts if not isinstance(value, ast.Dict) else value.keys
    )


HelperErrorAllows.VALID = [
    # the caller refuses when the price is missing, before its cap check
    """
class Exchange:
    def get_price(self, pair):
        try:
            return float(self.ticker(pair)["c"][0])
        except (KeyError, ValueError):
            return None

    def place_order(self, pair, volume, cap):
        price = self.get_price(pair)
        if not price:
            return OrderResult(pair, status="rejected")
        if volume * price > cap:
            return OrderResult(pair, status="rejected")
        return self.submit(pair, volume)
""",
    # the helper re-raises
    """
def find_violation(request):
    try:
        return policy.first_violation(request)
    except PolicyError:
        raise

def is_allowed(request):
    violation = find_violation(request)
    if violation is None:
        return True
    return False
""",
    # the caller denies on None
    """
def lookup_grant(user):
    try:
        return grants.get(user)
    except GrantStoreError:
        return None

def has_permission(user):
    grant = lookup_grant(user)
    if grant is None:
        return False
    return grant.active
""",
    # None from the helper is not an error answer (no handler returns it)
    """
def find_violation(request):
    for rule in RULES:
        if rule.matches(request):
            return rule
    return None

def is_allowed(request):
    violation = find_violation(request)
    if violation is None:
        return True
    return False
""",
]

HelperErrorAllows.VALID += [
    # the caller's `if risk:` does not refuse: an empty answer skips nothing that denies
    """
def suggestions(text):
    try:
        return speller.suggest(text)
    except Exception:
        return None


def render(text):
    hints = suggestions(text)
    if hints:
        return {"success": True, "hints": hints}
    return {"success": True}
""",
]

HelperErrorAllows.INVALID = [
    # a field of the helper's answer: an empty answer has none, and the hook allows
    Invalid(
        """\
def _parse_stdin():
    try:
        return json.loads(sys.stdin.read())
    except json.JSONDecodeError:
        return {}

def main():
    payload = _parse_stdin()
    tool_name = payload.get("tool_name", "")
    if not tool_name:
        return 0
    if is_blocked(tool_name, payload):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
        line=5,
        fixed="""\
def _parse_stdin():
    try:
        return json.loads(sys.stdin.read())
    except json.JSONDecodeError:
        raise

def main():
    payload = _parse_stdin()
    tool_name = payload.get("tool_name", "")
    if not tool_name:
        return 0
    if is_blocked(tool_name, payload):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
        expected_message=(
            "`_parse_stdin` answers `{}` when it catches `JSONDecodeError`, and `main` reads "
            "that `tool_name` as `0` (allow), so a failing check grants access."
        ),
    ),
    # the whole cap check runs only when the price probe answered
    Invalid(
        """\
class Exchange:
    def get_price(self, pair):
        try:
            return float(self.ticker(pair)["c"][0])
        except (KeyError, ValueError):
            return None

    def place_order(self, pair, volume, cap, price=None):
        est_price = price or self.get_price(pair)
        if est_price:
            notional = volume * est_price
            if notional > cap:
                return OrderResult(pair, status="rejected")
        return self.submit(pair, volume)
""",
        line=10,
        expected_message=(
            "`Exchange.place_order` runs its check only `if est_price`, and "
            "`Exchange.get_price` answers an empty `est_price` when it fails: a failing "
            "lookup skips the check and its refusal. Refuse when it is missing."
        ),
    ),
    Invalid(
        """\
def find_violation(request):
    try:
        return policy.first_violation(request)
    except PolicyError:
        return None

def is_allowed(request):
    violation = find_violation(request)
    if violation is None:
        return True
    return False
""",
        line=5,
        fixed="""\
def find_violation(request):
    try:
        return policy.first_violation(request)
    except PolicyError:
        raise

def is_allowed(request):
    violation = find_violation(request)
    if violation is None:
        return True
    return False
""",
        expected_message=(
            "`find_violation` answers `None` when it catches `PolicyError`, and `is_allowed` "
            "reads that `violation` as `True` (allow), so a failing check grants access."
        ),
    ),
    # a method helper that swallows and falls off its end; the caller tests `not`
    Invalid(
        """\
class Guardrail:
    def _blocked_terms(self, prompt):
        try:
            return self.moderation.scan(prompt).terms
        except (TimeoutError, ConnectionError) as exc:
            log.warning("moderation unavailable: %s", exc)

    def is_allowed(self, prompt):
        terms = self._blocked_terms(prompt)
        if not terms:
            return True
        return False
""",
        line=5,
        fixed="""\
class Guardrail:
    def _blocked_terms(self, prompt):
        try:
            return self.moderation.scan(prompt).terms
        except (TimeoutError, ConnectionError) as exc:
            log.warning("moderation unavailable: %s", exc)
            raise

    def is_allowed(self, prompt):
        terms = self._blocked_terms(prompt)
        if not terms:
            return True
        return False
""",
        expected_message=(
            "`Guardrail._blocked_terms` answers `None` when it catches `TimeoutError` or "
            "`ConnectionError`, and `Guardrail.is_allowed` reads that `terms` as `True` "
            "(allow), so a failing check grants access."
        ),
    ),
    # the caller refuses on an objection; the helper's None on error is "no objection"
    Invalid(
        """\
def assess_risk(capabilities, path):
    try:
        config = load_risk_config(path)
    except Exception:
        return None
    for cap in capabilities:
        if config.get(cap) == "block":
            return {"error": f"capability {cap} is blocked"}
    return None


def start_thread(capabilities, path):
    risk = assess_risk(capabilities, path)
    if risk:
        return {"success": False, "error": risk["error"]}
    return launch(capabilities)
""",
        line=5,
        fixed="""\
def assess_risk(capabilities, path):
    try:
        config = load_risk_config(path)
    except Exception:
        raise
    for cap in capabilities:
        if config.get(cap) == "block":
            return {"error": f"capability {cap} is blocked"}
    return None


def start_thread(capabilities, path):
    risk = assess_risk(capabilities, path)
    if risk:
        return {"success": False, "error": risk["error"]}
    return launch(capabilities)
""",
        expected_message=(
            "`assess_risk` answers `None` when it catches any error, and `start_thread` skips "
            "its refusal (`if risk`) on that `risk`, so a failing check grants access."
        ),
    ),
]

HelperErrorAllows.INVALID += [
    # a reply parser answers "no verdict" for a reply that is not an object, and the gate
    # reads "no verdict" as go-ahead
    Invalid(
        """\
def read_verdict(raw):
    try:
        reply = json.loads(raw)
    except ValueError:
        raise
    if not isinstance(reply, dict):
        return None, "unreadable reply"
    return reply.get("verdict"), reply.get("why", "")

def admit(raw):
    verdict, why = read_verdict(raw)
    if verdict is None or verdict == "accept":
        return Admission(granted=True, note=why)
    return Admission(granted=False, note=why)
""",
        line=7,
        fixed="""\
def read_verdict(raw):
    try:
        reply = json.loads(raw)
    except ValueError:
        raise
    if not isinstance(reply, dict):
        raise ValueError("malformed answer: cannot decide")
    return reply.get("verdict"), reply.get("why", "")

def admit(raw):
    verdict, why = read_verdict(raw)
    if verdict is None or verdict == "accept":
        return Admission(granted=True, note=why)
    return Admission(granted=False, note=why)
""",
        expected_message=(
            "`read_verdict` answers `(None, 'unreadable reply')` when what it reads failed or "
            "is malformed (`not isinstance(reply, dict)`), and `admit` reads that `verdict` "
            "as allowed, so a failing check grants access."
        ),
    ),
    # a guard that refuses by raising returns early, its go-ahead, when the lease
    # lookup failed
    Invalid(
        """\
def lease_state(lease_id):
    try:
        return leases.fetch(lease_id).state
    except LeaseStoreError:
        return None

def require_active_lease(lease_id):
    state = lease_state(lease_id)
    if state is None:
        return
    if state != "active":
        raise PermissionDenied(f"lease {lease_id} is {state}")
""",
        line=5,
        fixed="""\
def lease_state(lease_id):
    try:
        return leases.fetch(lease_id).state
    except LeaseStoreError:
        raise

def require_active_lease(lease_id):
    state = lease_state(lease_id)
    if state is None:
        return
    if state != "active":
        raise PermissionDenied(f"lease {lease_id} is {state}")
""",
        expected_message=(
            "`lease_state` answers `None` when it catches `LeaseStoreError`, and "
            "`require_active_lease` returns without raising its refusal on that `state` "
            "(allow), so a failing check grants access."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # an empty reply is the parser's "no opinion", and the parser refuses a malformed one
    """
def read_verdict(raw):
    if not raw.strip():
        return None, ""
    reply = json.loads(raw)
    if not isinstance(reply, dict):
        raise ValueError("reply is not an object")
    return reply.get("verdict"), reply.get("why", "")

def admit(raw):
    verdict, why = read_verdict(raw)
    if verdict is None or verdict == "accept":
        return Admission(granted=True, note=why)
    return Admission(granted=False, note=why)
""",
    # the early return is the guard's answer for a lease that needs no check; the
    # lookup's failure raises
    """
def lease_state(lease_id):
    return leases.fetch(lease_id).state

def require_active_lease(lease_id):
    state = lease_state(lease_id)
    if state is None:
        return
    if state != "active":
        raise PermissionDenied(f"lease {lease_id} is {state}")
""",
]

HelperErrorAllows.INVALID += [
    # a scanner that did not run answers "no findings", and the gate exits 0 on no findings
    Invalid(
        """\
def licence_violations(path):
    done = subprocess.run(["licensee", "detect", "--json", path], capture_output=True)
    if done.returncode != 0:
        log.warning("licensee failed: %s", done.stderr)
        return []
    return [p for p in json.loads(done.stdout)["packages"] if p["licence"] in BANNED]


def main():
    violations = licence_violations(".")
    if violations:
        print(f"{len(violations)} packages under a banned licence")
        sys.exit(1)
""",
        line=5,
        fixed="""\
def licence_violations(path):
    done = subprocess.run(["licensee", "detect", "--json", path], capture_output=True)
    if done.returncode != 0:
        log.warning("licensee failed: %s", done.stderr)
        raise RuntimeError("the check did not run: cannot decide")
    return [p for p in json.loads(done.stdout)["packages"] if p["licence"] in BANNED]


def main():
    violations = licence_violations(".")
    if violations:
        print(f"{len(violations)} packages under a banned licence")
        sys.exit(1)
""",
        expected_message=(
            "`licence_violations` answers `[]` when what it reads failed or is malformed "
            "(`done.returncode != 0`), and `main` reads that `violations` as allowed, so a "
            "failing check grants access."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # the scanner's failure stops the gate: only a clean run answers "no findings"
    """
def licence_violations(path):
    done = subprocess.run(["licensee", "detect", "--json", path], capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"licensee failed: {done.stderr}")
    return [p for p in json.loads(done.stdout)["packages"] if p["licence"] in BANNED]


def main():
    violations = licence_violations(".")
    if violations:
        print(f"{len(violations)} packages under a banned licence")
        sys.exit(1)
""",
]


HelperErrorAllows.INVALID += [
    # a scanner answers with its findings: the runner's None on a timeout becomes "nothing
    # found", and a scan that never ran passes as clean
    Invalid(
        """\
def run_tool(cmd):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(result.stdout)


def run_semgrep(target):
    \"\"\"Run Semgrep and return its findings.\"\"\"
    raw = run_tool(["semgrep", "--json", target])
    if raw is None:
        return []
    return raw["results"]
""",
        line=5,
        fixed="""\
def run_tool(cmd):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise
    return json.loads(result.stdout)


def run_semgrep(target):
    \"\"\"Run Semgrep and return its findings.\"\"\"
    raw = run_tool(["semgrep", "--json", target])
    if raw is None:
        return []
    return raw["results"]
""",
        expected_message=(
            "`run_tool` answers `None` when it catches `TimeoutExpired`, and `run_semgrep` "
            "reads that `raw` as `[]` (allow), so a failing check grants access."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # the same runner read by code that lists plugins: an empty list decides nothing
    """\
def run_tool(cmd):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(result.stdout)


def installed_plugins(target):
    \"\"\"The plugins the tool reports, for the settings page.\"\"\"
    raw = run_tool(["tool", "plugins", "--json", target])
    if raw is None:
        return []
    return raw["plugins"]
""",
]

HelperErrorAllows.INVALID += [
    # a helper two callers keep the answer of: the one that allows on an empty answer
    # decided that itself, so its allow is the finding (the other caller denies)
    Invalid(
        """\
def _owner_of_document():
    try:
        return store.owner_of(request.args["doc_id"])
    except Exception:
        return None

def can_view(user):
    owner = _owner_of_document()
    if not owner:
        return True
    return owner == user or user.is_admin

def can_delete(user):
    owner = _owner_of_document()
    if not owner:
        return False
    return owner == user
""",
        line=10,
        fixed="""\
def _owner_of_document():
    try:
        return store.owner_of(request.args["doc_id"])
    except Exception:
        return None

def can_view(user):
    owner = _owner_of_document()
    if not owner:
        return False
    return owner == user or user.is_admin

def can_delete(user):
    owner = _owner_of_document()
    if not owner:
        return False
    return owner == user
""",
        expected_message=(
            "`can_view` returns `True` (allow) when `owner` is empty, which is what "
            "`_owner_of_document` answers when it catches any error, so a failing check "
            "grants access."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # an answer without the key is refused
    """
def parse_verdict(stdout):
    data = json.loads(stdout)
    if "verdict" in data:
        if data["verdict"] == "block":
            return "deny", data.get("reason", "")
        return None, ""
    raise ValueError("no verdict in the hook's answer")


def hook_verdict(stdout):
    decision, reason = parse_verdict(stdout)
    if decision is None:
        return Verdict(outcome="allow", reason=reason)
    return Verdict(outcome="deny", reason=reason or "denied")
""",
]

HelperErrorAllows.INVALID += [
    # the helper's last return is reached when the answer holds none of its keys
    Invalid(
        """\
def parse_verdict(stdout):
    data = json.loads(stdout)
    if "verdict" in data:
        if data["verdict"] == "block":
            return "deny", data.get("reason", "")
        return None, ""
    return None, ""


def hook_verdict(stdout):
    decision, reason = parse_verdict(stdout)
    if decision is None:
        return Verdict(outcome="allow", reason=reason)
    return Verdict(outcome="deny", reason=reason or "denied")
""",
        line=7,
        fixed="""\
def parse_verdict(stdout):
    data = json.loads(stdout)
    if "verdict" in data:
        if data["verdict"] == "block":
            return "deny", data.get("reason", "")
        return None, ""
    raise ValueError("no decision in the answer: cannot decide")


def hook_verdict(stdout):
    decision, reason = parse_verdict(stdout)
    if decision is None:
        return Verdict(outcome="allow", reason=reason)
    return Verdict(outcome="deny", reason=reason or "denied")
""",
        expected_message=(
            "`parse_verdict` answers `(None, '')` when the answer it reads holds no "
            "`verdict`, and `hook_verdict` reads that `decision` as allowed, so a malformed "
            "answer grants access."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # an optional header is no verdict: its absence is no malformed answer
    """
def blocked_reason(headers):
    if "X-Block-Reason" in headers:
        return headers["X-Block-Reason"]
    return None


def view(request):
    reason = blocked_reason(request.headers)
    if reason is None:
        return render(request)
    return HttpResponseForbidden(reason)
""",
]

HelperErrorAllows.INVALID += [
    # the gate blocks only on "flagged"; the helper's failure answers "skipped"
    Invalid(
        """\
def _lint_one(path):
    proc = subprocess.run([sys.executable, LINTER, str(path), "--json"], capture_output=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return "skipped"
    return "flagged" if report["problems"] else "clean"


def main(paths):
    flagged = []
    for path in paths:
        status = _lint_one(path)
        if status == "flagged":
            flagged.append(path)
    if not flagged:
        return 0
    return 1
""",
        line=6,
        fixed="""\
def _lint_one(path):
    proc = subprocess.run([sys.executable, LINTER, str(path), "--json"], capture_output=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError("the check did not run: cannot decide")
    return "flagged" if report["problems"] else "clean"


def main(paths):
    flagged = []
    for path in paths:
        status = _lint_one(path)
        if status == "flagged":
            flagged.append(path)
    if not flagged:
        return 0
    return 1
""",
        expected_message=(
            "`_lint_one` answers 'skipped' when it catches `JSONDecodeError`, and `main` exits "
            "non-zero only for 'flagged' (line 14), so a step that failed passes the gate."
        ),
    ),
]

HelperErrorAllows.VALID += [
    # the gate blocks on every status but the clean one
    """
def _lint_one(path):
    proc = subprocess.run([sys.executable, LINTER, str(path), "--json"], capture_output=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return "skipped"
    return "flagged" if report["problems"] else "clean"


def main(paths):
    blocked = []
    for path in paths:
        status = _lint_one(path)
        if status != "clean":
            blocked.append(path)
    if not blocked:
        return 0
    return 1
""",
]

HelperErrorAllows.VALID += [
    # empty porcelain output is the clean answer: `check=True` raises on a failure
    """
def _status(path):
    proc = subprocess.run(["git", "status", "--porcelain", str(path)],
                          capture_output=True, text=True, check=True)
    if not proc.stdout.strip():
        return "clean"
    return "changed"


def main(paths):
    changed = []
    for path in paths:
        status = _status(path)
        if status == "changed":
            changed.append(path)
    if not changed:
        return 0
    return 1
""",
    # the gate looks at the failure status itself
    """
def _lint_one(path):
    proc = subprocess.run([sys.executable, "-m", "mylinter", str(path)], capture_output=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return "error"
    return "flagged" if report["problems"] else "clean"


def main(paths):
    flagged, failed = [], []
    for path in paths:
        status = _lint_one(path)
        if status == "flagged":
            flagged.append(path)
        if status == "error":
            failed.append(path)
    if failed:
        return 2
    if not flagged:
        return 0
    return 1
""",
    # a file that is not text: the input, not the check, failed to read
    """
def _format_one(path):
    try:
        src = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "binary"
    new = fix_whitespace(src)
    if new != src:
        path.write_text(new)
        return "changed"
    return "unchanged"


def main(paths):
    changed = []
    for path in paths:
        status = _format_one(path)
        if status == "changed":
            changed.append(path)
    if not changed:
        return 0
    return 1
""",
]
