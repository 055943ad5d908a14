"""FC114: a missing identity field defaults to a privileged one."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from analyzers.fixes import ReplaceExpression
from analyzers.rules.base import Hit, Invalid, Rule
from analyzers.rules.common import defaulted_lookups
from analyzers.semantics import FunctionInfo, ModuleInfo

ROLE_KEYS = re.compile(
    r"(?i)^(role|roles|group|groups|scope|scopes|permissions?|perms|tier|level)$"
)
FLAG_KEYS = re.compile(r"(?i)^(is_)?(admin|superuser|staff|root|owner|privileged|sudo)$")
PRIVILEGED = re.compile(r"(?i)^(admin|administrator|root|superuser|owner|sudo|system|\*|all)$")
# Fields that name who is calling, read by a function that resolves the current user.
IDENTITY_KEYS = re.compile(
    r"(?i)^(user|user_?(email|id|name|login)|email|e_?mail|username|login|sub|subject|principal"
    r"|uid|identity|caller|account(_?id)?|actor)$"
)
CURRENT_USER_FUNCTION = re.compile(
    r"(?i)_*(get_)?(current|authenticated|requesting|logged_in|calling|active)_(user|principal"
    r"|identity|account|caller|subject|email|username|user_\w+)\w*|get_user_from_\w+"
    r"|resolve_(user|principal|identity|caller)\w*|whoami|(get_)?(caller|principal)_identity"
)
# Defaults that name nobody: an anonymous identity is not someone to act as.
NOBODY = re.compile(r"(?i)^(anonymous|anon|guest|unknown|none|null|nobody|public|-|n/a|\?)$")


class DefaultPrivilegedIdentity(Rule):
    """
    ## What it does
    Flags a lookup on an identity — token claims, a session, a user object — whose default,
    used when the field is missing, is a privileged identity: `claims.get("role", "admin")`,
    `getattr(user, "is_admin", True)`, `session.get("scopes", ["*"])`.

    ## Why is this bad?
    A missing field means the identity did not say: an old token, a different issuer, a
    malformed claim set, an anonymous session. Defaulting to the most powerful role turns
    every one of those into an administrator (CWE-636, CWE-1188).

    ## Example
    ```python
    def current_role(claims):
        return claims.get("role", "admin")
    ```

    ## Use instead
    ```python
    def current_role(claims):
        return claims.get("role")
    ```

    ## Fix safety
    The fix defaults a role to `None`, a list of scopes to an empty one, and a privilege
    flag to `False`. Identities that carry the field behave as before; the others lose
    privileges they never had.
    """

    code = "FC114"
    name = "default-privileged-identity"
    severity = "error"
    summary = "A missing identity field defaults to a privileged role or flag."
    fix_safety = "Missing fields now default to no privilege."
    trigger = (".get(", "getattr(")
    # `.get("role", "admin")`, `getattr(u, "is_admin", True)`, `.get("scopes", ["*"])`
    file_trigger = re.compile(
        r"(?:\.get|getattr)\((?:[^()\n,]*,\s*)?[\"'](?i:role|roles|group|groups|scope|scopes"
        r"|permissions?|perms|tier|level|(?:is_)?(?:admin|superuser|staff|root|owner|privileged"
        r"|sudo))[\"']\s*,\s*[\[(\{]?\s*(?:True|[bBrRuU]?[\"'])"
        # `getattr(request.state, "username", "dev-user")` in a current-user resolver
        r"|(?:\.get|getattr)\((?:[^()\n,]*,\s*)?[\"'](?i:user|user_?(?:email|id|name|login)"
        r"|email|e_?mail|username|login|sub|subject|principal|uid|identity|caller|account(?:_?id)?"
        r"|actor)[\"']\s*,\s*[bBrRuU]?[\"'][^\"'\n]"
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        resolver = CURRENT_USER_FUNCTION.fullmatch(fn.node.name) is not None
        for node, key, default in defaulted_lookups(fn, info, self.file_trigger):
            replacement = _unprivileged(key, default)
            message = "an identity missing that field is treated as privileged."
            if replacement is None and resolver and _fixed_identity(key, default):
                replacement = ReplaceExpression(default, "None")
                message = (
                    "a request that carries no identity acts as that fixed user instead of "
                    "being refused."
                )
            if replacement is None:
                continue
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` reads `{key}` with default `{ast.unparse(default)}`, so "
                    + message
                ),
                edits=[replacement],
                key_nodes=[node],
            )


def _fixed_identity(key: str, default: ast.expr) -> bool:
    """`"username"` defaulting to `"dev-user"`: a literal someone, not nobody."""
    return (
        IDENTITY_KEYS.match(key) is not None
        and isinstance(default, ast.Constant)
        and isinstance(default.value, str)
        and bool(default.value.strip())
        and not NOBODY.match(default.value.strip())
    )


def _unprivileged(key: str, default: ast.expr) -> ReplaceExpression | None:
    """The edit that takes the privilege out of the default, if the default grants one."""
    if FLAG_KEYS.match(key) and isinstance(default, ast.Constant) and default.value is True:
        return ReplaceExpression(default, "False")
    if not ROLE_KEYS.match(key):
        return None
    values = default.elts if isinstance(default, ast.List | ast.Tuple | ast.Set) else [default]
    if any(
        isinstance(v, ast.Constant) and isinstance(v.value, str) and PRIVILEGED.match(v.value)
        for v in values
    ):
        empty = {ast.List: "[]", ast.Tuple: "()", ast.Set: "set()"}.get(type(default), "None")
        return ReplaceExpression(default, empty)
    return None


DefaultPrivilegedIdentity.VALID = [
    """
def current_role(claims):
    return claims.get("role", "viewer")
""",
    """
def is_admin(user):
    return getattr(user, "is_admin", False)
""",
    # not an identity field
    """
def owner_label(settings):
    return settings.get("label", "admin")
""",
    # an anonymous identity is nobody to act as
    """
def current_account(request):
    return getattr(request.state, "username", "anonymous")
""",
    # not a current-user resolver: a display fallback
    """
def audit_line(request):
    return "user=" + getattr(request.state, "username", "unknown")
""",
    """
def current_account(request):
    name = getattr(request.state, "username", None)
    if not name:
        raise HTTPException(status_code=401)
    return name
""",
]

DefaultPrivilegedIdentity.INVALID = [
    # a current-user resolver that falls back to a fixed user
    Invalid(
        """\
async def current_account(request):
    return getattr(request.state, "username", "dev-user")
""",
        line=2,
        fixed="""\
async def current_account(request):
    return getattr(request.state, "username", None)
""",
    ),
    Invalid(
        """\
def current_role(claims):
    return claims.get("role", "admin")
""",
        line=2,
        fixed="""\
def current_role(claims):
    return claims.get("role", None)
""",
    ),
    Invalid(
        """\
def can_manage(user):
    return getattr(user, "is_admin", True)
""",
        line=2,
        fixed="""\
def can_manage(user):
    return getattr(user, "is_admin", False)
""",
    ),
    Invalid(
        """\
async def scopes_for(session):
    return set(session.get("scopes", ["*"]))
""",
        line=2,
        fixed="""\
async def scopes_for(session):
    return set(session.get("scopes", []))
""",
    ),
]
