"""What "allow" looks like in code: an allow value (`True`, `"allow"`, `Decision.ALLOW`,
`allowed=True`) with its deny counterpart, code that says it lets things through, and
the named switches that make failing open a configured choice.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, enum_members
from failclosed.analyzers.syntax import dotted_name, own_nodes
from failclosed.analyzers.vocabulary import (
    ALLOW_KEYS,
    ALLOW_LANGUAGE,
    ALLOW_MEMBERS,
    ALLOW_STEMS,
    ALLOW_STRINGS,
    CLOSING_FLAG,
    DENY_KEYS,
    DENY_TOKENS,
    FAIL_OPEN_FLAG,
    PASSING,
    VERDICT_KEYS,
    VERDICT_TOKEN,
    WEAK_ALLOW_KEYS,
    WEAK_DENY_KEYS,
)


@dataclass(frozen=True)
class AllowValue:
    """An expression that means "allowed" here, and how to write its deny counterpart.

    `node` is the smallest expression a fix replaces; `deny` is its replacement source or
    None when no deny value is known (then the fix re-raises instead).
    """

    node: ast.expr
    deny: str | None
    shown: str


def allow_value(
    expr: ast.expr | None, fn: FunctionInfo, info: ModuleInfo, loose: bool = False
) -> AllowValue | None:
    """Whether `expr` means "allow" in `fn`, with its deny counterpart.

    Booleans count only in permission functions (by name, base or config) or when the
    caller has other evidence (`loose`, e.g. the handler logs "auto-allowing").
    """
    if expr is None:
        return None
    if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
        first = expr.values[0]
        if not (isinstance(first, ast.Constant) and first.value):
            return None
        # `True or "x"` is `True`: the rest is never evaluated; the fix replaces it all
        inner = allow_value(first, fn, info, loose)
        return inner and AllowValue(expr, inner.deny, ast.unparse(expr))
    polarity = fn.polarity or ("allow" if loose else None)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, bool):
        if polarity == "allow" and expr.value is True:
            return AllowValue(expr, "False", "True")
        if polarity == "deny" and expr.value is False:
            return AllowValue(expr, "True", "False")
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        deny = deny_word(expr.value)
        if polarity is not None and deny is not None:
            return AllowValue(expr, json.dumps(deny), repr(expr.value))
        return None
    if isinstance(expr, ast.Attribute) and expr.attr in ALLOW_MEMBERS:
        return _enum_allow(expr, info)
    if (
        isinstance(expr, ast.Tuple)
        and expr.elts
        and (polarity is not None or isinstance(expr.elts[0], ast.Call | ast.Dict))
    ):  # `(ActionResult(action="allow"), None)`: the result says which, whoever returns it
        return allow_value(expr.elts[0], fn, info, loose)
    if (
        isinstance(expr, ast.List | ast.Tuple | ast.Set | ast.Dict)
        and not (expr.keys if isinstance(expr, ast.Dict) else expr.elts)
        and fn.collects_denials
    ):
        return AllowValue(expr, None, ast.unparse(expr))  # no problems found: all clear
    if isinstance(expr, ast.Dict):
        return _dict_allow(expr, fn, info)
    if isinstance(expr, ast.Call):
        for kw in expr.keywords:
            hit = keyed_allow(kw.arg, kw.value, fn, info, decided=loose)
            if hit:
                return hit
    return None


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


def _enum_allow(expr: ast.Attribute, info: ModuleInfo) -> AllowValue:
    owner = dotted_name(expr.value)
    known = enum_members(info).get((owner or "").rsplit(".", 1)[-1], set())
    for deny in ALLOW_MEMBERS[expr.attr]:
        if deny in known:
            return AllowValue(expr, f"{ast.unparse(expr.value)}.{deny}", ast.unparse(expr))
    return AllowValue(expr, None, ast.unparse(expr))


def _dict_allow(expr: ast.Dict, fn: FunctionInfo, info: ModuleInfo) -> AllowValue | None:
    for key, value in zip(expr.keys, expr.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            hit = keyed_allow(key.value, value, fn, info)
            if hit:
                return hit
        if isinstance(value, ast.Dict):  # {"hookSpecificOutput": {"permissionDecision": "allow"}}
            hit = _dict_allow(value, fn, info)
            if hit:
                return hit
    return None


def keyed_allow(
    key: str | None,
    value: ast.expr,
    fn: FunctionInfo,
    info: ModuleInfo,
    decided: bool = False,
) -> AllowValue | None:
    """`allowed=True`, `"denied": False`, `"permission": "allow"` inside a result.

    Weak keys (`valid`, `verified`) count in a permission function, or where the caller
    knows the code is deciding (`decided`: the handler caught a validation failure)."""
    if key is None or not isinstance(value, ast.Constant):
        return None
    k = key.lower()
    strong = decided or fn.polarity is not None
    if (k in ALLOW_KEYS or (strong and k in WEAK_ALLOW_KEYS)) and value.value is True:
        return AllowValue(value, "False", f"{key}=True")
    if (k in DENY_KEYS or (strong and k in WEAK_DENY_KEYS)) and value.value is False:
        return AllowValue(value, "True", f"{key}=False")
    if _verdict_key(k) and isinstance(value.value, str):
        deny = deny_word(value.value) or _passing_verdict(k, value.value)
        if deny is not None:
            return AllowValue(value, json.dumps(deny), f"{key}={value.value!r}")
    return None


def _passing_verdict(key: str, text: str) -> str | None:
    flat = key.replace("_", "").replace("-", "")
    if not flat.endswith(("decision", "verdict", "permission")):
        return None
    deny = PASSING.get(text.lower())
    return None if deny is None else _same_case(deny, text)


def _verdict_key(key: str) -> bool:
    """`decision`, `permissionDecision`, `guard_decision`, `policy_verdict`: keys of a verdict."""
    flat = key.replace("_", "").replace("-", "")
    return flat in VERDICT_KEYS or flat.endswith(("decision", "verdict"))


def deny_word(text: str) -> str | None:
    """The deny counterpart of a verdict string, or None when it is not an allow verdict.

    Any identifier-like string with a token of the ALLOW/APPROVE/PERMIT/GRANT/ACCEPT family
    counts: `"allow"`, `"Approved"`, `"POLICY_ACTION_ALLOW"` -> `"POLICY_ACTION_DENY"`.
    """
    if not text or len(text) > 60 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:\-]*", text):
        return None
    tokens = VERDICT_TOKEN.findall(text)
    lowered = [t.lower() for t in tokens]
    if any(t in DENY_TOKENS for t in lowered):
        return None
    for token, low in zip(tokens, lowered, strict=True):
        if low in ALLOW_STRINGS:
            return text.replace(token, _same_case(ALLOW_STRINGS[low], token), 1)
    return None


def mentions_allowing(info: ModuleInfo, node: ast.AST) -> bool:
    """The code itself says it lets things through (log message or comment)."""
    text = info.segment(node)  # a handler is small; the whole file would cost far more
    lowered = text.lower()
    return any(stem in lowered for stem in ALLOW_STEMS) and bool(ALLOW_LANGUAGE.search(text))


def gated_by_fail_open_flag(handler: ast.ExceptHandler, fn: FunctionInfo | None = None) -> bool:
    """The handler tests a named fail-open setting (`if not self.settings.fail_open: raise`).

    With `fn`, a flag that is the function's own parameter and defaults to the open mode
    (`strict=False`, `fail_open=True`) is no opt-in: every caller that says nothing gets
    the open path, so the handler is judged as if the flag were not there."""
    return any(
        isinstance(n, ast.If)
        and FAIL_OPEN_FLAG.search(ast.unparse(n.test))
        and not (fn is not None and _open_by_default(n.test, fn))
        for n in own_nodes(handler)
    )


def _open_by_default(test: ast.expr, fn: FunctionInfo) -> bool:
    """`if strict:` in `def f(..., strict=False)`: the default takes the open path."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if not isinstance(test, ast.Name):
        return False
    args = fn.node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults) :]],
                        args.defaults, strict=True))  # fmt: skip
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
    default = defaults.get(test.id)
    if not (isinstance(default, ast.Constant) and isinstance(default.value, bool)):
        return False
    return default.value is (CLOSING_FLAG.search(test.id) is None)


def under_fail_open_flag(path: list[ast.AST]) -> bool:
    """The statement sits under `if self.fail_open:` or a similar named, configured choice."""
    for node in path:
        if isinstance(node, ast.If | ast.IfExp) and FAIL_OPEN_FLAG.search(ast.unparse(node.test)):
            return True
    return False
