"""FC104: `return` inside `finally` hands back the allow default and swallows the error."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.allowing import allow_value
from failclosed.analyzers.denials import is_deny_raise
from failclosed.analyzers.fixes import Edit, HoistFinallyReturn
from failclosed.analyzers.flow import FunctionFlow, returns_in
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import failing_call, tries
from failclosed.analyzers.syntax import call_name, own_nodes


class FinallyReturnsAllow(Rule):
    """
    ## What it does
    Flags a `return` in a `finally` block of a permission check when what it returns is, or
    can still be, the allow value: `return True`, or `return allowed` where `allowed` started
    as `True` before the `try`.

    ## Why is this bad?
    A `return` in `finally` discards any exception in flight. If the check raised, the
    function silently returns the allow default instead: the error is swallowed and access is
    granted (CWE-636). Python 3.14 warns about `return` in `finally` for this reason (PEP 765).

    ## Example
    ```python
    def is_allowed(user):
        allowed = True
        try:
            allowed = policy.check(user)
        finally:
            return allowed
    ```

    ## Use instead
    ```python
    def is_allowed(user):
        allowed = True
        allowed = policy.check(user)
        return allowed
    ```

    ## Fix safety
    When the `finally` block holds only the `return`, the fix moves the `return` after the
    `try` statement (dropping an empty `try`), so exceptions propagate again. A value the
    `try` body returns itself is now honoured instead of being overridden by the `finally`
    (that override was a bug too). Other shapes get no automatic fix.
    """

    code = "FC104"
    name = "finally-returns-allow"
    severity = "error"
    summary = "A `return` in `finally` swallows the check's error and returns the allow default."
    fix_safety = "Moves the return out of `finally`; errors propagate, results are honoured."

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            if not node.finalbody:
                continue
            flow = fn.flow
            swallowed = _denial_raised_in(node)
            for ret in (r for stmt in node.finalbody for r in _returns(stmt)):
                shown = _allow_shown(fn, info, flow, node, ret)
                if shown is None and swallowed is not None and ret.value is not None:
                    yield Hit(
                        node=ret,
                        message=(
                            f"`{fn.qualname}` returns from `finally`, which discards the "
                            f"`{swallowed}` its try raises, so the request goes on as if the "
                            "check had passed."
                        ),
                        key_nodes=[node, ret],
                    )
                    continue
                if shown is None:
                    continue
                edits: list[Edit] = []
                if node.finalbody == [ret] and isinstance(node, ast.Try):
                    edits.append(HoistFinallyReturn(node, drop=_always_returns(node)))
                yield Hit(
                    node=ret,
                    message=(
                        f"`{fn.qualname}` returns {shown} from `finally`, which discards any "
                        f"error from {failing_call(node)} and answers allow instead."
                    ),
                    edits=edits,
                    key_nodes=[node],
                )


def _always_returns(node: ast.Try) -> bool:
    """The try body ends in `return` and every handler leaves: nothing falls past the try."""
    ends = [node.body, *(h.body for h in node.handlers)]
    return all(block and isinstance(block[-1], ast.Return | ast.Raise) for block in ends)


def _returns(stmt: ast.stmt) -> Iterator[ast.Return]:
    if isinstance(stmt, ast.Return):
        yield stmt
    else:
        yield from returns_in(stmt)


def _allow_shown(
    fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow, node: ast.Try, ret: ast.Return
) -> str | None:
    """The allow value `ret` hands back: a literal, or a variable that starts as allow."""
    value = allow_value(ret.value, fn, info)
    if value is not None:
        return f"`{value.shown}`"
    if isinstance(ret.value, ast.Name):
        initial = allow_value(flow.value_before(node, ret.value.id), fn, info)
        if initial is not None:
            return f"`{ret.value.id}` (initially `{initial.shown}`)"
    return None


FinallyReturnsAllow.VALID = [
    # the default is deny
    """
def is_allowed(user):
    allowed = False
    try:
        allowed = policy.check(user)
    finally:
        return allowed
""",
    # finally without return
    """
def has_permission(user):
    lock.acquire()
    try:
        return acl.check(user)
    finally:
        lock.release()
""",
    # deny polarity: True is the safe default
    """
def is_blocked(ip):
    blocked = True
    try:
        blocked = firewall.lookup(ip)
    finally:
        return blocked
""",
]

FinallyReturnsAllow.INVALID = [
    # the `finally` return cancels the 500 the handler raises: the request goes on
    Invalid(
        """\
async def workspace_of(request):
    workspace = None
    try:
        workspace = await sessions.workspace_for(request.cookies["session"])
    except Exception:
        raise HTTPException(status_code=500, detail="session store unavailable")
    finally:
        return workspace or DEFAULT_WORKSPACE
""",
        line=8,
        expected_message=(
            "`workspace_of` returns from `finally`, which discards the `HTTPException` its "
            "try raises, so the request goes on as if the check had passed."
        ),
    ),
    Invalid(
        """\
def is_allowed(user):
    allowed = True
    try:
        allowed = policy.check(user)
    finally:
        return allowed
""",
        line=6,
        fixed="""\
def is_allowed(user):
    allowed = True
    allowed = policy.check(user)
    return allowed
""",
        expected_message=(
            "`is_allowed` returns `allowed` (initially `True`) from `finally`, which discards "
            "any error from `policy.check()` and answers allow instead."
        ),
    ),
    # with a handler: the finally still swallows what the handler re-raises
    Invalid(
        """\
async def check_access(self, user):
    try:
        return await self.pdp.check(user)
    except TimeoutError:
        raise
    finally:
        return True
""",
        line=7,
        fixed="""\
async def check_access(self, user):
    try:
        return await self.pdp.check(user)
    except TimeoutError:
        raise
""",
        expected_message=(
            "`check_access` returns `True` from `finally`, which discards any error from "
            "`self.pdp.check()` and answers allow instead."
        ),
    ),
]


def _denial_raised_in(node: ast.Try) -> str | None:
    """The deny exception or HTTP error the try or its handlers raise (`HTTPException(500)`):
    a `return` in `finally` silently cancels it."""
    for block in [node.body, *(h.body for h in node.handlers)]:
        for stmt in block:
            for n in [stmt, *own_nodes(stmt)]:
                if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call):
                    name = call_name(n.exc)
                    if is_deny_raise(n.exc) or name == "HTTPException":
                        return name
    return None
