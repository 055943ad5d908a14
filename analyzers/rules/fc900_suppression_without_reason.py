"""FC900: a `# failclosed: ignore[...]` comment that gives no reason."""

from __future__ import annotations

from collections.abc import Iterator

from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule


class SuppressionWithoutReason(Rule):
    """
    ## What it does
    Flags an inline suppression, `# failclosed: ignore[FC101]`, that does not say why the
    path may fail open. Such a suppression is not honoured: the finding it names stays.

    ## Why is this bad?
    A fail-open path is sometimes a deliberate choice (a documented "no permission system
    configured" mode, a dev-only shortcut). The reason is what lets a reviewer, or you in a
    year, check that the choice still holds. Without it the comment only hides the problem.

    ## Example
    ```python
    return True  # failclosed: ignore[FC101]
    ```

    ## Use instead
    ```python
    return True  # failclosed: ignore[FC101] local dev server only, never deployed
    ```

    ## Fix safety
    No automatic fix: only a person can give the reason.
    """

    code = "FC900"
    name = "suppression-without-reason"
    severity = "warning"
    summary = "An inline suppression gives no reason, so it is not honoured."
    fix_safety = "No automatic fix."
    trigger = ()  # never per function: the engine reads suppression comments itself

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        """Suppressions are comments, which the engine reads; nothing to do per function."""
        return iter(())


SuppressionWithoutReason.VALID = [
    """
def has_permission(user):
    try:
        return acl.check(user)
    except Exception:
        return True  # failclosed: ignore[FC101] dev-only stub backend, see ADR-12
""",
]

SuppressionWithoutReason.INVALID = [
    Invalid(
        """\
def has_permission(user):
    try:
        return acl.check(user)
    except Exception:
        return True  # failclosed: ignore[FC101]
""",
        line=5,
        expected_message=(
            "Suppression of FC101 gives no reason, so it is not honoured: add why this path "
            "may fail open."
        ),
    ),
]
