"""FC130: a gate relays its checker's "block" status, and lets every other failure through."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import status_returned


class OnlyDenyStatusBlocks(Rule):
    """
    ## What it does
    Flags a hook or gate that runs a checker as a child process, blocks when the checker
    exits with its "block" status (`if result.returncode == 2: return 2`) and answers 0
    ("go ahead") for every other status — including the 1 of a checker that crashed on an
    import error or a traceback.

    ## Why is this bad?
    A checker that cannot run says nothing about the action, yet the gate reads its crash
    as permission. One broken dependency, one bad deploy of the checker, and every action
    goes through unchecked (CWE-636). Only the checker's explicit "yes" (status 0) may let
    the action through.

    ## Example
    ```python
    result = subprocess.run(["python3", RUNNER, "scope", path], capture_output=True)
    if result.returncode == 2:
        sys.stderr.write(result.stderr)
        return 2
    return 0
    ```

    ## Use instead
    ```python
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        return 2
    return 0
    ```

    ## Fix safety
    The fix blocks on any non-zero status of the checker. A checker that used other
    non-zero statuses to mean "fine" (rare; say so in its contract) now blocks.
    """

    code = "FC130"
    name = "only-deny-status-blocks"
    severity = "warning"
    summary = "A gate relays its checker's block status and lets every other failure through."
    fix_safety = "Any non-zero status of the checker now blocks."
    trigger = ("returncode ==",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        statements = list(fn.nodes)
        for node in statements:
            if not isinstance(node, ast.If) or node.orelse:
                continue
            compared = _status_equals(node.test)
            if compared is None or not _relays(node.body, compared[1]):
                continue
            if _checks_status_elsewhere(statements, node) or not _answers_zero(statements, node):
                continue
            status, code = compared
            yield Hit(
                node=node,  # the branch and what follows it: the `return 0` is the allow
                message=(
                    f"`{fn.qualname}` blocks only when the checker exits {code}, and answers 0 "
                    f"for any other status: a checker that crashed "
                    f"(`{ast.unparse(status)} == 1`) lets the action through."
                ),
                edits=[ReplaceExpression(node.test, f"{ast.unparse(status)} != 0")],
                key_nodes=[node.test],
            )


def _status_equals(test: ast.expr) -> tuple[ast.expr, int] | None:
    """(`result.returncode`, 2) for `result.returncode == 2`, a non-zero code."""
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.left, ast.Attribute)
        and test.left.attr == "returncode"
    ):
        return None
    right = test.comparators[0]
    if isinstance(right, ast.Constant) and type(right.value) is int and right.value != 0:
        return test.left, right.value
    return None


def _relays(body: list[ast.stmt], code: int) -> bool:
    """The branch answers the same non-zero status: `return 2`, `sys.exit(2)`."""
    for stmt in body:
        value = stmt.value if isinstance(stmt, ast.Return | ast.Expr) else None
        if isinstance(value, ast.Call) and value.args:
            value = value.args[0]  # sys.exit(2)
        if isinstance(value, ast.Constant) and value.value == code:
            return True
    return False


def _checks_status_elsewhere(statements: list[ast.AST], node: ast.If) -> bool:
    """Another test of the status (`!= 0`, `== 0`, `in (...)`) already handles failures."""
    return any(
        isinstance(n, ast.If | ast.IfExp)
        and n is not node
        and any(isinstance(x, ast.Attribute) and x.attr == "returncode" for x in ast.walk(n.test))
        for n in statements
    )


def _answers_zero(statements: list[ast.AST], node: ast.If) -> bool:
    """After the branch, the function answers 0: the go-ahead."""
    end = node.end_lineno or node.lineno
    return any(
        isinstance(n, ast.Return) and status_returned(n) == 0 and n.lineno > end for n in statements
    )


OnlyDenyStatusBlocks.VALID = [
    # every failure blocks
    """
def main():
    result = subprocess.run(["python3", RUNNER, "scope", path], capture_output=True)
    if result.returncode != 0:
        return 2
    return 0
""",
    # the crash is handled on its own
    """
def main():
    result = subprocess.run(["python3", RUNNER, "scope", path], capture_output=True)
    if result.returncode == 2:
        return 2
    if result.returncode != 0:
        sys.stderr.write("scope runner failed\\n")
        return 2
    return 0
""",
    # grep's "no match" is not a block
    """
def has_todo(path):
    result = subprocess.run(["grep", "-q", "TODO", path])
    if result.returncode == 1:
        print("clean")
    return 0
""",
]

OnlyDenyStatusBlocks.INVALID = [
    Invalid(
        """\
def main() -> int:
    payload = json.load(sys.stdin)
    try:
        result = subprocess.run(["python3", RUNNER, "scope", payload["path"]], timeout=5)
    except Exception:
        return 2
    if result.returncode == 2:
        sys.stderr.write(result.stderr or "scope block\\n")
        return 2
    return 0
""",
        line=7,
        fixed="""\
def main() -> int:
    payload = json.load(sys.stdin)
    try:
        result = subprocess.run(["python3", RUNNER, "scope", payload["path"]], timeout=5)
    except Exception:
        return 2
    if result.returncode != 0:
        sys.stderr.write(result.stderr or "scope block\\n")
        return 2
    return 0
""",
        expected_message=(
            "`main` blocks only when the checker exits 2, and answers 0 for any other status: "
            "a checker that crashed (`result.returncode == 1`) lets the action through."
        ),
    ),
]
