"""FC142: a loop tries each key or verifier, and when none succeeds the function just ends."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.syntax import own_nodes

NO_ANSWER = "None"
REFUSAL = 'raise PermissionError("nothing verified it: refusing")'


class VerificationLoopFallsThrough(Rule):
    """
    ## What it does
    Flags a function that tries each key, certificate or verifier in a loop — `return`s the
    verified result from a `try`, moves on to the next one when it fails — and, when the loop
    ends without a success, simply ends: it returns `None` although it is declared to return
    a result and refuses by raising everywhere else.

    ## Why is this bad?
    The loop ends without a success exactly when nothing verified: every key rejected the
    signature, or there were no keys at all (the identity provider's answer was empty or
    could not be read). The caller then gets `None` where it expected claims or an error, and
    a dependency or decorator that only stops on an exception lets the request through
    (CWE-636).

    ## Example
    ```python
    async def __call__(self, request) -> dict:
        token = await super().__call__(request)
        for key in provider.signing_keys:
            try:
                return jwt.decode(token, key=key, algorithms=["RS256"])
            except JWTError:
                continue
    ```

    ## Use instead
    ```python
        for key in provider.signing_keys:
            ...
        raise PermissionError("nothing verified it: refusing")
    ```

    ## Fix safety
    The fix raises after the loop. A caller that relied on `None` meaning "not verified"
    must catch the error instead; prefer the function's own deny exception (401).
    """

    code = "FC142"
    name = "verification-loop-falls-through"
    severity = "warning"
    summary = "A loop tries each key or verifier; when none succeeds, the function just ends."
    fix_safety = "The function raises once every key or verifier has failed."
    trigger = ("for ",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        node = fn.node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return
        if not _promises_a_result(node) or not _raises_elsewhere(node):
            return
        last = node.body[-1]
        if not isinstance(last, ast.For | ast.AsyncFor) or last.orelse:
            return
        if not _tries_each(last):
            return
        yield Hit(
            node=last,
            message=(
                f"`{fn.qualname}` returns from inside the loop when an item verifies, and when "
                "none does (every one failed, or there were none) it just ends and answers "
                f"`{NO_ANSWER}` instead of refusing."
            ),
            edits=[ReplaceStatements(last, last, (KEEP, REFUSAL))],
            key_nodes=[last.iter],
        )


def _promises_a_result(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Declared to return something that is not None or Optional."""
    returns = node.returns
    if returns is None:
        return False
    text = ast.unparse(returns)
    return not any(word in text for word in ("None", "Optional", "Any", "NoReturn"))


def _raises_elsewhere(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """It refuses by raising: a `raise` with an exception somewhere in the function."""
    return any(isinstance(n, ast.Raise) and n.exc is not None for n in own_nodes(node))


def _tries_each(loop: ast.For | ast.AsyncFor) -> bool:
    """The loop's `try` returns a result, and one of its handlers goes on to the next item
    (`continue`, or a branch of it that does not raise)."""
    for stmt in loop.body:
        if not isinstance(stmt, ast.Try):
            continue
        returns = any(isinstance(n, ast.Return) and n.value is not None for n in _walk(stmt.body))
        if returns and any(_moves_on(h) for h in stmt.handlers):
            return True
    return False


def _moves_on(handler: ast.ExceptHandler) -> bool:
    if any(isinstance(n, ast.Continue) for n in _walk(handler.body)):
        return True
    last = handler.body[-1]
    return not isinstance(last, ast.Raise | ast.Return)


def _walk(body: list[ast.stmt]) -> Iterator[ast.AST]:
    for stmt in body:
        yield stmt
        yield from own_nodes(stmt)


VerificationLoopFallsThrough.VALID = [
    # refuses once every key failed
    """
async def verify(token, keys) -> dict:
    for key in keys:
        try:
            return jwt.decode(token, key=key, algorithms=["RS256"])
        except JWTError:
            continue
    raise PermissionError("no key verified the token")
""",
    # None is the declared answer for "not verified" (Django's authenticate contract)
    """
def authenticate(request, backends) -> Optional[User]:
    for backend in backends:
        try:
            user = backend.authenticate(request)
        except PermissionDenied:
            raise
        if user is not None:
            return user
""",
]

VerificationLoopFallsThrough.INVALID = [
    Invalid(
        """\
async def current_claims(self, request) -> dict:
    token = await self.bearer(request)
    for key in self.provider.signing_keys:
        try:
            claims = jwt.decode(token, key=key, algorithms=["RS256"])
            if claims["tid"] != self.tenant_id:
                raise HTTPException(status_code=401, detail="wrong tenant")
            return claims
        except HTTPException:
            raise
        except JWTError:
            continue
""",
        line=3,
        fixed="""\
async def current_claims(self, request) -> dict:
    token = await self.bearer(request)
    for key in self.provider.signing_keys:
        try:
            claims = jwt.decode(token, key=key, algorithms=["RS256"])
            if claims["tid"] != self.tenant_id:
                raise HTTPException(status_code=401, detail="wrong tenant")
            return claims
        except HTTPException:
            raise
        except JWTError:
            continue
    raise PermissionError("nothing verified it: refusing")
""",
        expected_message=(
            "`current_claims` returns from inside the loop when an item verifies, and when "
            "none does (every one failed, or there were none) it just ends and answers `None` "
            "instead of refusing."
        ),
    ),
]
