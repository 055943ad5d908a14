"""FC105: when verification fails, the code falls back to an unverified result."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, tries
from failclosed.analyzers.syntax import call_name, own_nodes

VERIFY_FLAGS = {"verify", "verify_signature", "verify_sig", "check_signature", "validate"}


class UnverifiedFallback(Rule):
    """
    ## What it does
    Flags an `except` handler that, after verification failed, goes on with an unverified
    result: decoding a JWT with `verify_signature` off or `verify=False`, calling
    `get_unverified_claims`, accepting `algorithms=["none"]`, or retrying a request with
    TLS verification off.

    ## Why is this bad?
    The handler runs precisely when the signature, token or certificate did not verify:
    forged, expired, tampered with, or signed by someone else. Using the unverified payload
    then trusts whatever the attacker wrote (CWE-636, CWE-347).

    ## Example
    ```python
    def current_user(token):
        try:
            claims = jwt.decode(token, KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            claims = jwt.decode(token, options={"verify_signature": False})
        return claims["sub"]
    ```

    ## Use instead
    ```python
    def current_user(token):
        try:
            claims = jwt.decode(token, KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            raise
        return claims["sub"]
    ```

    ## Fix safety
    The fix drops the unverified fallback and re-raises the verification error from that
    point of the handler on; statements before it (logging) are kept. Callers now see the
    error instead of unverified data, which is the intended, safe behaviour.
    """

    code = "FC105"
    name = "unverified-fallback"
    severity = "error"
    summary = "After verification fails, the code falls back to an unverified result."
    fix_safety = "Drops the unverified fallback and re-raises the verification error."

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                for stmt in handler.body:
                    call = unverified_call(stmt)
                    if call is None:
                        continue
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` falls back to `{_shown(call)}` when verification "
                            f"raises {caught(handler)}, so a forged or tampered input is "
                            "trusted."
                        ),
                        edits=[ReplaceStatements(stmt, handler.body[-1], ("raise",))],
                        key_nodes=[handler],
                    )
                    break


def unverified_call(stmt: ast.stmt) -> ast.Call | None:
    """The first call in `stmt` that skips verification."""
    for node in [stmt, *own_nodes(stmt)]:
        if isinstance(node, ast.Call) and _skips_verification(node):
            return node
    return None


def _skips_verification(call: ast.Call) -> bool:
    if "unverified" in call_name(call).lower():
        return True
    for kw in call.keywords:
        if kw.arg in VERIFY_FLAGS and _is_false(kw.value):
            return True
        if kw.arg == "options" and isinstance(kw.value, ast.Dict):
            for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and str(key.value).startswith("verify")
                    and _is_false(value)
                ):
                    return True
        if kw.arg == "algorithms" and _allows_none_algorithm(kw.value):
            return True
    return False


def _allows_none_algorithm(value: ast.expr) -> bool:
    """`algorithms=["none"]`: an unsigned token is accepted."""
    return isinstance(value, ast.List | ast.Tuple) and any(
        isinstance(e, ast.Constant) and str(e.value).lower() == "none" for e in value.elts
    )


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _shown(call: ast.Call) -> str:
    text = ast.unparse(call)
    return text if len(text) <= 70 else text[:67] + "..."


UnverifiedFallback.VALID = [
    # re-raises
    """
def current_user(token):
    try:
        claims = jwt.decode(token, KEY, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise AuthenticationFailed("bad token")
    return claims["sub"]
""",
    # unverified header read up front to pick the key is not a fallback
    """
def current_user(token):
    header = jwt.get_unverified_header(token)
    key = keys[header["kid"]]
    return jwt.decode(token, key, algorithms=["RS256"])
""",
    # a fallback to another *verified* path
    """
def current_user(token):
    try:
        return jwt.decode(token, NEW_KEY, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        return jwt.decode(token, OLD_KEY, algorithms=["HS256"])
""",
]

UnverifiedFallback.INVALID = [
    Invalid(
        """\
def current_user(token):
    try:
        claims = jwt.decode(token, KEY, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        claims = jwt.decode(token, options={"verify_signature": False})
    return claims["sub"]
""",
        line=5,
        fixed="""\
def current_user(token):
    try:
        claims = jwt.decode(token, KEY, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise
    return claims["sub"]
""",
        expected_message=(
            "`current_user` falls back to `jwt.decode(token, options={'verify_signature': "
            "False})` when verification raises `InvalidTokenError`, so a forged or tampered "
            "input is trusted."
        ),
    ),
    Invalid(
        """\
def verify_id_token(token):
    try:
        return jose_jwt.decode(token, JWKS, audience=CLIENT_ID)
    except JWTError as exc:
        logger.warning("verification failed (%s), using unverified claims", exc)
        claims = jose_jwt.get_unverified_claims(token)
        return claims
""",
        line=6,
        fixed="""\
def verify_id_token(token):
    try:
        return jose_jwt.decode(token, JWKS, audience=CLIENT_ID)
    except JWTError as exc:
        logger.warning("verification failed (%s), using unverified claims", exc)
        raise
""",
        expected_message=(
            "`verify_id_token` falls back to `jose_jwt.get_unverified_claims(token)` when "
            "verification raises `JWTError`, so a forged or tampered input is trusted."
        ),
    ),
    # TLS verification turned off after a certificate error
    Invalid(
        """\
def fetch_policy(url):
    try:
        return requests.get(url, timeout=5).json()
    except requests.exceptions.SSLError:
        return requests.get(url, timeout=5, verify=False).json()
""",
        line=5,
        fixed="""\
def fetch_policy(url):
    try:
        return requests.get(url, timeout=5).json()
    except requests.exceptions.SSLError:
        raise
""",
        expected_message=(
            "`fetch_policy` falls back to `requests.get(url, timeout=5, verify=False)` when "
            "verification raises `SSLError`, so a forged or tampered input is trusted."
        ),
    ),
]
