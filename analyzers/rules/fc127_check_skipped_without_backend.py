"""FC127: a deny check runs only when its backend is there; without it, the answer is yes."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import is_deny_response
from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import absent_subject, present_subject, unawaited
from failclosed.analyzers.syntax import nodes_in, own_nodes
from failclosed.analyzers.vocabulary import DECISION_WORD

# Names of a handle on the store a check reads: `db`, `redis`, `conn`, `cache_client`.
BACKEND = re.compile(
    r"(?i)^_*(db|database|conn\w*|client|\w+_client|redis\w*|cache|store|session|pool|engine"
    r"|cursor|collection|repo|repository|backend|kv|mongo\w*|table)$"
)


class CheckSkippedWithoutBackend(Rule):
    """
    ## What it does
    Flags a permission or verification function that fetches a handle on a store —
    `db = get_db()`, `redis = get_redis()` — and runs its deny check only `if db is not
    None:`, with nothing on the other path: when the store is unavailable, the check is
    skipped and the function goes on to its "yes".

    ## Why is this bad?
    A getter answers `None` exactly when the database is down, the pool is exhausted or the
    connection was never made. Skipping a revocation list, a ban list or a quota check then
    lets through the very tokens and users the check exists to stop (CWE-636).

    ## Example
    ```python
    async def verify_access_token(token):
        payload = jwt.decode(token, KEY, algorithms=["HS256"])
        db = get_db()
        if db is not None:
            if await db["revoked"].find_one({"jti": payload["jti"]}):
                return None
        return payload["sub"]
    ```

    ## Use instead
    ```python
        db = get_db()
        if db is None:
            return None
        if db is not None:
            ...
    ```

    ## Fix safety
    The fix answers as the check's own denial does when the store is missing. Requests that
    were served while the store was down are now refused until it is back.
    """

    code = "FC127"
    name = "check-skipped-without-backend"
    severity = "warning"
    summary = "A deny check runs only when its store is available; without it, the answer is yes."
    fix_safety = "While the store is unavailable, requests get the check's own denial."
    # any `if`: the check itself first looks for one that tests a store handle (a long
    # list of trigger words would cost every function of every file a substring test each)
    trigger = ("if ",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        tested = {
            id(s)
            for s in fn.statements
            if isinstance(s, ast.If) and not s.orelse and _tests_store(s.test)
        }
        if not tested or not _decides(fn):
            return
        for block in _blocks(fn.node):
            for index, stmt in enumerate(block):
                if id(stmt) not in tested:
                    continue
                assert isinstance(stmt, ast.If)
                passed = _passes_when_missing(fn, block[:index], stmt)
                if passed is not None:
                    yield passed
                    continue
                handle = _backend_tested(stmt.test)
                if handle is None or not _fetched_before(block[:index], handle):
                    continue
                if _refused_before(block[:index], handle):
                    continue
                deny = _denial_reading(stmt.body, handle)
                if deny is None or not _goes_on(fn, stmt.end_lineno or stmt.lineno):
                    continue
                yield Hit(
                    node=stmt.test,
                    message=(
                        f"`{fn.qualname}` runs its check only when `{handle}` is there: when "
                        f"the store is unavailable (`{handle}` is None) the check is skipped "
                        "and the function goes on to allow."
                    ),
                    edits=[
                        ReplaceStatements(
                            stmt, stmt, (f"if {handle} is None:\n    {_source(info, deny)}", KEEP)
                        )
                    ],
                    key_nodes=[stmt.test, deny],
                )


def _passes_when_missing(fn: FunctionInfo, before: list[ast.stmt], stmt: ast.If) -> Hit | None:
    """`db = get_session(user); if not db: return None` in a gate whose other answers are
    deny responses: no store, no check, and `None` lets the request through."""
    absent = absent_subject(stmt.test)
    subject = absent[0] if absent else None
    if not (isinstance(subject, ast.Name) and BACKEND.match(subject.id)):
        return None
    if not _fetched_before(before, subject.id):
        return None
    answer = next((s for s in stmt.body if isinstance(s, ast.Return)), None)
    if answer is None or not (answer.value is None or _is_none(answer.value)):
        return None
    if not any(
        isinstance(n, ast.Return) and n.value is not None and is_deny_response(n.value)
        for n in fn.nodes
    ):
        return None
    return Hit(
        node=answer,
        message=(
            f"`{fn.qualname}` lets the request through when `{subject.id}` is missing: the "
            "store its check reads is unavailable, and the gate answers as if nothing was over "
            "its limit."
        ),
        edits=[
            ReplaceStatements(
                answer, answer, (f'raise RuntimeError("{subject.id} unavailable: cannot check")',)
            )
        ],
        key_nodes=[stmt.test, answer],
    )


def _is_none(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value is None


def _source(info: ModuleInfo, stmt: ast.stmt) -> str:
    """The statement as written, or re-rendered when it spans several lines."""
    if stmt.end_lineno != stmt.lineno or stmt.end_col_offset is None:
        return ast.unparse(stmt)
    line = info.lines[stmt.lineno - 1].encode()
    return line[stmt.col_offset : stmt.end_col_offset].decode(errors="replace")


def _decides(fn: FunctionInfo) -> bool:
    return fn.polarity is not None or fn.guard or DECISION_WORD.search(fn.node.name) is not None


def _blocks(root: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list of the function (not of nested functions)."""
    for node in [root, *own_nodes(root)]:
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
        for handler in getattr(node, "handlers", []):
            yield handler.body


def _tests_store(test: ast.expr) -> bool:
    """`db`, `not db`, `db is None`, `db is not None` on a store handle's name."""
    absent = absent_subject(test)
    subject = absent[0] if absent else present_subject(test)
    return isinstance(subject, ast.Name) and BACKEND.match(subject.id) is not None


def _backend_tested(test: ast.expr) -> str | None:
    """`db` for `if db is not None:` or `if db:`, when `db` names a store handle."""
    subject = present_subject(test)
    if isinstance(subject, ast.Name) and BACKEND.match(subject.id):
        return subject.id
    return None


def _fetched_before(before: list[ast.stmt], name: str) -> bool:
    """`db = get_db()` (or awaited) just before: the handle can come back missing."""
    for stmt in reversed(before):
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            return isinstance(unawaited(stmt.value), ast.Call)
    return False


def _denial_reading(body: list[ast.stmt], handle: str) -> ast.stmt | None:
    """The `return None`/`return False`/`raise` of a body that reads `handle`."""
    nodes = list(nodes_in(body))
    if not any(isinstance(n, ast.Name) and n.id == handle for n in nodes):
        return None
    for n in nodes:
        if isinstance(n, ast.Raise) and n.exc is not None:
            return n
        if (
            isinstance(n, ast.Return)
            and isinstance(n.value, ast.Constant)
            and n.value.value in (None, False)
        ):
            return n
    return None


def _refused_before(before: list[ast.stmt], handle: str) -> bool:
    """`if db is None: return None` earlier: the missing store is already refused."""
    for stmt in before:
        if isinstance(stmt, ast.If) and (absent := absent_subject(stmt.test)) is not None:
            subject = absent[0]
            if isinstance(subject, ast.Name) and subject.id == handle:
                return True
    return False


def _goes_on(fn: FunctionInfo, after: int) -> bool:
    """Something after the skipped check answers with a value of its own (the "yes")."""
    for n in fn.nodes:
        if isinstance(n, ast.Return) and n.value is not None and n.lineno > after:
            value = n.value
            if not (isinstance(value, ast.Constant) and value.value in (None, False)):
                return True
    return False


CheckSkippedWithoutBackend.VALID = [
    # the missing store is answered with a refusal of its own
    """
async def check_usage_limits(request, user_id):
    db = get_session_for_user(user_id)
    if not db:
        return JSONResponse(status_code=503, content={"error": "usage store unavailable"})
    if UsageMonitor(db).over_limit(user_id):
        return JSONResponse(status_code=429, content={"error": "Usage limit exceeded"})
    return None
""",
    # the missing store is refused first
    """
async def verify_access_token(token):
    payload = jwt.decode(token, KEY, algorithms=["HS256"])
    db = get_db()
    if db is None:
        return None
    if await db["revoked"].find_one({"jti": payload["jti"]}):
        return None
    return payload["sub"]
""",
    # the store only caches an answer; nothing is refused from it
    """
def is_allowed(user, action):
    cache = get_cache()
    if cache is not None:
        cache.set(f"seen:{user.id}", 1)
    return policy.allows(user, action)
""",
    # the missing store is handled on the else path
    """
def check_quota(user):
    redis = get_redis()
    if redis is not None:
        if int(redis.get(user.id) or 0) > LIMIT:
            raise QuotaExceeded(user.id)
    else:
        raise ServiceUnavailable("quota store down")
    return True
""",
    # not a permission function
    """
def render_profile(user):
    db = get_db()
    if db is not None:
        if not db.has_avatar(user.id):
            return None
    return template.render(user=user)
""",
]

CheckSkippedWithoutBackend.INVALID = [
    # a usage gate whose store could not be opened passes the request
    Invalid(
        """\
async def check_usage_limits(request, user_id):
    db = get_session_for_user(user_id)
    if not db:
        return None
    usage = UsageMonitor(db).usage(user_id)
    if usage.calls >= usage.limit:
        return JSONResponse(status_code=429, content={"error": "Usage limit exceeded"})
    return None
""",
        line=4,
        fixed="""\
async def check_usage_limits(request, user_id):
    db = get_session_for_user(user_id)
    if not db:
        raise RuntimeError("db unavailable: cannot check")
    usage = UsageMonitor(db).usage(user_id)
    if usage.calls >= usage.limit:
        return JSONResponse(status_code=429, content={"error": "Usage limit exceeded"})
    return None
""",
        expected_message=(
            "`check_usage_limits` lets the request through when `db` is missing: the store "
            "its check reads is unavailable, and the gate answers as if nothing was over its "
            "limit."
        ),
    ),
    Invalid(
        """\
async def verify_access_token(token):
    payload = jwt.decode(token, KEY, algorithms=["HS256"])
    db = get_db()
    if db is not None:
        if await db["revoked"].find_one({"jti": payload["jti"]}):
            return None
    return payload["sub"]
""",
        line=4,
        fixed="""\
async def verify_access_token(token):
    payload = jwt.decode(token, KEY, algorithms=["HS256"])
    db = get_db()
    if db is None:
        return None
    if db is not None:
        if await db["revoked"].find_one({"jti": payload["jti"]}):
            return None
    return payload["sub"]
""",
        expected_message=(
            "`verify_access_token` runs its check only when `db` is there: when the store is "
            "unavailable (`db` is None) the check is skipped and the function goes on to "
            "allow."
        ),
    ),
    Invalid(
        """\
def check_ban(user_id):
    redis = connect_redis()
    if redis:
        if redis.sismember("banned", user_id):
            raise PermissionDenied("banned")
    return True
""",
        line=3,
        fixed="""\
def check_ban(user_id):
    redis = connect_redis()
    if redis is None:
        raise PermissionDenied("banned")
    if redis:
        if redis.sismember("banned", user_id):
            raise PermissionDenied("banned")
    return True
""",
        expected_message=(
            "`check_ban` runs its check only when `redis` is there: when the store is "
            "unavailable (`redis` is None) the check is skipped and the function goes on to "
            "allow."
        ),
    ),
]
