"""FC133: a function that can answer "deny" answers "no decision" when it fails."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, negated_isinstance

# A verdict string that refuses: "deny", "block", "DENIED", "reject".
DENY_VERDICT = re.compile(r"(?i)^(deny|denied|block|blocked|reject|rejected|forbid|forbidden)$")


class ErrorAnswerIsNoDenial(Rule):
    """
    ## What it does
    Flags a function that answers a verdict — `"deny"` on some path, alone or as the first
    item of a tuple — and, when it fails (an `except` handler, or a reply that is not
    even the right type), answers `None` or `""` in that place: "no decision".

    ## Why is this bad?
    Whoever reads the verdict blocks only on `"deny"`; "no decision" lets the action
    through. A hook that crashes, a reply that does not parse, a policy service that
    times out then allows everything (CWE-636). The function already knows how to say
    no: a failure it cannot judge should say it too.

    ## Example
    ```python
    def parse_decision(stdout):
        try:
            data = json.loads(stdout)
        except json.JSONDecodeError:
            return None, ""
        if data.get("decision") == "block":
            return "deny", data.get("reason", "")
        return None, ""
    ```

    ## Use instead
    ```python
        except json.JSONDecodeError:
            return "deny", ""
    ```

    ## Fix safety
    The fix answers the function's own denial on the failure path. A caller that treated a
    failure as "no opinion" on purpose (an advisory hook) now blocks; say so in the hook's
    contract instead.
    """

    code = "FC133"
    name = "error-answer-is-no-denial"
    severity = "warning"
    summary = 'A function that can answer "deny" answers "no decision" when it fails.'
    fix_safety = "The failure path answers the function's own denial."
    trigger = ("deny", "block", "reject", "forbid", "DENY", "BLOCK", "REJECT")
    fallback = True  # a rule that sees an allow value on the same line speaks first

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        returns = [n for n in fn.nodes if isinstance(n, ast.Return) and n.value]
        denial = _denial(returns)
        if denial is None:
            return
        slot, word = denial
        for node, why in _failure_answers(fn):
            empty = _at(node.value, slot) if node.value is not None else None
            if empty is None or not _no_decision(empty):
                continue
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` answers {word!r} to refuse, but answers "
                    f"`{ast.unparse(empty)}` (no decision) when {why}: a failure to judge "
                    "lets the action through."
                ),
                edits=[ReplaceExpression(empty, json.dumps(word))],
                key_nodes=[node],
            )


def _denial(returns: list[ast.Return]) -> tuple[int | None, str] | None:
    """Where the function puts its verdict and the word it refuses with: (None, "deny") for
    `return "deny"`, (0, "deny") for `return "deny", reason`."""
    for ret in returns:
        value = ret.value
        if isinstance(value, ast.Tuple) and value.elts:
            word = _deny_string(value.elts[0])
            if word:
                return 0, word
        elif value is not None:
            word = _deny_string(value)
            if word:
                return None, word
    return None


def _deny_string(expr: ast.expr) -> str | None:
    """ "deny" for `"deny"` and for `("deny" if blocked else None)`."""
    if isinstance(expr, ast.IfExp):
        return _deny_string(expr.body) or _deny_string(expr.orelse)
    if (
        isinstance(expr, ast.Constant)
        and isinstance(expr.value, str)
        and DENY_VERDICT.match(expr.value)
    ):
        return expr.value
    return None


def _failure_answers(fn: FunctionInfo) -> Iterator[tuple[ast.Return, str]]:
    """Returns on a failure path: in an `except` handler, or under `if not isinstance(...)`
    (the reply is not even the right type)."""
    for node in fn.nodes:
        if isinstance(node, ast.Try | ast.TryStar):
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                for stmt in handler.body:
                    if isinstance(stmt, ast.Return):
                        yield stmt, f"it catches {caught(handler)}"
        elif isinstance(node, ast.If) and negated_isinstance(node.test) is not None:
            for stmt in node.body:
                if isinstance(stmt, ast.Return):
                    yield stmt, "the reply is not of the expected type"


def _at(value: ast.expr, slot: int | None) -> ast.expr | None:
    if slot is None:
        return None if isinstance(value, ast.Tuple) else value
    if isinstance(value, ast.Tuple) and len(value.elts) > slot:
        return value.elts[slot]
    return None


def _no_decision(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value in (None, "")


ErrorAnswerIsNoDenial.VALID = [
    # the failure refuses
    """
def parse_decision(stdout):
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return "deny", "unreadable hook output"
    if data.get("decision") == "block":
        return "deny", data.get("reason", "")
    return None, ""
""",
    # a function that never answers "deny": None is no verdict here
    """
def load_reason(stdout):
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return None, ""
    return data.get("kind"), data.get("reason", "")
""",
]

ErrorAnswerIsNoDenial.INVALID = [
    Invalid(
        """\
def parse_decision(stdout):
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        logger.warning("hook output is not JSON; treating as no decision")
        return None, ""
    if data.get("decision") == "block":
        return "deny", data.get("reason", "")
    return None, ""
""",
        line=6,
        fixed="""\
def parse_decision(stdout):
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        logger.warning("hook output is not JSON; treating as no decision")
        return "deny", ""
    if data.get("decision") == "block":
        return "deny", data.get("reason", "")
    return None, ""
""",
        expected_message=(
            "`parse_decision` answers 'deny' to refuse, but answers `None` (no decision) when "
            "it catches `JSONDecodeError`: a failure to judge lets the action through."
        ),
    ),
    Invalid(
        """\
def verdict_of(reply):
    if not isinstance(reply, dict):
        return None
    return "block" if reply.get("flagged") else "allow"
""",
        line=3,
        fixed="""\
def verdict_of(reply):
    if not isinstance(reply, dict):
        return "block"
    return "block" if reply.get("flagged") else "allow"
""",
        expected_message=(
            "`verdict_of` answers 'block' to refuse, but answers `None` (no decision) when "
            "the reply is not of the expected type: a failure to judge lets the action "
            "through."
        ),
    ),
]
