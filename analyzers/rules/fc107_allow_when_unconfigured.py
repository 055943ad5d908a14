"""FC107 (note): the check allows when no permission system is configured at all."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import allow_value
from failclosed.analyzers.flow import assigned_names
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import absent_subject
from failclosed.analyzers.syntax import dotted_name

CHECKER = re.compile(
    r"(?i)_?(client|conn|connection|backend|checker|policy|policies|handler|callback|provider"
    r"|service|enforcer|acl|authori[sz]er|permission\w*|limiter|engine|pdp|opa|verifier"
    r"|validator|guard)s?$"
)


class AllowWhenUnconfigured(Rule):
    """
    ## What it does
    Notes a permission check that allows when no permission system is configured at all:
    `if self._conn is None: return True`. This is informational (severity `note`) and
    never blocks a merge.

    ## Why is this bad?
    It often isn't: allowing when the operator chose to run without a permission system can
    be a deliberate, documented design (gptme keeps it for its editor integration). It is
    worth a look because the same line also runs when the system *should* be configured but
    failed to start, and then it fails open. Make sure a configured system that errors
    denies, and that "not configured" cannot happen by accident in production.

    ## Example
    ```python
    def request_permission(self, tool):
        if self._conn is None:
            return True
        return self._conn.ask(tool)
    ```

    ## Use instead
    Keep it if it is the documented behaviour, and say so, or refuse to start without the
    permission system. Either way, deny when the configured system errors.

    ## Fix safety
    No automatic fix: whether "not configured" should allow is a product decision.
    """

    code = "FC107"
    name = "allow-when-unconfigured"
    severity = "note"
    summary = "The check allows when no permission system is configured (informational)."
    fix_safety = "No automatic fix: a product decision."
    trigger = ("is None", "if not ")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if fn.polarity is None:
            return
        # parameters and locals are answers, not configuration: only attributes and globals
        params = {a.arg for a in (*fn.node.args.args, *fn.node.args.kwonlyargs)}
        params |= {n for s in fn.statements for n in assigned_names(s) if isinstance(s, ast.Assign)}
        for node in fn.statements:
            if not isinstance(node, ast.If) or len(node.body) != 1:
                continue
            ret = node.body[0]
            if not isinstance(ret, ast.Return) or allow_value(ret.value, fn, info) is None:
                continue
            checker = _unconfigured(node.test, params)
            if checker:
                yield Hit(
                    node=ret,
                    message=(
                        f"`{fn.qualname}` allows when `{checker}` is not configured; fine if "
                        "that is documented, but a configured system that errors must deny."
                    ),
                    key_nodes=[node],
                )


def _unconfigured(test: ast.expr, params: set[str]) -> str | None:
    """`x is None` / `not x` on a configured checker (an attribute or global, not a parameter)."""
    subject = absent_subject(test)
    if subject is None:
        return None
    target = subject[0]
    name = dotted_name(target)
    if not name or name in params:
        return None
    return name if CHECKER.search(name.rsplit(".", 1)[-1]) else None


AllowWhenUnconfigured.VALID = [
    # denies when unconfigured
    """
def request_permission(self, tool):
    if self._conn is None:
        return False
    return self._conn.ask(tool)
""",
    # a missing *user* is not a missing permission system
    """
def has_permission(user):
    if user is None:
        return False
    return user.is_staff
""",
]

AllowWhenUnconfigured.INVALID = [
    Invalid(
        """\
def request_permission(self, tool):
    if self._conn is None:
        return True
    return self._conn.ask(tool)
""",
        line=3,
        expected_message=(
            "`request_permission` allows when `self._conn` is not configured; fine if that is "
            "documented, but a configured system that errors must deny."
        ),
    ),
]
