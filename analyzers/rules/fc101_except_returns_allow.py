"""FC101: an `except` handler in a permission path answers "allow"."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import (
    AllowValue,
    allow_value,
    gated_by_fail_open_flag,
    keyed_allow,
    mentions_allowing,
    under_fail_open_flag,
)
from failclosed.analyzers.denials import (
    body_denies,
    catches_failures,
    checks_auth,
    denies_by_raising,
    is_deny_response,
)
from failclosed.analyzers.fixes import Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.flow import FunctionFlow, assigned_names, is_exit_call, returns_in
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    absent_subject,
    assigns,
    caught,
    exit_code,
    failing_call,
    reword_edits,
    tries,
)
from failclosed.analyzers.syntax import call_name, handler_types, own_nodes


class ExceptReturnsAllow(Rule):
    """
    ## What it does
    Flags an `except` handler in a permission check that returns (or sets the result to)
    the value meaning *allowed*: `return True` in `has_permission`, `return False` in
    `is_rate_limited`, `Decision.ALLOW`, `{"allowed": True}`, `PermissionResult(allowed=True)`,
    or, in a guard that denies by raising, a plain `return` that lets the request through.

    ## Why is this bad?
    The handler runs exactly when the permission system could not answer: a timeout, a
    dropped connection, a malformed reply, a backend that is down. Answering *allow* then
    means any outage, or any input that makes the check crash, grants everything
    (CWE-636, OWASP A10:2025). If you can't verify it's safe, it isn't.

    ## Example
    ```python
    def has_permission(user, action):
        try:
            return client.check(user, action)
        except Exception as e:
            logger.warning("Permission request failed: %s, auto-allowing", e)
            return True
    ```

    ## Use instead
    ```python
    def has_permission(user, action):
        try:
            return client.check(user, action)
        except Exception as e:
            logger.warning("Permission request failed: %s, denying", e)
            return False
    ```

    ## Fix safety
    The fix flips the allow value to its deny counterpart for the function's polarity
    (`True`→`False` in allow-style checks, `False`→`True` in `is_blocked`-style ones,
    `ALLOW`→`DENY` when the enum has that member) and rewords the log message. Where no deny
    value is known it re-raises. It changes behaviour on the error path only, and that
    change is the point: callers that relied on "allowed during outages" will now see denials.
    """

    code = "FC101"
    name = "except-returns-allow"
    severity = "error"
    summary = "An `except` handler in a permission check returns the allow value."
    fix_safety = "Changes the error path only: deny value instead of allow, or re-raise."

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            for handler in node.handlers:
                if gated_by_fail_open_flag(handler, fn):
                    continue
                if not catches_failures(handler, node):
                    # `except FileNotFoundError: return True` beside `except Timeout:
                    # return False`: the check's own answers say the missing tool fails it
                    yield from self._sibling_hits(fn, info, node, handler)
                    continue
                loose = mentions_allowing(info, handler)
                for ret in returns_in(handler):
                    if _computed_in_loop(handler, ret) or _checked_again(handler, ret):
                        continue  # the handler works out another answer
                    hit = self._returned_allow(fn, info, node, handler, ret, loose)
                    if hit:
                        yield hit
                        yield from self._missing_answer_allows(fn, info, node, handler, loose)
                flow = fn.flow
                yield from self._assigned_allow(fn, info, flow, node, handler, loose)

    def _missing_answer_allows(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        node: ast.Try,
        handler: ast.ExceptHandler,
        loose: bool,
    ) -> Iterator[Hit]:
        """`if not head_sha: return True` inside the `try` whose handler was just reported:
        an answer without the field it needs is the same failure, answered the same way."""
        read = _fields_read(node.body)
        for stmt in node.body:
            if not isinstance(stmt, ast.If) or not stmt.body:
                continue
            subject = absent_subject(stmt.test)
            if subject is None or not isinstance(subject[0], ast.Name):
                continue
            first = stmt.body[-1]
            if subject[0].id not in read or not isinstance(first, ast.Return):
                continue
            value = allow_value(first.value, fn, info, loose)
            if value is None:
                continue
            yield Hit(
                node=first,
                message=(
                    f"`{fn.qualname}` returns `{value.shown}` (allow) when the answer of "
                    f"{failing_call(node)} has no `{subject[0].id}`, as it does when the call "
                    f"raises {caught(handler)}: a malformed answer grants access too."
                ),
                edits=[_deny_edit(value, first)],
                key_nodes=[stmt.test],
            )

    def _sibling_hits(
        self, fn: FunctionInfo, info: ModuleInfo, node: ast.Try, handler: ast.ExceptHandler
    ) -> Iterator[Hit]:
        for ret in returns_in(handler):
            value = _sibling_answers_false(node, handler, ret)
            if value is not None:
                yield Hit(
                    node=ret,
                    message=(
                        f"`{fn.qualname}` returns `{value.shown}` (passed) when "
                        f"{failing_call(node)} raises {caught(handler)}, while its other "
                        "failures answer `False`: a check that cannot run passes."
                    ),
                    edits=[_deny_edit(value, ret), *reword_edits(info, handler)],
                    key_nodes=[handler],
                )

    def _returned_allow(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        node: ast.Try,
        handler: ast.ExceptHandler,
        ret: ast.Return,
        loose: bool,
    ) -> Hit | None:
        if _under_flag(fn, handler, ret):
            return None
        value = allow_value(ret.value, fn, info, loose)
        if value is None and _failed_validation(handler):
            value = _valid_in_result(ret.value, fn, info)
        if value is None:
            value = _sibling_answers_false(node, handler, ret)
        if value is not None:
            edits: list[Edit] = [_deny_edit(value, ret)]
            message = (
                f"`{fn.qualname}` returns `{value.shown}` (allow) when {failing_call(node)} "
                f"raises {caught(handler)}, so a failing permission check grants access."
            )
        elif (
            fn.pure_guard
            and (checks_auth(node) or _feeds_a_refusal(fn, node))
            and _passes_through(ret)
            and _lets_through_when_checked(fn)
        ):
            edits = [ReplaceStatements(ret, ret, ("raise",))]
            message = (
                f"Guard `{fn.qualname}` returns normally when {failing_call(node)} raises "
                f"{caught(handler)}, so the request goes through unchecked; raise instead."
            )
        else:
            return None
        edits += reword_edits(info, handler)
        return Hit(node=ret, message=message, edits=edits, key_nodes=[handler])

    def _assigned_allow(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        node: ast.Try,
        handler: ast.ExceptHandler,
        loose: bool,
    ) -> Iterator[Hit]:
        """`except: allowed = True` followed by `return allowed`, or by the deny that
        tests it (`if not allowed: return 429`)."""
        for stmt in _last_assignments(handler):
            name = _assigned_name(stmt)
            value = allow_value(stmt.value, fn, info, loose)
            flag = keyed_allow(name, stmt.value, fn, info) if value is None else None
            if (value or flag) is None and not _under_flag(fn, handler, stmt):
                hit = _recomputed_verdict(fn, info, node, handler, stmt) or _returned_entry(
                    fn, info, flow, node, handler, stmt, loose
                )
                if hit is not None:
                    yield hit
                continue
            if _under_flag(fn, handler, stmt):
                continue
            if flag is not None:
                deny = _deny_testing(fn, name, node)
                if deny is not None:
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` sets `{name} = {ast.unparse(stmt.value)}` when "
                            f"{failing_call(node)} raises {caught(handler)}, so the denial at "
                            f"line {deny.lineno} never runs: a failing check grants access."
                        ),
                        edits=[_deny_edit(flag, stmt), *reword_edits(info, handler)],
                        key_nodes=[handler, deny.test],
                    )
                continue
            assert value is not None
            outcome = flow.after(node)
            returned = outcome.value
            if not (
                outcome.kind == "return"
                and isinstance(returned, ast.Name)
                and returned.id == name
                and name not in outcome.assigned
            ):
                continue
            yield Hit(
                node=stmt,
                message=(
                    f"`{fn.qualname}` sets `{name} = {value.shown}` when {failing_call(node)} "
                    f"raises {caught(handler)} and returns it, so a failing permission check "
                    "grants access."
                ),
                edits=[_deny_edit(value, stmt), *reword_edits(info, handler)],
                key_nodes=[handler, outcome.node] if outcome.node else [handler],
            )


def _entry_read(value: ast.expr | None) -> tuple[str, object] | None:
    """(`decision`, "result") for `decision["result"]` or `decision.get("result", False)`."""
    if (
        isinstance(value, ast.Subscript)
        and isinstance(value.value, ast.Name)
        and isinstance(value.slice, ast.Constant)
    ):
        return value.value.id, value.slice.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "get"
        and isinstance(value.func.value, ast.Name)
        and value.args
        and isinstance(value.args[0], ast.Constant)
    ):
        return value.func.value.id, value.args[0].value
    return None


def _returned_entry(
    fn: FunctionInfo,
    info: ModuleInfo,
    flow: FunctionFlow,
    node: ast.Try,
    handler: ast.ExceptHandler,
    stmt: ast.Assign,
    loose: bool,
) -> Hit | None:
    """`except: decision = {"result": True}` then `return decision["result"]`: the entry the
    function returns is its answer, and on error it is the allow value."""
    name = _assigned_name(stmt)
    outcome = flow.after(node)
    read = _entry_read(outcome.value)
    if not (
        isinstance(stmt.value, ast.Dict)
        and outcome.kind == "return"
        and read is not None
        and read[0] == name
        and name not in outcome.assigned
    ):
        return None
    key = read[1]
    entry = next(
        (
            v
            for k, v in zip(stmt.value.keys, stmt.value.values, strict=True)
            if isinstance(k, ast.Constant) and k.value == key
        ),
        None,
    )
    value = allow_value(entry, fn, info, loose) if entry is not None else None
    if value is None:
        return None
    return Hit(
        node=stmt,
        message=(
            f"`{fn.qualname}` sets `{name}[{key!r}]` to `{value.shown}` when "
            f"{failing_call(node)} raises {caught(handler)} and returns it, so a failing "
            "permission check grants access."
        ),
        edits=[_deny_edit(value, stmt), *reword_edits(info, handler)],
        key_nodes=[handler, outcome.node] if outcome.node else [handler],
    )


# The last word of a verdict flag's name, and the value that means "no" for it.
FLAG_DENY_VALUE = {
    **dict.fromkeys(("denied", "deny", "blocked", "banned", "forbidden", "throttled"), "True"),
    **dict.fromkeys(("allowed", "permitted", "granted", "authorized", "authorised"), "False"),
}


def _recomputed_verdict(
    fn: FunctionInfo,
    info: ModuleInfo,
    node: ast.Try,
    handler: ast.ExceptHandler,
    stmt: ast.Assign,
) -> Hit | None:
    """`try: denied = not decision.allowed` / `except: denied = not has_plan()`: when the
    check fails, the verdict is worked out again from something weaker than the check, and
    the denial that tests it follows that weaker answer."""
    name = _assigned_name(stmt)
    words = name.lower().split("_")
    deny_value = FLAG_DENY_VALUE.get(words[-1])
    if deny_value is None or "not" in words or isinstance(stmt.value, ast.Constant):
        return None  # `not_allowed`: the name's last word points the other way
    if _retries_or_caches(stmt.value, node, name):
        return None
    if not assigns(node.body, name):
        return None  # the try never set the verdict: the handler is not replacing the check
    deny = _deny_testing(fn, name, node) or _exits_when(fn, name, node, deny_value == "True")
    if deny is None:
        return None
    return Hit(
        node=stmt,
        message=(
            f"`{fn.qualname}` works `{name}` out again from `{ast.unparse(stmt.value)}` when "
            f"{failing_call(node)} raises {caught(handler)}, so the denial at line "
            f"{deny.lineno} follows a weaker answer than the check that failed."
        ),
        edits=[ReplaceExpression(stmt.value, deny_value), *reword_edits(info, handler)],
        key_nodes=[handler, deny.test],
        severity="warning",
    )


def _retries_or_caches(value: ast.expr, node: ast.Try, name: str) -> bool:
    """`allowed = opa.check(req, timeout=10)` (the check the try made, again) or
    `allowed = cache.get(key, False)` (a remembered answer): not a weaker source. Only the
    try's own unconditional verdict counts as "the check": a fallback one branch of the
    try also used is still weaker than the check that failed."""
    tried = {
        call_name(n)
        for s in node.body
        if isinstance(s, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in s.targets)
        for n in own_nodes(s)
        if isinstance(n, ast.Call)
    }
    for n in (value, *own_nodes(value)):
        if isinstance(n, ast.Call) and (call_name(n) in tried or call_name(n) == "get"):
            return True
    return False


def _ifs_after(fn: FunctionInfo, node: ast.Try) -> Iterator[ast.If]:
    """The function's `if` statements that come after the try: where a verdict is tested."""
    end = node.end_lineno or node.lineno
    for stmt in fn.statements:
        if isinstance(stmt, ast.If) and stmt.lineno > end:
            yield stmt


def _exits_when(fn: FunctionInfo, name: str, node: ast.Try, truthy: bool) -> ast.If | None:
    """After the try, `if denied:` (or `if not allowed:`) whose branch leaves early: the
    flag's own name says that branch is the denial."""
    for stmt in _ifs_after(fn, node):
        test = stmt.test
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        subject = test.operand if isinstance(test, ast.UnaryOp) and negated else test
        if not (isinstance(subject, ast.Name) and subject.id == name) or negated == truthy:
            continue
        last = stmt.body[-1]
        if isinstance(last, ast.Return | ast.Raise | ast.Continue | ast.Break):
            return stmt
    return None


def _deny_testing(fn: FunctionInfo, name: str, node: ast.Try) -> ast.If | None:
    """After the try, an `if` on the verdict `name` whose branch denies (a 403/429 response,
    a deny exception)."""
    for stmt in _ifs_after(fn, node):
        if not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(stmt.test)):
            continue
        if body_denies(stmt.body) or any(
            isinstance(n, ast.Call) and (is_deny_response(n) or _exits_refusing(n))
            for s in stmt.body
            for n in [s, *own_nodes(s)]
        ):
            return stmt
    return None


# What a validator raises when the input is not valid: the handler is the "no" path.
FAILED_VALIDATION = re.compile(
    r"(?i)(validation|invalid|verification|schema)\w*(error|exception|failed|failure)$"
)


def _valid_in_result(
    value: ast.expr | None, fn: FunctionInfo, info: ModuleInfo
) -> AllowValue | None:
    """`Result(is_valid=True, ...)` answered to a validation failure: the result says valid.
    Only a result's own field counts; a bare `True` could mean anything (`has_changed`)."""
    if not isinstance(value, ast.Call):
        return None
    for kw in value.keywords:
        hit = keyed_allow(kw.arg, kw.value, fn, info, decided=True)
        if hit is not None:
            return hit
    return None


def _failed_validation(handler: ast.ExceptHandler) -> bool:
    """`except ValidationError:`: what was caught is the check saying no."""
    types = handler_types(handler)
    return bool(types) and all(FAILED_VALIDATION.search(t) for t in types)


def _exits_refusing(call: ast.Call) -> bool:
    """`sys.exit(2)`: a hook or script that refuses by its exit status."""
    if not is_exit_call(call):
        return False
    status = exit_code(call)
    return status is not None and status != 0


# A call made for its exception, a statement of its own that raises when what it checks is
# wrong: `validate(config, schema)`, `verify(sig)`. Narrower than vocabulary.CHECK_CALL,
# which also takes calls that answer (`has_role`, `evaluate`) and whose answer is read.
RAISING_CHECK = re.compile(r"(?i)^_*(validate|verify|check|authori[sz]e|authenticate|assert)\w*$")


def _checked_again(handler: ast.ExceptHandler, ret: ast.Return) -> bool:
    """`except ValidationError: try: validate(config, other_schema); return True ...`: the
    handler checks again, another way, and the allow is returned only once that passed."""
    for node in own_nodes(handler):
        if not isinstance(node, ast.Try):
            continue
        for index, stmt in enumerate(node.body):
            if stmt is ret:
                return any(
                    isinstance(s, ast.Expr)
                    and isinstance(s.value, ast.Call)
                    and RAISING_CHECK.match(call_name(s.value))
                    for s in node.body[:index]
                )
    return False


def _computed_in_loop(handler: ast.ExceptHandler, ret: ast.Return) -> bool:
    """The return sits in a loop inside the handler: an answer computed another way."""
    return any(
        isinstance(loop, ast.For | ast.AsyncFor | ast.While)
        and any(n is ret for n in own_nodes(loop))
        for loop in own_nodes(handler)
    )


def _last_assignments(handler: ast.ExceptHandler) -> list[ast.Assign]:
    """The last `name = value` for each name the handler assigns: the one that counts."""
    last: dict[str, ast.Assign] = {}
    assigns = [
        n
        for n in own_nodes(handler)
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
    ]
    for stmt in sorted(assigns, key=lambda n: (n.lineno, n.col_offset)):
        last[_assigned_name(stmt)] = stmt
    return list(last.values())


def _assigned_name(stmt: ast.Assign) -> str:
    """The name `name = value` sets (`_last_assignments` keeps only such statements)."""
    target = stmt.targets[0]
    return target.id if isinstance(target, ast.Name) else ""


def _deny_edit(value: AllowValue, stmt: ast.stmt) -> Edit:
    if value.deny is not None:
        return ReplaceExpression(value.node, value.deny)
    return ReplaceStatements(stmt, stmt, ("raise",))


def _under_flag(fn: FunctionInfo, handler: ast.ExceptHandler, stmt: ast.AST) -> bool:
    """Is `stmt` inside an `if` on a named fail-open setting, within the handler?"""
    flow = fn.flow
    path = []
    for node in flow.ancestors(stmt):
        if node is handler:
            break
        path.append(node)
    return under_fail_open_flag(path)


def _lets_through_when_checked(fn: FunctionInfo) -> bool:
    """A guard that answers with denial responses also lets requests through outside its
    handlers (`return None`, or running off its end). One whose every answer is a denial
    builds the denial (`return HttpResponse(html, status=429)`): its None on error is
    "could not build it", and the caller denies anyway."""
    if not any(
        isinstance(n, ast.Return) and n.value is not None and is_deny_response(n.value)
        for n in fn.nodes
    ):
        return True  # it denies by raising: returning at all is the allow
    in_handlers = {id(n) for h in fn.nodes if isinstance(h, ast.ExceptHandler)
                   for n in own_nodes(h)}  # fmt: skip
    for n in fn.nodes:
        if isinstance(n, ast.Return) and id(n) not in in_handlers and _passes_through(n):
            return True
    return _runs_off_end(fn.node.body)


def _runs_off_end(body: list[ast.stmt]) -> bool:
    """Can control reach the end of these statements (not counting except handlers)?"""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise):
        return False
    if isinstance(last, ast.If):
        return _runs_off_end(last.body) or _runs_off_end(last.orelse)
    if isinstance(last, ast.Try | ast.TryStar):
        return _runs_off_end(last.orelse or last.body) if not last.finalbody else True
    if isinstance(last, ast.With | ast.AsyncWith):
        return _runs_off_end(last.body)
    return True


def _feeds_a_refusal(fn: FunctionInfo, node: ast.Try) -> bool:
    """What the `try` works out is what a later refusal of the guard tests: `addresses =
    resolve(host)` in it, then `for ip in addresses: ... raise UnsafeURLError(...)`; or
    a name worked out from it (`params` read in the `try`, `caller = params.client` after
    it, then `raise PermissionError(caller)`)."""
    computed = set().union(*map(assigned_names, node.body))
    after = [s for s in fn.node.body if s.lineno > (node.end_lineno or node.lineno)]
    for stmt in after:  # and what is worked out from it: `name = params.client_info.name`
        if isinstance(stmt, ast.Assign) and any(
            isinstance(m, ast.Name) and m.id in computed for m in own_nodes(stmt.value)
        ):
            computed |= assigned_names(stmt)
    return any(
        isinstance(n, ast.Raise)
        and denies_by_raising([n])
        and any(isinstance(m, ast.Name) and m.id in computed for m in own_nodes(stmt))
        for stmt in after
        for n in [stmt, *own_nodes(stmt)]
    )


def _passes_through(ret: ast.Return) -> bool:
    """A guard's `return`, `return None` or `return request`: not a deny, not a fallback call."""
    value = ret.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return True
    return isinstance(value, ast.Name | ast.Attribute) and not is_deny_response(value)


EXAMPLE_FIXED = """\
def has_permission(user, action):
    try:
        return client.check(user, action)
    except Exception as e:
        logger.warning("Permission request failed: %s, denying", e)
        return False
"""


def _fields_read(body: list[ast.stmt]) -> set[str]:
    """Names set in `body` to a field of an answer read there: `head = (pr.get("head") or
    {}).get("sha")` after `pr = host.get_pull_request(n)`; not the result of another call."""
    answers: set[str] = set()
    fields: set[str] = set()
    for stmt in body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target = stmt.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
        calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
        if isinstance(value, ast.Call) and len(calls) == 1:
            answers.add(target.id)
        elif all(isinstance(c.func, ast.Attribute) and c.func.attr == "get" for c in calls) and any(
            isinstance(n, ast.Name) and n.id in answers for n in ast.walk(value)
        ):
            fields.add(target.id)
    return fields


def _sibling_answers_false(
    node: ast.Try, handler: ast.ExceptHandler, ret: ast.Return
) -> AllowValue | None:
    """`return True` in a handler of a check whose other handler answers `return False`
    for another failure, and whose `try` answers `True` on success: the same check failing
    in two ways gets two answers, and the `True` one lets it through."""
    if not _is_bool(ret.value, True):
        return None
    others = [h for h in node.handlers if h is not handler and catches_failures(h, node)]
    refusing = [h for h in others if _answers_only(h, False)]
    if not refusing:
        return None
    if not any(_is_bool(r.value, True) for stmt in node.body for r in _returns(stmt)):
        return None
    assert ret.value is not None
    return AllowValue(ret.value, "False", "True")


def _answers_only(handler: ast.ExceptHandler, answer: bool) -> bool:
    returns = list(returns_in(handler))
    return bool(returns) and all(_is_bool(r.value, answer) for r in returns)


def _returns(stmt: ast.stmt) -> list[ast.Return]:
    return [n for n in [stmt, *own_nodes(stmt)] if isinstance(n, ast.Return)]


def _is_bool(value: ast.expr | None, answer: bool) -> bool:
    return isinstance(value, ast.Constant) and value.value is answer


ExceptReturnsAllow.VALID = [
    # the lenient path is an opt-in: strict is the default
    """
def safe_parse(content, model_class, strict=True):
    data = json.loads(content)
    try:
        validated = model_class.model_validate(data)
        return ValidationResult(is_valid=True, data=validated)
    except ValidationError as e:
        errors = [str(x) for x in e.errors()]
        if strict:
            return ValidationResult(is_valid=False, errors=errors)
        try:
            partial = model_class.model_construct(**data)
            return ValidationResult(is_valid=True, data=partial, warnings=errors)
        except Exception as e2:
            return ValidationResult(is_valid=False, errors=[str(e2)])
""",
    # it builds the denial; None means "could not build it" and the caller denies anyway
    """
def render_limit_page(template, request):
    try:
        html = render_to_string(template, request=request)
        return HttpResponse(html, status=429)
    except Exception:
        return None
""",
    # a "doing" function that consults a check answers "was it added?", not "is it allowed?"
    """
def add_rule(self, rule):
    if self.has_policy(rule):
        return False
    try:
        self.rules.insert(rule)
    except StoreError:
        return True
    return True
""",
    # a linter's problems are not a security verdict
    """
def lint_errors(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [check(tree) for check in CHECKS]
""",
    # names alone do not make a permission check: UI preferences, capabilities, caches
    """
def can_use_color(stream):
    try:
        return stream.isatty()
    except Exception:
        return True

def allows_null(field):
    try:
        return field.null
    except AttributeError:
        return True

def may_have_children(node):
    try:
        return bool(node.children())
    except Exception:
        return True

class RedisCacheBackend(BaseCache):
    def has_key(self, key):
        try:
            return self.client.exists(key)
        except ConnectionError:
            return True

class SlugValidator:
    def __call__(self, value):
        try:
            return SLUG.match(value) is not None
        except TypeError:
            return True
""",
    # `True` means "authentication is required": True on error fails closed (fastmcp)
    """
async def check_if_auth_required(url):
    try:
        response = await httpx.get(url)
        return response.status_code == 401
    except httpx.RequestError:
        return True
""",
    # denies on error
    """
def has_permission(user, action):
    try:
        return client.check(user, action)
    except Exception:
        return False
""",
    # re-raises
    """
def is_allowed(user):
    try:
        return policy.evaluate(user)
    except TimeoutError:
        raise
""",
    # deny polarity: True means blocked, so True on error is correct
    """
def is_rate_limited(key):
    try:
        return redis.incr(key) > LIMIT
    except ConnectionError:
        return True
""",
    # fall back to the authoritative source
    """
def has_perm(user, perm):
    try:
        return cache.get_perm(user, perm)
    except CacheMiss:
        return db.has_perm(user, perm)
""",
    # not a security helper
    """
def is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False
""",
    # a named, configured choice whose default is closed
    """
def check_access(self, user):
    try:
        return self.client.check(user)
    except Exception:
        if self.settings.fail_open:
            return True
        raise
""",
    # import fallbacks are not permission failures
    """
def has_permission(user):
    try:
        import fancy_acl
    except ImportError:
        return True
    return fancy_acl.check(user)
""",
    # a test double
    """
class FakePermissionClient:
    def has_permission(self, user):
        try:
            return self.answers[user]
        except KeyError:
            return True
""",
    # the variable is overwritten with a deny before being returned
    """
def is_allowed(user):
    allowed = False
    try:
        allowed = policy.check(user)
    except Exception:
        allowed = True
        allowed = False
    return allowed
""",
    # a verdict worked out again, but nothing denies on it
    """
def describe(user):
    try:
        allowed = policy.check(user)
    except PolicyError:
        allowed = user.is_staff
    log.info("allowed=%s", allowed)
""",
    # the try never decided: the handler is the first answer
    """
def load(org):
    try:
        plan = billing.plan(org)
    except BillingError:
        denied = not org.trial
    if denied:
        return None
    return plan
""",
    # a weak state word alone does not make a check: `within` a numeric range
    """
def is_within_range(value, low, high):
    try:
        number = float(value)
    except ValueError:
        return True
    return low <= number <= high
""",
    # a state word without a question: `record_verified` does something
    """
def record_verified(user):
    try:
        db.mark(user, "verified")
    except DatabaseError:
        return True
    return user.id in db.verified_ids()
""",
    # the entry the handler fills in is not the one returned
    """
async def authorize_tool_call(tool_name, user):
    try:
        decision = await opa.query("tools/allow", tool=tool_name, user=user)
    except TimeoutError:
        decision = {"result": False, "cached": True}
    return decision["result"]
""",
    # `not_allowed` points the other way; a retry of the same check is not weaker
    """
def export(request):
    try:
        not_allowed = not policy.check(request.user)
    except PolicyError:
        not_allowed = not request.user.is_staff
    if not_allowed:
        raise PermissionDenied()
    return build(request)
""",
    """
def export(request):
    try:
        allowed = opa.check(request.user, timeout=1)
    except TimeoutError:
        allowed = opa.check(request.user, timeout=10)
    if not allowed:
        raise PermissionDenied()
    return build(request)
""",
]

ExceptReturnsAllow.VALID += [
    # a wrapper, but what it relays is no verdict on access
    """
def _cache_warm() -> bool:
    try:
        return cache.ping()
    except Exception:
        return True
""",
]

ExceptReturnsAllow.INVALID = [
    # the verdict is the first of a pair; the result's own field says allow
    Invalid(
        """\
def scan_with_escalation(self, body):
    try:
        payload = json.loads(body)
    except ValueError:
        return ActionResult(action="allow", reason="not JSON"), None
    return self._scan(payload), self._escalation(payload)
""",
        line=5,
        fixed="""\
def scan_with_escalation(self, body):
    try:
        payload = json.loads(body)
    except ValueError:
        return ActionResult(action="deny", reason="not JSON"), None
    return self._scan(payload), self._escalation(payload)
""",
        expected_message=(
            "`scan_with_escalation` returns `action='allow'` (allow) when `json.loads()` "
            "raises `ValueError`, so a failing permission check grants access."
        ),
    ),
    # validation failed, and the lenient path - the default - answers "valid"
    Invalid(
        """\
def safe_parse(content, model_class, strict=False):
    data = json.loads(content)
    try:
        validated = model_class.model_validate(data)
        return ValidationResult(is_valid=True, data=validated)
    except ValidationError as e:
        errors = [str(x) for x in e.errors()]
        if strict:
            return ValidationResult(is_valid=False, errors=errors)
        try:
            partial = model_class.model_construct(**data)
            return ValidationResult(is_valid=True, data=partial, warnings=errors)
        except Exception as e2:
            return ValidationResult(is_valid=False, errors=[str(e2)])
""",
        line=12,
        fixed="""\
def safe_parse(content, model_class, strict=False):
    data = json.loads(content)
    try:
        validated = model_class.model_validate(data)
        return ValidationResult(is_valid=True, data=validated)
    except ValidationError as e:
        errors = [str(x) for x in e.errors()]
        if strict:
            return ValidationResult(is_valid=False, errors=errors)
        try:
            partial = model_class.model_construct(**data)
            return ValidationResult(is_valid=False, data=partial, warnings=errors)
        except Exception as e2:
            return ValidationResult(is_valid=False, errors=[str(e2)])
""",
        expected_message=(
            "`safe_parse` returns `is_valid=True` (allow) when `model_class.model_validate()` "
            "raises `ValidationError`, so a failing permission check grants access."
        ),
    ),
    # a hook's verdict set to allow on error skips the exit status that blocks
    Invalid(
        """\
def main():
    event = read_event()
    try:
        decision = evaluate(event, load_policy())
    except Exception:
        decision = "allow"
    if decision == "deny":
        print("blocked by policy", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)
""",
        line=6,
        fixed="""\
def main():
    event = read_event()
    try:
        decision = evaluate(event, load_policy())
    except Exception:
        decision = "deny"
    if decision == "deny":
        print("blocked by policy", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)
""",
        expected_message=(
            "`main` sets `decision = 'allow'` when `evaluate()` raises any error, so the "
            "denial at line 7 never runs: a failing check grants access."
        ),
    ),
    # what True means comes from the caller: `if call_id and _gate(call_id): <blocked>`
    Invalid(
        """\
def _gate(call_id) -> bool:
    try:
        return verdicts.wait(call_id, timeout=30)
    except Exception:
        return False


def invoke(tool, call_id, args):
    if call_id and _gate(call_id):
        return _blocked_response(call_id)
    return tool.run(args)
""",
        line=5,
        fixed="""\
def _gate(call_id) -> bool:
    try:
        return verdicts.wait(call_id, timeout=30)
    except Exception:
        return True


def invoke(tool, call_id, args):
    if call_id and _gate(call_id):
        return _blocked_response(call_id)
    return tool.run(args)
""",
        expected_message=(
            "`_gate` returns `False` (allow) when `verdicts.wait()` raises any error, so a "
            "failing permission check grants access."
        ),
    ),
    # `True or ...` is True whatever follows; the fix replaces the whole expression
    Invalid(
        """\
def can_edit(user, doc) -> bool:
    try:
        return acl.check(user, doc)
    except AclError:
        return True or "x"
""",
        line=5,
        fixed="""\
def can_edit(user, doc) -> bool:
    try:
        return acl.check(user, doc)
    except AclError:
        return False
""",
        expected_message=(
            "`can_edit` returns `True or 'x'` (allow) when `acl.check()` raises `AclError`, "
            "so a failing permission check grants access."
        ),
    ),
    # a hook that cannot be launched hands back the gate's "pass" verdict
    Invalid(
        """\
def run(self, hook_path, payload):
    try:
        proc = subprocess.run(["bash", str(hook_path)], input=payload, capture_output=True)
    except OSError as exc:
        print(f"hook failed: {exc}", file=sys.stderr)
        return HookResult(decision="pass", output="")
    return HookResult(decision=parse(proc.stdout), output=proc.stdout)
""",
        line=6,
        fixed="""\
def run(self, hook_path, payload):
    try:
        proc = subprocess.run(["bash", str(hook_path)], input=payload, capture_output=True)
    except OSError as exc:
        print(f"hook failed: {exc}", file=sys.stderr)
        return HookResult(decision="block", output="")
    return HookResult(decision=parse(proc.stdout), output=proc.stdout)
""",
        expected_message=(
            "`run` returns `decision='pass'` (allow) when `subprocess.run()` raises "
            "`OSError`, so a failing permission check grants access."
        ),
    ),
    # a neutral name, but its own branches say which answer is "no"
    Invalid(
        """\
def export_for(user, report) -> bool:
    try:
        token = tokens.lookup(user)
    except TokenStoreError:
        return True
    if not verifier.check_scope(token, "export"):
        return False
    return True
""",
        line=5,
        fixed="""\
def export_for(user, report) -> bool:
    try:
        token = tokens.lookup(user)
    except TokenStoreError:
        return False
    if not verifier.check_scope(token, "export"):
        return False
    return True
""",
        expected_message=(
            "`export_for` returns `True` (allow) when `tokens.lookup()` raises "
            "`TokenStoreError`, so a failing permission check grants access."
        ),
    ),
    # a verdict dict whose key says which way it points
    Invalid(
        """\
def validate_command(command):
    try:
        for pattern in DANGEROUS:
            if re.search(pattern, command):
                return {"should_block": True, "reason": pattern}
        return {"should_block": False}
    except Exception as e:
        return {"should_block": False, "error": str(e)}
""",
        line=8,
        fixed="""\
def validate_command(command):
    try:
        for pattern in DANGEROUS:
            if re.search(pattern, command):
                return {"should_block": True, "reason": pattern}
        return {"should_block": False}
    except Exception as e:
        return {"should_block": True, "error": str(e)}
""",
        expected_message=(
            "`validate_command` returns `should_block=False` (allow) when `re.search()` "
            "raises any error, so a failing permission check grants access."
        ),
    ),
    # a verdict flag set on error skips the denial that tests it
    Invalid(
        """\
async def wrapper(request, *args, **kwargs):
    try:
        allowed, meta = await backend.check_rate_limit(key_for(request), limit, period)
    except Exception as e:
        logger.exception(f"backend check failed: {e}")
        allowed = True
    if not allowed:
        return HttpResponseTooManyRequests("slow down")
    return await view(request, *args, **kwargs)
""",
        line=6,
        fixed="""\
async def wrapper(request, *args, **kwargs):
    try:
        allowed, meta = await backend.check_rate_limit(key_for(request), limit, period)
    except Exception as e:
        logger.exception(f"backend check failed: {e}")
        allowed = False
    if not allowed:
        return HttpResponseTooManyRequests("slow down")
    return await view(request, *args, **kwargs)
""",
        expected_message=(
            "`wrapper` sets `allowed = True` when `backend.check_rate_limit()` raises any "
            "error, so the denial at line 7 never runs: a failing check grants access."
        ),
    ),
    # a validator answering (ok, reason): its shape says which way True points
    Invalid(
        """\
def resolve_and_validate_url(url):
    host = urlparse(url).hostname
    if not host:
        return False, "no host", []
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return True, None, []
    ips = [i[4][0] for i in infos]
    if any(ipaddress.ip_address(ip).is_private for ip in ips):
        return False, "private address", []
    return True, None, ips
""",
        line=8,
        fixed="""\
def resolve_and_validate_url(url):
    host = urlparse(url).hostname
    if not host:
        return False, "no host", []
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False, None, []
    ips = [i[4][0] for i in infos]
    if any(ipaddress.ip_address(ip).is_private for ip in ips):
        return False, "private address", []
    return True, None, ips
""",
        expected_message=(
            "`resolve_and_validate_url` returns `True` (allow) when `socket.getaddrinfo()` "
            "raises `gaierror`, so a failing permission check grants access."
        ),
    ),
    # no decisive name, but it asks an ACL and answers yes or no
    Invalid(
        """\
def can_export(user, report) -> bool:
    try:
        if not acl.has_role(user, "exporter"):
            return False
    except AclError:
        return True
    return report.owner == user
""",
        line=6,
        fixed="""\
def can_export(user, report) -> bool:
    try:
        if not acl.has_role(user, "exporter"):
            return False
    except AclError:
        return False
    return report.owner == user
""",
        expected_message=(
            "`can_export` returns `True` (allow) when `acl.has_role()` raises `AclError`, so "
            "a failing permission check grants access."
        ),
    ),
    # a security scan that cannot read its input reports "no findings": all clear
    Invalid(
        """\
def secret_findings(text: str) -> list[str]:
    try:
        report = scanner.scan(text)
    except ScannerError:
        return []
    return [f.rule for f in report.findings]
""",
        line=5,
        fixed="""\
def secret_findings(text: str) -> list[str]:
    try:
        report = scanner.scan(text)
    except ScannerError:
        raise
    return [f.rule for f in report.findings]
""",
        expected_message=(
            "`secret_findings` returns `[]` (allow) when `scanner.scan()` raises "
            "`ScannerError`, so a failing permission check grants access."
        ),
    ),
    Invalid(
        """\
def has_permission(user, action):
    try:
        return client.check(user, action)
    except Exception as e:
        logger.warning("Permission request failed: %s, auto-allowing", e)
        return True
""",
        line=6,
        fixed=EXAMPLE_FIXED,
        expected_message=(
            "`has_permission` returns `True` (allow) when `client.check()` raises any error, "
            "so a failing permission check grants access."
        ),
    ),
    # deny polarity: False on error means "not limited"
    Invalid(
        """\
def is_rate_limited(key):
    try:
        return redis.incr(key) > LIMIT
    except (ConnectionError, TimeoutError):
        return False  # redis down: don't block users
""",
        line=5,
        fixed="""\
def is_rate_limited(key):
    try:
        return redis.incr(key) > LIMIT
    except (ConnectionError, TimeoutError):
        return True  # redis down: denying
""",
        expected_message=(
            "`is_rate_limited` returns `False` (allow) when `redis.incr()` raises "
            "`ConnectionError` or `TimeoutError`, so a failing permission check grants access."
        ),
    ),
    # enum member, with the DENY member known in the module
    Invalid(
        """\
class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

async def evaluate(self, request):
    try:
        return await self.engine.decide(request)
    except asyncio.TimeoutError:
        return Decision.ALLOW
""",
        line=9,
        fixed="""\
class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

async def evaluate(self, request):
    try:
        return await self.engine.decide(request)
    except asyncio.TimeoutError:
        return Decision.DENY
""",
        expected_message=(
            "`evaluate` returns `Decision.ALLOW` (allow) when `self.engine.decide()` raises "
            "`TimeoutError`, so a failing permission check grants access."
        ),
    ),
    # result object keyword
    Invalid(
        """\
def authorize(principal, resource):
    try:
        return opa.query(principal, resource)
    except requests.RequestException:
        return AuthzResult(allowed=True, reason="opa unreachable")
""",
        line=5,
        fixed="""\
def authorize(principal, resource):
    try:
        return opa.query(principal, resource)
    except requests.RequestException:
        return AuthzResult(allowed=False, reason="opa unreachable")
""",
        expected_message=(
            "`authorize` returns `allowed=True` (allow) when `opa.query()` raises "
            "`RequestException`, so a failing permission check grants access."
        ),
    ),
    # assigned, then returned after the try
    Invalid(
        """\
def check_access(user, doc):
    try:
        ok = acl.lookup(user, doc)
    except DatabaseError:
        ok = True
    return ok
""",
        line=5,
        fixed="""\
def check_access(user, doc):
    try:
        ok = acl.lookup(user, doc)
    except DatabaseError:
        ok = False
    return ok
""",
        expected_message=(
            "`check_access` sets `ok = True` when `acl.lookup()` raises `DatabaseError` and "
            "returns it, so a failing permission check grants access."
        ),
    ),
    # a confirmation prompt that says yes when stdin is closed
    Invalid(
        """\
def confirm_execution(command):
    try:
        answer = input(f"Run {command}? [y/N] ")
    except EOFError:
        return True
    return answer.lower() == "y"
""",
        line=5,
        fixed="""\
def confirm_execution(command):
    try:
        answer = input(f"Run {command}? [y/N] ")
    except EOFError:
        return False
    return answer.lower() == "y"
""",
        expected_message=(
            "`confirm_execution` returns `True` (allow) when the check raises `EOFError`, so "
            "a failing permission check grants access."
        ),
    ),
    # a non-permission name, but the code says it auto-allows
    Invalid(
        """\
async def _handle(self, tool, args):
    try:
        return await self.conn.ask(tool, args)
    except Exception:
        log.warning("ask failed, auto-allowing")
        return True
""",
        line=6,
        fixed="""\
async def _handle(self, tool, args):
    try:
        return await self.conn.ask(tool, args)
    except Exception:
        log.warning("ask failed, denying")
        return False
""",
        expected_message=(
            "`_handle` returns `True` (allow) when `self.conn.ask()` raises any error, so a "
            "failing permission check grants access."
        ),
    ),
    # a guard that denies by raising lets the request through on error
    Invalid(
        """\
async def require_user(request: Request):
    token = request.headers.get("authorization")
    if not token:
        raise HTTPException(status_code=401)
    try:
        return await verify_token(token)
    except Exception:
        return None
""",
        line=8,
        fixed="""\
async def require_user(request: Request):
    token = request.headers.get("authorization")
    if not token:
        raise HTTPException(status_code=401)
    try:
        return await verify_token(token)
    except Exception:
        raise
""",
        expected_message=(
            "Guard `require_user` returns normally when `verify_token()` raises any error, so "
            "the request goes through unchecked; raise instead."
        ),
    ),
    # on error the verdict is worked out again from a weaker source than the check
    Invalid(
        """\
def run_report(org, report):
    try:
        decision = entitlements.check("reports", org=org.id)
        denied = not decision.allowed
    except Exception:
        denied = not org.is_paying
    if denied:
        raise PermissionError("reports are not on your plan")
    return build(report)
""",
        line=6,
        fixed="""\
def run_report(org, report):
    try:
        decision = entitlements.check("reports", org=org.id)
        denied = not decision.allowed
    except Exception:
        denied = True
    if denied:
        raise PermissionError("reports are not on your plan")
    return build(report)
""",
        expected_message=(
            "`run_report` works `denied` out again from `not org.is_paying` when "
            "`entitlements.check()` raises any error, so the denial at line 7 follows a "
            "weaker answer than the check that failed."
        ),
    ),
    # the name's state word says which answer is yes: `allowed`
    Invalid(
        """\
def tool_is_allowed(tool, session):
    try:
        policy = load_policy(session.org)
    except PolicyError:
        return True
    return tool in policy.allowed_tools
""",
        line=5,
        fixed="""\
def tool_is_allowed(tool, session):
    try:
        policy = load_policy(session.org)
    except PolicyError:
        return False
    return tool in policy.allowed_tools
""",
        expected_message=(
            "`tool_is_allowed` returns `True` (allow) when `load_policy()` raises "
            "`PolicyError`, so a failing permission check grants access."
        ),
    ),
    Invalid(
        """\
def scan_upload(path) -> bool:
    \"\"\"Return True if the file is clean.\"\"\"
    try:
        result = clamd.scan(path)
    except ConnectionError:
        return True
    return result[path][0] == "OK"
""",
        line=6,
        fixed="""\
def scan_upload(path) -> bool:
    \"\"\"Return True if the file is clean.\"\"\"
    try:
        result = clamd.scan(path)
    except ConnectionError:
        return False
    return result[path][0] == "OK"
""",
        expected_message=(
            "`scan_upload` returns `True` (allow) when `clamd.scan()` raises "
            "`ConnectionError`, so a failing permission check grants access."
        ),
    ),
    # the handler fills in the answer the function returns an entry of
    Invalid(
        """\
async def authorize_tool_call(tool_name, user):
    try:
        decision = await opa.query("tools/allow", tool=tool_name, user=user)
    except TimeoutError:
        decision = {"result": True}
    return decision["result"]
""",
        line=5,
        fixed="""\
async def authorize_tool_call(tool_name, user):
    try:
        decision = await opa.query("tools/allow", tool=tool_name, user=user)
    except TimeoutError:
        decision = {"result": False}
    return decision["result"]
""",
        expected_message=(
            "`authorize_tool_call` sets `decision['result']` to `True` when `opa.query()` "
            "raises `TimeoutError` and returns it, so a failing permission check grants "
            "access."
        ),
    ),
    # a wrapper that relays another check's answer, and answers yes when asking fails
    Invalid(
        """\
def _session_trusted() -> bool:
    try:
        from app.state import trust_accepted

        return trust_accepted()
    except Exception:
        return True
""",
        line=7,
        fixed="""\
def _session_trusted() -> bool:
    try:
        from app.state import trust_accepted

        return trust_accepted()
    except Exception:
        return False
""",
        expected_message=(
            "`_session_trusted` returns `True` (allow) when `trust_accepted()` raises any "
            "error, so a failing permission check grants access."
        ),
    ),
]

ExceptReturnsAllow.INVALID += [
    # the same compile check fails two ways: a timeout fails it, a missing compiler passes it
    Invalid(
        """\
def _compile_policies(folder):
    try:
        result = subprocess.run(["opa", "check", folder], capture_output=True, timeout=30)
        if result.returncode != 0:
            return False
        return True
    except FileNotFoundError:
        log.info("opa not installed")
        return True
    except subprocess.TimeoutExpired:
        log.error("opa check timed out")
        return False
""",
        line=9,
        fixed="""\
def _compile_policies(folder):
    try:
        result = subprocess.run(["opa", "check", folder], capture_output=True, timeout=30)
        if result.returncode != 0:
            return False
        return True
    except FileNotFoundError:
        log.info("opa not installed")
        return False
    except subprocess.TimeoutExpired:
        log.error("opa check timed out")
        return False
""",
        expected_message=(
            "`_compile_policies` returns `True` (passed) when `subprocess.run()` raises "
            "`FileNotFoundError`, while its other failures answer `False`: a check that "
            "cannot run passes."
        ),
    ),
]

ExceptReturnsAllow.VALID += [
    # `True` is not the try's success answer here: a missing file means "needs it"
    """
def needs_migration(path):
    try:
        version = read_version(path)
        return version < CURRENT
    except FileNotFoundError:
        return True
    except PermissionError:
        return False
""",
]

ExceptReturnsAllow.VALID += [
    # the handler checks again against the other schema: True only once that passed
    """
def is_schema_valid(config) -> bool:
    try:
        validate(config, workflow_schema)
        return True
    except ValidationError:
        try:
            validate(config, action_schema)
            return True
        except ValidationError:
            return False
""",
]

ExceptReturnsAllow.INVALID += [
    # an SSRF guard refuses by raising its own `Unsafe...Error`; when the lookup its refusal
    # tests fails, it returns early and the address is never checked
    Invalid(
        """\
def ensure_public_host(url):
    host = urlsplit(url).hostname
    try:
        infos = socket.getaddrinfo(host, 443)
    except socket.gaierror:
        return
    for info in infos:
        if ipaddress.ip_address(info[4][0]).is_private:
            raise UnsafeDestinationError(host)
""",
        line=6,
        fixed="""\
def ensure_public_host(url):
    host = urlsplit(url).hostname
    try:
        infos = socket.getaddrinfo(host, 443)
    except socket.gaierror:
        raise
    for info in infos:
        if ipaddress.ip_address(info[4][0]).is_private:
            raise UnsafeDestinationError(host)
""",
        expected_message=(
            "Guard `ensure_public_host` returns normally when `socket.getaddrinfo()` raises "
            "`gaierror`, so the request goes through unchecked; raise instead."
        ),
    ),
]

ExceptReturnsAllow.VALID += [
    # the refusal came first: the early return of a best-effort audit skips no check
    """
def ensure_https(url):
    if not url.startswith("https://"):
        raise UnsafeSchemeError(url)
    try:
        audit.record(url)
    except OSError:
        return
""",
]

ExceptReturnsAllow.INVALID += [
    # what the try reads feeds the refusal through a name worked out from it
    Invalid(
        """\
class ToolServer:
    def require_write_access(self, tool_name, context):
        try:
            params = context.session.client_params
        except ValueError:
            return
        client = params.client_info.name if params else None
        if client in self.writers:
            return
        raise ToolError(f"{tool_name} is not allowed for client {client!r}")
""",
        line=6,
        fixed="""\
class ToolServer:
    def require_write_access(self, tool_name, context):
        try:
            params = context.session.client_params
        except ValueError:
            raise
        client = params.client_info.name if params else None
        if client in self.writers:
            return
        raise ToolError(f"{tool_name} is not allowed for client {client!r}")
""",
        expected_message=(
            "Guard `ToolServer.require_write_access` returns normally when the check raises "
            "`ValueError`, so the request goes through unchecked; raise instead."
        ),
    ),
]

ExceptReturnsAllow.INVALID += [
    # a project's own SSRFError is its refusal
    Invalid(
        """\
def checked_url(url):
    host = urlparse(url).hostname
    try:
        ip = ipaddress.ip_address(socket.gethostbyname(host))
    except (socket.gaierror, ValueError):
        return url
    if ip.is_private or ip.is_loopback:
        raise SSRFError(url)
    return url
""",
        line=6,
        fixed="""\
def checked_url(url):
    host = urlparse(url).hostname
    try:
        ip = ipaddress.ip_address(socket.gethostbyname(host))
    except (socket.gaierror, ValueError):
        raise
    if ip.is_private or ip.is_loopback:
        raise SSRFError(url)
    return url
""",
        expected_message=(
            "Guard `checked_url` returns normally when `ipaddress.ip_address()` raises "
            "`gaierror` or `ValueError`, so the request goes through unchecked; raise instead."
        ),
    ),
]
