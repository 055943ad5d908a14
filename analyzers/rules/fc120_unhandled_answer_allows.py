"""FC120: a guard handles the answers it expects, and lets every other answer through."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import body_denies
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import if_chain, is_chain_head
from failclosed.analyzers.syntax import dotted_name, own_nodes

# What a guard dispatches on: an answer's status, a verdict, a configured mode.
DISPATCH_SUBJECT = re.compile(
    r"(?i)(^|_)(status(_code)?|code|mode|result|decision|verdict|outcome|state|action|level)$"
)
NEXT_CALLS = {"call_next", "get_response", "next_handler", "handler", "nxt", "next_", "app"}


class UnhandledAnswerAllows(Rule):
    """
    ## What it does
    Flags a middleware whose `if`/`elif` chain tests one answer against the
    values it expects (`status_code == 200`, `== 401`, `== 402`; `mode == "token"`,
    `== "trusted-proxy"`), denies in some of those branches, has no `else`, and then lets
    the request through.

    ## Why is this bad?
    The answers nobody listed are the ones a failing system gives: a 429 or a 503 from the
    authorization service, a mode misspelt in the configuration, a verdict added in a later
    version. Each of them skips every branch and reaches the allow (CWE-636). A chain of
    expected answers needs an `else` that denies.

    ## Example
    ```python
    async def dispatch(self, request, call_next):
        answer = await self.auth.check(request)
        if answer.status_code == 401:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        elif answer.status_code == 402:
            return JSONResponse({"error": "payment required"}, status_code=402)
        return await call_next(request)
    ```

    ## Use instead
    ```python
        elif answer.status_code != 200:
            return JSONResponse({"error": "authorization unavailable"}, status_code=503)
        return await call_next(request)
    ```

    ## Fix safety
    The fix denies, just before the allow, every value the chain does not list, with the
    chain's own first denial; the listed values keep their behaviour. Which denial fits the
    unexpected cases best (401, 403, 503) stays the author's call. It is reported as a
    warning because the chain may already cover every value the answer can take.
    """

    code = "FC120"
    name = "unhandled-answer-allows"
    severity = "warning"
    summary = "A guard's if/elif chain over an answer has no else, so unexpected answers pass."
    fix_safety = "Denies the values the chain does not list; listed values keep their behaviour."
    trigger = ("elif",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not fn.middleware:
            return
        for stmt in fn.statements:
            if not isinstance(stmt, ast.If) or not is_chain_head(stmt, fn):
                continue
            chain = if_chain(stmt)
            subject = _common_subject(chain)
            if subject is None or not DISPATCH_SUBJECT.search(subject.rsplit(".", 1)[-1]):
                continue
            if chain[-1].orelse or not any(body_denies(branch.body) for branch in chain):
                continue
            allow = _allow_after(fn, stmt)
            if allow is None:
                continue
            yield Hit(
                edits=_deny_the_rest(chain, subject, allow),
                node=allow,
                message=(
                    f"`{fn.qualname}` handles the values of `{subject}` it expects and has no "
                    "`else`: any other answer (an error status, an unknown mode) reaches the "
                    "allow."
                ),
                key_nodes=[stmt.test, allow],
            )


def _deny_the_rest(chain: list[ast.If], subject: str, allow: ast.stmt) -> list[Edit]:
    """Before the allow, deny every value the chain does not list, with the chain's own
    denial: `if status not in (401, 402): return JSONResponse(..., status_code=401)`."""
    deny = next(
        (
            n
            for branch in chain
            for stmt in branch.body
            for n in [stmt, *own_nodes(stmt)]
            if isinstance(n, ast.Return | ast.Raise) and body_denies([n])
        ),
        None,
    )
    if deny is None:
        return []
    listed = ", ".join(ast.unparse(b.test.comparators[0]) for b in chain)  # type: ignore[attr-defined]
    guard = f"if {subject} not in ({listed}):\n    {ast.unparse(deny)}\n"
    return [ReplaceStatements(allow, allow, (guard, KEEP))]


def _common_subject(chain: list[ast.If]) -> str | None:
    """`x` when every test in the chain is `x == <constant>`."""
    subjects = set()
    for branch in chain:
        test = branch.test
        if not (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant)
        ):
            return None
        subjects.add(dotted_name(test.left))
    return subjects.pop() if len(subjects) == 1 and None not in subjects else None


def _allow_after(fn: FunctionInfo, stmt: ast.If) -> ast.stmt | None:
    """The statement after the chain that lets the request through (calls the next handler),
    when nothing denies before it."""
    outcome = fn.flow.after(stmt)
    for later in [*outcome.passed, *([outcome.node] if isinstance(outcome.node, ast.stmt) else [])]:
        if body_denies([later]):
            return None
        for n in [later, *own_nodes(later)]:
            if isinstance(n, ast.Call) and (dotted_name(n.func) or "") in NEXT_CALLS:
                return later
    return None


UnhandledAnswerAllows.VALID = [
    # an else denies the unexpected answers
    """
async def dispatch(self, request, call_next):
    answer = await self.auth.check(request)
    if answer.status_code == 200:
        pass
    elif answer.status_code == 401:
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    else:
        return JSONResponse({"error": "authorization unavailable"}, status_code=503)
    return await call_next(request)
""",
    # a chain over request paths is routing, not an answer
    """
async def dispatch(self, request, call_next):
    if request.url.path == "/health":
        return PlainTextResponse("ok")
    elif request.url.path == "/admin":
        return JSONResponse({"error": "forbidden"}, status_code=403)
    return await call_next(request)
""",
]

UnhandledAnswerAllows.INVALID = [
    Invalid(
        """\
async def dispatch(self, request, call_next):
    answer = await self.auth.check(request)
    if answer.status_code == 401:
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    elif answer.status_code == 402:
        return JSONResponse({"error": "payment required"}, status_code=402)
    return await call_next(request)
""",
        line=7,
        fixed="""\
async def dispatch(self, request, call_next):
    answer = await self.auth.check(request)
    if answer.status_code == 401:
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    elif answer.status_code == 402:
        return JSONResponse({"error": "payment required"}, status_code=402)
    if answer.status_code not in (401, 402):
        return JSONResponse({'error': 'unauthorized'}, status_code=401)
    return await call_next(request)
""",
        expected_message=(
            "`dispatch` handles the values of `answer.status_code` it expects and has no "
            "`else`: any other answer (an error status, an unknown mode) reaches the allow."
        ),
    ),
    # an unknown configured mode skips every check
    Invalid(
        """\
class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        auth_mode = self.config.auth_mode
        if auth_mode == "token":
            if request.headers.get("authorization") != self.config.token:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        elif auth_mode == "mtls":
            if not request.scope.get("client_cert"):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)
""",
        line=10,
        fixed="""\
class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        auth_mode = self.config.auth_mode
        if auth_mode == "token":
            if request.headers.get("authorization") != self.config.token:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        elif auth_mode == "mtls":
            if not request.scope.get("client_cert"):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        if auth_mode not in ('token', 'mtls'):
            return JSONResponse({'error': 'unauthorized'}, status_code=401)
        return await call_next(request)
""",
        expected_message=(
            "`AuthMiddleware.dispatch` handles the values of `auth_mode` it expects and has "
            "no `else`: any other answer (an error status, an unknown mode) reaches the allow."
        ),
    ),
]
