"""FC118: a permission check answers "allow" when the lookup it depends on came back empty."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import allow_value, under_fail_open_flag
from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, resolve_call
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    branch_answer,
    failure_branches,
    reword_block,
    unawaited,
)


class MissingAnswerAllows(Rule):
    """
    ## What it does
    Flags a permission check (by its name, docstring, annotation, answers or callers) that
    returns its allow value in the branch taken when a value it looked up, an answer it
    asked for, is missing: `if role is None: return True` after `role = lookup(user)`,
    `if not resp: return True`, `if status != 200: return True`.

    ## Why is this bad?
    A lookup comes back empty when the directory is down, the configuration failed to
    load, the name could not be resolved or the service answered with an error. Reading
    "no answer" as "allowed" grants access exactly when the check could not be made
    (CWE-636). Parameters that were simply not given are left alone: that is the caller's
    input, not a failed check.

    ## Example
    ```python
    def can_view(user, doc) -> bool:
        \"\"\"True when the user's clearance covers the document.\"\"\"
        clearance = directory.clearance_of(user)
        if clearance is None:
            return True
        return clearance >= doc.level
    ```

    ## Use instead
    ```python
    def can_view(user, doc) -> bool:
        \"\"\"True when the user's clearance covers the document.\"\"\"
        clearance = directory.clearance_of(user)
        if clearance is None:
            return False
        return clearance >= doc.level
    ```

    ## Fix safety
    The fix returns the deny counterpart of the allow value on that branch. It is an
    inference from the shape of the code, so it is reported as a warning: where "missing"
    really means "no restriction applies" (and that is documented), suppress it with a
    reason.
    """

    code = "FC118"
    name = "missing-answer-allows"
    severity = "warning"
    summary = "A permission check allows when the value it looked up is missing."
    fix_safety = "Returns the deny value when the looked-up value is missing."
    trigger = ("if ",)
    fallback = True  # FC109/FC111/FC113 explain the same branch better when they see it

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if fn.qualname == "<module>" or not _answers_with_values(fn):
            return
        for stmt in fn.statements:
            if not isinstance(stmt, ast.If):
                continue
            if isinstance(stmt.test, ast.BoolOp) and isinstance(stmt.test.op, ast.And):
                continue  # `missing and something else`: a narrower condition than "missing"
            for body, failing in failure_branches(stmt, fn):
                if not failing or not body:
                    continue
                answer = branch_answer(ast.If(test=stmt.test, body=body, orelse=[]))
                if not isinstance(answer, ast.Return) or fn.polarity is None:
                    continue
                value = allow_value(answer.value, fn, info)
                if value is None or value.deny is None or not _about_a_grant(stmt):
                    continue
                if not _decides_with(fn, stmt):
                    continue
                if _from_own_helper(fn, info, stmt):
                    continue  # FC113 follows the helper and reports where it swallows
                flow = fn.flow
                if under_fail_open_flag([stmt, *flow.ancestors(stmt)]):
                    continue
                yield Hit(
                    node=answer,
                    message=(
                        f"`{fn.qualname}` returns `{value.shown}` (allow) when "
                        f"`{ast.unparse(stmt.test)}`: a lookup that came back empty, or a "
                        "service that answered with an error, grants access."
                    ),
                    edits=[
                        ReplaceExpression(value.node, value.deny),
                        *reword_block(info, list(body), _start(stmt, body), _end(body)),
                    ],
                    key_nodes=[stmt.test, answer],
                )


# What a grant is made of: the looked-up values whose absence this rule is about.
GRANT_SUBJECT = re.compile(
    r"(?i)role|level|tier|clearance|team|group|plan|member|scope|perm|acl|polic|grant|entitle"
    r"|access|quota|limit|owner|tenant|subscri|licen[cs]e|right|privilege|capabilit|allow"
)


def _about_a_grant(stmt: ast.If) -> bool:
    """`if role is None`, `if not level`: the missing value is what access is made of."""
    return any(
        isinstance(n, ast.Name | ast.Attribute)
        and GRANT_SUBJECT.search(n.id if isinstance(n, ast.Name) else n.attr)
        for n in ast.walk(stmt.test)
    )


def _start(stmt: ast.If, body: list[ast.stmt]) -> int:
    """The `if` line for its own body, the `else:` line for the else branch."""
    return stmt.lineno if body is stmt.body else body[0].lineno - 1


def _end(body: list[ast.stmt]) -> int:
    return body[-1].end_lineno or body[-1].lineno


def _decides_with(fn: FunctionInfo, stmt: ast.If) -> bool:
    """When present, the looked-up value decides: a later return reads it.

    `if role is None: return True ... return role in ALLOWED` reads the missing value as a
    grant; `if violation is None: return True ... return False` is the logic of a deny-list.
    """
    names = {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
    end = stmt.end_lineno or stmt.lineno
    return any(
        isinstance(n, ast.Return)
        and n.value is not None
        and n.lineno > end
        and any(isinstance(m, ast.Name) and m.id in names for m in ast.walk(n.value))
        for n in fn.statements
    )


def _from_own_helper(fn: FunctionInfo, info: ModuleInfo, stmt: ast.If) -> bool:
    """The tested value comes from a function of this module (`ban = self._active_ban(u)`)."""
    names = {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
    for node in fn.statements:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
            and isinstance(call := unawaited(node.value), ast.Call)
            and resolve_call(call, fn, info) is not None
        ):
            return True
    return False


def _answers_with_values(fn: FunctionInfo) -> bool:
    """Cheap gate before the polarity is weighed: the function returns some value."""
    return any(isinstance(n, ast.Return) and n.value is not None for n in fn.statements)


MissingAnswerAllows.VALID = [
    # a parameter that was not given: the caller's input, not a failed lookup
    """
def is_accessible(user_level, resource_level) -> bool:
    \"\"\"True when a resource at resource_level is accessible at user_level.\"\"\"
    if not user_level or not resource_level:
        return True
    return resource_level in ALLOWED[user_level]
""",
    # the missing answer denies
    """
def can_view(user, doc) -> bool:
    \"\"\"True when the user's clearance covers the document.\"\"\"
    clearance = directory.clearance_of(user)
    if clearance is None:
        return False
    return clearance >= doc.level
""",
    # not a permission check
    """
def needs_refresh(cache, key):
    entry = cache.lookup(key)
    if entry is None:
        return True
    return entry.stale
""",
    # a named fail-open setting decides
    """
def can_view(self, user, doc) -> bool:
    \"\"\"True when the user's clearance covers the document.\"\"\"
    clearance = self.directory.clearance_of(user)
    if clearance is None:
        if self.fail_open:
            return True
        return False
    return clearance >= doc.level
""",
]

MissingAnswerAllows.INVALID = [
    Invalid(
        """\
def can_view(user, doc) -> bool:
    \"\"\"True when the user's clearance covers the document.\"\"\"
    clearance = directory.clearance_of(user)
    if clearance is None:
        return True
    return clearance >= doc.level
""",
        line=5,
        fixed="""\
def can_view(user, doc) -> bool:
    \"\"\"True when the user's clearance covers the document.\"\"\"
    clearance = directory.clearance_of(user)
    if clearance is None:
        return False
    return clearance >= doc.level
""",
        expected_message=(
            "`can_view` returns `True` (allow) when `clearance is None`: a lookup that came "
            "back empty, or a service that answered with an error, grants access."
        ),
    ),
    # the level looked up in a table that failed to load
    Invalid(
        """\
class Levels:
    def is_accessible(self, user_level: str, resource_level: str) -> bool:
        \"\"\"True if the resource is accessible at the user's level.\"\"\"
        level = self.levels.get(user_level)
        if not level:
            return True
        return resource_level in level.allowed_with
""",
        line=6,
        fixed="""\
class Levels:
    def is_accessible(self, user_level: str, resource_level: str) -> bool:
        \"\"\"True if the resource is accessible at the user's level.\"\"\"
        level = self.levels.get(user_level)
        if not level:
            return False
        return resource_level in level.allowed_with
""",
        expected_message=(
            "`Levels.is_accessible` returns `True` (allow) when `not level`: a lookup that "
            "came back empty, or a service that answered with an error, grants access."
        ),
    ),
]
