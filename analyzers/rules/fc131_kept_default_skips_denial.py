"""FC131: a lookup fails, its variable keeps the default, and the default skips a denial."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import body_denies, catches_failures
from failclosed.analyzers.flow import FunctionFlow, assigned_names, evaluate, has_continue, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    is_empty_collection,
    tries,
)
from failclosed.analyzers.syntax import call_name, own_nodes


class KeptDefaultSkipsDenial(Rule):
    """
    ## What it does
    Flags an `except` handler that only logs or passes when the `try` it guards was
    setting a variable, where the value the variable held before the `try` (its default)
    makes a later `if` skip a denial: `blocked = False`, `try: blocked = acl.is_blocked(u)`,
    `except: log`, then `if blocked: raise PermissionDenied`. Also when the default
    `None` is handed to a check (`policy.enforce(action, url=page_url)`), which has
    nothing to check.

    ## Why is this bad?
    The default was written for "not looked up yet", not for "the lookup failed". When the
    permission backend errors, the handler swallows it and the code goes on with the
    default, which is exactly the value that lets the request past the denial: an outage
    of the check grants access (CWE-636). The same happens with `user_id = None` guarding
    an MFA step, or `policy = "optional"` guarding `if policy == "required"`.

    ## Example
    ```python
    def login(body):
        user_id = None
        try:
            user_id = idp.find_user(body.email)
        except IdpError:
            logger.warning("lookup failed, continuing without MFA check")
        if user_id:
            if not idp.has_mfa(user_id):
                raise HTTPException(status_code=403)
        return create_session(body)
    ```

    ## Use instead
    ```python
        except IdpError:
            logger.warning("lookup failed, continuing without MFA check")
            raise
    ```

    ## Fix safety
    The fix re-raises in the handler, so a failing lookup stops the request instead of
    skipping the denial. Callers that relied on the request going through when the lookup
    fails now see the error. Severity is `warning`: that the default means "allowed" is
    inferred from the `if` that follows.
    """

    code = "FC131"
    name = "kept-default-skips-denial"
    severity = "warning"
    summary = "A lookup fails, its variable keeps its default, and the default skips a denial."
    fix_safety = "The handler re-raises: a failing lookup stops the request."
    fallback = True  # a rule that reads the same handler more directly speaks first

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            yield from self._kept_defaults(fn, info, fn.flow, node)

    def _kept_defaults(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        node: ast.Try,
    ) -> Iterator[Hit]:
        handlers = [
            h
            for h in node.handlers
            if catches_failures(h, node) and swallows(h) and not has_continue(h)
        ]
        if not handlers:
            return
        for name in _looked_up(node):
            before = flow.value_before(node, name)
            default = _UNKNOWN if before is None else _constant(before)
            if default is _UNKNOWN:
                continue
            skipped = _skipped_denial(_following(flow, node), name, default, fn, info)
            if skipped is None:
                continue
            for handler in handlers:
                if name in assigned_names(handler):
                    continue
                yield Hit(
                    node=handler,
                    message=(
                        f"`{fn.qualname}` swallows {caught(handler)} while looking up `{name}`, "
                        f"which then keeps its default `{_shown(default)}`; with it, "
                        f"{_consequence(skipped, name)}: a failing lookup lets the request "
                        "through."
                    ),
                    edits=[append_to_handler(handler, "raise")],
                    key_nodes=[handler, skipped.test if isinstance(skipped, ast.If) else skipped],
                )
                return  # one report per try: one fix closes it


_UNKNOWN = object()


def _following(flow: FunctionFlow, node: ast.Try) -> list[ast.stmt]:
    """The statements that run after the try: the rest of its block, then, out of an `if`,
    a `with` or an outer `try` body, the rest of the enclosing block (the lookup sits
    under `if session:` and the check after it). Not out of a loop or a handler, where the
    variable may be bound again before the next reading."""
    following: list[ast.stmt] = []
    current: ast.AST = node
    while (place := flow.places.get(id(current))) is not None:
        following.extend(place.block[place.index + 1 :])
        owner = place.owner
        if isinstance(owner, ast.Try | ast.TryStar) and place.block is not owner.body:
            break
        if not isinstance(owner, ast.If | ast.With | ast.AsyncWith | ast.Try | ast.TryStar):
            break
        current = owner
    return following


def _looked_up(node: ast.Try) -> list[str]:
    """Names the try body binds, when it calls something that can fail first or on the way:
    `user_id = idp.find(email)`, `org = db.get(id)` then `policy = org.mfa_policy`."""
    names: list[str] = []
    if not any(isinstance(c, ast.Call | ast.Await) for s in node.body for c in own_nodes(s)):
        return names
    for stmt in node.body:
        for n in [stmt, *own_nodes(stmt)]:
            if not isinstance(n, ast.Assign | ast.AnnAssign) or n.value is None:
                continue
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for target in targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names.extend(e.id for e in elts if isinstance(e, ast.Name) and e.id not in names)
    return names


def _constant(value: ast.expr) -> object:
    if isinstance(value, ast.Constant) and not isinstance(value.value, bytes):
        return value.value
    if is_empty_collection(value):
        return ()
    return _UNKNOWN


def _skipped_denial(
    after: list[ast.stmt], name: str, default: object, fn: FunctionInfo, info: ModuleInfo
) -> ast.If | ast.Call | None:
    """The first `if` on `name` after the try whose denial the default steps around, or
    the call that is handed empty restrictions (`Sandbox(rules=rules)` with `rules = []`).

    None when the default is denied further on anyway (`if not user: raise ...`).
    """
    known = {name: default}
    skipped: ast.If | None = None
    for stmt in after:
        shape = _shape(stmt, info)
        for n in shape.ifs:
            if not _reads(n.test, name):
                continue
            truth = _truth(n.test, known)
            if truth is None:
                continue
            taken, passed = (n.body, n.orelse) if truth else (n.orelse, n.body)
            if _denies(taken, fn):
                return None  # the default is denied here: fail-closed
            if skipped is None and _denies(passed, fn):
                skipped = n
        if name in fn.flow.assigned(stmt) and skipped is None:
            return None  # rebound before any test: the default is not what is judged
    if skipped is None and default in ((), None):
        return _handed_to_enforcer(after, name, default is None, fn, info)
    return skipped


class _Shape:
    """What the rule reads of a statement: its `if`s and calls (the names it binds come
    from the function's flow index, `fn.flow.assigned`)."""

    __slots__ = ("calls", "ifs")

    def __init__(self, ifs: list[ast.If], calls: list[ast.Call]) -> None:
        self.ifs, self.calls = ifs, calls


def _shape(stmt: ast.stmt, info: ModuleInfo) -> _Shape:
    """The statement's shape, walked once per file: every try of a function reads the
    statements after it, and a long function has many tries (an 8,000-line hook spent two
    thirds of its analysis walking the same statements again)."""
    shapes: dict[int, _Shape] = info.memo.setdefault("fc131.shapes", {})  # type: ignore[assignment]
    found = shapes.get(id(stmt))
    if found is None:
        nodes = [stmt, *own_nodes(stmt)]
        found = shapes[id(stmt)] = _Shape(
            ifs=[n for n in nodes if isinstance(n, ast.If)],
            calls=[n for n in nodes if isinstance(n, ast.Call)],
        )
    return found


# What a list of restrictions is called: `command_rules`, `deny_patterns`, `acl`, `policies`.
RESTRICTIONS = re.compile(
    r"(?i)(^|_)(rules?|polic(y|ies)|acls?|deny\w*|denied|block\w*|bans?|banned|restrictions?"
    r"|guardrails?|permissions?|allow_?list|white_?list|black_?list|scopes?)($|_)"
)


def _handed_to_enforcer(
    after: list[ast.stmt], name: str, none_default: bool, fn: FunctionInfo, info: ModuleInfo
) -> ast.Call | None:
    """A call that is handed the still-empty restrictions (`Sandbox(command_rules=rules)`),
    or a check that is handed the still-None input it should check
    (`policy.assert_allowed(action, current_url=current_url)`: a None URL matches no
    domain rule)."""
    for stmt in after:
        shape = _shape(stmt, info)
        for n in shape.calls:
            for kw in n.keywords:
                if not (isinstance(kw.value, ast.Name) and kw.value.id == name):
                    continue
                if RESTRICTIONS.search(kw.arg or "") or RESTRICTIONS.search(name):
                    return n
                if none_default and _is_check(n):
                    return n  # by keyword: what it qualifies, not the principal it refuses
        if name in fn.flow.assigned(stmt):
            return None
    return None


def _consequence(skipped: ast.If | ast.Call, name: str) -> str:
    if isinstance(skipped, ast.If):
        return f"`if {ast.unparse(skipped.test)}` skips a denial"
    if _is_check(skipped):
        return f"`{ast.unparse(skipped.func)}(...)` checks nothing for `{name}`"
    return f"`{ast.unparse(skipped.func)}(...)` is handed no restrictions at all"


# A call that checks what it is given against a policy: `policy.assert_allowed(...)`,
# `enforce_scope(...)`, `check_access(...)` (not `check_output`, `checkpoint`,
# `authorize_redirect`: they check nothing about access).
CHECKING = re.compile(
    r"(?i)^_*(assert_\w*(allow|permit|access|polic|scope|auth)\w*|enforce\w*"
    r"|(check|verify|authori[sz]e)_\w*(perm|access|polic|allow|scope|acl|auth)\w*)$"
)


def _is_check(call: ast.Call) -> bool:
    return bool(CHECKING.match(call_name(call).rsplit(".", 1)[-1]))


def _reads(test: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(test))


def _truth(test: ast.expr, known: dict[str, object]) -> bool | None:
    """`evaluate`, and `and`/`or` over it: `user_id and mfa_required` is False for None."""
    if isinstance(test, ast.BoolOp):
        values = [_truth(v, known) for v in test.values]
        if isinstance(test.op, ast.And):
            return False if False in values else (True if all(values) else None)
        return True if True in values else (False if all(v is False for v in values) else None)
    return evaluate(test, known)


def _denies(body: list[ast.stmt], fn: FunctionInfo) -> bool:
    """The branch refuses: a deny exception or response, or the check's own "no"."""
    if not body:
        return False
    if body_denies(body):
        return True
    no = {"allow": False, "deny": True}.get(fn.polarity or "")
    return no is not None and any(
        isinstance(n, ast.Return) and isinstance(n.value, ast.Constant) and n.value.value is no
        for stmt in body
        for n in [stmt, *own_nodes(stmt)]
    )


def _shown(value: object) -> str:
    return "[]" if value == () else repr(value)


KeptDefaultSkipsDenial.VALID = [
    # the default is denied further on
    """
def login(body):
    user_id = None
    try:
        user_id = idp.find_user(body.email)
    except IdpError:
        logger.warning("lookup failed")
    if not user_id:
        raise HTTPException(status_code=401)
    if not idp.has_mfa(user_id):
        raise HTTPException(status_code=403)
    return create_session(body)
""",
    # the default is the denied value itself
    """
def view(request):
    allowed = False
    try:
        allowed = acl.allows(request.user)
    except AclError:
        logger.exception("acl down")
    if not allowed:
        raise PermissionDenied()
    return render(request)
""",
    # the handler sets the variable: it chose a value on purpose
    """
def view(request):
    blocked = False
    try:
        blocked = bans.is_banned(request.user)
    except BanError:
        blocked = True
    if blocked:
        raise PermissionDenied()
    return render(request)
""",
    # what the default skips is no denial
    """
def render_page(request):
    theme = None
    try:
        theme = themes.load(request.user)
    except ThemeError:
        logger.warning("no theme")
    if theme:
        apply(theme)
    return page(request)
""",
]

KeptDefaultSkipsDenial.VALID += [
    # what is handed on empty is no restriction
    """
def build_menu(user):
    items = []
    try:
        items = menus.load(user)
    except MenuError:
        logger.warning("no menu")
    return Menu(items=items)
""",
]

KeptDefaultSkipsDenial.INVALID = [
    Invalid(
        """\
def login(body):
    user_id = None
    try:
        user_id = idp.find_user(body.email)
    except IdpError:
        logger.warning("lookup failed, continuing without MFA check")
    if user_id:
        if not idp.has_mfa(user_id):
            raise HTTPException(status_code=403)
    return create_session(body)
""",
        line=5,
        fixed="""\
def login(body):
    user_id = None
    try:
        user_id = idp.find_user(body.email)
    except IdpError:
        logger.warning("lookup failed, continuing without MFA check")
        raise
    if user_id:
        if not idp.has_mfa(user_id):
            raise HTTPException(status_code=403)
    return create_session(body)
""",
        expected_message=(
            "`login` swallows `IdpError` while looking up `user_id`, which then keeps its "
            "default `None`; with it, `if user_id` skips a denial: a failing lookup lets the "
            "request through."
        ),
    ),
    Invalid(
        """\
async def enforce(request):
    policy = "optional"
    try:
        org = await db.get_org(request.org_id)
        policy = org.mfa_policy
    except Exception:
        pass
    if policy == "required" and not request.user.has_mfa:
        raise PermissionDenied("MFA required")
""",
        line=6,
        fixed="""\
async def enforce(request):
    policy = "optional"
    try:
        org = await db.get_org(request.org_id)
        policy = org.mfa_policy
    except Exception:
        raise
    if policy == "required" and not request.user.has_mfa:
        raise PermissionDenied("MFA required")
""",
        expected_message=(
            "`enforce` swallows any error while looking up `policy`, which then keeps its "
            "default `'optional'`; with it, `if policy == 'required' and (not "
            "request.user.has_mfa)` skips a denial: a failing lookup lets the request through."
        ),
    ),
    Invalid(
        """\
def can_post(user):
    banned = False
    try:
        banned = ban_list.contains(user.id)
    except RedisError:
        logger.warning("ban list unavailable")
    if banned:
        return False
    return user.is_active
""",
        line=5,
        fixed="""\
def can_post(user):
    banned = False
    try:
        banned = ban_list.contains(user.id)
    except RedisError:
        logger.warning("ban list unavailable")
        raise
    if banned:
        return False
    return user.is_active
""",
        expected_message=(
            "`can_post` swallows `RedisError` while looking up `banned`, which then keeps its "
            "default `False`; with it, `if banned` skips a denial: a failing lookup lets the "
            "request through."
        ),
    ),
    # the empty rules are handed on to what enforces them
    Invalid(
        """\
async def build_middleware(sandbox, org_id):
    command_rules = []
    try:
        command_rules = await manager.resolve_command_rules(org_id)
    except Exception as exc:
        logger.warning("failed to resolve command rules: %s", exc)
    return SandboxMiddleware(sandbox=sandbox, command_rules=command_rules)
""",
        line=5,
        fixed="""\
async def build_middleware(sandbox, org_id):
    command_rules = []
    try:
        command_rules = await manager.resolve_command_rules(org_id)
    except Exception as exc:
        logger.warning("failed to resolve command rules: %s", exc)
        raise
    return SandboxMiddleware(sandbox=sandbox, command_rules=command_rules)
""",
        expected_message=(
            "`build_middleware` swallows any error while looking up `command_rules`, which "
            "then keeps its default `[]`; with it, `SandboxMiddleware(...)` is handed no "
            "restrictions at all: a failing lookup lets the request through."
        ),
    ),
]

KeptDefaultSkipsDenial.VALID += [
    # the principal handed on as None is refused by the check itself
    """
def read_document(request, doc_id):
    user = None
    try:
        user = auth.user_from_token(request.headers["Authorization"])
    except (KeyError, auth.InvalidToken):
        logger.info("anonymous request")
    check_permission(user, "documents.read", doc_id)
    return documents.get(doc_id)
""",
    # a command run in the default folder checks nothing about access
    """
def status(repo):
    workdir = None
    try:
        workdir = find_worktree(repo)
    except OSError:
        logger.debug("using cwd")
    return subprocess.check_output(["git", "status"], cwd=workdir)
""",
    # the still-None value is only recorded, not checked
    """
def run_action(registry, session, name, params):
    page_url = None
    if session is not None:
        try:
            page_url = session.current_page().url
        except Exception:
            pass
    log_action(name, url=page_url)
    return registry.run(name, params)
""",
]

KeptDefaultSkipsDenial.INVALID += [
    # the lookup sits under an `if`; the check after it is handed the default None
    Invalid(
        """\
def run_action(registry, session, name, params):
    page_url = None
    if session is not None:
        try:
            page_url = session.current_page().url
        except Exception:
            pass
    registry.policy.enforce(name, params, url=page_url)
    return registry.run(name, params)
""",
        line=6,
        fixed="""\
def run_action(registry, session, name, params):
    page_url = None
    if session is not None:
        try:
            page_url = session.current_page().url
        except Exception:
            raise
    registry.policy.enforce(name, params, url=page_url)
    return registry.run(name, params)
""",
        expected_message=(
            "`run_action` swallows any error while looking up `page_url`, which then keeps "
            "its default `None`; with it, `registry.policy.enforce(...)` checks nothing for "
            "`page_url`: a failing lookup lets the request through."
        ),
    ),
]
