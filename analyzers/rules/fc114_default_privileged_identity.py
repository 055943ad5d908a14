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
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node, key, default in defaulted_lookups(fn, info, self.file_trigger):
            replacement = _unprivileged(key, default)
            if replacement is None:
                continue
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` reads `{key}` with default `{ast.unparse(default)}`, so "
                    "an identity missing that field is treated as privileged."
                ),
                edits=[replacement],
                key_nodes=[node],
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
]

DefaultPrivilegedIdentity.INVALID = [
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
