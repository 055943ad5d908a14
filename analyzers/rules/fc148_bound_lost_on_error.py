"""FC148: a bound that cannot be read (an expiry, a scope, an allow list) becomes None."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.flow import swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, compared_with_none, present_subject
from failclosed.analyzers.syntax import call_name

# A name for what bounds access, where None is read as "no bound": an expiry (never
# expires), a scope, a tenant, an allow list or restrictions (unrestricted).
EXPIRY = re.compile(r"(?i)(^|_)(expir(y|ation|es|es_at|ation_time|y_time)|not_after|valid_until)$")
RESTRICTION = re.compile(r"(?i)(^|_)(scopes?|tenant(_id)?|allowed_\w+|restrictions?)$")


class BoundLostOnError(Rule):
    """
    ## What it does
    Flags an `except` handler that sets what bounds access to `None` when reading it fails,
    and lets the code go on: an expiry that does not parse (`expiration = None`), a
    workspace scope, a tenant or a list of allowed tools that could not be loaded
    (`ws_scope = None`), when the value is used after the `try`.

    ## Why is this bad?
    `None` is how code says "no bound": credentials without an expiry never expire, a
    retrieval without a scope searches everything, a tool set without an allow list is
    every tool. A malformed answer or a store that is down then removes the limit it was
    meant to set (CWE-636).

    ## Example
    ```python
    expiration = None
    try:
        expiration = datetime.fromisoformat(raw_expiry)
    except ValueError:
        expiration = None
    return Credentials(key, secret, expiration=expiration)
    ```

    ## Use instead
    ```python
    try:
        expiration = datetime.fromisoformat(raw_expiry)
    except ValueError:
        raise
    ```

    ## Fix safety
    The fix re-raises, so an unreadable bound stops the operation. Where a default is
    wanted, choose the strictest one (expired, empty scope) rather than `None`.
    """

    code = "FC148"
    name = "bound-lost-on-error"
    severity = "warning"
    summary = "A bound that cannot be read (an expiry, a scope, an allow list) becomes None."
    fix_safety = "An unreadable bound stops the operation."
    file_words = ("expir", "scope", "tenant", "allowed_", "restriction", "not_after", "valid_until")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in fn.tries:
            read = _bounds_read(node.body)
            for handler in node.handlers if read else []:
                if not catches_failures(handler, node) or not swallows(handler):
                    continue
                for stmt in handler.body:
                    name = _set_to_none(stmt)
                    if name not in read or not _used_after(fn, node, name):
                        continue
                    if _none_handled(fn, node, name):
                        continue
                    meaning = "no expiry" if EXPIRY.search(name) else "no restriction"
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` sets `{name}` to `None` when reading it "
                            f"(`{read[name]}`) raises {caught(handler)}, and goes on: `None` "
                            f"reads as {meaning}, so a failed read removes the bound."
                        ),
                        edits=[ReplaceStatements(stmt, stmt, ("raise",))],
                        key_nodes=[handler],
                    )


def _bounds_read(body: list[ast.stmt]) -> dict[str, str]:
    """Bound names the `try` body assigns from a call, with the call shown:
    {"expiration": "datetime.fromisoformat(...)"}."""
    found: dict[str, str] = {}
    for stmt in body:
        for n in ast.walk(stmt):
            if not isinstance(n, ast.Assign | ast.AnnAssign) or n.value is None:
                continue
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                continue
            name = targets[0].id
            if not (EXPIRY.search(name) or RESTRICTION.search(name)):
                continue
            if any(isinstance(c, ast.Call) for c in ast.walk(n.value)):
                call = next(c for c in ast.walk(n.value) if isinstance(c, ast.Call))
                found.setdefault(name, f"{ast.unparse(call.func)}(...)")
    return found


def _set_to_none(stmt: ast.stmt) -> str | None:
    """`name` for `name = None` (annotated or not)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target, value = stmt.target, stmt.value
    else:
        return None
    if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and value.value is None:
        return target.id
    return None


def _used_after(fn: FunctionInfo, node: ast.Try | ast.TryStar, name: str) -> bool:
    """`name` is read after the `try` where it can bound something: not only logged or
    tagged (`logger.info(..., tenant=tenant_id)`)."""
    end = node.end_lineno or node.lineno
    logged = {
        id(n)
        for call in fn.nodes
        if isinstance(call, ast.Call) and LOGGING.search(call_name(call))
        for n in ast.walk(call)
    }
    return any(
        isinstance(n, ast.Name)
        and n.id == name
        and isinstance(n.ctx, ast.Load)
        and n.lineno > end
        and id(n) not in logged
        for n in fn.nodes
    )


# Calls that only record a value: its `None` bounds nothing there.
LOGGING = re.compile(
    r"(?i)^(debug|info|warning|warn|error|exception|critical|log|print|set_tag|set_attribute"
    r"|add_breadcrumb|set_context)$"
)


def _none_handled(fn: FunctionInfo, node: ast.Try | ast.TryStar, name: str) -> bool:
    """After the `try`, the code decides what a missing bound means itself: `if name is
    None:` (or `if not name:`) that refuses, answers or sets a default, or `name or
    default`."""
    end = node.end_lineno or node.lineno
    for n in fn.nodes:
        if getattr(n, "lineno", 0) <= end:
            continue
        if isinstance(n, ast.If) and _tests_missing(n.test, name):
            return True
        if (
            isinstance(n, ast.BoolOp)
            and isinstance(n.op, ast.Or)
            and isinstance(n.values[0], ast.Name)
            and n.values[0].id == name
        ):
            return True
    return False


def _tests_missing(test: ast.expr, name: str) -> bool:
    """`name is None`, `name is not None`, `not name`, `name`: a test of the bound alone."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    subject = compared_with_none(test, ast.Is) or present_subject(test)
    return isinstance(subject, ast.Name) and subject.id == name


BoundLostOnError.VALID = [
    # the missing expiry is refused after the try
    """
def parse_credentials(doc):
    expiration = None
    try:
        expiration = datetime.fromisoformat(doc["Expiration"])
    except ValueError:
        expiration = None
    if expiration is None:
        raise StorageUnavailable("no usable expiry")
    return Credentials(doc["Key"], expiration=expiration)
""",
    # the handler refuses
    """
async def resolve_scope(registry, workspace_id):
    try:
        ws_scope = await registry.get_workspace_scope(workspace_id)
    except Exception:
        raise ScopeUnavailable(workspace_id)
    return narrow(ws_scope)
""",
    # not a bound: a display label
    """
def label(doc):
    try:
        title = doc.read_title()
    except ValueError:
        title = None
    return title or "untitled"
""",
    # the bound set to None is never used afterwards
    """
def warm_cache(registry, workspace_id):
    try:
        ws_scope = registry.get_workspace_scope(workspace_id)
        CACHE[workspace_id] = ws_scope
    except Exception:
        ws_scope = None
""",
]

BoundLostOnError.INVALID = [
    Invalid(
        """\
def parse_sts(doc):
    expiration = None
    raw = doc.get("Expiration")
    if raw:
        try:
            expiration = datetime.fromisoformat(raw)
        except ValueError:
            expiration = None
    return Credentials(doc["AccessKeyId"], doc["SecretAccessKey"], expiration=expiration)
""",
        line=8,
        fixed="""\
def parse_sts(doc):
    expiration = None
    raw = doc.get("Expiration")
    if raw:
        try:
            expiration = datetime.fromisoformat(raw)
        except ValueError:
            raise
    return Credentials(doc["AccessKeyId"], doc["SecretAccessKey"], expiration=expiration)
""",
        expected_message=(
            "`parse_sts` sets `expiration` to `None` when reading it "
            "(`datetime.fromisoformat(...)`) raises `ValueError`, and goes on: `None` reads "
            "as no expiry, so a failed read removes the bound."
        ),
    ),
    Invalid(
        """\
async def resolve_scope(app, session):
    ws_scope = None
    try:
        ws_scope = await app.registry.get_workspace_scope(session.workspace_id)
    except Exception as e:
        logger.warning("workspace scope read failed: %s", e)
        ws_scope = None
    return resolve_effective_scope(session.scope, ws_scope)
""",
        line=7,
        fixed="""\
async def resolve_scope(app, session):
    ws_scope = None
    try:
        ws_scope = await app.registry.get_workspace_scope(session.workspace_id)
    except Exception as e:
        logger.warning("workspace scope read failed: %s", e)
        raise
    return resolve_effective_scope(session.scope, ws_scope)
""",
        expected_message=(
            "`resolve_scope` sets `ws_scope` to `None` when reading it "
            "(`app.registry.get_workspace_scope(...)`) raises any error, and goes on: `None` "
            "reads as no restriction, so a failed read removes the bound."
        ),
    ),
]

BoundLostOnError.VALID += [
    # the code decides what a missing expiry means: expired
    """
def is_expired(token, now):
    try:
        expiry = parse_date(token.get("exp_str"))
    except ValueError:
        expiry = None
    if expiry is None:
        return True
    return expiry < now
""",
    # an omitted scope means the requested one (RFC 6749, 5.1)
    """
def granted_scopes(token_response, requested):
    try:
        scopes = token_response["scope"].split()
    except (KeyError, AttributeError):
        scopes = None
    return OAuth2Token(token_response["access_token"], scopes=scopes or requested)
""",
    # only logged: the tenant bounds nothing here
    """
def log_request(request):
    try:
        tenant_id = resolve_tenant(request)
    except LookupError:
        tenant_id = None
    logger.info("request %s", request.path, extra={"tenant": tenant_id})
""",
]

BoundLostOnError.INVALID += [
    # `None` read as "every tool" by the allow-list test
    Invalid(
        """\
def allowed_tools_for(agent):
    try:
        allowed_tools = load_allow_list(agent)
    except OSError:
        allowed_tools = None
    return [t for t in TOOLS if allowed_tools is None or t.name in allowed_tools]
""",
        line=5,
        fixed="""\
def allowed_tools_for(agent):
    try:
        allowed_tools = load_allow_list(agent)
    except OSError:
        raise
    return [t for t in TOOLS if allowed_tools is None or t.name in allowed_tools]
""",
        expected_message=(
            "`allowed_tools_for` sets `allowed_tools` to `None` when reading it "
            "(`load_allow_list(...)`) raises `OSError`, and goes on: `None` reads as no "
            "restriction, so a failed read removes the bound."
        ),
    ),
]
