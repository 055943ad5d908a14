"""FC106: middleware that, after an auth error, still passes the request on."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import mentions_allowing
from failclosed.analyzers.denials import body_denies, catches_failures, checks_auth
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.flow import swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    failing_call,
    reword_edits,
    tries,
)
from failclosed.analyzers.syntax import dotted_name, own_nodes

NEXT_CALLS = re.compile(r"_?(call_next|get_response|next_handler|handler|app|nxt|next_?|inner)")
DJANGO_HOOKS = {"process_request", "process_view"}  # None means "go on to the view"


class MiddlewarePassesOnError(Rule):
    """
    ## What it does
    Flags middleware (`dispatch`, `__call__`, `process_request`, functions taking
    `call_next`/`get_response`) that enforces authentication or authorization, when an error
    raised by that check ends with the request passed on to the application anyway: the
    handler calls `call_next(request)`, or swallows the error and falls through to it.

    ## Why is this bad?
    Middleware is the gate in front of every route. If the auth backend errors and the
    middleware lets the request continue, every protected route is open during the outage,
    and anyone who can make the check crash (a malformed header, an oversized token) gets in
    (CWE-636).

    ## Example
    ```python
    class AuthMiddleware(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            token = request.headers.get("authorization")
            if not token:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            try:
                request.state.user = await self.verifier.verify(token)
            except Exception:
                logger.exception("auth backend error, letting the request through")
            return await call_next(request)
    ```

    ## Use instead
    ```python
            except Exception:
                logger.exception("auth backend error, letting the request through")
                raise
    ```

    ## Fix safety
    The fix re-raises the error instead of passing the request on, so the framework answers
    with a server error. Requests that authenticate normally are unaffected. You may prefer
    to return your own 401/503 response there.
    """

    code = "FC106"
    name = "middleware-passes-on-error"
    severity = "error"
    summary = "Middleware passes the request on after its auth check raised."
    fix_safety = "Re-raises instead of passing the request on; normal requests are unaffected."

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not fn.middleware:
            return
        for node in tries(fn):
            if any(_calls_next(s) for s in node.body if not isinstance(s, ast.If)):
                continue  # the try guards the downstream call, not an auth check
            if not (checks_auth(node) or _denies_later(fn, node)):
                continue
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                if not (fn.guard or mentions_allowing(info, handler)):
                    continue  # optional-auth middleware: anonymous on error is a design
                passing = next((s for s in handler.body if _passes_on(fn, s)), None)
                if passing is not None:
                    yield self._hit(info, fn, node, handler, passing, direct=True)
                    continue
                if not swallows(handler):
                    continue
                flow = fn.flow
                outcome = flow.after(node)
                left = outcome.node  # a statement: the function's flow stops at statements
                reached = [*outcome.passed, *([left] if isinstance(left, ast.stmt) else [])]
                passing = next((s for s in reached if _passes_on(fn, s)), None)
                if passing is not None and outcome.kind in ("return", "end"):
                    yield self._hit(info, fn, node, handler, passing, direct=False)

    def _hit(
        self,
        info: ModuleInfo,
        fn: FunctionInfo,
        node: ast.Try,
        handler: ast.ExceptHandler,
        passing: ast.stmt,
        direct: bool,
    ) -> Hit:
        how = "passes the request on" if direct else "swallows the error and passes the request on"
        edit = (
            ReplaceStatements(passing, passing, ("raise",))
            if direct
            else append_to_handler(handler, "raise")
        )
        return Hit(
            node=passing if direct else handler,
            message=(
                f"Middleware `{fn.qualname}` {how} when {failing_call(node)} raises "
                f"{caught(handler)}, so every protected route is open while auth fails."
            ),
            edits=[edit, *reword_edits(info, handler)],
            key_nodes=[handler, passing],
        )


def _denies_later(fn: FunctionInfo, node: ast.Try) -> bool:
    """The check comes after the try (`if not payment_header: return 402`): passing the
    request on from the handler skips it."""
    end = node.end_lineno or node.lineno
    return any(
        isinstance(s, ast.If) and s.lineno > end and body_denies(s.body) for s in fn.statements
    )


def _passes_on(fn: FunctionInfo, stmt: ast.AST) -> bool:
    """Calls the next handler, or returns None from a Django `process_request` hook."""
    if fn.node.name in DJANGO_HOOKS and isinstance(stmt, ast.Return):
        return stmt.value is None or (
            isinstance(stmt.value, ast.Constant) and stmt.value.value is None
        )
    return _calls_next(stmt)


def _calls_next(stmt: ast.AST) -> bool:
    """`call_next(request)`, `self.get_response(request)`, `await self.app(scope, ...)`."""
    for child in [stmt, *own_nodes(stmt)]:
        if isinstance(child, ast.Call):
            name = dotted_name(child.func) or ""
            if NEXT_CALLS.fullmatch(name.removeprefix("self.")):
                return True
    return False


MiddlewarePassesOnError.VALID = [
    # denies on error
    """
class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            request.state.user = await self.verifier.verify(request.headers["authorization"])
        except Exception:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)
""",
    # the try guards the downstream call, not an auth check
    """
class ErrorMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            return await call_next(request)
        except Exception:
            logger.exception("unhandled")
            return JSONResponse({"error": "internal"}, status_code=500)
""",
    # optional authentication: anonymous on error, and never rejects by itself
    """
class SessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.user = load_user_from_session(request)
        except SessionError:
            request.user = AnonymousUser()
        return self.get_response(request)
""",
]

MiddlewarePassesOnError.INVALID = [
    # the check comes after the try: an error reading the request skips it
    Invalid(
        """\
class PaymentMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            body = await request.body()
            method = json.loads(body).get("method")
            if method not in PAID_METHODS:
                return await call_next(request)
        except Exception as e:
            logger.warning(f"Error parsing request body: {e}")
            return await call_next(request)
        if not request.headers.get("X-PAYMENT"):
            return self._create_402_response("payment required")
        return await call_next(request)
""",
        line=10,
        fixed="""\
class PaymentMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            body = await request.body()
            method = json.loads(body).get("method")
            if method not in PAID_METHODS:
                return await call_next(request)
        except Exception as e:
            logger.warning(f"Error parsing request body: {e}")
            raise
        if not request.headers.get("X-PAYMENT"):
            return self._create_402_response("payment required")
        return await call_next(request)
""",
        expected_message=(
            "Middleware `PaymentMiddleware.dispatch` passes the request on when "
            "`request.body()` raises any error, so every protected route is open while auth "
            "fails."
        ),
    ),
    # a filtering middleware whose scan fails lets the request on unscanned
    Invalid(
        """\
class ContentFilterMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            body = await request.body()
            if self.scanner.finds_secrets(body):
                return JSONResponse(status_code=400, content={"error": "Request blocked"})
        except Exception:
            pass
        return await call_next(request)
""",
        line=7,
        fixed="""\
class ContentFilterMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        try:
            body = await request.body()
            if self.scanner.finds_secrets(body):
                return JSONResponse(status_code=400, content={"error": "Request blocked"})
        except Exception:
            raise
        return await call_next(request)
""",
        expected_message=(
            "Middleware `ContentFilterMiddleware.dispatch` swallows the error and passes the "
            "request on when `request.body()` raises any error, so every protected route is "
            "open while auth fails."
        ),
    ),
    Invalid(
        """\
class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        token = request.headers.get("authorization")
        if not token:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            request.state.user = await self.verifier.verify(token)
        except Exception:
            logger.exception("auth backend error")
        return await call_next(request)
""",
        line=8,
        fixed="""\
class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        token = request.headers.get("authorization")
        if not token:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            request.state.user = await self.verifier.verify(token)
        except Exception:
            logger.exception("auth backend error")
            raise
        return await call_next(request)
""",
        expected_message=(
            "Middleware `AuthMiddleware.dispatch` swallows the error and passes the request "
            "on when `self.verifier.verify()` raises any error, so every protected route is "
            "open while auth fails."
        ),
    ),
    # Django-style middleware that passes the request on from the handler
    Invalid(
        """\
class ApiKeyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            if not self.keys.is_valid(request.headers.get("X-Api-Key")):
                return HttpResponseForbidden()
        except KeyServiceError:
            return self.get_response(request)
        return self.get_response(request)
""",
        line=10,
        fixed="""\
class ApiKeyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            if not self.keys.is_valid(request.headers.get("X-Api-Key")):
                return HttpResponseForbidden()
        except KeyServiceError:
            raise
        return self.get_response(request)
""",
        expected_message=(
            "Middleware `ApiKeyMiddleware.__call__` passes the request on when "
            "`self.keys.is_valid()` raises `KeyServiceError`, so every protected route is "
            "open while auth fails."
        ),
    ),
    # pure ASGI middleware, with the log saying it lets requests through
    Invalid(
        """\
async def auth_middleware(scope, receive, send, app):
    try:
        await check_token(scope)
    except Exception:
        log.warning("token check failed, letting the request through")
    await app(scope, receive, send)
""",
        line=4,
        fixed="""\
async def auth_middleware(scope, receive, send, app):
    try:
        await check_token(scope)
    except Exception:
        log.warning("token check failed, denying")
        raise
    await app(scope, receive, send)
""",
        expected_message=(
            "Middleware `auth_middleware` swallows the error and passes the request on when "
            "`check_token()` raises any error, so every protected route is open while auth "
            "fails."
        ),
    ),
]
