"""Which way a function's answer points: "allow" (True lets through) or "deny" (True
blocks), from its name, its class, the configuration, or the evidence weighed together.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Literal

from failclosed.analyzers.denials import denies_by_raising
from failclosed.analyzers.settings import Config
from failclosed.analyzers.syntax import (
    FunctionNode,
    all_statements,
    call_name,
    dotted_name,
    own_nodes,
    own_statements,
    tested_call,
)
from failclosed.analyzers.vocabulary import (
    ALLOW_NAME,
    ALLOW_STATE,
    BOOL_CALL,
    BUILTIN_NAMES,
    CHECK_CALL,
    DECISION_WORD,
    DENY_NAME,
    DENY_STATE,
    DENY_WORD,
    DOC_ALLOW,
    DOC_DENY,
    DOC_TRUE_MEANS,
    DOING_NAME,
    MAX_NAME,
    MIDDLEWARE_NAME,
    MIDDLEWARE_NEXT_PARAMS,
    PERMISSION_BASES,
    PERMISSION_METHODS_IN_BASES,
    PREDICATE_NAME,
    PREDICATE_TOKEN,
    RECORDING_CALL,
    WEAK_STATE,
)

Polarity = Literal["allow", "deny"]


def polarity_of(
    node: FunctionNode,
    cls: ast.ClassDef | None,
    config: Config,
    callers: Callable[[], dict[str, Counter[Polarity]]] | None = None,
    tested: Callable[[], set[str]] | None = None,
    statements: list[ast.AST] | None = None,
) -> Polarity | None:
    """Decisive names and configured patterns first; otherwise the evidence, weighed."""
    name = node.name[:MAX_NAME]  # names are matched in bounded time, whatever their length
    if any(p.fullmatch(name) for p in config.deny_functions) or DENY_NAME.fullmatch(name):
        return "deny"
    if (
        any(p.fullmatch(name) for p in config.permission_functions)
        or ALLOW_NAME.fullmatch(name)
        or (
            cls is not None
            and _has_permission_base(cls)
            and PERMISSION_METHODS_IN_BASES.match(name)
        )
    ):
        return "allow"
    return weighed_polarity(node, cls, callers, tested, statements)


EVIDENCE_NEEDED = 5  # points; a name or a docstring alone is never enough


def weighed_polarity(
    node: FunctionNode,
    cls: ast.ClassDef | None,
    callers: Callable[[], dict[str, Counter[Polarity]]] | None = None,
    tested: Callable[[], set[str]] | None = None,
    statements: list[ast.AST] | None = None,
) -> Polarity | None:
    """Whether the function decides on access, from several signals weighed together.

    Real code names its checks as it likes (`can_refund_emea`, `is_accessible`,
    `_check_x402_payment`), so the name counts as one signal among the return annotation,
    the docstring, whether the function answers both yes and no or denies by raising, its
    class, and what callers do with its answer (`if not x(...): raise Forbidden`).
    """
    name = node.name[:MAX_NAME]
    if statements is None:
        statements = list(own_statements(node))
    answers = _bool_answers(statements)
    annotated = _annotated_bool(node)
    if not (answers or annotated) and (tested is None or name not in tested()):
        return None  # neither answers yes/no nor is tested by a caller: not a check (fast path)
    words = name.replace("_", " ")
    doc = (ast.get_docstring(node, clean=False) or "")[:2000]
    points = 0
    predicate = PREDICATE_NAME.match(name) is not None
    inner_check = not predicate and PREDICATE_TOKEN.search(name) is not None
    decision = DECISION_WORD.search(words) is not None
    state = ALLOW_STATE.search(words) is not None or DENY_STATE.search(words) is not None
    points += predicate + inner_check + decision + (predicate and decision)
    if state and (predicate or inner_check):
        points += 3  # `tool_is_allowed`, `contains_pii`: the name says which answer is yes
    elif WEAK_STATE.search(words) and (predicate or inner_check):
        points += 1  # `is_within_root`: a hint, not enough alone
    if DOING_NAME.match(name) and not inner_check:
        points -= 2  # `add_policy` answers "was it added?", not "is it allowed?"
    if answers == {True, False} and _gives_reasons(statements):
        points += 3  # `return False, "blocked: private address"` / `return True, None`
    if annotated:
        points += 1
    if doc and DECISION_WORD.search(doc):
        points += 2
    said = _doc_polarity(doc) if "true" in doc.lower() else None
    if said is not None:
        points += 3
    relays = decision and _relays_a_check(node)
    if answers == {True, False} or (len(answers) == 1 and (relays or _computed_answer(statements))):
        points += 1  # it answers yes and no, one of them worked out (`path.is_relative_to(root)`)
    if cls is not None and DECISION_WORD.search(cls.name.replace("_", " ")):
        points += 1
    if relays:
        points += 2  # `try: return get_trust()` / `except Exception: return True`
    doing = DOING_NAME.match(name) is not None
    own = _own_denials(statements)
    if own and not doing and len(own) == 1:
        points += 3  # `if not acl.has_role(user): return False`: it denies on a check's "no"
    if 2 <= points < EVIDENCE_NEEDED and not doing and _consults_a_check(node):
        points += 2  # `if not acl.has_role(user, "admin"): return False`
    asked = callers is not None and points >= 1 and (tested is None or name in tested())
    votes = (
        callers().get(node.name) if asked and callers is not None else None
    )  # the walk only when an `if` calls it
    if votes:
        points += 3
    if points < EVIDENCE_NEEDED or not (answers or annotated or votes):
        return None
    if said is not None:
        return said
    if own and len(own) == 1:
        return next(iter(own))
    if votes and votes["deny"] > votes["allow"]:
        return "deny"
    if votes and votes["allow"] > votes["deny"]:
        return "allow"
    if (DENY_WORD.search(words) or DENY_STATE.search(words)) and not re.search(
        r"(?i)(?<![a-z])(allow\w*|permi\w*)", words
    ):
        return "deny"
    return "allow"


def _relays_a_check(node: FunctionNode) -> bool:
    """The function only asks another function and answers with its answer, or with a
    constant yes/no when asking fails: a wrapper around a check, whose constant is a verdict."""
    body = [s for s in node.body if not isinstance(s, ast.Expr | ast.Import | ast.ImportFrom)]
    if len(body) != 1 or not isinstance(body[0], ast.Try) or not body[0].handlers:
        return False
    last = body[0].body[-1]
    value = last.value if isinstance(last, ast.Return) else None
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call) or call_name(value) in BUILTIN_NAMES:
        return False  # `return bool(Version(v) >= Version(check))` computes, it asks no one
    return any(
        isinstance(stmt, ast.Return)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, bool)
        for handler in body[0].handlers
        for stmt in handler.body
    )


def _doc_polarity(doc: str) -> Polarity | None:
    """Which way True points, when the docstring says so."""
    m = DOC_TRUE_MEANS.search(doc)
    if m is None:
        return None
    what = re.split(r"(?i)\bfalse\b|;|, (?:and |or )?(?:otherwise|else)\b", m.group("what"))[0]
    deny, allow = DOC_DENY.search(what), DOC_ALLOW.search(what)
    if deny and not (allow and allow.start() < deny.start()):
        return "deny"
    if allow:
        return "allow"
    return None


def _annotated_bool(node: FunctionNode) -> bool:
    """`-> bool`, `-> Optional[bool]`, `-> tuple[bool, ...]`."""
    returns = node.returns
    if returns is None:
        return False
    text = ast.unparse(returns)
    return text == "bool" or text.startswith(
        ("Optional[bool]", "bool |", "tuple[bool", "Tuple[bool")
    )


def _computed_answer(statements: Iterable[ast.AST]) -> bool:
    """The function returns a worked-out yes/no somewhere: a comparison, a `not`, a
    membership test, a predicate call."""
    for stmt in statements:
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        value = stmt.value
        if isinstance(value, ast.Compare | ast.BoolOp) or (
            isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
        ):
            return True
        if isinstance(value, ast.Call) and BOOL_CALL.match(call_name(value)):
            return True
    return False


def _bool_answers(statements: Iterable[ast.AST]) -> set[bool]:
    """The constant booleans the function returns (a tuple's first item counts)."""
    found: set[bool] = set()
    for stmt in statements:
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        value = stmt.value
        if isinstance(value, ast.Tuple) and value.elts:
            value = value.elts[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            found.add(value.value)
    return found


def _consults_a_check(node: FunctionNode) -> bool:
    """The function asks something else whether to allow (an ACL, a policy, a verifier)."""
    for n in own_nodes(node):
        if not isinstance(n, ast.Call):
            continue
        callee = dotted_name(n.func) or ""
        if RECORDING_CALL.search(callee):
            continue
        last = callee.rsplit(".", 1)[-1]
        if CHECK_CALL.search(last) or (
            "." in callee and DECISION_WORD.search(callee.rsplit(".", 2)[-2].replace("_", " "))
        ):
            return True
    return False


def _own_denials(statements: Iterable[ast.AST]) -> Counter[Polarity]:
    """Which way the function's own denials point: `if not verifier.check(t): return False`
    makes False its "no" (an allow-style check); `if limiter.is_blocked(ip): return True`
    makes True its "no" (a deny-style one)."""
    found: Counter[Polarity] = Counter()
    for stmt in statements:
        if not isinstance(stmt, ast.If) or not stmt.body:
            continue
        first = stmt.body[0]
        if not (
            isinstance(first, ast.Return)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, bool)
        ):
            continue
        tested = tested_call(stmt.test)
        if tested is None:
            continue
        call, negated = tested
        last = (dotted_name(call.func) or "").rsplit(".", 1)[-1][:MAX_NAME]
        if negated and (CHECK_CALL.search(last) or PREDICATE_NAME.match(last)):
            denied = first.value.value  # the answer when the check said no
        elif not negated and DENY_WORD.search(last.replace("_", " ")):
            denied = first.value.value
        else:
            continue
        found["allow" if denied is False else "deny"] += 1
    return found


def _gives_reasons(statements: Iterable[ast.AST]) -> bool:
    """It answers `(False, "why not")`: a verdict with its reason, the shape of a validator."""
    for stmt in statements:
        value = stmt.value if isinstance(stmt, ast.Return) else None
        if (
            isinstance(value, ast.Tuple)
            and len(value.elts) >= 2
            and isinstance(value.elts[0], ast.Constant)
            and value.elts[0].value is False
            and _is_text(value.elts[1])
        ):
            return True
    return False


def _is_text(expr: ast.expr) -> bool:
    """A string literal, an f-string, or `str(...)`: a message."""
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str) and bool(expr.value)
    if isinstance(expr, ast.JoinedStr):
        return True
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "str"


def caller_votes(tree: ast.Module) -> dict[str, Counter[Polarity]]:
    """What callers in the module do with each function's answer.

    `if not f(...): raise PermissionDenied` votes "allow" for `f` (True lets through);
    `if f(...): return 403-response` votes "deny".
    """
    votes: dict[str, Counter[Polarity]] = {}
    for node in all_statements(tree):  # an `if` is a statement: the expressions can wait
        if not isinstance(node, ast.If) or not _denies(node.body):
            continue
        tested = tested_call(node.test)
        if tested is not None and (callee := call_name(tested[0])):
            votes.setdefault(callee, Counter())["allow" if tested[1] else "deny"] += 1
    return votes


def _denies(body: list[ast.stmt]) -> bool:
    """The block answers with a denial: a deny exception, a 401/403/429 response, an abort."""
    return denies_by_raising(list(body[:3]))


def is_middleware(node: FunctionNode, cls: ast.ClassDef | None) -> bool:
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    return bool(params & MIDDLEWARE_NEXT_PARAMS) or bool(
        MIDDLEWARE_NAME.fullmatch(node.name)
        and (cls is None or "iddleware" in cls.name or _has_base(cls, "iddleware"))
    )


def _has_base(cls: ast.ClassDef, fragment: str) -> bool:
    return any(fragment in (dotted_name(b) or "") for b in cls.bases)


def _has_permission_base(cls: ast.ClassDef) -> bool:
    """Whether the class or one of its bases is named like a permission class."""
    names = [cls.name, *(dotted_name(b) or "" for b in cls.bases)]
    return any(PERMISSION_BASES.fullmatch(n.rsplit(".", 1)[-1]) for n in names)
