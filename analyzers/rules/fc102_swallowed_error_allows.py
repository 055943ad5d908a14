"""FC102: an error is swallowed and control falls through to the allow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import AllowValue, allow_value, mentions_allowing
from failclosed.analyzers.denials import (
    body_denies,
    catches_failures,
    checks_auth,
    is_deny_raise,
    is_deny_response,
)
from failclosed.analyzers.fixes import Edit, ReplaceExpression, ReplaceStatements, UnwrapWith
from failclosed.analyzers.flow import (
    LOOPS,
    FunctionFlow,
    Outcome,
    assigned_names,
    evaluate,
    has_continue,
    swallows,
    swallows_the_rest,
)
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, calls_never_returning
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    catches_broadly,
    caught,
    constants_set_in,
    deny_statement,
    failing_call,
    reword_edits,
    tries,
    unawaited,
)
from failclosed.analyzers.syntax import call_name, handler_types, own_nodes
from failclosed.analyzers.vocabulary import (
    ALLOW_KEYS,
    ALLOW_NAME,
    DENY_EXCEPTION,
    DENY_NAME,
    DENY_STATUS,
)

VERDICT_NAMES = {"verdict", "decision", "permitted", "ok_to_proceed", "may_proceed"}
# Exceptions that *are* the deny: catching and ignoring one lets the action through.
AUTHZ_EXCEPTIONS = {
    "PermissionDenied", "Forbidden", "Unauthorized", "Unauthorised", "NotAuthenticated",
    "AuthenticationFailed", "AccessDenied", "NotAuthorized", "AuthorizationError",
    "AuthorisationError", "PolicyViolation", "NotAllowed", "HTTPForbidden", "HTTPUnauthorized",
    "AccessDeniedError", "PermissionDeniedError", "ForbiddenError", "UnauthorizedError",
}  # fmt: skip


class SwallowedErrorAllows(Rule):
    """
    ## What it does
    Flags an error that is swallowed (`pass`, a log call, `continue`) in a permission check
    when control then falls through to the allow: a later `return True`, a result variable
    that started as *allowed*, or, in a guard that denies by raising, the end of the guard.
    Also flags a deny exception (`PermissionDenied`, `Forbidden`, ...) that is caught and
    ignored, including with `contextlib.suppress`.

    ## Why is this bad?
    Swallowing the error hides that the check never ran, and the code after it assumes it
    passed. The result is the same as answering *allow* on error: any outage or crash of the
    permission system grants access (CWE-636). Ignoring a deny exception turns "denied" into
    "allowed" outright.

    ## Example
    ```python
    def can_access(user, doc):
        try:
            if acl.is_denied(user, doc):
                return False
        except AclUnavailable:
            logger.exception("acl down")
        return True
    ```

    ## Use instead
    ```python
    def can_access(user, doc):
        try:
            if acl.is_denied(user, doc):
                return False
        except AclUnavailable:
            logger.exception("acl down")
            return False
        return True
    ```

    ## Fix safety
    The fix makes the handler end in the deny (`return False`, `return Verdict.DENY`) or,
    when no deny value is known (guards, ignored deny exceptions), re-raise. The log call is
    kept. Only the error path changes.
    """

    code = "FC102"
    name = "swallowed-error-allows"
    severity = "error"
    summary = "An error in a permission check is swallowed and control falls through to allow."
    fix_safety = "Changes the error path only: the handler now denies or re-raises."
    trigger = ("except", "suppress(")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            for handler in node.handlers:
                if _hands_to_a_raiser(handler, fn, info):
                    continue
                own = _swallowed_own_denial(fn, info, node, handler)
                if own is not None:
                    yield own
                    continue
                if not catches_failures(handler, node) or not (
                    swallows(handler) or swallows_the_rest(handler)
                ):
                    continue
                flow = fn.flow
                hit = self._falls_to_allow(fn, info, flow, node, handler)
                if hit is None and _catches_authz(handler):
                    hit = self._ignored_deny(fn, flow, node, handler)
                if hit:
                    yield hit
        for stmt in fn.statements:
            if isinstance(stmt, ast.With | ast.AsyncWith):
                hit = self._suppressed_deny(fn, stmt)
                if hit:
                    yield hit

    def _falls_to_allow(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        node: ast.Try,
        handler: ast.ExceptHandler,
    ) -> Hit | None:
        if fn.middleware:  # FC106 owns middleware, but for a check's answer skipped
            return self._skipped_answer(fn, info, node, handler)
        if not (checks_auth(node) or _answers_no(fn, node) or mentions_allowing(info, handler)):
            return None  # the try does bookkeeping after the check (metrics, audit, cache)
        known: dict[str, object] = {}
        if has_continue(handler):
            outcome = flow.after_loop_exit(handler)
        else:
            outcome = flow.after(node)
            if outcome.kind == "unknown" and isinstance(outcome.node, ast.If):
                # maybe a test this path decides: `if decision == "deny": ...` after the error
                known = _known_constants(flow, node, handler, outcome.node.test)
                if known:
                    outcome = flow.after(node, known)
        loose = mentions_allowing(info, handler)
        value = _allow_reached(fn, info, flow, node, handler, outcome, loose)
        what = failing_call(node)
        if value is not None:
            allow_shown, deny = value
            if isinstance(node, ast.TryStar):
                deny = None  # `return` is not allowed in an `except*` block: re-raise
            edits: list[Edit] = [append_to_handler(handler, deny_statement(deny))]
            if _retry_loop(handler, node, outcome) and deny is not None and outcome.value:
                # every try returns; only running out of attempts reaches the final allow
                edits = [ReplaceExpression(outcome.value, deny)]
            return Hit(
                node=handler,
                message=(
                    f"`{fn.qualname}` swallows {caught(handler)} from {what} and goes on to "
                    f"return `{allow_shown}` (allow), so a failing permission check grants access."
                ),
                edits=[*edits, *reword_edits(info, handler)],
                key_nodes=[handler, *([outcome.node] if outcome.node else [])],
            )
        hit = self._skipped_answer(fn, info, node, handler)
        if hit is not None:
            return hit
        if fn.pure_guard and checks_auth(node) and _guard_passes(outcome, known):
            return Hit(
                node=handler,
                message=(
                    f"Guard `{fn.qualname}` swallows {caught(handler)} from {what} and returns "
                    "normally, so the request goes through unchecked; raise instead."
                ),
                edits=[append_to_handler(handler, "raise"), *reword_edits(info, handler)],
                key_nodes=[handler],
            )
        return None

    def _skipped_answer(
        self, fn: FunctionInfo, info: ModuleInfo, node: ast.Try, handler: ast.ExceptHandler
    ) -> Hit | None:
        """`try: return backend.check(req)` / `except: pass`, then `return True` further down."""
        found = None if has_continue(handler) else _later_allow(fn, info, node)
        if found is None:
            return None
        answer, later = found
        return Hit(
            node=handler,
            message=(
                f"`{fn.qualname}` swallows {caught(handler)} instead of returning the answer "
                f"of `{ast.unparse(answer.func)}()`, and falls through to the checks below it, "
                f"which can return `{ast.unparse(later.node)}` (allow) at line "
                f"{later.node.lineno}: a failing check hands the decision to a weaker one."
            ),
            edits=[
                append_to_handler(handler, deny_statement(later.deny)),
                *reword_edits(info, handler),
            ],
            key_nodes=[handler],
            severity="warning",
        )

    def _ignored_deny(
        self, fn: FunctionInfo, flow: FunctionFlow, node: ast.Try, handler: ast.ExceptHandler
    ) -> Hit | None:
        if has_continue(handler) or _ends_loop_body(flow, node):
            return None  # skipping the denied item in a loop is the fail-closed filter
        if node.orelse:
            return None  # the allowed work sits in `else:` and does not run after a deny
        if assigned_names(handler):
            return None  # the deny is recorded (`error = "permission_denied"`) and acted on
        outcome = flow.after(node)
        if outcome.kind == "raise" or (outcome.kind == "return" and _is_denyish(outcome.value)):
            return None
        return Hit(
            node=handler,
            message=(
                f"`{fn.qualname}` catches {caught(handler)} from {failing_call(node)} and "
                "ignores it, so the denied action goes ahead."
            ),
            edits=[append_to_handler(handler, "raise")],
            key_nodes=[handler],
        )

    def _suppressed_deny(self, fn: FunctionInfo, node: ast.With | ast.AsyncWith) -> Hit | None:
        for item in node.items:
            call = item.context_expr
            if not (isinstance(call, ast.Call) and call_name(call) == "suppress"):
                continue
            names = {call_name(a) for a in call.args}
            if names & AUTHZ_EXCEPTIONS:
                shown = ", ".join(sorted(names & AUTHZ_EXCEPTIONS))
                return Hit(
                    node=node,
                    message=(
                        f"`{fn.qualname}` suppresses `{shown}`, so a denied check is ignored "
                        "and the action goes ahead."
                    ),
                    edits=[UnwrapWith(node)] if len(node.items) == 1 else [],
                    key_nodes=[node],
                )
        return None


def _ends_loop_body(flow: FunctionFlow, node: ast.Try) -> bool:
    """The `try` is the last statement of a loop's body and does the item's work after the
    check (`obj = resource.obj_get(pk)` then `objects.append(obj)`): a handler that falls
    through goes on to the next item, and the denied one is left out, as with `continue`.
    A `try` that only checks (`check_can_delete(user, item)`) leaves the work to code after
    the loop, which then runs on the denied items too."""
    place = flow.places.get(id(node))
    return (
        len(node.body) > 1
        and place is not None
        and isinstance(place.owner, LOOPS)
        and place.block is place.owner.body
        and place.index == len(place.block) - 1
    )


def _hands_to_a_raiser(handler: ast.ExceptHandler, fn: FunctionInfo, info: ModuleInfo) -> bool:
    """`except Unauthorized as e: self.unauthorized_result(e)`, where that method of the
    class always raises: the handler does not swallow, the helper refuses for it."""
    return any(
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and calls_never_returning(stmt.value, fn, info)
        for stmt in handler.body
    )


def _later_allow(
    fn: FunctionInfo, info: ModuleInfo, node: ast.Try
) -> tuple[ast.Call, AllowValue] | None:
    """The try returns a check's answer (`return backend.check_auth(req)`); after it, the
    function can still return the allow value. Swallowing the check's error skips the
    answer that applied and lets the code below decide."""
    answers = [
        value
        for s in node.body
        for n in (s, *own_nodes(s))
        if isinstance(n, ast.Return) and isinstance(value := unawaited(n.value), ast.Call)
    ]
    if fn.polarity is None or not answers:
        return None
    end = node.end_lineno or node.lineno
    for stmt in fn.statements:
        if isinstance(stmt, ast.Return) and stmt.lineno > end and stmt.value is not None:
            allowed = allow_value(stmt.value, fn, info, False)
            if allowed is not None and isinstance(stmt.value, ast.Constant):
                return answers[0], allowed
    return None


def _retry_loop(handler: ast.ExceptHandler, node: ast.Try, outcome: Outcome) -> bool:
    """`for attempt in ...: try: return check() except: continue`, then a literal allow."""
    return (
        has_continue(handler)
        and bool(node.body)
        and isinstance(node.body[-1], ast.Return)
        and isinstance(outcome.value, ast.Constant)
    )


# A helper whose job is to raise the denial: `service._raise_denied(decision)`.
RAISES_DENIAL = re.compile(
    r"(?i)^_*(raise|throw)_\w*(denied|deny|denial|forbidden|unauthori[sz]ed|permission\w*|access)"
)


def _swallowed_own_denial(
    fn: FunctionInfo, info: ModuleInfo, node: ast.Try, handler: ast.ExceptHandler
) -> Hit | None:
    """`try: ... raise PermissionDenied / except Exception: return False`: the broad handler
    catches the denial its own try raised, and the function answers normally instead."""
    types = set(handler_types(handler))
    narrow = not catches_broadly(handler)
    earlier = node.handlers[: node.handlers.index(handler)]
    if not narrow and any(
        DENY_EXCEPTION.search(t) or t in AUTHZ_EXCEPTIONS for h in earlier for t in handler_types(h)
    ):
        return None  # an earlier handler answers the denial itself
    if any(isinstance(n, ast.Raise) for n in own_nodes(handler)):
        return None  # it re-raises (or raises its own error): the denial is not lost
    # a narrow handler loses only a refusal of the very type it catches:
    # `raise ValueError("private networks are not allowed")` / `except ValueError: pass`
    denial = _refusal_of_type(node, types) if narrow else _raised_denial(node)
    if denial is None:
        return None
    returns = [n for n in own_nodes(handler) if isinstance(n, ast.Return)]
    if any(_denies(ret.value, fn, info) for ret in returns):
        return None
    if narrow:  # the handler is there for another failure of that type: no safe rewrite
        return Hit(
            node=handler,
            message=(
                f"`{fn.qualname}` catches {caught(handler)} around its own refusal "
                f"`{ast.unparse(denial)[:60]}` at line {denial.lineno}: the handler meant for "
                "another failure of that type swallows the refusal, and the code goes on as "
                "if the check had passed. Raise the refusal outside the `try`."
            ),
            key_nodes=[handler, denial],
        )
    last = handler.body[-1]
    edit = (
        ReplaceStatements(last, last, ("raise",))
        if isinstance(last, ast.Return)
        else append_to_handler(handler, "raise")
    )
    return Hit(
        node=handler,
        message=(
            f"`{fn.qualname}` catches {caught(handler)} around `{ast.unparse(denial)[:60]}` at "
            f"line {denial.lineno}, so the denial it raises itself is swallowed and the "
            "function answers as if the check had passed."
        ),
        edits=[edit],
        key_nodes=[handler, denial],
    )


def _refusal_of_type(node: ast.Try, types: set[str]) -> ast.Raise | None:
    """A refusal the try body raises itself (a deny exception, or a raise whose message
    says it denies) whose exception is one of `types`, outside any inner `try`."""
    for n in _raised_in(node):
        if not isinstance(n, ast.Raise) or n.exc is None:
            continue
        raised = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
        if call_name(raised) in types and body_denies([n]):
            return n
    return None


def _raised_denial(node: ast.Try) -> ast.Raise | ast.Call | None:
    """A denial the try body raises itself and no inner handler catches first."""
    for n in _raised_in(node):
        if isinstance(n, ast.Raise) and n.exc is not None and is_deny_raise(n.exc):
            return n
        if isinstance(n, ast.Call) and RAISES_DENIAL.match(call_name(n)):
            return n
    return None


def _raised_in(node: ast.Try) -> Iterator[ast.AST]:
    """The try body's nodes, in order, without those of inner `try` bodies: what they
    raise reaches `node`'s handlers only through the inner ones."""
    inner = {
        id(n)
        for t in own_nodes(node)
        if isinstance(t, ast.Try)
        for s in t.body
        for n in (s, *own_nodes(s))
    }
    for stmt in node.body:
        for n in (stmt, *own_nodes(stmt)):
            if id(n) not in inner:
                yield n


def _denies(value: ast.expr | None, fn: FunctionInfo, info: ModuleInfo) -> bool:
    """The handler's answer is itself a denial: a 401/403 response, or the deny value of a
    function whose name says it is a check (`has_access` answering `False`). Elsewhere the
    try's own raise is how the function says no, and a returned value means something else
    ("not handled", "use the fallback")."""
    if value is None:
        return False
    if isinstance(value, ast.Call) and (is_deny_response(value) or _error_status(value)):
        return True
    named = ALLOW_NAME.fullmatch(fn.node.name) or DENY_NAME.fullmatch(fn.node.name)
    if fn.polarity is None or not named or not isinstance(value, ast.Constant):
        return False
    return value.value is (fn.polarity != "allow")


def _error_status(call: ast.Call) -> bool:
    """`JsonResponse(..., status=500)`: an error answer is not a yes either."""
    values = [*call.args, *(k.value for k in call.keywords if k.arg in ("status", "status_code"))]
    return any(
        isinstance(v, ast.Constant) and type(v.value) is int and 400 <= v.value < 600
        for v in values
    )


def _catches_authz(handler: ast.ExceptHandler) -> bool:
    return bool(set(handler_types(handler)) & AUTHZ_EXCEPTIONS)


def _allow_reached(
    fn: FunctionInfo,
    info: ModuleInfo,
    flow: FunctionFlow,
    node: ast.Try,
    handler: ast.ExceptHandler,
    outcome: Outcome,
    loose: bool,
) -> tuple[str, str | None] | None:
    """(allow shown, deny source) when the path after the handler returns an allow value."""
    if outcome.kind != "return":
        return None
    returned = outcome.value
    direct = allow_value(returned, fn, info, loose)
    if direct is not None:
        return direct.shown, _whole_answer(returned, direct)
    if (
        isinstance(returned, ast.Compare)
        and isinstance(returned.left, ast.Name)
        and evaluate(returned, _known_constants(flow, node, handler, returned)) is True
        and fn.polarity is not None
    ):
        return ast.unparse(returned), "False" if fn.polarity == "allow" else "True"
    if not isinstance(returned, ast.Name):
        return None
    name = returned.id
    if name in outcome.assigned or name in assigned_names(handler):
        return None
    # a result variable named like a verdict (`allowed = True`) says what True means
    loose = loose or name.lower() in ALLOW_KEYS | VERDICT_NAMES
    initial = allow_value(flow.value_before(node, name), fn, info, loose)
    if initial is None:
        return None
    return f"{name}", initial.deny


def _whole_answer(returned: ast.expr | None, value: AllowValue) -> str | None:
    """The deny answer in the function's own shape: `False, ""` for `return True, ""`."""
    if value.deny is None or not isinstance(returned, ast.Tuple) or not returned.elts:
        return value.deny
    if value.node is not returned.elts[0]:
        return value.deny
    return ", ".join([value.deny, *(ast.unparse(e) for e in returned.elts[1:])])


# What a decorator's wrapper calls to run the protected view: `return view(*args, **kw)`.
WRAPPED = {"view", "view_func", "func", "fn", "f", "handler", "wrapped", "original", "endpoint"}


def _known_constants(
    flow: FunctionFlow, node: ast.Try, handler: ast.ExceptHandler, test: ast.expr
) -> dict[str, object]:
    """Names in `test` that hold a constant when the handler ends: set before the try and
    not in the handler, or set to a constant by the handler (`ctx = None`)."""
    known: dict[str, object] = {}
    handler_names = assigned_names(handler)
    tested = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
    for name in tested - handler_names:
        value = flow.value_before(node, name)
        if isinstance(value, ast.Constant):
            known[name] = value.value
    set_by_handler = constants_set_in(handler)
    known.update({name: set_by_handler[name] for name in tested & set_by_handler.keys()})
    return known


def _guard_passes(outcome: Outcome, known: dict[str, object]) -> bool:
    """After the handler the guard ends, calls the view it wraps, or returns a non-deny.

    A path that goes on to another check (`validate_hostname(...)`) falls back, not through;
    a check the handler's own value skips (`ctx = None`, then `if ctx is not None:`) does not.
    """
    if any(_calls_a_check(stmt) for stmt in _run_after(outcome.passed, known)):
        return False
    if outcome.kind == "end":
        return True
    if outcome.kind != "return":
        return False
    value = outcome.value
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        return value.func.id in WRAPPED
    if isinstance(value, ast.Tuple):  # `return path, str(rel)`: the checked result, handed on
        return bool(value.elts) and not any(_is_denyish(e) for e in value.elts)
    return value is None or (
        isinstance(value, ast.Constant | ast.Name | ast.Attribute) and not _is_denyish(value)
    )


def _run_after(passed: list[ast.stmt], known: dict[str, object]) -> list[ast.stmt]:
    """The statements that run on the path: an `if` whose test the known values make false
    runs only its `else`."""
    ran: list[ast.stmt] = []
    for stmt in passed:
        if isinstance(stmt, ast.If) and evaluate(stmt.test, known) is False:
            ran.extend(stmt.orelse)
        else:
            ran.append(stmt)
    return ran


def _is_denyish(value: ast.expr | None) -> bool:
    """`None`, `False`, a 401/403 response: the path after the handler denies anyway."""
    if value is None:
        return False
    if isinstance(value, ast.Constant) and value.value in (None, False):
        return True
    return isinstance(value, ast.Call) and (
        is_deny_response(value)
        or any(isinstance(a, ast.Constant) and a.value in DENY_STATUS for a in value.args)
    )


SwallowedErrorAllows.VALID = [
    # bookkeeping after the check has passed: its failure decides nothing
    """
def has_permission(user, perm):
    if not perm_client.check(user, perm):
        return False
    try:
        metrics.incr("perm.allowed")
    except Exception:
        pass
    return True
""",
    """
@app.before_request
def require_login():
    if g.user is None:
        abort(401)
    try:
        audit.record(g.user, request.path)
    except Exception:
        log.exception("audit failed")
""",
    # the allowed work is in `else:`: a deny leaves it out (DRF's metadata)
    """
def determine_actions(self, request, view):
    actions = {}
    for method in view.allowed_methods:
        try:
            view.check_permissions(request)
        except (PermissionDenied, Http404):
            pass
        else:
            actions[method] = self.get_serializer_info(view)
    return actions
""",
    # the deny is recorded and acted on (allauth)
    """
def complete_login(request, adapter):
    error = None
    try:
        adapter.check_permission(request)
    except PermissionDenied:
        error = "permission_denied"
    return redirect_with(request, error=error)
""",
    # a response rewriter that answers 401 elsewhere is not a guard of an auth check
    """
async def handle(self, request):
    response = await self.inner(request)
    try:
        body = json.loads(response.body)
        if body.get("error") == "unauthorized_client":
            return JSONResponse(TokenErrorResponse("unauthorized_client"), status_code=401)
    except json.JSONDecodeError:
        pass
    return response
""",
    # a capability probe: routers without the method have no opinion (Django's db router)
    """
def allow_migrate(self, db, app_label, **hints):
    for router in self.routers:
        try:
            method = router.allow_migrate
        except AttributeError:
            continue
        allow = method(db, app_label, **hints)
        if allow is not None:
            return allow
    return True
""",
    # the handler denies
    """
def can_access(user, doc):
    try:
        if acl.is_denied(user, doc):
            return False
    except AclUnavailable:
        logger.exception("acl down")
        return False
    return True
""",
    # the result starts as deny
    """
def is_allowed(user):
    allowed = False
    try:
        allowed = policy.check(user)
    except Exception:
        logger.exception("policy failed")
    return allowed
""",
    # skipping denied objects in a loop is a fail-closed filter
    """
def visible(user, docs):
    out = []
    for doc in docs:
        try:
            check_object_permission(user, doc)
        except PermissionDenied:
            continue
        out.append(doc)
    return out
""",
    # a deny exception converted into a deny answer
    """
def get_document(request, pk):
    try:
        enforce(request.user, pk)
    except PermissionDenied:
        return HttpResponseForbidden()
    return render(request, pk)
""",
    # not a permission function and nothing says it allows
    """
def load_settings(path):
    try:
        data = read(path)
    except OSError:
        pass
    return True
""",
    # path after the handler re-checks and can deny: not straight-line, stay quiet
    """
def has_permission(user):
    result = None
    try:
        result = client.check(user)
    except Exception:
        pass
    if result is None:
        return False
    return True
""",
    # token parser: swallowing and returning None means "invalid"
    """
def parse_token(raw):
    try:
        return signer.unsign(raw)
    except BadSignature:
        pass
    return None
""",
    # the answer below the try is computed, not a plain yes
    """
def has_perm(user, perm) -> bool:
    try:
        return backend.has_perm(user, perm)
    except AttributeError:
        pass
    return perm in user.permissions
""",
    # the try does not return the check's answer
    """
def check_auth(handler, request) -> bool:
    try:
        metrics.count("auth")
    except Exception:
        pass
    if not auth_required():
        return True
    return verify_cookie(request)
""",
    # a check by name: False after its own denial is still "no"
    """
def has_access(user, doc) -> bool:
    try:
        if not acl.check(user, doc):
            raise PermissionDenied(doc)
        return True
    except Exception:
        return False
""",
    # the handler answers with a denial response
    """
def guarded_view(request):
    try:
        if not policy.allows(request.user):
            raise PermissionDenied()
        return render(request)
    except Exception:
        return HttpResponseForbidden()
""",
    # an earlier handler answers the denial; the broad one answers a server error
    """
def view(request):
    try:
        if not policy.allows(request.user):
            raise PermissionDenied()
        return render(request)
    except PermissionDenied:
        return HttpResponseForbidden()
    except Exception:
        return fallback_page(request)
""",
    """
def api(request):
    try:
        if not policy.allows(request.user):
            raise PermissionDenied()
        return run(request)
    except Exception:
        return JsonResponse({"error": "internal"}, status=500)
""",
]

SwallowedErrorAllows.INVALID = [
    # an address that does not resolve skips the private-range check; the answer keeps its shape
    Invalid(
        """\
def is_safe_url(url):
    host = urlparse(url).hostname
    try:
        for info in socket.getaddrinfo(host, None):
            if ipaddress.ip_address(info[4][0]).is_private:
                return False, "internal address"
    except socket.gaierror:
        # Allow it but log a warning
        logger.warning("DNS resolution failed for %s", host)
    return True, ""
""",
        line=7,
        fixed="""\
def is_safe_url(url):
    host = urlparse(url).hostname
    try:
        for info in socket.getaddrinfo(host, None):
            if ipaddress.ip_address(info[4][0]).is_private:
                return False, "internal address"
    except socket.gaierror:
        # deny it but log a warning
        logger.warning("DNS resolution failed for %s", host)
        return False, ''
    return True, ""
""",
        expected_message=(
            "`is_safe_url` swallows `gaierror` from `socket.getaddrinfo()` and goes on to "
            "return `True` (allow), so a failing permission check grants access."
        ),
    ),
    # the try can answer "no" itself; when it cannot finish, the function answers yes
    Invalid(
        """\
def is_safe_host(hostname: str) -> bool:
    try:
        for info in socket.getaddrinfo(hostname, None):
            if ipaddress.ip_address(info[4][0]).is_private:
                return False
    except socket.gaierror:
        pass
    return True
""",
        line=6,
        fixed="""\
def is_safe_host(hostname: str) -> bool:
    try:
        for info in socket.getaddrinfo(hostname, None):
            if ipaddress.ip_address(info[4][0]).is_private:
                return False
    except socket.gaierror:
        return False
    return True
""",
        expected_message=(
            "`is_safe_host` swallows `gaierror` from `socket.getaddrinfo()` and goes on to "
            "return `True` (allow), so a failing permission check grants access."
        ),
    ),
    Invalid(
        """\
def can_access(user, doc):
    try:
        if acl.is_denied(user, doc):
            return False
    except AclUnavailable:
        logger.exception("acl down")
    return True
""",
        line=5,
        fixed="""\
def can_access(user, doc):
    try:
        if acl.is_denied(user, doc):
            return False
    except AclUnavailable:
        logger.exception("acl down")
        return False
    return True
""",
        expected_message=(
            "`can_access` swallows `AclUnavailable` from `acl.is_denied()` and goes on to "
            "return `True` (allow), so a failing permission check grants access."
        ),
    ),
    # a verdict that starts as allow; the loop skips failing policies
    Invalid(
        """\
class Verdict(enum.Enum):
    ALLOW = 1
    DENY = 2

def evaluate(request, policies):
    verdict = Verdict.ALLOW
    for policy in policies:
        try:
            if not policy.permits(request):
                verdict = Verdict.DENY
        except Exception:
            continue
    return verdict
""",
        line=11,
        fixed="""\
class Verdict(enum.Enum):
    ALLOW = 1
    DENY = 2

def evaluate(request, policies):
    verdict = Verdict.ALLOW
    for policy in policies:
        try:
            if not policy.permits(request):
                verdict = Verdict.DENY
        except Exception:
            return Verdict.DENY
    return verdict
""",
        expected_message=(
            "`evaluate` swallows any error from `policy.permits()` and goes on to return "
            "`verdict` (allow), so a failing permission check grants access."
        ),
    ),
    # deny polarity: "not banned" after the lookup failed
    Invalid(
        """\
def is_banned(user_id):
    try:
        if redis.sismember("banned", user_id):
            return True
    except redis.ConnectionError:
        pass
    return False
""",
        line=5,
        fixed="""\
def is_banned(user_id):
    try:
        if redis.sismember("banned", user_id):
            return True
    except redis.ConnectionError:
        return True
    return False
""",
        expected_message=(
            "`is_banned` swallows `ConnectionError` from `redis.sismember()` and goes on to "
            "return `False` (allow), so a failing permission check grants access."
        ),
    ),
    # a Flask before_request guard (it answers 401 itself) swallows the check's error
    Invalid(
        """\
@bp.before_request
def require_login():
    if "user_id" not in session:
        return jsonify(error="login required"), 401
    try:
        g.user = users.load_session_user(session["user_id"])
    except UserStoreError:
        pass
""",
        line=7,
        fixed="""\
@bp.before_request
def require_login():
    if "user_id" not in session:
        return jsonify(error="login required"), 401
    try:
        g.user = users.load_session_user(session["user_id"])
    except UserStoreError:
        raise
""",
        expected_message=(
            "Guard `require_login` swallows `UserStoreError` from `users.load_session_user()` "
            "and returns normally, so the request goes through unchecked; raise instead."
        ),
    ),
    # a guard swallows the verification error and falls off its end
    Invalid(
        """\
def require_api_key(request):
    key = request.headers.get("x-api-key")
    if key is None:
        raise HTTPException(status_code=401)
    try:
        keystore.verify(key)
    except Exception as exc:
        log.warning("key check failed: %s", exc)
""",
        line=7,
        fixed="""\
def require_api_key(request):
    key = request.headers.get("x-api-key")
    if key is None:
        raise HTTPException(status_code=401)
    try:
        keystore.verify(key)
    except Exception as exc:
        log.warning("key check failed: %s", exc)
        raise
""",
        expected_message=(
            "Guard `require_api_key` swallows any error from `keystore.verify()` and returns "
            "normally, so the request goes through unchecked; raise instead."
        ),
    ),
    # the deny exception itself is caught and ignored
    Invalid(
        """\
def delete_project(request, project):
    try:
        check_object_permissions(request.user, project)
    except PermissionDenied:
        pass
    project.delete()
""",
        line=4,
        fixed="""\
def delete_project(request, project):
    try:
        check_object_permissions(request.user, project)
    except PermissionDenied:
        raise
    project.delete()
""",
        expected_message=(
            "`delete_project` catches `PermissionDenied` from `check_object_permissions()` "
            "and ignores it, so the denied action goes ahead."
        ),
    ),
    # ... or suppressed
    Invalid(
        """\
def publish(request, post):
    with contextlib.suppress(PermissionDenied):
        policy.enforce(request.user, "publish", post)
    post.publish()
""",
        line=2,
        fixed="""\
def publish(request, post):
    policy.enforce(request.user, "publish", post)
    post.publish()
""",
        expected_message=(
            "`publish` suppresses `PermissionDenied`, so a denied check is ignored and the "
            "action goes ahead."
        ),
    ),
    # the per-user check errors; the legacy check below it lets the request in
    Invalid(
        """\
def check_auth(handler, request) -> bool:
    try:
        if user_auth.active():
            return user_auth.check(handler, request)
    except Exception:
        pass
    if not legacy_password_set():
        return True
    return verify_legacy_cookie(request)
""",
        line=5,
        fixed="""\
def check_auth(handler, request) -> bool:
    try:
        if user_auth.active():
            return user_auth.check(handler, request)
    except Exception:
        return False
    if not legacy_password_set():
        return True
    return verify_legacy_cookie(request)
""",
        expected_message=(
            "`check_auth` swallows any error instead of returning the answer of "
            "`user_auth.check()`, and falls through to the checks below it, which can return "
            "`True` (allow) at line 8: a failing check hands the decision to a weaker one."
        ),
    ),
    # the broad handler swallows the denial its own try raised
    Invalid(
        """\
def use_capability_service(feature, org_id) -> bool:
    try:
        decision = capabilities.check(feature, org_id=org_id)
        if not decision.allowed:
            raise CapabilityDenied(feature)
        return True
    except Exception:
        return False
""",
        line=7,
        fixed="""\
def use_capability_service(feature, org_id) -> bool:
    try:
        decision = capabilities.check(feature, org_id=org_id)
        if not decision.allowed:
            raise CapabilityDenied(feature)
        return True
    except Exception:
        raise
""",
        expected_message=(
            "`use_capability_service` catches any error around `raise "
            "CapabilityDenied(feature)` at line 5, so the denial it raises itself is "
            "swallowed and the function answers as if the check had passed."
        ),
    ),
]


def _calls_a_check(stmt: ast.AST) -> bool:
    """`validate_hostname(host)`, `self.check_scope(...)`: a statement that runs another check."""
    return any(
        isinstance(n, ast.Call) and FURTHER_CHECK.match(call_name(n)) is not None
        for n in ast.walk(stmt)
    )


# A call that runs another check (not `is_secure()` or `has_key()`): `validate_hostname`.
FURTHER_CHECK = re.compile(
    r"_*(check|verify|validate|authori[sz]e|ensure|require|enforce|assert)(_|$)", re.IGNORECASE
)


def _answers_no(fn: FunctionInfo, node: ast.Try) -> bool:
    """The try itself can answer "denied" (`return False` in an allow check): it is the check."""
    if fn.polarity is None:
        return False
    denied = fn.polarity != "allow"  # the value that means "denied"
    return any(
        isinstance(n, ast.Return) and isinstance(n.value, ast.Constant) and n.value.value is denied
        for stmt in node.body
        for n in ast.walk(stmt)
    )


SwallowedErrorAllows.INVALID += [
    # a handler for "not an IP address" also catches the private-address refusal raised
    # with the same type, and the fetch goes ahead
    Invalid(
        """\
def fetch_preview(url):
    host = urlparse(url).hostname
    try:
        address = ipaddress.ip_address(host)
        if address.is_private:
            raise ValueError("private addresses are not allowed")
    except ValueError:
        pass
    return requests.get(url, timeout=5).text
""",
        line=7,
        expected_message=(
            "`fetch_preview` catches `ValueError` around its own refusal `raise "
            "ValueError('private addresses are not allowed')` at line 6: the handler meant "
            "for another failure of that type swallows the refusal, and the code goes on as "
            "if the check had passed. Raise the refusal outside the `try`."
        ),
    ),
    # the handler passes the guard's own refusals on and drops every other error: a lookup
    # that fails leaves the dependency returning None, and the route runs
    Invalid(
        """\
def current_member(request):
    token = request.headers.get("X-Member-Token")
    if not token:
        raise HTTPException(status_code=401)
    try:
        member = members.by_token(token)
        if member is None:
            raise HTTPException(status_code=401)
        return member
    except Exception as exc:
        if isinstance(exc, HTTPException):
            raise
        logger.exception(exc)
""",
        line=10,
        fixed="""\
def current_member(request):
    token = request.headers.get("X-Member-Token")
    if not token:
        raise HTTPException(status_code=401)
    try:
        member = members.by_token(token)
        if member is None:
            raise HTTPException(status_code=401)
        return member
    except Exception as exc:
        if isinstance(exc, HTTPException):
            raise
        logger.exception(exc)
        raise
""",
        expected_message=(
            "Guard `current_member` swallows any error from `members.by_token()` and returns "
            "normally, so the request goes through unchecked; raise instead."
        ),
    ),
]

SwallowedErrorAllows.VALID += [
    # the handler hands the refusal to a method that always raises
    """
class Resource:
    def unauthorized_result(self, exception):
        raise ImmediateHttpResponse(response=HttpUnauthorized())

    def authorized_read_detail(self, object_list, bundle):
        try:
            auth_result = self.authorization.read_detail(object_list, bundle)
            if not auth_result:
                raise Unauthorized()
        except Unauthorized as e:
            self.unauthorized_result(e)
        return auth_result
""",
    # the `try` ends the loop body: a denied item is left out, as with `continue`
    """
def fetch_many(resource, identifiers):
    objects, not_found = [], []
    for identifier in identifiers:
        try:
            obj = resource.obj_get(pk=identifier)
            objects.append(obj)
        except (ObjectDoesNotExist, Unauthorized):
            not_found.append(identifier)
    return objects, not_found
""",
]

SwallowedErrorAllows.INVALID += [
    # the loop only checks: the work after it runs on the denied items too
    Invalid(
        """\
def bulk_delete(user, items):
    for item in items:
        try:
            check_can_delete(user, item)
        except PermissionDenied:
            logger.warning("%s may not delete %s", user, item)
    Item.objects.filter(pk__in=[i.pk for i in items]).delete()
""",
        line=5,
        fixed="""\
def bulk_delete(user, items):
    for item in items:
        try:
            check_can_delete(user, item)
        except PermissionDenied:
            logger.warning("%s may not delete %s", user, item)
            raise
    Item.objects.filter(pk__in=[i.pk for i in items]).delete()
""",
        expected_message=(
            "`bulk_delete` catches `PermissionDenied` from `check_can_delete()` and ignores "
            "it, so the denied action goes ahead."
        ),
    ),
    # a logging call is not the module's raising `error` method of another class
    Invalid(
        """\
class StrictParser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)


def delete_doc(request, doc):
    try:
        check_can_delete(request.user, doc)
    except PermissionDenied as e:
        logger.error("denied: %s", e)
    doc.delete()
""",
        line=9,
        fixed="""\
class StrictParser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)


def delete_doc(request, doc):
    try:
        check_can_delete(request.user, doc)
    except PermissionDenied as e:
        logger.error("denied: %s", e)
        raise
    doc.delete()
""",
        expected_message=(
            "`delete_doc` catches `PermissionDenied` from `check_can_delete()` and ignores "
            "it, so the denied action goes ahead."
        ),
    ),
]
