"""FC111: the check allows when its verifying library or key is unavailable."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator

from analyzers.fixes import ReplaceExpression, ReplaceStatements
from analyzers.rules.base import Hit, Invalid, Rule
from analyzers.rules.common import absent_subject, branch_answer, reword_edits
from analyzers.rules.fc105_unverified_fallback import unverified_call
from analyzers.semantics import FunctionInfo, ModuleInfo, allow_value, call_name, dotted_name

KEY_NAME = re.compile(
    r"(?i)(^|_)(secret|secret_key|public_key|private_key|jwks|cert|certificate|signing_key"
    r"|pubkey|verify_key|verifying_key|hmac_key|jwt_key)$"
)


class DegradedCapabilityAllows(Rule):
    """
    ## What it does
    Flags a permission check or verifier that allows when the capability it needs is
    missing: the crypto/JWT library failed to import (`except ImportError: AVAILABLE =
    False`, later `if not AVAILABLE: return True`), or the verifying key is not loaded
    (`if not self.public_key: return True`), or, in that case, the token is decoded without
    verifying it.

    ## Why is this bad?
    A missing dependency or an unreadable key file is an error, not the documented "no
    permission system configured" choice: the operator believes tokens are verified. A
    broken deployment (a slim image without `cryptography`, a key mounted at the wrong
    path) then silently accepts every token (CWE-636).

    ## Example
    ```python
    try:
        import jwt
        JWT_AVAILABLE = True
    except ImportError:
        JWT_AVAILABLE = False

    def verify_token(token):
        if not JWT_AVAILABLE:
            return True
        return jwt.decode(token, KEY, algorithms=["RS256"]) is not None
    ```

    ## Use instead
    ```python
        if not JWT_AVAILABLE:
            return False
    ```
    or, better, fail at start-up when the library or key is missing.

    ## Fix safety
    The fix flips the allow value on that branch to deny. An unverified decode on that
    branch has no automatic fix (raise an error there instead). Severity is `warning`: the
    inference runs through a module flag or attribute the rule cannot follow everywhere.
    """

    code = "FC111"
    name = "degraded-capability-allows"
    severity = "warning"
    summary = "The check allows when its verifying library or key is unavailable."
    fix_safety = "Flips the allow value on the missing-capability branch to deny."
    trigger = ("if not ", "is None")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if fn.polarity is None:
            return
        flags = import_fallback_flags(info)
        for node in fn.statements:
            if not isinstance(node, ast.If) or not node.body:
                continue
            missing = _missing_capability(node.test, flags)
            if missing is None:
                continue
            first = branch_answer(node)
            if isinstance(first, ast.Return):
                value = allow_value(first.value, fn, info)
                if value is not None:
                    yield Hit(
                        node=first,
                        message=(
                            f"`{fn.qualname}` returns `{value.shown}` (allow) when {missing}, "
                            "so a broken deployment accepts every request unverified."
                        ),
                        edits=[ReplaceExpression(value.node, value.deny), *reword_edits(info, node)]
                        if value.deny
                        else [],
                        key_nodes=[node],
                    )
                    continue
            for stmt in node.body:
                if unverified_call(stmt) is not None or _decodes_by_hand(stmt):
                    reason = json.dumps(f"cannot verify tokens: {missing}")
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` decodes without verification when {missing}, "
                            "so a forged token is trusted; raise an error there instead."
                        ),
                        edits=[
                            ReplaceStatements(
                                stmt, node.body[-1], (f"raise RuntimeError({reason})",)
                            )
                        ],
                        key_nodes=[node],
                    )
                    break


def _decodes_by_hand(stmt: ast.stmt) -> bool:
    """`token.split(".")[1]` or `base64.urlsafe_b64decode(...)`: reading a JWT unverified."""
    for n in ast.walk(stmt):
        if isinstance(n, ast.Call):
            name = call_name(n)
            if name.endswith("b64decode"):
                return True
            if (
                name == "split"
                and n.args
                and isinstance(n.args[0], ast.Constant)
                and n.args[0].value == "."
            ):
                return True
    return False


def _missing_capability(test: ast.expr, flags: dict[str, str]) -> str | None:
    """`not JWT_AVAILABLE` / `jwt is None` / `not self.public_key`: what is missing, or None."""
    subject = absent_subject(test)
    if subject is None:
        return None
    target = subject[0]
    name = dotted_name(target) or ""
    if name in flags:
        return f"`{flags[name]}` failed to import"
    if KEY_NAME.search(name.rsplit(".", 1)[-1]):
        return f"`{name}` is not loaded"
    return None


def import_fallback_flags(info: ModuleInfo) -> dict[str, str]:
    """Names a module sets to False/None when an import fails: {"JWT_AVAILABLE": "jwt"}."""
    if "import_fallback_flags" not in info.memo:
        info.memo["import_fallback_flags"] = dict(_import_fallback_flags(info.tree))
    return info.memo["import_fallback_flags"]  # type: ignore[return-value]


def _import_fallback_flags(tree: ast.Module) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.Try):
            continue
        imported = [
            alias.name for s in stmt.body if isinstance(s, ast.Import | ast.ImportFrom)
            for alias in s.names
        ]  # fmt: skip
        module = next(
            (s.module for s in stmt.body if isinstance(s, ast.ImportFrom) and s.module),
            imported[0] if imported else "",
        )
        for handler in stmt.handlers:
            types = {getattr(t, "id", "") for t in _types(handler)}
            if not types & {"ImportError", "ModuleNotFoundError"}:
                continue
            for s in handler.body:
                if (
                    isinstance(s, ast.Assign)
                    and isinstance(s.value, ast.Constant)
                    and s.value.value in (False, None)
                ):
                    found.extend((t.id, module) for t in s.targets if isinstance(t, ast.Name))
    return found


def _types(handler: ast.ExceptHandler) -> list[ast.expr]:
    if handler.type is None:
        return []
    return list(handler.type.elts) if isinstance(handler.type, ast.Tuple) else [handler.type]


DegradedCapabilityAllows.VALID = [
    # denies when the library is missing
    """
try:
    import jwt
    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

def verify_token(token):
    if not JWT_AVAILABLE:
        return False
    return jwt.decode(token, KEY, algorithms=["RS256"]) is not None
""",
    # an optional feature, not a verifier
    """
try:
    import rich
except ImportError:
    rich = None

def render(text):
    if rich is None:
        return text
    return rich.markup(text)
""",
]

DegradedCapabilityAllows.INVALID = [
    Invalid(
        """\
try:
    import jwt
    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

def verify_token(token):
    if not JWT_AVAILABLE:
        return True
    return jwt.decode(token, KEY, algorithms=["RS256"]) is not None
""",
        line=9,
        fixed="""\
try:
    import jwt
    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

def verify_token(token):
    if not JWT_AVAILABLE:
        return False
    return jwt.decode(token, KEY, algorithms=["RS256"]) is not None
""",
    ),
    # the key is not loaded: decode without verifying
    Invalid(
        """\
class TokenVerifier:
    def verify_token(self, token):
        if not self.public_key:
            return jwt.decode(token, options={"verify_signature": False})
        return jwt.decode(token, self.public_key, algorithms=["RS256"])
""",
        line=4,
        fixed="""\
class TokenVerifier:
    def verify_token(self, token):
        if not self.public_key:
            raise RuntimeError("cannot verify tokens: `self.public_key` is not loaded")
        return jwt.decode(token, self.public_key, algorithms=["RS256"])
""",
    ),
]
