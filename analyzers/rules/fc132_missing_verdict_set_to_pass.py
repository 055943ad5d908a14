"""FC132: a check that gave no verdict (it crashed, it timed out) is recorded as passed."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import absent_subject

# Names of a check's verdict where True means "go ahead".
PASSING_VERDICT = re.compile(
    r"(?i)(^|_)(passed|allowed|approved|permitted|authori[sz]ed|granted|verified|trusted|safe"
    r"|clean|ok|valid)$"
)


class MissingVerdictSetToPass(Rule):
    """
    ## What it does
    Flags `if passed is None: passed = True` right after `passed` was answered by a call:
    the check (a security review, a scan, a policy step) returned no verdict at all, and
    the code records it as having passed.

    ## Why is this bad?
    A step runner answers `None` when the step crashed, timed out or was skipped. Reading
    that as "passed" lets whatever the check guards (an auto-merge, a deploy, a tool call)
    go ahead unchecked exactly when the check could not run (CWE-636).

    ## Example
    ```python
    security_passed = tracker.run_step("security_review", check_security_review, path)
    if security_passed is None:
        security_passed = True
    ```

    ## Use instead
    ```python
    security_passed = tracker.run_step("security_review", check_security_review, path)
    if security_passed is None:
        security_passed = False
    ```

    ## Fix safety
    The fix records the missing verdict as failed, so what the check guards does not go
    ahead until the check answers.
    """

    code = "FC132"
    name = "missing-verdict-set-to-pass"
    severity = "error"
    summary = "A check that gave no verdict (it crashed or timed out) is recorded as passed."
    fix_safety = "A missing verdict is recorded as failed."
    trigger = ("is None",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        answered = _answered_by_calls(fn)
        for node in fn.statements:
            if not isinstance(node, ast.If) or node.orelse:
                continue
            absent = absent_subject(node.test)
            if absent is None or not absent[1] or not isinstance(absent[0], ast.Name):
                continue
            name = absent[0].id
            if name not in answered or not PASSING_VERDICT.search(name):
                continue
            value = _set_to_true(node.body, name)
            if value is None:
                continue
            yield Hit(
                node=value,
                message=(
                    f"`{fn.qualname}` records a missing verdict of `{name}` (the check crashed, "
                    "timed out or did not run) as passed: what it guards goes ahead unchecked."
                ),
                edits=[ReplaceExpression(value, "False")],
                key_nodes=[node.test, value],
            )


def _answered_by_calls(fn: FunctionInfo) -> set[str]:
    """Names bound to what a call answered: `passed = run_step(...)`, `ok = await check()`."""
    names = set()
    for n in fn.statements:
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            value = n.value.value if isinstance(n.value, ast.Await) else n.value
            if isinstance(value, ast.Call):
                names.add(n.targets[0].id)
    return names


def _set_to_true(body: list[ast.stmt], name: str) -> ast.expr | None:
    """The `True` of `name = True` when that is all the branch does (logging aside)."""
    found = None
    for stmt in body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value is True
        ):
            found = stmt.value
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            return None
    return found


MissingVerdictSetToPass.VALID = [
    # a missing verdict fails
    """
def finish(tracker, path):
    security_passed = tracker.run_step("security_review", review, path)
    if security_passed is None:
        security_passed = False
    return security_passed
""",
    # a parameter's default, not a check's answer
    """
def fetch(url, verify=None):
    if verify is None:
        verify = True
    return session.get(url, verify=verify)
""",
    # not a verdict
    """
def finish(tracker, path):
    cached = tracker.run_step("warm_cache", warm, path)
    if cached is None:
        cached = True
    return cached
""",
]

MissingVerdictSetToPass.INVALID = [
    Invalid(
        """\
def finish(tracker, path):
    security_passed = tracker.run_step("security_review", review, path)
    if security_passed is None:
        logger.warning("security review gave no verdict")
        security_passed = True
    return security_passed
""",
        line=5,
        fixed="""\
def finish(tracker, path):
    security_passed = tracker.run_step("security_review", review, path)
    if security_passed is None:
        logger.warning("security review gave no verdict")
        security_passed = False
    return security_passed
""",
        expected_message=(
            "`finish` records a missing verdict of `security_passed` (the check crashed, "
            "timed out or did not run) as passed: what it guards goes ahead unchecked."
        ),
    ),
]
