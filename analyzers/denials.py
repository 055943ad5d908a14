"""What a denial looks like: a deny exception raised, a 401/403 answered, a message that says
no, and the `try` bodies that hold a permission check whose failure a handler may swallow.
"""

from __future__ import annotations

import ast
import re

from failclosed.analyzers.syntax import call_name, dotted_name, handler_types, own_nodes
from failclosed.analyzers.vocabulary import (
    ALLOW_NAME,
    AUTH_WORDS,
    CONTROL_SIGNAL,
    CREDENTIAL_ARG,
    DENIAL_READ,
    DENY_EXCEPTION,
    DENY_HELPER,
    DENY_MESSAGE,
    DENY_NAME,
    DENY_RESPONSES,
    DENY_STATUS,
    DENY_WORD,
    MAX_NAME,
    NON_FAILURE_EXCEPTIONS,
    NOT_FOUND,
    READING_CALLS,
    RECORDING_CALL,
    VERDICT_KEYWORD,
)


def denies_by_raising(statements: list[ast.AST]) -> bool:
    """A guard: it raises a deny exception or answers 401/403 itself."""
    for stmt in statements:
        if (
            isinstance(stmt, ast.Raise)
            and stmt.exc is not None
            and (is_deny_raise(stmt.exc) or _deny_message(stmt.exc))
        ):
            return True
        if isinstance(stmt, ast.Return) and stmt.value is not None and is_deny_response(stmt.value):
            return True
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Await):
            call = call.value
        if isinstance(call, ast.Call) and _sends_deny_status(call):
            return True
        if isinstance(stmt, ast.ExceptHandler) and _passes_denials_on(stmt):
            return True
    return False


def _passes_denials_on(handler: ast.ExceptHandler) -> bool:
    """`except HTTPException: raise`: the function's denials come from what it calls."""
    types = handler_types(handler)
    return (
        bool(types)
        and all(t == "HTTPException" or DENY_EXCEPTION.search(t) for t in types)
        and len(handler.body) == 1
        and isinstance(handler.body[0], ast.Raise)
        and handler.body[0].exc is None
    )


def _sends_deny_status(call: ast.Call) -> bool:
    """`abort(403)`, `await send_status(send, 401, ...)`, `await send({"status": 403, ...})`."""
    if call_name(call) == "abort":
        return _status_of(call) in DENY_STATUS
    if DENY_HELPER.search(call_name(call)):
        return True
    for arg in call.args:
        if isinstance(arg, ast.Constant) and arg.value in (401, 403):
            return True
        if isinstance(arg, ast.Dict) and any(
            isinstance(k, ast.Constant)
            and k.value == "status"
            and isinstance(v, ast.Constant)
            and v.value in (401, 403)
            for k, v in zip(arg.keys, arg.values, strict=True)
        ):
            return True
    return any(
        k.arg in ("status", "status_code")
        and isinstance(k.value, ast.Constant)
        and k.value.value in (401, 403)
        for k in call.keywords
    )


def _status_of(call: ast.Call) -> int | None:
    """The HTTP status a call passes, positionally or as status/status_code."""
    candidates = list(call.args[:1]) + [
        k.value for k in call.keywords if k.arg in ("status", "status_code", "code")
    ]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, int):
            return value.value
        if isinstance(value, ast.Attribute) and (m := re.search(r"_(\d{3})_", value.attr + "_")):
            return int(m.group(1))
    return None


def is_deny_raise(exc: ast.expr) -> bool:
    """`raise PermissionDenied(...)`, `raise HTTPException(status_code=403)`, ..."""
    target = exc.func if isinstance(exc, ast.Call) else exc
    name = call_name(target)
    if DENY_EXCEPTION.search(name):
        return True
    if (
        isinstance(target, ast.Attribute)
        and name[:1].islower()
        and DENY_EXCEPTION.search(call_name(target.value))
    ):
        return True  # built by the class: `raise TokenRevoked.from_row(row)`
    return isinstance(exc, ast.Call) and "Exception" in name and _status_of(exc) in DENY_STATUS


def is_deny_response(value: ast.expr) -> bool:
    """`JSONResponse(..., status_code=403)`, `HttpResponseForbidden()`, Flask's `(body, 401)`."""
    if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
        status = value.elts[1]
        return isinstance(status, ast.Constant) and status.value in DENY_STATUS
    if not isinstance(value, ast.Call):
        return False
    if DENY_RESPONSES.search(call_name(value)) or DENY_HELPER.search(call_name(value)):
        return True  # `HttpResponseForbidden()`, `self._create_402_response(...)`
    return (
        _status_of(value) in DENY_STATUS
        or any(
            k.arg in ("status", "status_code")
            and isinstance(k.value, ast.Constant)
            and k.value.value in DENY_STATUS
            for k in value.keywords
        )
        or any(_verdict_keyword_denies(k) for k in value.keywords)
        or (call_name(value).endswith("Response") and _says_denied(value))
    )


def _verdict_keyword_denies(keyword: ast.keyword) -> bool:
    return (
        keyword.arg in VERDICT_KEYWORD
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
        and DENY_WORD.match(keyword.value.value) is not None
    )


def _says_denied(call: ast.Call) -> bool:
    """A 4xx response whose body says so: `JSONResponse(400, {"error": "Request blocked"})`."""
    status: object = _status_of(call)
    if status is None:
        status = next(
            (
                k.value.value
                for k in call.keywords
                if k.arg in ("status", "status_code") and isinstance(k.value, ast.Constant)
            ),
            None,
        )
    if not (isinstance(status, int) and 400 <= status < 500):
        return False
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and DENY_MESSAGE.search(n.value)
        for n in ast.walk(call)
    )


def catches_failures(handler: ast.ExceptHandler, node: ast.Try | ast.TryStar) -> bool:
    """Can this handler run because a check failed?

    Not for import errors or iteration ends, and not for an `AttributeError` around code
    that calls nothing: that is a capability probe ("does this plugin define the method?").
    """
    types = set(handler_types(handler))
    if not types:
        return True
    if types <= NON_FAILURE_EXCEPTIONS or all(NOT_FOUND.fullmatch(t) for t in types):
        return False
    if all(CONTROL_SIGNAL.fullmatch(t) for t in types):
        return False  # `except SkipValidation as e:` is the code's own instruction, not an error
    if types <= {"AttributeError", "NotImplementedError"}:
        return any(isinstance(n, ast.Call | ast.Await) for s in node.body for n in ast.walk(s))
    return True


def body_denies(body: list[ast.stmt]) -> bool:
    """The statements can answer "no": a deny exception or response, or a raise whose
    message says it denies (`raise ValueError("path traversal is not allowed")`)."""
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if isinstance(n, ast.Raise) and n.exc is not None:
                if is_deny_raise(n.exc) or _deny_message(n.exc):
                    return True
            elif isinstance(n, ast.Return) and n.value is not None and is_deny_response(n.value):
                return True
    return False


def answers_a_denial(body: list[ast.stmt]) -> bool:
    """An `if` that reads a verdict of "no" from an answer and leaves on it: `if
    result.get("blocked"): return f"ERROR: {reason}"`. The code there relays a denial."""
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if (
                isinstance(n, ast.If)
                and _reads_denial(n.test)
                and any(isinstance(s, ast.Return | ast.Raise) for s in n.body)
            ):
                return True
    return False


def _reads_denial(test: ast.expr) -> bool:
    for n in ast.walk(test):
        word = (
            n.value
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            else n.attr
            if isinstance(n, ast.Attribute)
            else n.id
            if isinstance(n, ast.Name)
            else ""
        )
        if word and len(word) < 40 and DENIAL_READ.match(word):
            return True
    return False


def _does_work(body: list[ast.stmt]) -> bool:
    """Some call in the statements does more than parse or reshape data (a lookup, a query)."""
    return any(
        isinstance(n, ast.Call)
        and call_name(n) not in READING_CALLS
        and not RECORDING_CALL.search(dotted_name(n.func) or "")
        and not (isinstance(n.func, ast.Name) and n.func.id[:1].isupper())  # building a value
        for stmt in body
        for n in ast.walk(stmt)
        if not isinstance(n, ast.Raise)
    ) and not all(_only_builds_deny(stmt) for stmt in body)


def _only_builds_deny(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Raise | ast.Return)


def _deny_message(exc: ast.expr) -> bool:
    return any(DENY_MESSAGE.search(part) for part in message_parts(exc))


def message_parts(exc: ast.expr) -> list[str]:
    """The literal text of an exception's first argument, piece by piece (an f-string's
    constant parts): `PermissionError(f"{user} is not allowed")` -> [" is not allowed"]."""
    if not isinstance(exc, ast.Call) or not exc.args:
        return []
    first = exc.args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    return [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]


def checks_auth(node: ast.Try | ast.TryStar) -> bool:
    """The try body calls something that authenticates or authorizes.

    Calls that build a deny (`return Response(TokenError(...), status_code=401)`, `raise
    ...`) don't count.
    """
    if (body_denies(node.body) or answers_a_denial(node.body)) and _does_work(node.body):
        return True  # the guarded code looks something up and can say no: it is the check
    stack: list[ast.AST] = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, ast.Raise | ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(child, ast.Return)
            and child.value is not None
            and is_deny_response(child.value)
        ):
            continue
        stack.extend(ast.iter_child_nodes(child))
        if isinstance(child, ast.Call):
            callee = dotted_name(child.func) or call_name(child)
            if RECORDING_CALL.search(callee):
                continue  # audit.record(user, ...), metrics.incr(...): bookkeeping, not a check
            last = callee.rsplit(".", 1)[-1]
            if (
                AUTH_WORDS.search(callee)
                or ALLOW_NAME.fullmatch(last[:MAX_NAME])
                or DENY_NAME.fullmatch(last[:MAX_NAME])
                or any(CREDENTIAL_ARG.search(dotted_name(a) or "") for a in child.args)
            ):  # introspect(token)
                return True
    return False
