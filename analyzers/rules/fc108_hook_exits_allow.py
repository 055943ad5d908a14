"""FC108: a gate script (agent tool hook, git hook) answers "allow" when it fails."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag, keyed_allow
from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import Edit, ReplaceExpression
from failclosed.analyzers.flow import FunctionFlow, Outcome, is_exit_call, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    constants_set_in,
    deny_exit_code,
    exit_code,
    exit_status_functions,
    failing_call,
    reword_edits,
    status_returned,
    tries,
)
from failclosed.analyzers.syntax import call_name, own_nodes
from failclosed.analyzers.vocabulary import ALLOW_STRINGS, VERDICT_KEYS

DENY_WORDS = {"deny", "denied", "block", "blocked", "reject", "rejected", "ask"}
CONTROL_EXCEPTIONS = {"KeyboardInterrupt", "SystemExit", "BrokenPipeError"}


class HookExitsAllow(Rule):
    """
    ## What it does
    Flags a gate script — an agent's pre-tool-use hook, an editor permission hook, a git
    hook — that answers *allow* when it fails: an `except` handler that exits with status 0
    or prints the protocol's allow answer (`{"permission": "allow"}`,
    `{"decision": "approve"}`). The script must be a gate: somewhere else it denies, by
    exiting non-zero or printing a deny answer. Also flags, as a warning, a gate that
    answers *allow* when its input is not the shape it expects
    (`if not isinstance(tool_input, dict): sys.exit(0)`).

    ## Why is this bad?
    The agent or tool runs the hook and proceeds when it exits 0 or says "allow". If the
    hook crashes on malformed input, a missing config file or an unreachable policy
    service, and answers "allow" then, every tool call goes through unchecked, including
    the ones the hook exists to stop (CWE-636).

    ## Example
    ```python
    try:
        event = json.load(sys.stdin)
        verdict = policy.check(event["tool_name"], event["tool_input"])
    except Exception:
        sys.exit(0)  # never block the agent
    if verdict.blocked:
        print(verdict.reason, file=sys.stderr)
        sys.exit(2)
    ```

    ## Use instead
    ```python
    except Exception:
        sys.exit(2)  # denying
    ```

    ## Fix safety
    The fix exits with the status the script already uses to deny (2 when it uses several)
    or flips the printed verdict to its deny counterpart. Only the failure path changes.
    """

    code = "FC108"
    name = "hook-exits-allow"
    severity = "error"
    summary = "A gate script exits 0 or prints an allow answer when it fails."
    fix_safety = "Exits with the script's own deny status, or prints the deny verdict."
    trigger = ("exit(", "return 0", '"deny"', "'deny'", '"block"', "'block'")
    file_words = ("exit(", "SystemExit", '"deny"', "'deny'", '"block"', "'block'")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        returns_status = fn.node.name in exit_status_functions(info)
        deny_code = deny_exit_code(fn, returns_status)
        if deny_code is None and not _prints_deny(fn):
            return  # not a gate: nothing here ever says no
        # When the script prints its verdict, that verdict decides; exit 0 after it is no answer.
        # A script that also denies by exit status (`sys.exit(2)`) allows with exit 0.
        exits_answer = deny_code is not None or not _speaks_json(fn)
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or _control_only(handler):
                    continue
                if gated_by_fail_open_flag(handler):
                    continue
                hit = self._answer_in_handler(fn, info, node, handler, deny_code, exits_answer)
                if hit is None and swallows(handler) and not _only_records(node):
                    flow = fn.flow
                    hit = self._answer_after(fn, info, flow, node, handler, deny_code, exits_answer)
                if hit:
                    yield hit
        yield from self._malformed_input_allows(fn, info, deny_code, exits_answer)

    def _malformed_input_allows(
        self, fn: FunctionInfo, info: ModuleInfo, deny_code: int | None, exits_answer: bool
    ) -> Iterator[Hit]:
        """`if not isinstance(event.get("tool_input"), dict): sys.exit(0)`: the payload is
        not what the protocol promises, so nothing in it was checked, and the gate says yes."""
        for stmt in fn.statements:
            if not isinstance(stmt, ast.If) or (checked := _malformed_test(stmt.test)) is None:
                continue
            for inner in stmt.body:
                edit, shown = _allow_answer(inner, fn, info, deny_code, exits_answer)
                if not shown:
                    continue
                yield Hit(
                    node=inner,
                    message=(
                        f"`{fn.qualname}` answers {shown} when `{checked}` is not the shape the "
                        "hook expects, so a malformed payload goes ahead unchecked."
                    ),
                    edits=[edit] if edit else [],
                    key_nodes=[stmt.test],
                    severity="warning",
                )
                break

    def _answer_in_handler(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        node: ast.Try,
        handler: ast.ExceptHandler,
        deny_code: int | None,
        exits_answer: bool,
    ) -> Hit | None:
        answers = [
            (stmt, edit, shown)
            for stmt in handler.body
            for edit, shown in [_allow_answer(stmt, fn, info, deny_code, exits_answer)]
            if shown
        ]
        if not answers:
            return None
        first, _, shown = answers[0]
        # the printed verdict and the exit status: a fix only when both can be edited
        edits = [edit for _, edit, _ in answers if edit is not None]
        return Hit(
            node=first,
            message=(
                f"`{fn.qualname}` answers {shown} when {failing_call(node)} raises "
                f"{caught(handler)}, so the action it gates goes ahead unchecked."
            ),
            edits=[*edits, *reword_edits(info, handler)] if len(edits) == len(answers) else [],
            key_nodes=[handler],
        )

    def _answer_after(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        node: ast.Try,
        handler: ast.ExceptHandler,
        deny_code: int | None,
        exits_answer: bool,
    ) -> Hit | None:
        speaks = _speaks_json(fn)
        outcome = flow.after(node, constants_set_in(handler))
        left = outcome.node  # an exit's node is the statement that exits
        reached = [*outcome.passed, *([left] if outcome.kind == "exit" and left else [])]
        shown = next(
            (
                s
                for stmt in reached
                if (s := _allow_answer(stmt, fn, info, deny_code, exits_answer)[1]
                    or _says_allow(stmt, speaks))
            ),
            "",
        )  # fmt: skip
        if not shown and speaks and _loses_deny(node, handler, outcome):
            shown = "exit status 0 with no verdict (its deny was printed inside the try)"
        if not shown:
            return None
        deny = f"sys.exit({deny_code if deny_code is not None else 2})"
        return Hit(
            node=handler,
            message=(
                f"`{fn.qualname}` swallows {caught(handler)} from {failing_call(node)} and "
                f"goes on to answer {shown}, so the action it gates goes ahead unchecked."
            ),
            edits=[append_to_handler(handler, deny), *reword_edits(info, handler)],
            key_nodes=[handler, *([outcome.node] if outcome.node else [])],
        )


def _malformed_test(test: ast.expr) -> str | None:
    """What `not isinstance(x, dict)` finds malformed: `x`. Only a whole test: in
    `tool != "Bash" or not isinstance(...)` the branch also skips tools the hook does not gate."""
    for part in [test]:
        if (
            isinstance(part, ast.UnaryOp)
            and isinstance(part.op, ast.Not)
            and isinstance(call := part.operand, ast.Call)
            and call_name(call) == "isinstance"
            and len(call.args) == 2
        ):
            return ast.unparse(call.args[0])
    return None


def _loses_deny(node: ast.Try, handler: ast.ExceptHandler, outcome: Outcome) -> bool:
    """The try prints the deny verdict, and after a swallowed error the script ends quietly.

    A hook that answers with printed JSON allows when it prints nothing: an error raised
    before its `json.dump({... "deny" ...})` skips the deny.
    """
    prints_deny = any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.lower() in DENY_WORDS
        for stmt in node.body
        for n in ast.walk(stmt)
    )
    if not prints_deny:
        return False
    exits_zero = (
        outcome.kind == "exit"
        and isinstance(outcome.node, ast.Expr)
        and isinstance(outcome.node.value, ast.Call)
        and exit_code(outcome.node.value) == 0
    )
    said = [handler, *outcome.passed]
    return exits_zero and not any(
        isinstance(n, ast.Call) and call_name(n) in ("dump", "dumps", "print", "write", "send")
        for stmt in said
        for n in ast.walk(stmt)
    )


def _says_allow(stmt: ast.AST, speaks: bool) -> str:
    """`answer("approve", ...)`: a call handing an allow verdict to the script's printer."""
    if not speaks:
        return ""  # exit-status scripts: only the exit decides
    for n in ast.walk(stmt):
        if isinstance(n, ast.Call) and not is_exit_call(n):
            for arg in n.args:
                if (
                    isinstance(arg, ast.Constant)
                    and (text := str(arg.value)).lower() in ALLOW_STRINGS
                ):
                    return f"`{text}`"
    return ""


RECORDING = re.compile(r"(?i)(log|audit|record|write|flush|emit|metric|open|close|print)")


def _only_records(node: ast.Try) -> bool:
    """The try only writes a log or audit record: its failure decides nothing."""
    calls = [c for stmt in node.body for c in ast.walk(stmt) if isinstance(c, ast.Call)]
    return bool(calls) and all(RECORDING.search(call_name(c)) for c in calls)


def _speaks_json(fn: FunctionInfo) -> bool:
    """The script answers with a printed verdict (`{"decision": ...}`), not an exit status."""
    return any(
        isinstance(n, ast.Dict)
        and any(
            isinstance(k, ast.Constant) and str(k.value).replace("_", "").lower() in VERDICT_KEYS
            for k in n.keys
        )
        for n in fn.nodes
    )


def _control_only(handler: ast.ExceptHandler) -> bool:
    """`except KeyboardInterrupt: sys.exit(0)` is the user stopping the script."""
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = {getattr(t, "id", getattr(t, "attr", "")) for t in types if t is not None}
    return bool(names) and names <= CONTROL_EXCEPTIONS


def _prints_deny(fn: FunctionInfo) -> bool:
    """It prints or dumps a deny verdict somewhere: `{"permission": "deny"}`."""
    return any(
        isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and (n.value.lower() in DENY_WORDS or any(f'"{w}"' in n.value for w in DENY_WORDS))
        for n in fn.nodes
    )


def _allow_answer(
    stmt: ast.AST, fn: FunctionInfo, info: ModuleInfo, deny_code: int | None, exits_answer: bool
) -> tuple[Edit | None, str]:
    """(fix, description) when `stmt` exits 0 or prints an allow verdict; (None, "") else.

    A verdict that is *returned* is FC101's; here only what the script prints or dumps.
    """
    if isinstance(stmt, ast.Return):
        if (
            status_returned(stmt) == 0
            and stmt.value is not None
            and (fn.node.name in exit_status_functions(info))
        ):
            code = deny_code if deny_code is not None else 1
            return ReplaceExpression(stmt.value, str(code)), "exit status 0 (allow)"
        return None, ""
    for n in [stmt, *own_nodes(stmt)]:
        if isinstance(n, ast.Call) and is_exit_call(n) and exit_code(n) == 0 and exits_answer:
            code = deny_code if deny_code is not None else 2
            if n.args:
                return ReplaceExpression(n.args[0], str(code)), "exit status 0 (allow)"
            return ReplaceExpression(n, f"{ast.unparse(n.func)}({code})"), "exit status 0 (allow)"
        if isinstance(n, ast.Dict):
            for key, value in zip(n.keys, n.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    allow = keyed_allow(key.value, value, fn, info)
                    if (
                        allow is not None
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                        and value.value.lower() in ALLOW_STRINGS
                    ):
                        shown = f"`{key.value}: {value.value}`"
                        return (
                            (ReplaceExpression(allow.node, allow.deny), shown)
                            if allow.deny
                            else (
                                None,
                                shown,
                            )
                        )
    return None, ""


HookExitsAllow.VALID = [
    # a failed audit-log write after the decision decides nothing
    """
import json, sys

event = json.load(sys.stdin)
if protected(event["tool_input"]["file_path"]):
    sys.exit(2)
try:
    with AUDIT_LOG.open("a") as log:
        log.write("approved\\n")
except OSError:
    pass
sys.exit(0)
""",
    # the handler denies
    """
import json, sys

try:
    event = json.load(sys.stdin)
    verdict = policy.check(event["tool_name"])
except Exception:
    sys.exit(2)
if verdict.blocked:
    sys.exit(2)
sys.exit(0)
""",
    # Ctrl-C is the user stopping the script, not a failing check
    """
import sys

def main():
    try:
        run_checks()
    except KeyboardInterrupt:
        sys.exit(0)
    if failed:
        sys.exit(1)
""",
    # a CLI that never denies is not a gate
    """
import sys

def main():
    try:
        build()
    except Exception:
        sys.exit(0)
""",
    # a malformed payload is refused
    """
import json, sys

def main() -> int:
    event = json.load(sys.stdin)
    tool_input = event.get("tool_input")
    if not isinstance(tool_input, dict):
        return 2
    if is_protected(tool_input.get("file_path", "")):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
    # the shape test is one part of a test that also skips tools the hook does not gate
    """
import json, sys

def main() -> int:
    event = json.load(sys.stdin)
    tool_input = event.get("tool_input")
    if event.get("tool_name") != "Bash" or not isinstance(tool_input, dict):
        return 0
    if dangerous(tool_input.get("command", "")):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
]

HookExitsAllow.INVALID = [
    # a JSON-verdict hook: an error before its deny is printed ends in silence, which allows
    Invalid(
        """\
import json
import sys


def pre_tool_use():
    try:
        event = json.loads(sys.stdin.read())
        if touches_secrets(event["tool_input"]):
            record(event)
            json.dump({"hookSpecificOutput": {"permissionDecision": "deny"}}, sys.stdout)
    except Exception:
        pass
    sys.exit(0)
""",
        line=11,
        fixed="""\
import json
import sys


def pre_tool_use():
    try:
        event = json.loads(sys.stdin.read())
        if touches_secrets(event["tool_input"]):
            record(event)
            json.dump({"hookSpecificOutput": {"permissionDecision": "deny"}}, sys.stdout)
    except Exception:
        sys.exit(2)
    sys.exit(0)
""",
        expected_message=(
            "`pre_tool_use` swallows any error from `json.loads()` and goes on to answer exit "
            "status 0 with no verdict (its deny was printed inside the try), so the action it "
            "gates goes ahead unchecked."
        ),
    ),
    # a JSON-verdict hook: the printed verdict decides, the exit 0 after it does not
    Invalid(
        """\
try:
    event = json.load(sys.stdin)
    rules = json.loads(RULES_FILE.read_text())
except (OSError, ValueError):
    print(json.dumps({"decision": "approve", "reason": "guard unavailable"}))
    sys.exit(0)
if blocked(event, rules):
    print(json.dumps({"decision": "block", "reason": "protected"}))
""",
        line=5,
        fixed="""\
try:
    event = json.load(sys.stdin)
    rules = json.loads(RULES_FILE.read_text())
except (OSError, ValueError):
    print(json.dumps({"decision": "block", "reason": "guard unavailable"}))
    sys.exit(0)
if blocked(event, rules):
    print(json.dumps({"decision": "block", "reason": "protected"}))
""",
        expected_message=(
            "`<module>` answers `decision: approve` when `json.load()` raises `OSError` or "
            "`ValueError`, so the action it gates goes ahead unchecked."
        ),
    ),
    Invalid(
        """\
import json, sys

try:
    event = json.load(sys.stdin)
    verdict = policy.check(event["tool_name"], event["tool_input"])
except Exception:
    sys.exit(0)  # never block the agent
if verdict.blocked:
    print(verdict.reason, file=sys.stderr)
    sys.exit(2)
""",
        line=7,
        fixed="""\
import json, sys

try:
    event = json.load(sys.stdin)
    verdict = policy.check(event["tool_name"], event["tool_input"])
except Exception:
    sys.exit(2)  # denying
if verdict.blocked:
    print(verdict.reason, file=sys.stderr)
    sys.exit(2)
""",
        expected_message=(
            "`<module>` answers exit status 0 (allow) when `json.load()` raises any error, so "
            "the action it gates goes ahead unchecked."
        ),
    ),
    # a permission hook that prints its verdict as JSON
    Invalid(
        """\
def main() -> None:
    try:
        request = json.load(sys.stdin)
        allowed = rules.permits(request["command"])
    except (ValueError, KeyError, OSError):
        print(json.dumps({"permission": "allow"}))
        return
    print(json.dumps({"permission": "allow" if allowed else "deny"}))
""",
        line=6,
        fixed="""\
def main() -> None:
    try:
        request = json.load(sys.stdin)
        allowed = rules.permits(request["command"])
    except (ValueError, KeyError, OSError):
        print(json.dumps({"permission": "deny"}))
        return
    print(json.dumps({"permission": "allow" if allowed else "deny"}))
""",
        expected_message=(
            "`main` answers `permission: allow` when `json.load()` raises `ValueError` or "
            "`KeyError` or `OSError`, so the action it gates goes ahead unchecked."
        ),
    ),
    # swallowed, then the script's own "all clear" exit
    Invalid(
        """\
def pre_commit() -> None:
    try:
        findings = scanner.scan(staged_files())
        if findings:
            sys.exit(1)
    except ScannerError as exc:
        print(f"secret scanner failed: {exc}", file=sys.stderr)
    sys.exit(0)
""",
        line=6,
        fixed="""\
def pre_commit() -> None:
    try:
        findings = scanner.scan(staged_files())
        if findings:
            sys.exit(1)
    except ScannerError as exc:
        print(f"secret scanner failed: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
""",
        expected_message=(
            "`pre_commit` swallows `ScannerError` from `scanner.scan()` and goes on to answer "
            "exit status 0 (allow), so the action it gates goes ahead unchecked."
        ),
    ),
    # the payload is not the shape the hook reads: nothing was checked
    Invalid(
        """\
import json, sys

def main() -> int:
    event = json.load(sys.stdin)
    tool_input = event.get("tool_input")
    if not isinstance(tool_input, dict):
        return 0
    if is_protected(tool_input.get("file_path", "")):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
        line=7,
        fixed="""\
import json, sys

def main() -> int:
    event = json.load(sys.stdin)
    tool_input = event.get("tool_input")
    if not isinstance(tool_input, dict):
        return 2
    if is_protected(tool_input.get("file_path", "")):
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
""",
        expected_message=(
            "`main` answers exit status 0 (allow) when `tool_input` is not the shape the hook "
            "expects, so a malformed payload goes ahead unchecked."
        ),
    ),
]
