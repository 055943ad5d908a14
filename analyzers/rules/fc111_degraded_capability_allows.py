"""FC111: the check allows when a capability it needs could not be imported or loaded."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from failclosed.analyzers.allowing import allow_value, gated_by_fail_open_flag
from failclosed.analyzers.denials import catches_failures, is_deny_response
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.flow import is_exit_call
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, resolve_call
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    absent_subject,
    branch_answer,
    deny_exit_code,
    exit_code,
    present_subject,
    reword_edits,
    tries,
)
from failclosed.analyzers.rules.fc105_unverified_fallback import unverified_call
from failclosed.analyzers.syntax import (
    call_name,
    dotted_name,
    handler_types,
    own_nodes,
    own_statements,
)
from failclosed.analyzers.vocabulary import DENY_STATUS, FAIL_OPEN_FLAG, IMPORT_ERRORS

KEY_NAME = re.compile(
    r"(?i)(^|_)(secret|secret_key|public_key|private_key|jwks|cert|certificate|signing_key"
    r"|pubkey|verify_key|verifying_key|hmac_key|jwt_key)$"
)
# A flag another module sets when its optional import fails: `HAS_NACL`, `CRYPTO_AVAILABLE`.
AVAILABILITY_FLAG = re.compile(
    r"_?(HAS|HAVE)_[A-Z0-9_]+|_?[A-Z0-9_]+_(AVAILABLE|INSTALLED|IMPORTED|LOADED|SUPPORTED)"
)
# A docstring saying what True means: "Whether ``user`` may view ...", "True if the caller can".
TRUE_ALLOWS = re.compile(
    r"(?is)\b(whether|true\s+(if|when|iff))\b[^.]{0,80}?\b(may|can|is\s+allowed|is\s+permitted"
    r"|is\s+authori[sz]ed|has\s+access)\b"
)
SUBJECT = re.compile(
    r"(?i)\b(users?|viewers?|callers?|principals?|requests?|clients?|agents?|actors?|members?"
    r"|accounts?|roles?|tenants?|tokens?|sessions?)\b"
)
# ... or what None means: "Returns None if allowed", "or None (no tenant filtering / see-all)".
NONE_ALLOWS = re.compile(
    r"(?is)\bNone\b(.{0,40}?)\b(allowed|permitted|authori[sz]ed|granted|see.?all|unrestricted"
    r"|no\s+(\w+\s+)?(filter\w*|scop\w*|restriction\w*)"
    # "Returns None if the query may be executed"
    r"|may\s+(be\s+)?(executed|run|used|called|sent|processed|accepted|proceed))(?![a-z])"
)
# Words that say a fallback check is weaker than the one that could not be loaded.
WEAKER = re.compile(
    r"(?i)(?<![a-z])(basic|simple|simplified|fallback|naive|heuristic|keyword|quick|weak|minimal"
    r"|rudimentary|best.effort|lenient|permissive|degraded|reduced)(?![a-z])"
)
NEGATION = re.compile(r"(?i)\bnot\b|n't\b|\bden|\bunauthori|\binvalid|\bfail|\berror|\bforbid")
# Fields of a fallback object that grant everything when left at their default True.
PRIVILEGED_FIELD = re.compile(
    r"(?i)_*(is_)?(\w+_)?(admin|superuser|root|staff)|(\w+_)?see_all|\w*unrestricted"
    r"|allow_all|bypass\w*|all_access"
)


class DegradedCapabilityAllows(Rule):
    """
    ## What it does
    Flags a permission check or verifier that allows when a capability it needs is
    missing:

    - an `except ImportError` (or `ModuleNotFoundError`) handler in the check returns the
      allow value: `True`, `None` from a guard whose denial is an error response, a
      see-all default object, or a weaker fallback check;
    - a flag set when an import or a load failed (`except ImportError: AVAILABLE = False`,
      `HAS_NACL` imported from an optional module, `self.loaded = False` in a loader's
      `except`) is tested and that branch allows (`if not AVAILABLE: return True`);
    - the verifying key is not loaded (`if not self.public_key: return True`), or, in that
      case, the token is decoded without verifying it.

    ## Why is this bad?
    A missing dependency or an unreadable key file is an error, not the documented "no
    permission system configured" choice: the operator believes requests are checked. A
    broken deployment (a slim image without `cryptography`, a renamed module, a key mounted
    at the wrong path) then silently accepts every request (CWE-636).

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
    The fix flips the allow value on the missing-capability path to deny (`True` -> `False`,
    a see-all default object gets its privileged fields set to `False`); where no deny value
    is known it raises (re-raises the import error in a handler). When the flag is one of
    several `or` conditions it is split into its own `if`, so the other conditions keep
    their answer. An unverified decode on that branch is replaced by raising an error.
    Severity is `warning`: an optional dependency can be deliberate, and the inference runs
    through imports, flags and docstrings the rule cannot follow everywhere.
    """

    code = "FC111"
    name = "degraded-capability-allows"
    severity = "warning"
    summary = "The check allows when a capability it needs could not be imported or loaded."
    fix_safety = "Flips the allow value on the missing-capability path to deny, or raises."
    trigger = ("if not ", "is None", "ImportError", "ModuleNotFoundError", " or not ")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        text = info.segment(fn.node)
        if "ImportError" in text or "ModuleNotFoundError" in text:
            yield from self._import_handlers(fn, info)
        flags = Flags(fn, info)
        for node in fn.statements:
            if not isinstance(node, ast.If) or not node.body:
                continue
            split = _missing_capability(node.test, flags)
            missing = None if split is not None or not node.orelse else _present(node.test, flags)
            if (split is None and missing is None) or FAIL_OPEN_FLAG.search(ast.unparse(node.test)):
                continue  # `if not AVAILABLE and settings.allow_insecure:` is a named choice
            if split is not None:
                yield from self._missing_branch(fn, info, node, *split)
            elif missing is not None:
                yield from self._else_branch(fn, info, node, missing)

    def _import_handlers(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        """`try: from x import check` / `except ImportError: return True`."""
        for node in tries(fn):
            module = _imported_module(node.body)
            if module is None:
                continue
            for handler in node.handlers:
                types = set(handler_types(handler))
                if not types or not types <= IMPORT_ERRORS:
                    continue  # a broader handler is FC101's: any failure, not a missing module
                if gated_by_fail_open_flag(handler):
                    continue
                ret = _answer(handler.body)
                if not isinstance(ret, ast.Return):
                    exit_hit = _exits_zero(fn, info, handler, module)
                    if exit_hit is not None:
                        yield exit_hit
                    continue
                allowing = _allowing(ret, fn, info, handler)
                if allowing is None:
                    continue
                edits: list[Edit] = [allowing.edit(ret, "raise")]
                yield Hit(
                    node=ret,
                    message=(
                        f"`{fn.qualname}` returns `{allowing.shown}` (allow) when importing "
                        f"`{module}` fails, so a broken deployment grants access; deny or "
                        "raise there instead."
                    ),
                    edits=[*edits, *reword_edits(info, handler)],
                    key_nodes=[handler],
                )

    def _missing_branch(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        node: ast.If,
        flag_test: ast.expr,
        rest: list[ast.expr],
        missing: str,
    ) -> Iterator[Hit]:
        """`if not AVAILABLE: return True`, or `if not AVAILABLE or exempt(x): ...`."""
        first = branch_answer(node)
        raising = f"raise RuntimeError({json.dumps(f'cannot check access: {missing}')})"
        if isinstance(first, ast.Return):
            allowing = _allowing(first, fn, info)
            if allowing is not None:
                if rest:
                    edits = _split_edits(node, flag_test, rest, allowing.statement(first, raising))
                else:
                    edits = [
                        allowing.edit(first, raising),
                        *(e for stmt in node.body for e in reword_edits(info, stmt)),
                    ]
                yield Hit(
                    node=first,
                    message=(
                        f"`{fn.qualname}` returns `{allowing.shown}` (allow) when {missing}, "
                        "so a broken deployment accepts every request unverified."
                    ),
                    edits=edits,
                    key_nodes=[node],
                )
                return
        if rest:
            return
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
                        ReplaceStatements(stmt, node.body[-1], (f"raise RuntimeError({reason})",))
                    ],
                    key_nodes=[node],
                )
                return

    def _else_branch(
        self, fn: FunctionInfo, info: ModuleInfo, node: ast.If, missing: str
    ) -> Iterator[Hit]:
        """`if HAS_NACL: return verify(...)` / `else: return True`."""
        first = _answer(node.orelse)
        if not isinstance(first, ast.Return):
            return
        allowing = _allowing(first, fn, info)
        if allowing is None:
            return
        raising = f"raise RuntimeError({json.dumps(f'cannot check access: {missing}')})"
        yield Hit(
            node=first,
            message=(
                f"`{fn.qualname}` returns `{allowing.shown}` (allow) when {missing}, "
                "so a broken deployment accepts every request unverified."
            ),
            edits=[
                allowing.edit(first, raising),
                *(e for stmt in node.orelse for e in reword_edits(info, stmt)),
            ],
            key_nodes=[node.test, first],
        )


@dataclass(frozen=True)
class Allowing:
    """What a `return` answers that means "allowed", and how to turn it into a denial.

    `node`/`deny`: the expression to replace and its deny source; `deny` None means no deny
    value is known and the statement raises instead.
    """

    shown: str
    node: ast.expr | None = None
    deny: str | None = None

    def edit(self, ret: ast.Return, raising: str) -> Edit:
        if self.node is not None and self.deny is not None:
            return ReplaceExpression(self.node, self.deny)
        return ReplaceStatements(ret, ret, (raising,))

    def statement(self, ret: ast.Return, raising: str) -> str:
        """The denying statement as source, for a new branch."""
        if self.node is None or self.deny is None or ret.value is None:
            return raising
        return f"return {_replaced(ret.value, self.node, self.deny)}"


def _allowing(
    ret: ast.Return, fn: FunctionInfo, info: ModuleInfo, where: ast.AST | None = None
) -> Allowing | None:
    """Does this `return` allow, in this decision function? With its deny counterpart."""
    value = ret.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return Allowing("None") if _none_allows(fn) else None
    found = allow_value(value, fn, info, loose=_true_allows(fn))
    if found is not None:
        return Allowing(found.shown, found.node, found.deny)
    if isinstance(value, ast.Call):
        return _see_all_object(value, info) or _weaker_check(value, fn, info, where or ret)
    return None


def _true_allows(fn: FunctionInfo) -> bool:
    """The docstring says True means the subject may act: "Whether ``user`` may view ..."."""
    doc = (ast.get_docstring(fn.node, clean=False) or "")[:2000]
    return bool(TRUE_ALLOWS.search(doc)) and bool(SUBJECT.search(doc))


def _none_allows(fn: FunctionInfo) -> bool:
    """None is this function's "allowed": by its docstring, or it denies by raising or by
    answering with an error response and never answers a bool."""
    doc = (ast.get_docstring(fn.node, clean=False) or "")[:2000]
    for m in NONE_ALLOWS.finditer(doc):
        if not NEGATION.search(m.group(1)):
            return True
    if fn.returns_bool or fn.middleware or fn.polarity is None:
        return False
    return fn.guard or any(
        isinstance(n, ast.Return) and n.value is not None and _error_response(n.value)
        for n in fn.statements
    )


def _error_response(value: ast.expr) -> bool:
    """`error_response("Permission denied", 403)`: a response with a deny status anywhere."""
    if is_deny_response(value):
        return True
    if not isinstance(value, ast.Call):
        return False
    return any(
        isinstance(a, ast.Constant) and a.value in DENY_STATUS
        for a in [*value.args, *(k.value for k in value.keywords)]
    )


def _see_all_object(call: ast.Call, info: ModuleInfo) -> Allowing | None:
    """`return AccessScope()` where the module's class defaults `is_admin` to True."""
    if not isinstance(call.func, ast.Name):
        return None
    fields = _privileged_defaults(info).get(call.func.id)
    if not fields:
        return None
    passed = {k.arg for k in call.keywords}
    if call.args or (passed & fields) or None in passed:
        return None
    denied = ast.Call(
        func=call.func,
        args=[],
        keywords=[
            *call.keywords,
            *(ast.keyword(arg=f, value=ast.Constant(False)) for f in sorted(fields)),
        ],
    )
    return Allowing(f"{call.func.id}()", call, ast.unparse(denied))


def _privileged_defaults(info: ModuleInfo) -> dict[str, set[str]]:
    """Module classes with fields like `is_admin: bool = True`: {"AccessScope": {...}}."""
    if "fc111_privileged" not in info.memo:
        found: dict[str, set[str]] = {}
        for cls in info.tree.body:
            if not isinstance(cls, ast.ClassDef):
                continue
            for stmt in cls.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and isinstance(stmt.value, ast.Constant)
                    and stmt.value.value is True
                    and PRIVILEGED_FIELD.fullmatch(stmt.target.id)
                ):
                    found.setdefault(cls.name, set()).add(stmt.target.id)
        info.memo["fc111_privileged"] = found
    return info.memo["fc111_privileged"]  # type: ignore[return-value]


def _weaker_check(
    call: ast.Call, fn: FunctionInfo, info: ModuleInfo, where: ast.AST
) -> Allowing | None:
    """`return self._basic_check(code)`: a same-module fallback check, said to be weaker
    (by its name, its docstring or the log line before it), that can allow."""
    if fn.polarity is None:
        return None
    helper = resolve_call(call, fn, info)
    if helper is None or helper.node is fn.node:
        return None
    said = " ".join(
        [
            helper.node.name.replace("_", " "),
            ast.get_docstring(helper.node) or "",
            info.segment(where),
        ]
    )
    if not WEAKER.search(said):
        return None  # a pure-Python fallback of the same check is no degradation
    for stmt in helper.statements:
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        found = allow_value(stmt.value, fn, info)
        if found is None:
            continue
        if found.deny is None:
            return Allowing(f"{ast.unparse(call.func)}(...)")
        deny = _replaced(stmt.value, found.node, found.deny)
        if isinstance(stmt.value, ast.Tuple):
            deny = _with_reason(stmt.value, deny, [fn, helper])
        return Allowing(f"{ast.unparse(call.func)}(...)", call, deny)
    return None


def _with_reason(allow: ast.Tuple, deny: str, scope: list[FunctionInfo]) -> str:
    """`(False, None)` -> `(False, "... unavailable")` when denials elsewhere give a reason."""
    denial = ast.parse(deny, mode="eval").body
    if not isinstance(denial, ast.Tuple) or len(denial.elts) != 2:
        return deny
    reasons = any(
        isinstance(n, ast.Return)
        and isinstance(n.value, ast.Tuple)
        and len(n.value.elts) == 2
        and isinstance(n.value.elts[1], ast.JoinedStr | ast.Constant)
        and isinstance(getattr(n.value.elts[1], "value", ""), str)
        for f in scope
        for n in f.statements
    )
    second = denial.elts[1]
    if reasons and isinstance(second, ast.Constant) and second.value is None:
        return f"{ast.unparse(denial.elts[0])}, {json.dumps('a required check is unavailable')}"
    return deny


def _replaced(expr: ast.expr, target: ast.expr, new: str) -> str:
    """Source of `expr` with `target` (a node inside it) replaced by `new`."""
    if expr is target:
        return new
    replacement = ast.parse(new, mode="eval").body
    for parent in ast.walk(expr):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                try:
                    return _shown(expr)
                finally:
                    setattr(parent, name, target)
            if isinstance(value, list) and any(v is target for v in value):
                index = next(i for i, v in enumerate(value) if v is target)
                value[index] = replacement
                try:
                    return _shown(expr)
                finally:
                    value[index] = target
    return new


def _shown(expr: ast.expr) -> str:
    """`False, None` for a returned tuple (no parentheses), else the expression."""
    if isinstance(expr, ast.Tuple) and expr.elts:
        return ", ".join(ast.unparse(e) for e in expr.elts)
    return ast.unparse(expr)


def _split_edits(
    node: ast.If, flag_test: ast.expr, rest: list[ast.expr], denying: str
) -> list[Edit]:
    """`if not OK or free:` -> `if not OK: <deny>` then `if free:`: only the flag denies."""
    others = rest[0] if len(rest) == 1 else ast.BoolOp(op=ast.Or(), values=rest)
    return [
        ReplaceExpression(node.test, ast.unparse(others)),
        ReplaceStatements(node, node, (f"if {ast.unparse(flag_test)}:\n    {denying}\n", KEEP)),
    ]


def _exits_zero(
    fn: FunctionInfo, info: ModuleInfo, handler: ast.ExceptHandler, module: str
) -> Hit | None:
    """`except ImportError: sys.exit(0)` in a gate script that exits non-zero to block: the
    missing checker lets every action through."""
    code = deny_exit_code(fn, returns_status=False)
    if code is None:
        return None
    for stmt in handler.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and is_exit_call(call) and exit_code(call) == 0:
            return Hit(
                node=stmt,
                message=(
                    f"`{fn.qualname}` exits 0 (allow) when importing `{module}` fails, so a "
                    f"broken deployment lets every action through; exit {code} there instead."
                ),
                edits=[
                    ReplaceStatements(stmt, stmt, (f"{ast.unparse(call.func)}({code})",)),
                    *reword_edits(info, handler),
                ],
                key_nodes=[handler],
            )
    return None


def _answer(body: list[ast.stmt]) -> ast.stmt | None:
    """The statement that answers a block: the first after logging, imports and `pass`."""
    for stmt in body:
        if isinstance(stmt, ast.Expr | ast.Import | ast.ImportFrom | ast.Pass):
            continue
        return stmt
    return None


def _imported_module(body: list[ast.stmt]) -> str | None:
    """The module a try body imports (`from` imports first: `import sys` is seldom the
    optional one), or None."""
    imports = [n for stmt in body for n in [stmt, *own_nodes(stmt)]]
    for n in imports:
        if isinstance(n, ast.ImportFrom):
            return "." * n.level + (n.module or "")
    return next((n.names[0].name for n in imports if isinstance(n, ast.Import)), None)


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


def _missing_capability(
    test: ast.expr, flags: Flags
) -> tuple[ast.expr, list[ast.expr], str] | None:
    """(`not OK`, other `or` conditions, what is missing) for `if not OK [or ...]:`."""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) else [test]
    for i, part in enumerate(parts):
        missing = _absent(part, flags)
        if missing is not None:
            return part, [p for j, p in enumerate(parts) if j != i], missing
    return None


def _absent(test: ast.expr, flags: Flags) -> str | None:
    """`not JWT_AVAILABLE` / `jwt is None` / `not self.public_key`: what is missing, or None."""
    subject = absent_subject(test)
    if subject is None:
        return None
    name = dotted_name(subject[0]) or ""
    if not name:
        return None
    found = flags.get(name)
    if found is not None:
        return found
    if KEY_NAME.search(name.rsplit(".", 1)[-1]):
        return f"`{name}` is not loaded"
    return None


def _present(test: ast.expr, flags: Flags) -> str | None:
    """`if HAS_NACL:` / `if self.verifier is not None:`: the else branch is the missing one."""
    test = present_subject(test)
    name = dotted_name(test) if isinstance(test, ast.Name | ast.Attribute) else None
    return flags.get(name) if name else None


class Flags:
    """What a flag tested in `fn` says is missing: module flags, the class's instance flags
    and availability flags the function imports itself, each looked up only when asked."""

    def __init__(self, fn: FunctionInfo, info: ModuleInfo) -> None:
        self.fn = fn
        self.info = info
        self.local: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        found = import_fallback_flags(self.info).get(name)
        if found is not None:
            return found
        if name.startswith("self."):
            cls = self.fn.class_node
            return _instance_flags(cls, self.info).get(name) if cls is not None else None
        if AVAILABILITY_FLAG.fullmatch(name):
            if self.local is None:
                self.local = _local_flags(self.fn)
            return self.local.get(name)
        return None


def import_fallback_flags(info: ModuleInfo) -> dict[str, str]:
    """Names a module sets to False/None when an import fails: {"JWT_AVAILABLE": "`jwt`
    failed to import"}, and availability flags it imports from an optional module."""
    if "import_fallback_flags" not in info.memo:
        found: dict[str, str] = {}
        for stmt in own_statements(info.tree):
            if isinstance(stmt, ast.Try):
                found.update(_try_flags(stmt))
        info.memo["import_fallback_flags"] = found
    return info.memo["import_fallback_flags"]  # type: ignore[return-value]


def _local_flags(fn: FunctionInfo) -> dict[str, str]:
    """`try: from .signing import HAS_NACL` inside the function itself."""
    found: dict[str, str] = {}
    for node in tries(fn):
        if any(set(handler_types(h)) & IMPORT_ERRORS for h in node.handlers):
            found.update(_imported_flags(node.body))
    return found


def _try_flags(stmt: ast.Try) -> dict[str, str]:
    module = _imported_module(stmt.body)
    if module is None:
        return {}
    found: dict[str, str] = {}
    for handler, importing in _failure_handlers(stmt):
        missing = f"`{module}` failed to import" if importing else f"loading `{module}` failed"
        found.update((t.id, missing) for t, _ in _unset(handler) if isinstance(t, ast.Name))
        if importing:
            found.update(_imported_flags(stmt.body))
    return found


def _failure_handlers(node: ast.Try) -> Iterator[tuple[ast.ExceptHandler, bool]]:
    """(handler, catches an import error) for handlers that run when something failed."""
    for handler in node.handlers:
        importing = bool(set(handler_types(handler)) & IMPORT_ERRORS)
        if importing or catches_failures(handler, node):
            yield handler, importing


def _unset(handler: ast.ExceptHandler) -> Iterator[tuple[ast.expr, object]]:
    """(target, value) for each `target = False` / `target = None` the handler runs."""
    for s in handler.body:
        if (
            isinstance(s, ast.Assign)
            and isinstance(s.value, ast.Constant)
            and (s.value.value is False or s.value.value is None)
        ):
            yield from ((t, s.value.value) for t in s.targets)


def _imported_flags(body: list[ast.stmt]) -> dict[str, str]:
    """`from .signing import verify, HAS_NACL` in an optional import: HAS_NACL is a flag."""
    found: dict[str, str] = {}
    for stmt in body:
        if isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            for alias in stmt.names:
                name = alias.asname or alias.name
                if AVAILABILITY_FLAG.fullmatch(name):
                    found[name] = f"`{name}` says `{module}` is unavailable"
    return found


def _instance_flags(cls: ast.ClassDef, info: ModuleInfo) -> dict[str, str]:
    """`self.loaded = False` in a method's `except`: {"self.loaded": "..."}."""
    key = f"fc111_instance_flags:{cls.lineno}:{cls.name}"
    if key not in info.memo:
        found: dict[str, str] = {}
        methods = [m for m in cls.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)]
        for method in methods:
            tries_in = [n for n in own_statements(method) if isinstance(n, ast.Try)]
            for handler, _ in (h for node in tries_in for h in _failure_handlers(node)):
                for target, value in _unset(handler):
                    name = dotted_name(target) or ""
                    if name.startswith("self.") and name.count(".") == 1:
                        found[name] = f"`{name}` is {value} because `{method.name}` failed"
        info.memo[key] = found
    return info.memo[key]  # type: ignore[return-value]


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

def render_markdown(text):
    try:
        import markdown
    except ImportError:
        return None
    return markdown.markdown(text)
""",
    # the import fallback denies, or re-raises
    """
def may_read_report(user, report):
    try:
        from acl.sharing import may_read
    except ImportError:
        return False
    return may_read(user, report)

def verify_callback(headers):
    try:
        from .signing import check_signature
    except ImportError:
        raise
    return check_signature(headers["X-Signature"])
""",
    # the handler first tells "layer not deployed" from "layer broken"
    """
@dataclass(frozen=True)
class AccessScope:
    user_id: int = 0
    is_admin: bool = True

def scope_for(user):
    try:
        from accounts.scoping import scope_for as real
    except ImportError:
        if scoping_enabled():
            return AccessScope(is_admin=False)
        return AccessScope()
    return real(user)
""",
    # None means "no context" here, not "allowed"
    """
try:
    from acme.acl import AclContext
    ACL_READY = True
except ImportError:
    ACL_READY = False

def build_acl_context(handler):
    \"\"\"Collect the access context for this request.\"\"\"
    if not ACL_READY:
        return None
    return AclContext(handler.user)
""",
    # a named, configured choice to run without the library
    """
try:
    import jwt
    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

def verify_token(token):
    if not JWT_AVAILABLE and settings.ALLOW_UNVERIFIED:
        return True
    return jwt.decode(token, KEY, algorithms=["RS256"]) is not None
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
        expected_message=(
            "`verify_token` returns `True` (allow) when `jwt` failed to import, so a broken "
            "deployment accepts every request unverified."
        ),
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
        expected_message=(
            "`TokenVerifier.verify_token` decodes without verification when `self.public_key` "
            "is not loaded, so a forged token is trusted; raise an error there instead."
        ),
    ),
    # the check itself cannot be imported
    Invalid(
        """\
def may_read_report(user, report):
    try:
        from acl.sharing import may_read
    except ImportError:
        return True  # sharing not deployed
    return may_read(user, report)
""",
        line=5,
        fixed="""\
def may_read_report(user, report):
    try:
        from acl.sharing import may_read
    except ImportError:
        return False  # sharing not deployed
    return may_read(user, report)
""",
        expected_message=(
            "`may_read_report` returns `True` (allow) when importing `acl.sharing` fails, so "
            "a broken deployment grants access; deny or raise there instead."
        ),
    ),
    # a guard whose None means "allowed": its docstring says so
    Invalid(
        """\
try:
    from acme.acl import evaluate_acl
    ACL_READY = True
except ImportError:
    ACL_READY = False

class ReportsView:
    def _guard(self, user, key):
        \"\"\"Gives None when access is granted, otherwise a 403 reply.\"\"\"
        if not ACL_READY:
            return None
        if not evaluate_acl(user, key).granted:
            return json_error("forbidden", 403)
        return None
""",
        line=11,
        fixed="""\
try:
    from acme.acl import evaluate_acl
    ACL_READY = True
except ImportError:
    ACL_READY = False

class ReportsView:
    def _guard(self, user, key):
        \"\"\"Gives None when access is granted, otherwise a 403 reply.\"\"\"
        if not ACL_READY:
            raise RuntimeError("cannot check access: `acme.acl` failed to import")
        if not evaluate_acl(user, key).granted:
            return json_error("forbidden", 403)
        return None
""",
        expected_message=(
            "`ReportsView._guard` returns `None` (allow) when `acme.acl` failed to import, so "
            "a broken deployment accepts every request unverified."
        ),
    ),
    # one of several conditions: the flag gets its own branch, free items stay free
    Invalid(
        """\
try:
    from metering import QUOTA, is_exempt
    METERING_OK = True
except ImportError:
    METERING_OK = False

def enforce_quota(account):
    \"\"\"Check the quota. Gives (ok, reply).\"\"\"
    if not METERING_OK or is_exempt(account):
        return True, None
    if usage(account) > QUOTA:
        return False, quota_exceeded(account)
    return True, None
""",
        line=10,
        fixed="""\
try:
    from metering import QUOTA, is_exempt
    METERING_OK = True
except ImportError:
    METERING_OK = False

def enforce_quota(account):
    \"\"\"Check the quota. Gives (ok, reply).\"\"\"
    if not METERING_OK:
        return False, None
    if is_exempt(account):
        return True, None
    if usage(account) > QUOTA:
        return False, quota_exceeded(account)
    return True, None
""",
        expected_message=(
            "`enforce_quota` returns `True` (allow) when `metering` failed to import, so a "
            "broken deployment accepts every request unverified."
        ),
    ),
    # a default object that sees everything
    Invalid(
        """\
@dataclass(frozen=True)
class AccessScope:
    user_id: int = 0
    is_admin: bool = True

def scope_for(user):
    try:
        from accounts.scoping import scope_for as real
    except ImportError:
        return AccessScope()
    return real(user)
""",
        line=10,
        fixed="""\
@dataclass(frozen=True)
class AccessScope:
    user_id: int = 0
    is_admin: bool = True

def scope_for(user):
    try:
        from accounts.scoping import scope_for as real
    except ImportError:
        return AccessScope(is_admin=False)
    return real(user)
""",
        expected_message=(
            "`scope_for` returns `AccessScope()` (allow) when importing `accounts.scoping` "
            "fails, so a broken deployment grants access; deny or raise there instead."
        ),
    ),
    # a weaker fallback check decides instead
    Invalid(
        """\
class ScriptRunner:
    def _may_execute(self, src: str) -> tuple[bool, str | None]:
        try:
            from analysis.linting import ScriptAuditor
            issues = ScriptAuditor().issues(src)
            if issues:
                return False, f"unsafe: {issues[0]}"
            return True, None
        except ImportError:
            return self._keyword_check(src)

    def _keyword_check(self, src):
        if "exec" in src:
            return False, "calls exec"
        return True, None
""",
        line=10,
        fixed="""\
class ScriptRunner:
    def _may_execute(self, src: str) -> tuple[bool, str | None]:
        try:
            from analysis.linting import ScriptAuditor
            issues = ScriptAuditor().issues(src)
            if issues:
                return False, f"unsafe: {issues[0]}"
            return True, None
        except ImportError:
            return False, "a required check is unavailable"

    def _keyword_check(self, src):
        if "exec" in src:
            return False, "calls exec"
        return True, None
""",
        expected_message=(
            "`ScriptRunner._may_execute` returns `self._keyword_check(...)` (allow) when "
            "importing `analysis.linting` fails, so a broken deployment grants access; deny "
            "or raise there instead."
        ),
    ),
    # an availability flag from the optional module, tested with an else
    Invalid(
        """\
class ChatBridge:
    def verify_callback(self, headers) -> bool:
        try:
            from .signing import check_signature, HAS_NACL
            if HAS_NACL:
                return check_signature(headers["X-Signature"])
            else:
                return True
        except ImportError:
            return False
""",
        line=8,
        fixed="""\
class ChatBridge:
    def verify_callback(self, headers) -> bool:
        try:
            from .signing import check_signature, HAS_NACL
            if HAS_NACL:
                return check_signature(headers["X-Signature"])
            else:
                return False
        except ImportError:
            return False
""",
        expected_message=(
            "`ChatBridge.verify_callback` returns `True` (allow) when `HAS_NACL` says "
            "`.signing` is unavailable, so a broken deployment accepts every request "
            "unverified."
        ),
    ),
    # an instance flag a loader leaves unset when it fails
    Invalid(
        """\
class PolicyGuard:
    def __init__(self, path):
        try:
            self.engine = load_engine(path)
        except OSError:
            self.engine = None

    def is_allowed(self, user, action):
        if self.engine is None:
            return True
        return self.engine.allows(user, action)
""",
        line=10,
        fixed="""\
class PolicyGuard:
    def __init__(self, path):
        try:
            self.engine = load_engine(path)
        except OSError:
            self.engine = None

    def is_allowed(self, user, action):
        if self.engine is None:
            return False
        return self.engine.allows(user, action)
""",
        expected_message=(
            "`PolicyGuard.is_allowed` returns `True` (allow) when `self.engine` is None "
            "because `__init__` failed, so a broken deployment accepts every request "
            "unverified."
        ),
    ),
]

DegradedCapabilityAllows.VALID += [
    # a tool that never blocks: exit 0 is no "allow"
    """
import sys


def main():
    try:
        import black
    except ImportError:
        print("black is not installed: nothing to format")
        sys.exit(0)
    black.main()
""",
]

DegradedCapabilityAllows.INVALID += [
    # a hook that exits 2 to block exits 0 when its checker cannot be imported
    Invalid(
        """\
import json
import sys


def main():
    payload = json.load(sys.stdin)
    try:
        from guardrail.policy import evaluate
    except ImportError:
        print("guardrail not installed, letting it through", file=sys.stderr)
        sys.exit(0)
    if evaluate(payload) == "deny":
        sys.exit(2)
    sys.exit(0)
""",
        line=11,
        fixed="""\
import json
import sys


def main():
    payload = json.load(sys.stdin)
    try:
        from guardrail.policy import evaluate
    except ImportError:
        print("guardrail not installed, denying", file=sys.stderr)
        sys.exit(2)
    if evaluate(payload) == "deny":
        sys.exit(2)
    sys.exit(0)
""",
        expected_message=(
            "`main` exits 0 (allow) when importing `guardrail.policy` fails, so a broken "
            "deployment lets every action through; exit 2 there instead."
        ),
    ),
]

DegradedCapabilityAllows.INVALID += [
    # the docstring says None lets the query run
    Invalid(
        """\
def validate_query(query):
    '''Returns None if the query may be executed, otherwise why it was rejected.'''
    try:
        import sqlglot
    except ImportError:
        logger.warning("sqlglot missing: statement types cannot be checked")
        return None
    statements = sqlglot.parse(query)
    if any(s.key != "select" for s in statements):
        return "only SELECT statements are allowed"
    return None
""",
        line=7,
        fixed="""\
def validate_query(query):
    '''Returns None if the query may be executed, otherwise why it was rejected.'''
    try:
        import sqlglot
    except ImportError:
        logger.warning("sqlglot missing: statement types cannot be checked")
        raise
    statements = sqlglot.parse(query)
    if any(s.key != "select" for s in statements):
        return "only SELECT statements are allowed"
    return None
""",
        expected_message=(
            "`validate_query` returns `None` (allow) when importing `sqlglot` fails, so a "
            "broken deployment grants access; deny or raise there instead."
        ),
    ),
]
