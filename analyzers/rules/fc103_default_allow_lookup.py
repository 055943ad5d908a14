"""FC103: a missing answer defaults to "allowed" in a lookup on the decision."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from analyzers.fixes import ReplaceExpression
from analyzers.rules.base import Hit, Invalid, Rule
from analyzers.rules.common import defaulted_lookups
from analyzers.semantics import (
    ALLOW_KEYS,
    ALLOW_STRINGS,
    DENY_KEYS,
    VERDICT_KEYS,
    WEAK_ALLOW_KEYS,
    WEAK_DENY_KEYS,
    FunctionInfo,
    ModuleInfo,
    keyed_allow,
)


class DefaultAllowLookup(Rule):
    """
    ## What it does
    Flags lookups on a permission answer whose default, used when the answer lacks the
    field, is *allowed*: `decision.get("allowed", True)`, `getattr(result, "permitted", True)`,
    `reply.get("blocked", False)`, `hook_output.get("permission", "allow")`.

    ## Why is this bad?
    A missing field means the permission system did not answer: a malformed reply, an error
    body, a proxy's HTML page, a new API version. Defaulting to *allowed* turns every one of
    those into access (CWE-636).

    ## Example
    ```python
    def may_run(tool, reply):
        return reply.json().get("allowed", True)
    ```

    ## Use instead
    ```python
    def may_run(tool, reply):
        return reply.json().get("allowed", False)
    ```

    ## Fix safety
    The fix flips the default to the deny value. Answers that carry the field behave as
    before; only answers without it change, from allowed to denied.
    """

    code = "FC103"
    name = "default-allow-lookup"
    severity = "error"
    summary = "A lookup on a permission answer defaults to allowed when the field is missing."
    fix_safety = "Only answers that lack the field change: they are now denied."
    trigger = (".get(", "getattr(")
    # `.get("allowed", True)`, `getattr(d, "permitted", True)`, `.get("permission", "allow")`
    file_trigger = re.compile(
        r"(\.get|getattr)\((?:[^()\n,]*,\s*)?[\"'](?:"
        + "|".join(sorted(ALLOW_KEYS | DENY_KEYS | VERDICT_KEYS | WEAK_ALLOW_KEYS | WEAK_DENY_KEYS))
        + r")[\"']\s*,\s*(?:True|False|[\"'](?:"
        + "|".join(sorted(ALLOW_STRINGS))
        + r")[\"'])",
        re.IGNORECASE,
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node, key, default in defaulted_lookups(fn, info, self.file_trigger):
            value = keyed_allow(key, default, fn, info)
            if value is None or value.deny is None:
                continue
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` reads `{key}` with default `{ast.unparse(default)}`, so "
                    "an answer missing that field (an error or malformed reply) is taken as "
                    "allowed."
                ),
                edits=[ReplaceExpression(default, value.deny)],
                key_nodes=[node],
            )


DefaultAllowLookup.VALID = [
    # `is_authenticated` outside a permission check is session state (Django's logout)
    """
def logout(request):
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", True):
        user = None
    user_logged_out.send(sender=user.__class__, request=request, user=user)
""",
    """
def may_run(tool, reply):
    return reply.json().get("allowed", False)
""",
    # a deny-polarity field that defaults to "blocked"
    """
def is_blocked(reply):
    return reply.get("blocked", True)
""",
    # not a permission field
    """
def feature_enabled(flags):
    return flags.get("dark_mode", True)
""",
    # no default: a KeyError is raised instead
    """
def may_run(reply):
    return reply["allowed"]
""",
    # verification options that default to "verify"
    """
def decode(token, options):
    return jwt.decode(token, KEY, options={"verify_signature": options.get("verify", True)})
""",
]

DefaultAllowLookup.INVALID = [
    Invalid(
        """\
def may_run(tool, reply):
    return reply.json().get("allowed", True)
""",
        line=2,
        fixed="""\
def may_run(tool, reply):
    return reply.json().get("allowed", False)
""",
    ),
    Invalid(
        """\
def has_permission(self, request, view):
    decision = self.pdp.decide(request)
    return getattr(decision, "permitted", True)
""",
        line=3,
        fixed="""\
def has_permission(self, request, view):
    decision = self.pdp.decide(request)
    return getattr(decision, "permitted", False)
""",
    ),
    # deny polarity key
    Invalid(
        """\
def check_request(ip, verdicts):
    if verdicts.get("blocked", False):
        raise Forbidden()
""",
        line=2,
        fixed="""\
def check_request(ip, verdicts):
    if verdicts.get("blocked", True):
        raise Forbidden()
""",
    ),
    # an agent hook's answer
    Invalid(
        """\
def pre_tool_use(event):
    answer = ask_policy(event)
    if answer.get("permission", "allow") == "deny":
        sys.exit(2)
""",
        line=3,
        fixed="""\
def pre_tool_use(event):
    answer = ask_policy(event)
    if answer.get("permission", "deny") == "deny":
        sys.exit(2)
""",
    ),
]
