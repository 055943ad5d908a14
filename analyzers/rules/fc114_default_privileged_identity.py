"""FC114: a missing identity field defaults to a privileged one."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import absent_subject, defaulted_lookups, unawaited
from failclosed.analyzers.syntax import call_name, dotted_name, own_nodes, own_statements

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
# What an `if x is None:` asks about when it asks "do we know who is calling?".
IDENTITY_SUBJECT = re.compile(
    r"(?i)(^|_)(ctx|context|identity|principal|caller|actor|claims|session|current_user|user"
    r"|auth\w*|token|subject|account)$"
)
# Functions whose answer is a role itself: `return Role.ADMIN` grants it.
ROLE_FUNCTION = re.compile(r"(?i)(^|_)(role|roles|scopes?|permissions?|perms|privileges?)(_|$)")
NO_IDENTITY = 'raise PermissionError("no identity: denying")'
# Defaults that name nobody: an anonymous identity is not someone to act as.
NOBODY = re.compile(r"(?i)^(anonymous|anon|guest|unknown|none|null|nobody|public|-|n/a|\?)$")


class DefaultPrivilegedIdentity(Rule):
    """
    ## What it does
    Flags a lookup on an identity — token claims, a session, a user object — whose default,
    used when the field is missing, is a privileged identity: `claims.get("role", "admin")`,
    `getattr(user, "is_admin", True)`, `session.get("scopes", ["*"])`. Also flags the same
    grant made when the caller cannot be identified at all: an `except` handler or an
    `if ctx is None:` branch that returns an identity with `role=Role.ROOT` or
    `is_admin=True`, or sets such a role.

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
    trigger = (".get(", "getattr(", "dmin", "DMIN", "oot", "OOT", "uperuser", "UPERUSER",
               "Level.", "Role.", "Tier.")  # fmt: skip
    # `role=Role.ROOT`, `is_admin = True`, `return UserRole.ADMIN`: a grant, not a lookup
    file_words = ("role=", "role =", "Role.", "is_admin", "is_superuser", "is_root", "is_staff",
                  "Level.", "Tier.")  # fmt: skip
    # `.get("role", "admin")`, `getattr(u, "is_admin", True)`, `.get("scopes", ["*"])`
    file_trigger_at = (".get(", "getattr(")
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
        yield from _defaulted_privilege(fn, info)
        yield from _privilege_when_unknown(fn, info)
        yield from _privilege_from_claim_on_error(fn)


def _defaulted_privilege(fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
    """`claims.get("role", "admin")`: a missing field defaults to a privileged one."""
    resolver = CURRENT_USER_FUNCTION.fullmatch(fn.node.name) is not None
    for node, key, default in defaulted_lookups(fn, info, DefaultPrivilegedIdentity.file_trigger):
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


def _privilege_when_unknown(fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
    """`if ctx is None: return Context(role=Role.ROOT)` or an `except` that does the same:
    when who is calling cannot be told, the answer is the most privileged caller."""
    for block, why in _unknown_identity_blocks(fn):
        for stmt in block:
            for node in (stmt, *own_statements(stmt)):
                granted = _granted_privilege(node, fn)
                if granted is None:
                    if why == "an error":
                        yield from _above_least_level(fn, info, node)
                    continue
                if not isinstance(node, ast.stmt):
                    continue  # unreachable: only a `return` or an assignment grants
                yield Hit(
                    node=node,
                    message=(
                        f"`{fn.qualname}` answers {why} with `{ast.unparse(granted)}`, so a "
                        "caller it could not identify acts with the most privilege."
                    ),
                    edits=[ReplaceStatements(node, node, (NO_IDENTITY,))]
                    if isinstance(node, ast.Return)
                    else [],
                    key_nodes=[granted],
                )


# Fields that carry how much a caller may do, on an ordered scale.
LEVEL_KEYS = re.compile(
    r"(?i)^(trust|trust_?level|level|access_?level|clearance|privilege(_?level)?|tier|role"
    r"|permission_?level|auth_?level)$"
)


def _above_least_level(fn: FunctionInfo, info: ModuleInfo, node: ast.AST) -> Iterator[Hit]:
    """`return Context(trust=TrustLevel.GUEST)` on an error, where the module's ordered
    `TrustLevel` has a lower member (`UNTRUSTED = 0`): the error keeps a level it did not
    earn. The least level the scale defines is the one nobody has to prove."""
    if not isinstance(node, ast.Return) or not isinstance(call := unawaited(node.value), ast.Call):
        return
    for keyword in call.keywords:
        value = keyword.value
        if not (keyword.arg and LEVEL_KEYS.match(keyword.arg) and isinstance(value, ast.Attribute)):
            continue
        scale = ordered_members(info, (dotted_name(value.value) or "").rsplit(".", 1)[-1])
        if value.attr not in scale:
            continue
        least = min(scale, key=scale.__getitem__)
        if scale[least] >= scale[value.attr]:
            continue
        lowest = f"{ast.unparse(value.value)}.{least}"
        yield Hit(
            node=value,
            message=(
                f"`{fn.qualname}` answers an error with `{ast.unparse(value)}`, above "
                f"`{lowest}`, the least the scale defines: a caller it could not identify "
                "keeps a level it never proved."
            ),
            edits=[ReplaceExpression(value, lowest)],
            key_nodes=[value],
            severity="warning",
        )


def ordered_members(info: ModuleInfo, name: str) -> dict[str, int]:
    """`UNTRUSTED = 0`, `GUEST = 10` ...: the integer members of the module's class `name`."""
    for node in info.tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {
                t.id: stmt.value.value
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and type(stmt.value.value) is int
                for t in stmt.targets
                if isinstance(t, ast.Name) and t.id.isupper()
            }
    return {}


def _privilege_from_claim_on_error(fn: FunctionInfo) -> Iterator[Hit]:
    """`except: is_admin = payload.get("is_admin", False)`: the directory that says who is
    an admin failed, and the flag is read from what the caller presented instead (a token
    issued before a demotion still says admin)."""
    for node in fn.nodes:
        if not isinstance(node, ast.Try):
            continue
        for handler in node.handlers:
            for stmt in handler.body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                    continue
                target = dotted_name(stmt.targets[0]) or ""
                if not FLAG_KEYS.match(target.rsplit(".", 1)[-1]):
                    continue
                claim = _claim_read(stmt.value)
                if claim is None or not _set_in(node.body, target):
                    continue
                yield Hit(
                    node=stmt,
                    message=(
                        f"`{fn.qualname}` sets `{target}` from `{ast.unparse(claim)}` when the "
                        "lookup it trusts fails: what the caller presented decides its own "
                        "privilege."
                    ),
                    edits=[ReplaceExpression(stmt.value, "False")],
                    key_nodes=[stmt],
                    severity="warning",
                )


def _claim_read(value: ast.expr) -> ast.expr | None:
    """`payload.get("is_admin", ...)`, `claims["is_admin"]`: a flag read from a mapping."""
    if isinstance(value, ast.Call) and call_name(value) == "get" and value.args:
        key = value.args[0]
    elif isinstance(value, ast.Subscript):
        key = value.slice
    else:
        return None
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and FLAG_KEYS.match(key.value):
        return value
    return None


def _set_in(body: list[ast.stmt], target: str) -> bool:
    """The try sets the same flag from its own lookup: the handler is its fallback."""
    return any(
        isinstance(n, ast.Assign) and any(dotted_name(t) == target for t in n.targets)
        for stmt in body
        for n in [stmt, *own_nodes(stmt)]
    )


def _unknown_identity_blocks(fn: FunctionInfo) -> Iterator[tuple[list[ast.stmt], str]]:
    """Blocks that run when the caller's identity is missing or could not be read."""
    resolves = (
        CURRENT_USER_FUNCTION.fullmatch(fn.node.name) is not None
        or ROLE_FUNCTION.search(fn.node.name) is not None
    )
    for node in fn.nodes:
        if isinstance(node, ast.Try) and (resolves or _reads_identity(node)):
            for handler in node.handlers:
                yield handler.body, "an error"
        elif isinstance(node, ast.If) and (absent := absent_subject(node.test)) is not None:
            name = dotted_name(absent[0]) or ""
            if IDENTITY_SUBJECT.search(name.rsplit(".", 1)[-1]):
                yield node.body, f"a missing `{name}`"


def _reads_identity(node: ast.Try) -> bool:
    """The try works out who is calling: it names a token, a session, claims, a user."""
    for stmt in node.body:
        for n in (stmt, *own_nodes(stmt)):
            name = dotted_name(n) if isinstance(n, ast.Name | ast.Attribute) else None
            last = (name or "").rsplit(".", 1)[-1]
            if last[:1].islower() and IDENTITY_SUBJECT.search(last):
                return True  # `request.user`, `token`, not the `User` model
    return False


def _granted_privilege(node: ast.AST, fn: FunctionInfo) -> ast.expr | None:
    """The privileged value a `return` hands out or an assignment sets, if there is one."""
    if isinstance(node, ast.Return) and node.value is not None:
        value = unawaited(node.value)
        if ROLE_FUNCTION.search(fn.node.name) and _is_privileged(value):
            return value
        if isinstance(value, ast.Call):
            for keyword in value.keywords:
                if keyword.arg and _privileged_setting(keyword.arg, keyword.value):
                    return keyword.value
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        name = dotted_name(node.targets[0]) or ""
        if _privileged_setting(name.rsplit(".", 1)[-1], node.value):
            return node.value
    return None


def _privileged_setting(key: str, value: ast.expr) -> bool:
    """`role=Role.ROOT`, `is_admin=True`, `scopes=["*"]`."""
    if FLAG_KEYS.match(key):
        return isinstance(value, ast.Constant) and value.value is True
    return ROLE_KEYS.match(key) is not None and _is_privileged(value)


def _is_privileged(value: ast.expr) -> bool:
    """`"admin"`, `Role.ROOT`, `["*"]`: a value that names the most powerful role."""
    values = value.elts if isinstance(value, ast.List | ast.Tuple | ast.Set) else [value]
    for v in values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str) and PRIVILEGED.match(v.value):
            return True
        if isinstance(v, ast.Attribute) and PRIVILEGED.match(v.attr) and v.attr != "all":
            return True
    return False


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
    # the failed lookup leaves no privilege; the claim is only shown
    """
def verify(token):
    payload = decode(token)
    try:
        credential = users.get_credential(payload["sub"])
        is_admin = credential.is_admin
    except Exception:
        log.warning("directory down")
        is_admin = False
    display_admin = payload.get("is_admin", False)
    return {"is_admin": is_admin, "badge": display_admin}
""",
    # the error gets the least level there is
    """
class AccessLevel(IntEnum):
    NONE = 0
    READ = 10


def resolve_access(context):
    try:
        return _lookup(context)
    except Exception:
        return Access(level=AccessLevel.NONE)
""",
    # a level on a scale the module does not define in numbers: nothing to compare
    """
def resolve_access(context):
    try:
        return _lookup(context)
    except Exception:
        return Access(level=AccessLevel.READ)
""",
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
    # a missing identity gets the least privilege
    """
def request_context():
    ctx = _ctx.get()
    if ctx is None:
        return RequestContext(user=ANONYMOUS, role=Role.GUEST)
    return ctx
""",
    # not about who is calling: a bootstrap creates the first administrator
    """
def ensure_admin(db):
    try:
        db.lookup("admin")
    except LookupError:
        db.create(name="admin", role="admin")
""",
    # an error that denies
    """
def role_for(token):
    try:
        return decode(token)["role"]
    except DecodeError:
        return Role.NONE
""",
    # a bootstrap that creates the first administrator: nobody is being identified
    """
def ensure_admin():
    try:
        return User.objects.get(username="admin")
    except User.DoesNotExist:
        return User.objects.create(username="admin", is_superuser=True)
""",
]

DefaultPrivilegedIdentity.INVALID = [
    # the directory failed; the token's own claim decides
    Invalid(
        """\
def verify(token):
    payload = decode(token)
    is_admin = False
    try:
        credential = users.get_credential(payload["sub"])
        if credential:
            is_admin = credential.is_admin
    except Exception:
        is_admin = payload.get("is_admin", False)
    return {"valid": True, "is_admin": is_admin}
""",
        line=9,
        fixed="""\
def verify(token):
    payload = decode(token)
    is_admin = False
    try:
        credential = users.get_credential(payload["sub"])
        if credential:
            is_admin = credential.is_admin
    except Exception:
        is_admin = False
    return {"valid": True, "is_admin": is_admin}
""",
        expected_message=(
            "`verify` sets `is_admin` from `payload.get('is_admin', False)` when the lookup "
            "it trusts fails: what the caller presented decides its own privilege."
        ),
    ),
    # an error answered with a level above the least one the module's scale defines
    Invalid(
        """\
class AccessLevel(IntEnum):
    NONE = 0
    READ = 10
    WRITE = 20


def resolve_access(context):
    try:
        return _lookup(context)
    except Exception as e:
        logger.error("could not resolve access, falling back to read: %s", e)
        return Access(level=AccessLevel.READ, reason=str(e))
""",
        line=12,
        fixed="""\
class AccessLevel(IntEnum):
    NONE = 0
    READ = 10
    WRITE = 20


def resolve_access(context):
    try:
        return _lookup(context)
    except Exception as e:
        logger.error("could not resolve access, falling back to read: %s", e)
        return Access(level=AccessLevel.NONE, reason=str(e))
""",
        expected_message=(
            "`resolve_access` answers an error with `AccessLevel.READ`, above "
            "`AccessLevel.NONE`, the least the scale defines: a caller it could not identify "
            "keeps a level it never proved."
        ),
    ),
    # no identity in the context: the caller becomes root
    Invalid(
        """\
def request_context():
    ctx = _ctx.get()
    if ctx is None:
        return RequestContext(user=DEFAULT_USER, role=Role.ROOT)
    return ctx
""",
        line=4,
        fixed="""\
def request_context():
    ctx = _ctx.get()
    if ctx is None:
        raise PermissionError("no identity: denying")
    return ctx
""",
        expected_message=(
            "`request_context` answers a missing `ctx` with `Role.ROOT`, so a caller it could "
            "not identify acts with the most privilege."
        ),
    ),
    # the role lookup failed: everyone is an administrator
    Invalid(
        """\
def role_for(token):
    try:
        return decode(token)["role"]
    except DecodeError:
        return Role.ADMIN
""",
        line=5,
        fixed="""\
def role_for(token):
    try:
        return decode(token)["role"]
    except DecodeError:
        raise PermissionError("no identity: denying")
""",
        expected_message=(
            "`role_for` answers an error with `Role.ADMIN`, so a caller it could not identify "
            "acts with the most privilege."
        ),
    ),
    Invalid(
        """\
def load_user(session):
    try:
        user = fetch_user(session["uid"])
    except KeyError:
        user = Anonymous()
        user.is_admin = True
    return user
""",
        line=6,
        expected_message=(
            "`load_user` answers an error with `True`, so a caller it could not identify acts "
            "with the most privilege."
        ),
    ),
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
        expected_message=(
            "`current_account` reads `username` with default `'dev-user'`, so a request that "
            "carries no identity acts as that fixed user instead of being refused."
        ),
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
        expected_message=(
            "`current_role` reads `role` with default `'admin'`, so an identity missing that "
            "field is treated as privileged."
        ),
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
        expected_message=(
            "`can_manage` reads `is_admin` with default `True`, so an identity missing that "
            "field is treated as privileged."
        ),
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
        expected_message=(
            "`scopes_for` reads `scopes` with default `['*']`, so an identity missing that "
            "field is treated as privileged."
        ),
    ),
]
