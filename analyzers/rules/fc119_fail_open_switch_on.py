"""FC119: a limiter, guard or verifier is built with its "let errors through" switch on."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.syntax import call_name, dotted_name

# Keyword switches whose True means "when the backend errors, let the request through".
FAIL_OPEN_SWITCH = re.compile(
    r"(?i)swallow_errors|fail_?open|allow_on_(error|failure)|open_on_(error|failure)"
    r"|pass_on_(error|failure)|bypass_on_(error|failure)|ignore_(backend|storage|redis)_errors"
)
# ... and the same choice spelled the other way round: False means "let it through".
FAIL_CLOSED_SWITCH = re.compile(
    r"(?i)fail_?closed|deny_on_(error|failure)|raise_on_(error|failure)"
)
# What the switch is handed to: something that limits, guards, verifies or authorizes.
ENFORCER = re.compile(
    r"(?i)limit|throttl|guard|verif|auth|polic|permission|acl|firewall|shield|moderat|quota"
    r"|gate|enforc|check"
)


class FailOpenSwitchOn(Rule):
    """
    ## What it does
    Flags a rate limiter, guard, verifier or policy client that is constructed or called
    with its fail-open switch turned on: `Limiter(..., swallow_errors=True)`,
    `PolicyClient(fail_open=True)`, `Guard(fail_closed=False)`.

    ## Why is this bad?
    The switch exists for one situation: the limiter's storage, the policy server or the
    key store is down. Turned on, that outage means every request is let through, the
    very failure the control is there to survive (CWE-636). It is often turned on once to
    stop a noisy alert and never turned off.

    ## Example
    ```python
    limiter = Limiter(key_func=client_ip, storage_uri=REDIS_URL, swallow_errors=True)
    ```

    ## Use instead
    ```python
    limiter = Limiter(key_func=client_ip, storage_uri=REDIS_URL, swallow_errors=False)
    ```

    ## Fix safety
    The fix turns the switch the fail-closed way. Requests are then refused (or fail with
    an error) while the backend is down; if that is not what you want, keep the switch and
    suppress this finding with the reason, so the choice is written down.
    """

    code = "FC119"
    name = "fail-open-switch-on"
    severity = "warning"
    summary = "A limiter, guard or verifier is configured to let requests through on errors."
    fix_safety = "Turns the switch the fail-closed way; refusals replace silent passes."
    # substrings only: a regular expression over every file costs more than the rule
    trigger = ("swallow_errors", "fail_open", "failopen", "fail_closed", "failclosed",
               "_on_error", "_on_failure", "_errors=", "_errors =")  # fmt: skip

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in fn.nodes if fn.qualname != "<module>" else _module_calls(fn):
            if not isinstance(node, ast.Call) or not _hands_to_enforcer(node):
                continue
            for keyword in node.keywords:
                flipped = _fail_closed_value(keyword)
                if flipped is None:
                    continue
                yield Hit(
                    node=keyword.value,
                    message=(
                        f"`{call_name(node)}(...)` is built with `{keyword.arg}="
                        f"{ast.unparse(keyword.value)}`: when its backend errors, every "
                        "request is let through."
                    ),
                    edits=[ReplaceExpression(keyword.value, flipped)],
                    key_nodes=[node.func, keyword.value],
                )


def _module_calls(fn: FunctionInfo) -> Iterator[ast.AST]:
    """Calls in the module's own top-level statements (not inside functions or classes)."""
    for stmt in fn.node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield from ast.walk(stmt)


def _hands_to_enforcer(call: ast.Call) -> bool:
    return bool(ENFORCER.search(dotted_name(call.func) or call_name(call)))


def _fail_closed_value(keyword: ast.keyword) -> str | None:
    """The value that turns this keyword the fail-closed way, when it is turned open."""
    value = keyword.value
    if keyword.arg is None or not isinstance(value, ast.Constant):
        return None
    if FAIL_OPEN_SWITCH.fullmatch(keyword.arg) and value.value is True:
        return "False"
    if FAIL_CLOSED_SWITCH.fullmatch(keyword.arg) and value.value is False:
        return "True"
    return None


FailOpenSwitchOn.VALID = [
    # the switch is off
    """
limiter = Limiter(key_func=client_ip, storage_uri=REDIS_URL, swallow_errors=False)
""",
    # not an enforcer: a cache or a logger may swallow its own errors
    """
cache = RedisCache(url=REDIS_URL, swallow_errors=True)
""",
    # fail_closed on
    """
def build():
    return PolicyClient(url=PDP_URL, fail_closed=True)
""",
]

FailOpenSwitchOn.INVALID = [
    Invalid(
        """\
limiter = Limiter(
    key_func=client_ip,
    storage_uri=REDIS_URL,
    swallow_errors=True,
)
""",
        line=4,
        fixed="""\
limiter = Limiter(
    key_func=client_ip,
    storage_uri=REDIS_URL,
    swallow_errors=False,
)
""",
        expected_message=(
            "`Limiter(...)` is built with `swallow_errors=True`: when its backend errors, "
            "every request is let through."
        ),
    ),
    Invalid(
        """\
def policy_client(settings):
    return PolicyClient(url=settings.pdp_url, fail_closed=False)
""",
        line=2,
        fixed="""\
def policy_client(settings):
    return PolicyClient(url=settings.pdp_url, fail_closed=True)
""",
        expected_message=(
            "`PolicyClient(...)` is built with `fail_closed=False`: when its backend errors, "
            "every request is let through."
        ),
    ),
]
