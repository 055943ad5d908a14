"""FC146: a `try` holds a check that refuses, and its handler swallows the check's failure."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag
from failclosed.analyzers.denials import is_deny_raise, is_deny_response, message_parts
from failclosed.analyzers.flow import (
    LOOPS,
    has_continue,
    raises_only_if,
    swallows,
    swallows_the_rest,
)
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import append_to_handler, catches_broadly, caught, tries
from failclosed.analyzers.syntax import call_name, handler_types, own_nodes, text_in
from failclosed.analyzers.vocabulary import DENY_EXCEPTION


class RefusalSkippedOnError(Rule):
    """
    ## What it does
    Flags an `except Exception: pass` (or one that only logs) around a check that refuses —
    `if not allowed: return Response(status_code=403)`, `if slug in taken: return
    Response(status=409)`, `raise PermissionDenied` — when control then goes on past the
    `try` to the action the check guards.

    ## Why is this bad?
    The refusal runs only when the check itself succeeds. When the policy service, the
    lookup or the discovery it relies on raises, the handler drops the error and the code
    after the `try` does what the check was there to stop (CWE-636). "Check failure is
    non-fatal" is the fail-open default.

    ## Example
    ```python
    try:
        allowed, reason = await check_policy(credential, operation)
        if not allowed:
            return Response(status_code=403)
    except Exception:
        pass  # policy check failure is non-fatal
    return await forward(request)
    ```

    ## Use instead
    ```python
    except Exception:
        raise
    ```

    ## Fix safety
    The fix re-raises from the handler, so a failing check fails the request (a 500, or
    whatever the framework answers for an error) instead of letting it through. To answer a
    clearer refusal, return the same response the check returns.
    """

    code = "FC146"
    name = "refusal-skipped-on-error"
    severity = "error"
    summary = "A broad handler swallows the failure of a check that refuses, and goes on."
    fix_safety = "The handler re-raises: a failing check fails the request."
    trigger = ("except",)
    fallback = True

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            refusal = _refusal_in(node.body)
            if refusal is None:
                yield from _refusal_passed_on(fn, node)
                continue
            for handler in node.handlers:
                if not catches_broadly(handler) or has_continue(handler):
                    continue
                unless = None
                if not (swallows(handler) or swallows_the_rest(handler)):
                    unless = _raises_only_on_state(fn, node, handler)
                    if unless is None:
                        continue
                if gated_by_fail_open_flag(handler):
                    continue
                yield Hit(
                    node=handler,
                    message=(
                        f"`{fn.qualname}` refuses at line {refusal.lineno} only when its "
                        f"check succeeds: when the check raises, the handler for "
                        f"{caught(handler)} drops the error{unless or ''} and the code after "
                        "the `try` goes ahead unchecked."
                    ),
                    severity="warning" if unless else None,
                    edits=[append_to_handler(handler, "raise")],
                    key_nodes=[handler, refusal],
                    region=(node.lineno, handler.end_lineno or handler.lineno),
                )


def _raises_only_on_state(
    fn: FunctionInfo, node: ast.Try | ast.TryStar, handler: ast.ExceptHandler
) -> str | None:
    """`, unless `not cache_hit`,` for a handler that re-raises only when some state holds
    (`if not cache_hit: raise AuditFailed(...)`) and drops the error otherwise. Not in a
    loop, nor in a handler that calls the function again: dropping the error is how a
    retry goes round."""
    test = raises_only_if(handler)
    if test is None or any(isinstance(a, LOOPS) for a in fn.flow.ancestors(node)):
        return None
    if any(call_name(n) == fn.node.name for n in own_nodes(handler) if isinstance(n, ast.Call)):
        return None  # the handler calls the function again: a retry by recursion
    return f" unless `{ast.unparse(test.test)}`,"


def _refusal_passed_on(fn: FunctionInfo, node: ast.Try | ast.TryStar) -> Iterator[Hit]:
    """`except ControlViolationError: raise` then `except Exception: log`: the check's
    refusals are passed on, every other failure of the check is dropped and the code after
    the `try` goes ahead."""
    shown, passed = next(
        ((shown, h) for h in node.handlers if (shown := _passes_refusals_on(h, node))),
        (None, None),
    )
    if shown is None or passed is None:
        return
    then = fn.flow.after(node)
    if then.kind == "end" and not then.passed:
        return  # nothing goes ahead after it: the handler's own calls are the whole story
    for handler in node.handlers:
        if not catches_broadly(handler):
            continue
        if not (swallows(handler) if handler is not passed else swallows_the_rest(handler)):
            continue
        if has_continue(handler) or gated_by_fail_open_flag(handler):
            continue
        yield Hit(
            node=handler,
            message=(
                f"`{fn.qualname}` passes the check's refusal on (`{shown}`, line "
                f"{passed.lineno}), and when the check fails any other way the handler for "
                f"{caught(handler)} drops the error and the code after the `try` goes ahead "
                "unchecked."
            ),
            edits=[append_to_handler(handler, "raise")],
            key_nodes=[handler, passed],
            region=(handler.lineno, handler.end_lineno or handler.lineno),
        )


def _passes_refusals_on(handler: ast.ExceptHandler, node: ast.Try | ast.TryStar) -> str | None:
    """How the handler passes the check's refusals on, shown: `except (PolicyViolationError,
    SteerError): raise`; or, in a broad handler, `if "MACRO BLOCK" in str(e): raise` where
    the `try` raises its refusal with that message. None when it does not."""
    types = handler_types(handler)
    if (
        types
        and any(DENY_EXCEPTION.search(t.rsplit(".", 1)[-1]) for t in types)
        and isinstance(handler.body[-1], ast.Raise)
        and handler.body[-1].exc is None
    ):
        return f"except {ast.unparse(handler.type) if handler.type else ''}: raise"
    if not swallows_the_rest(handler):
        return None
    raised = [
        _message(n)
        for stmt in node.body
        for n in [stmt, *own_nodes(stmt)]
        if isinstance(n, ast.Raise)
    ]
    for stmt in handler.body:
        if isinstance(stmt, ast.If) and isinstance(stmt.body[0], ast.Raise):
            text = text_in(stmt.test)
            if text and any(text in message for message in raised):
                return f"if {ast.unparse(stmt.test)}: raise"
    return None


def _message(raised: ast.Raise) -> str:
    """The literal text of a raised exception's first argument (f-string parts too)."""
    return "".join(message_parts(raised.exc)) if raised.exc is not None else ""


def _refusal_in(body: list[ast.stmt]) -> ast.stmt | None:
    """The first refusal an `if` in the block answers with: a deny or client-error response
    (`Response(status_code=403)`, `Response({"error": ...}, status=409)`) or a deny raise."""
    for stmt in body:
        for node in [stmt, *own_nodes(stmt)]:
            if not isinstance(node, ast.If):
                continue
            for inner in node.body:
                if _refuses(inner):
                    return inner
    return None


def _refuses(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        return is_deny_raise(stmt.exc)
    if not isinstance(stmt, ast.Return) or stmt.value is None:
        return False
    value = stmt.value
    if is_deny_response(value) or _error_answer(value):
        return True
    if not isinstance(value, ast.Call):
        return False
    return _client_error(value) or any(_error_answer(arg) for arg in value.args)


def _error_answer(value: ast.expr) -> bool:
    """`{"error": "name taken", ...}`: an answer, or a page's context, that reports a refusal."""
    return isinstance(value, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == "error" for k in value.keys
    )


def _client_error(call: ast.Call) -> bool:
    """A response built with a 4xx status: `Response(..., status=409)`, `HTTP_409_CONFLICT`."""
    for keyword in call.keywords:
        if keyword.arg not in ("status", "status_code"):
            continue
        value = keyword.value
        if isinstance(value, ast.Constant) and isinstance(value.value, int):
            return 400 <= value.value < 500
        if isinstance(value, ast.Attribute) and value.attr.startswith("HTTP_4"):
            return True
    return False


RefusalSkippedOnError.INVALID = [
    Invalid(
        """\
async def proxy(request, credential):
    try:
        allowed, reason = await check_policy(credential, request.url.path)
        if not allowed:
            return Response(content=reason, status_code=403)
    except Exception:
        pass  # policy check failure is non-fatal
    return await forward(request)
""",
        line=6,
        fixed="""\
async def proxy(request, credential):
    try:
        allowed, reason = await check_policy(credential, request.url.path)
        if not allowed:
            return Response(content=reason, status_code=403)
    except Exception:
        raise  # policy check failure is non-fatal
    return await forward(request)
""",
        expected_message=(
            "`proxy` refuses at line 5 only when its check succeeds: when the check raises, "
            "the handler for any error drops the error and the code after the `try` goes "
            "ahead unchecked."
        ),
    ),
    Invalid(
        """\
def create_team(request, slug):
    try:
        if slug in discover_reserved_names():
            return Response({"error": "name taken"}, status=409)
    except Exception as e:
        log.debug("reserved-name check failed: %s", e)
    Team.objects.create(slug=slug, owner=request.user)
    return Response({"slug": slug}, status=201)
""",
        line=5,
        fixed="""\
def create_team(request, slug):
    try:
        if slug in discover_reserved_names():
            return Response({"error": "name taken"}, status=409)
    except Exception as e:
        log.debug("reserved-name check failed: %s", e)
        raise
    Team.objects.create(slug=slug, owner=request.user)
    return Response({"slug": slug}, status=201)
""",
        expected_message=(
            "`create_team` refuses at line 4 only when its check succeeds: when the check "
            "raises, the handler for any error drops the error and the code after the `try` "
            "goes ahead unchecked."
        ),
    ),
]

RefusalSkippedOnError.VALID = [
    # the handler refuses too
    """
async def proxy(request, credential):
    try:
        allowed, reason = await check_policy(credential, request.url.path)
        if not allowed:
            return Response(content=reason, status_code=403)
    except Exception:
        return Response(content="policy unavailable", status_code=503)
    return await forward(request)
""",
    # a narrow handler for an expected miss, not the check's failure
    """
def create_team(request, slug):
    try:
        if Team.objects.get(slug=slug).locked:
            return Response({"error": "locked"}, status=423)
    except Team.DoesNotExist:
        pass
    return Response(Team.objects.create(slug=slug).id, status=201)
""",
    # nothing in the try refuses: bookkeeping around the action
    """
async def proxy(request):
    try:
        await metrics.count(request.url.path)
    except Exception:
        pass
    return await forward(request)
""",
]

RefusalSkippedOnError.VALID += [
    # nothing runs after the try: the broad handler's call reports the error
    """
async def call_model(self, messages):
    try:
        self.run_before_call_hooks(messages)
        return await self.complete(messages)
    except (HookAborted, CallBlockedError):
        raise
    except Exception as e:
        self.handle_api_error(e)
""",
    # every other failure of the check blocks too
    """
async def run_tool(tool, args):
    try:
        verdict = await policy.evaluate(tool, args)
        enforce(verdict)
    except PolicyViolationError:
        raise
    except Exception as e:
        raise RuntimeError(f"policy check failed: {e}") from e
    return await tool(**args)
""",
]

RefusalSkippedOnError.INVALID += [
    # the refusal is passed on; the check's own failure is dropped
    Invalid(
        """\
async def run_tool(tool, args):
    try:
        verdict = await policy.evaluate(tool, args)
        enforce(verdict)
    except PolicyViolationError:
        raise
    except Exception as e:
        logger.error(f"policy check failed: {e}")
    return await tool(**args)
""",
        line=7,
        fixed="""\
async def run_tool(tool, args):
    try:
        verdict = await policy.evaluate(tool, args)
        enforce(verdict)
    except PolicyViolationError:
        raise
    except Exception as e:
        logger.error(f"policy check failed: {e}")
        raise
    return await tool(**args)
""",
        expected_message=(
            "`run_tool` passes the check's refusal on (`except PolicyViolationError: raise`, "
            "line 5), and when the check fails any other way the handler for any error drops "
            "the error and the code after the `try` goes ahead unchecked."
        ),
    ),
]

RefusalSkippedOnError.INVALID += [
    # the handler knows its own refusal by its message, and drops every other error
    Invalid(
        """\
def submit(order, guard):
    try:
        safe, reason = guard.check(order)
        if not safe:
            raise ValueError(f"MACRO BLOCK: {reason}")
    except ImportError:
        logger.warning("guard unavailable")
    except Exception as e:
        if "MACRO BLOCK" in str(e):
            raise
        logger.error(f"Macro Guard Error: {e}")
    return broker.submit(order)
""",
        line=8,
        fixed="""\
def submit(order, guard):
    try:
        safe, reason = guard.check(order)
        if not safe:
            raise ValueError(f"MACRO BLOCK: {reason}")
    except ImportError:
        logger.warning("guard unavailable")
    except Exception as e:
        if "MACRO BLOCK" in str(e):
            raise
        logger.error(f"Macro Guard Error: {e}")
        raise
    return broker.submit(order)
""",
        expected_message=(
            "`submit` passes the check's refusal on (`if 'MACRO BLOCK' in str(e): raise`, "
            "line 8), and when the check fails any other way the handler for any error drops "
            "the error and the code after the `try` goes ahead unchecked."
        ),
    ),
]

RefusalSkippedOnError.INVALID += [
    # the handler re-raises only on some requests: on the others a failed gate is dropped
    Invalid(
        """\
def record_read(db, machine_id, cached):
    try:
        row = db.fetch_machine(machine_id)
        if row is None:
            raise TokenRevoked.from_machine(machine_id)
        db.insert_audit(machine_id)
    except Exception as exc:
        logger.exception("audit insert failed")
        if not cached:
            raise AuditWriteFailed(machine_id) from exc
    return True
""",
        line=7,
        fixed="""\
def record_read(db, machine_id, cached):
    try:
        row = db.fetch_machine(machine_id)
        if row is None:
            raise TokenRevoked.from_machine(machine_id)
        db.insert_audit(machine_id)
    except Exception as exc:
        logger.exception("audit insert failed")
        if not cached:
            raise AuditWriteFailed(machine_id) from exc
        raise
    return True
""",
        expected_message=(
            "`record_read` refuses at line 5 only when its check succeeds: when the check "
            "raises, the handler for any error drops the error unless `not cached`, and the "
            "code after the `try` goes ahead unchecked."
        ),
    ),
]

RefusalSkippedOnError.VALID += [
    # re-raised only in debug mode: the handler is about development, not the decision
    """
def record_read(db, machine_id):
    try:
        row = db.fetch_machine(machine_id)
        if row is None:
            raise TokenRevoked(machine_id)
    except Exception:
        if settings.DEBUG:
            raise
        logger.exception("machine lookup failed")
    return serve(machine_id)
""",
    # a retry loop: dropping the error goes round again
    """
def fetch_grant(client, user):
    for attempt in range(3):
        try:
            grant = client.grant_for(user)
            if grant.revoked:
                raise PermissionDenied(user)
            return grant
        except Exception:
            if attempt == 2:
                raise
    raise PermissionDenied(user)
""",
]

RefusalSkippedOnError.VALID += [
    # a retry by recursion: dropping the error is how it goes round again
    """
def fetch_protected(session, url, attempts_left=3):
    try:
        response = session.get(url)
        if response.status_code == 403:
            raise PermissionDenied(url)
        data = response.json()
    except Exception:
        if attempts_left <= 1:
            raise
        data = fetch_protected(session, url, attempts_left - 1)
    return data
""",
    # errors while the connection closes are the shutdown's, not the check's
    """
async def pump(self, ws):
    try:
        message = await ws.receive()
        if not self.allowed(message):
            raise PermissionDenied(message)
        await self.handle(message)
    except Exception:
        if not self.closing:
            raise
    await ws.close()
""",
]
