"""FC128: a gate's list of what to check comes back empty when the command reading it fails."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, functions_by_qualname
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import is_empty_collection, unawaited
from failclosed.analyzers.syntax import call_name, dotted_name, handler_types

# Calls that run a command: `subprocess.run`, `check_output`, a module's own `git(...)`.
RUNS_COMMAND = re.compile(r"^(run|check_output|check_call|call|Popen|git|_?run_git\w*|_?git_\w+)$")
# Errors a command raises when it cannot run or fails.
COMMAND_ERRORS = {"CalledProcessError", "SubprocessError", "TimeoutExpired", "OSError",
                  "FileNotFoundError", "Exception", "BaseException"}  # fmt: skip
# A module that can refuse: a hook's blocking exit status, a "deny"/"block" decision.
REFUSES = re.compile(
    r"(?m)\breturn 2\b|\bexit\(2\)|[\"'](deny|block)[\"']|\bsys\.exit\(1\)"
    r"|\bExit\(code=(?!0\b)\w+"
)
# A script whose `main()` answers its exit status (`sys.exit(main())`) refuses by returning
# a non-zero status from it, as pre-commit hooks and CI steps do.
EXITS_WITH_MAIN = re.compile(r"\b(sys\.exit|SystemExit|exit)\(\s*main\(")
RETURNS_FAILURE = re.compile(r"(?m)^\s+return [1-9]\d*\b")


def can_refuse(source: str) -> bool:
    """The module has a way to say no: exit status 2, a "deny" decision, `sys.exit(1)`, or a
    `main()` whose non-zero return is the exit status."""
    if REFUSES.search(source):
        return True
    return bool(EXITS_WITH_MAIN.search(source) and RETURNS_FAILURE.search(source))


class UnreadableChangesReadAsNone(Rule):
    """
    ## What it does
    Flags a helper in a hook or gate that reads the list of things to check from a command
    — `git diff --cached --name-only`, `git ls-files` — and answers an empty list when the
    command fails (a non-zero exit status, `CalledProcessError`, a timeout), while the same
    module can refuse (exit status 2, a "deny" decision).

    ## Why is this bad?
    An empty list means "nothing was changed, nothing to check", and the gate lets the
    commit or the tool call through. A failing `git` (not a repository, an unknown base, a
    lock) looks exactly like that, so the check is skipped precisely when it could not be
    made (CWE-636). The helper must say it could not read the list — `None`, or an
    exception — and the gate must refuse on it.

    ## Example
    ```python
    def staged_paths(cwd):
        result = git(cwd, "diff", "--cached", "--name-only")
        if result.returncode != 0:
            return []
        return result.stdout.splitlines()
    ```

    ## Use instead
    ```python
        if result.returncode != 0:
            raise RuntimeError("could not read what to check: refusing")
    ```

    ## Fix safety
    The helper raises (or re-raises the command's error) instead of answering an empty
    list. Where a crash blocks — git hooks, CI steps — the gate now refuses. Where it does
    not — a hook protocol in which only exit status 2 blocks — the caller must catch the
    error and refuse explicitly; the fix makes the failure visible, the caller decides how
    to refuse.
    """

    code = "FC128"
    name = "unreadable-changes-read-as-none"
    severity = "warning"
    summary = "A gate's list of what to check comes back empty when the command reading it fails."
    fix_safety = "The helper raises instead; a caller whose crash does not block must refuse."
    trigger = ("returncode", "CalledProcessError", "SubprocessError", "TimeoutExpired")
    file_words = ("returncode", "CalledProcessError", "SubprocessError", "TimeoutExpired")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if fn.qualname == "<module>" or not _runs_command(fn):
            return
        yield from _failure_read_as_empty(fn, info)
        failures = list(_failure_exits(fn))
        if not failures or not _returns_output(fn) or not _gate_uses(fn, info):
            return
        for exit_ in failures:
            assert exit_.value is not None  # `_empty_returns` yields only `return <empty>`
            yield Hit(
                node=exit_,
                message=(
                    f"`{fn.qualname}` answers `{ast.unparse(exit_.value)}` when the command "
                    "it reads fails, and this module's gate reads an empty list as "
                    "nothing to check: a failing command lets the change through unchecked."
                ),
                edits=[ReplaceStatements(exit_, exit_, (_refusal(fn, exit_),))],
                key_nodes=[exit_],
            )


UNREADABLE = 'raise RuntimeError("could not read what to check: refusing")'


def _refusal(fn: FunctionInfo, exit_: ast.Return) -> str:
    """Re-raise inside the handler that caught the command's error; raise anew elsewhere."""
    for node in fn.nodes:
        if isinstance(node, ast.ExceptHandler) and any(s is exit_ for s in node.body):
            return "raise"
    return UNREADABLE


def _failure_read_as_empty(fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
    """`if result.returncode == 0 and result.stdout.strip(): <check> else: exit 0`: a
    failing command takes the same branch as "nothing changed"."""
    if not can_refuse(info.source):
        return
    refused = {
        ast.unparse(node.test.left if isinstance(node.test, ast.Compare) else node.test)
        for node in fn.nodes
        if isinstance(node, ast.If)
        and _tests_failed_status(node.test)
        and any(isinstance(s, ast.Raise) for s in node.body)
    }  # `if result.returncode != 0: raise ...` already refuses a failing command
    for node in fn.nodes:
        if not (isinstance(node, ast.If) and node.orelse):
            continue
        status = _succeeded_and_printed(node.test)
        if status is None or ast.unparse(status) in refused:
            continue
        exit_ = _passes(node.orelse[-1])
        if exit_ is None:
            continue
        yield Hit(
            node=exit_,
            message=(
                f"`{fn.qualname}` takes the same way out when the command fails as when it "
                f"printed nothing (`{ast.unparse(node.test)}`), and that way passes: a "
                "failing command lets the change through unchecked."
            ),
            edits=[
                ReplaceStatements(
                    node, node, (f"if {ast.unparse(status)} != 0:\n    {UNREADABLE}", KEEP)
                )
            ],
            key_nodes=[node.test, exit_],
        )


def _succeeded_and_printed(test: ast.expr) -> ast.expr | None:
    """`result.returncode` in `result.returncode == 0 and result.stdout.strip()`."""
    if not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And)):
        return None
    for value in test.values:
        if (
            isinstance(value, ast.Compare)
            and isinstance(value.left, ast.Attribute)
            and value.left.attr == "returncode"
            and isinstance(value.ops[0], ast.Eq)
            and isinstance(value.comparators[0], ast.Constant)
            and value.comparators[0].value == 0
        ):
            return value.left
    return None


def _passes(stmt: ast.stmt) -> ast.stmt | None:
    """`raise typer.Exit(code=0)`, `sys.exit(0)`, `return 0`, `return []`: a pass."""
    if isinstance(stmt, ast.Return) and stmt.value is not None:
        value = stmt.value
        if _empty(value) or (isinstance(value, ast.Constant) and value.value == 0):
            return stmt
        return None
    call = stmt.exc if isinstance(stmt, ast.Raise) else getattr(stmt, "value", None)
    if not isinstance(call, ast.Call) or call_name(call) not in ("Exit", "SystemExit", "exit"):
        return None
    args = [*call.args, *(k.value for k in call.keywords if k.arg == "code")]
    if not args or (isinstance(args[0], ast.Constant) and args[0].value in (0, None)):
        return stmt
    return None


def _runs_command(fn: FunctionInfo) -> bool:
    return any(isinstance(n, ast.Call) and RUNS_COMMAND.match(call_name(n)) for n in fn.nodes)


def _failure_exits(fn: FunctionInfo) -> Iterator[ast.Return]:
    """`return []` under `if result.returncode != 0:` or in an `except CalledProcessError:`."""
    for node in fn.nodes:
        if isinstance(node, ast.If) and _tests_failed_status(node.test):
            yield from _empty_returns(node.body)
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                types = set(handler_types(handler)) or {"BaseException"}
                if types & COMMAND_ERRORS and catches_failures(handler, node):
                    yield from _empty_returns(handler.body)


def _tests_failed_status(test: ast.expr) -> bool:
    """`result.returncode != 0`, `proc.returncode` (truthy), `returncode > 0`."""
    if isinstance(test, ast.Attribute):
        return test.attr == "returncode"
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    left, op, right = test.left, test.ops[0], test.comparators[0]
    return (
        isinstance(left, ast.Attribute)
        and left.attr == "returncode"
        and isinstance(op, ast.NotEq | ast.Gt)
        and isinstance(right, ast.Constant)
        and right.value == 0
    )


def _empty_returns(body: list[ast.stmt]) -> Iterator[ast.Return]:
    for stmt in body:
        if isinstance(stmt, ast.Return) and stmt.value is not None and _empty(stmt.value):
            yield stmt


def _empty(value: ast.expr) -> bool:
    return is_empty_collection(value) or (isinstance(value, ast.Constant) and value.value == "")


def _returns_output(fn: FunctionInfo) -> bool:
    """On success the helper returns what the command printed: `result.stdout.splitlines()`,
    or a list it filled from that (`paths.extend(... result.stdout.splitlines() ...)`)."""
    filled = _filled_from_output(fn)
    return any(
        isinstance(node, ast.Return)
        and node.value is not None
        and not _empty(node.value)
        and any(
            _reads_output(n) or (isinstance(n, ast.Name) and n.id in filled)
            for n in ast.walk(node.value)
        )
        for node in fn.nodes
    )


def _reads_output(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in ("stdout", "output")) or (
        isinstance(node, ast.Call) and call_name(node) in ("splitlines", "split")
    )


def _filled_from_output(fn: FunctionInfo) -> set[str]:
    """Names assigned, extended or appended to from a command's output."""
    filled: set[str] = set()
    for node in fn.nodes:
        target: ast.expr | None = None
        value: ast.AST | None = None
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            value = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("extend", "append", "update", "add")
        ):
            target, value = node.func.value, node
        if (
            isinstance(target, ast.Name)
            and value is not None
            and any(_reads_output(n) for n in ast.walk(value))
        ):
            filled.add(target.id)
    return filled


def _gate_uses(fn: FunctionInfo, info: ModuleInfo) -> bool:
    """The module can refuse, and another function of it calls the helper."""
    if not can_refuse(info.source):
        return False
    name = fn.node.name
    for other in functions_by_qualname(info).values():
        if other.node is fn.node:
            continue
        for n in other.nodes:
            call = unawaited(n) if isinstance(n, ast.expr) else None
            if isinstance(call, ast.Call) and (dotted_name(call.func) or "").endswith(name):
                return True
    return False


UnreadableChangesReadAsNone.VALID = [
    # the failure is told apart from "nothing changed"
    """
def staged_paths(cwd):
    result = git(cwd, "diff", "--cached", "--name-only")
    if result.returncode != 0:
        return None
    return result.stdout.splitlines()


def main():
    paths = staged_paths(".")
    if paths is None:
        return 2
    return 0
""",
    # a tool that lists files for display, in a module that never refuses anything
    """
def tracked_files(root):
    result = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        return []
    return result.stdout.splitlines()


def show(root):
    for path in tracked_files(root):
        print(path)
""",
    # no caller in the module: nothing here reads the empty list as a verdict
    """
def staged_paths(cwd):
    try:
        out = subprocess.check_output(["git", "diff", "--cached", "--name-only"], cwd=cwd)
    except subprocess.CalledProcessError:
        return []
    return out.decode().splitlines()

DECISION = {"decision": "deny"}
""",
]

UnreadableChangesReadAsNone.INVALID = [
    # a failing `git diff` takes the "nothing staged" branch, which exits 0
    Invalid(
        """\
def guard(staged: bool = False):
    if staged:
        result = subprocess.run(["git", "diff", "--cached", "--name-only"], capture_output=True)
        if result.returncode == 0 and result.stdout.strip():
            paths = result.stdout.split()
        else:
            print("nothing staged")
            raise typer.Exit(code=0)
    if scan(paths):
        raise typer.Exit(code=EXIT_FINDINGS)
""",
        line=8,
        fixed="""\
def guard(staged: bool = False):
    if staged:
        result = subprocess.run(["git", "diff", "--cached", "--name-only"], capture_output=True)
        if result.returncode != 0:
            raise RuntimeError("could not read what to check: refusing")
        if result.returncode == 0 and result.stdout.strip():
            paths = result.stdout.split()
        else:
            print("nothing staged")
            raise typer.Exit(code=0)
    if scan(paths):
        raise typer.Exit(code=EXIT_FINDINGS)
""",
        expected_message=(
            "`guard` takes the same way out when the command fails as when it printed nothing "
            "(`result.returncode == 0 and result.stdout.strip()`), and that way passes: a "
            "failing command lets the change through unchecked."
        ),
    ),
    Invalid(
        """\
def staged_paths(cwd):
    result = git(cwd, "diff", "--cached", "--name-only", "--diff-filter=ACMR")
    if result.returncode != 0:
        return []
    return [line for line in result.stdout.splitlines() if line.strip()]


def main():
    for path in staged_paths("."):
        if not check(path):
            return 2
    return 0
""",
        line=4,
        fixed="""\
def staged_paths(cwd):
    result = git(cwd, "diff", "--cached", "--name-only", "--diff-filter=ACMR")
    if result.returncode != 0:
        raise RuntimeError("could not read what to check: refusing")
    return [line for line in result.stdout.splitlines() if line.strip()]


def main():
    for path in staged_paths("."):
        if not check(path):
            return 2
    return 0
""",
        expected_message=(
            "`staged_paths` answers `[]` when the command it reads fails, and this module's "
            "gate reads an empty list as nothing to check: a failing command lets the change "
            "through unchecked."
        ),
    ),
    Invalid(
        """\
def _get_staged_files() -> list[str]:
    try:
        result = subprocess.run(
            ["git", "diff", "--cached", "--name-only"], capture_output=True, text=True, check=True
        )
        return [f for f in result.stdout.strip().splitlines() if f]
    except subprocess.CalledProcessError:
        return []


def main(hook_input):
    challenge = challenge_for(_get_staged_files())
    if challenge:
        return {"decision": "deny", "reason": challenge}
    return None
""",
        line=8,
        fixed="""\
def _get_staged_files() -> list[str]:
    try:
        result = subprocess.run(
            ["git", "diff", "--cached", "--name-only"], capture_output=True, text=True, check=True
        )
        return [f for f in result.stdout.strip().splitlines() if f]
    except subprocess.CalledProcessError:
        raise


def main(hook_input):
    challenge = challenge_for(_get_staged_files())
    if challenge:
        return {"decision": "deny", "reason": challenge}
    return None
""",
        expected_message=(
            "`_get_staged_files` answers `[]` when the command it reads fails, and this "
            "module's gate reads an empty list as nothing to check: a failing command lets "
            "the change through unchecked."
        ),
    ),
]

UnreadableChangesReadAsNone.INVALID += [
    # a pre-commit hook: `main()`'s non-zero return is the exit status that blocks, and a
    # failing `git diff` reads as "nothing changed"
    Invalid(
        """\
def changed_paths(base, head):
    paths = []
    try:
        result = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...{head}"],
            capture_output=True, text=True, check=True,
        )
        paths.extend(line for line in result.stdout.splitlines() if line.strip())
    except subprocess.CalledProcessError:
        return []
    return sorted(set(paths))


def main():
    paths = changed_paths(os.environ["FROM_REF"], os.environ["TO_REF"])
    if not paths:
        return 0
    return 1 if scan(paths) else 0


if __name__ == "__main__":
    sys.exit(main())
""",
        line=10,
        fixed="""\
def changed_paths(base, head):
    paths = []
    try:
        result = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...{head}"],
            capture_output=True, text=True, check=True,
        )
        paths.extend(line for line in result.stdout.splitlines() if line.strip())
    except subprocess.CalledProcessError:
        raise
    return sorted(set(paths))


def main():
    paths = changed_paths(os.environ["FROM_REF"], os.environ["TO_REF"])
    if not paths:
        return 0
    return 1 if scan(paths) else 0


if __name__ == "__main__":
    sys.exit(main())
""",
        expected_message=(
            "`changed_paths` answers `[]` when the command it reads fails, and this module's "
            "gate reads an empty list as nothing to check: a failing command lets the change "
            "through unchecked."
        ),
    ),
]

UnreadableChangesReadAsNone.VALID += [
    # the same helper in a script that only lists the paths: nothing here refuses
    """\
def changed_paths(base, head):
    paths = []
    try:
        result = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...{head}"],
            capture_output=True, text=True, check=True,
        )
        paths.extend(line for line in result.stdout.splitlines() if line.strip())
    except subprocess.CalledProcessError:
        return []
    return sorted(set(paths))


def main():
    for path in changed_paths(os.environ["FROM_REF"], os.environ["TO_REF"]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
""",
]
