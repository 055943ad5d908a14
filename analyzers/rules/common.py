"""Small helpers several rules share: describing a failure, building the usual edits."""

from __future__ import annotations

import ast
import builtins
import re
from collections import Counter
from collections.abc import Iterator
from typing import overload

from failclosed.analyzers.allowing import AllowValue
from failclosed.analyzers.denials import body_denies, is_deny_response
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceStatements, RewordComments, RewordMessage
from failclosed.analyzers.flow import EXIT_CALLS, is_exit_call
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.syntax import BLOCKS, call_name, dotted_name, handler_types, own_nodes
from failclosed.analyzers.vocabulary import ALLOW_LANGUAGE


def tries(fn: FunctionInfo) -> list[ast.Try]:
    """The function's own try statements (not those of nested functions)."""
    return fn.tries


# Exceptions broad enough to catch the check's own failure, not only an expected miss.
BROAD = {"Exception", "BaseException"}


def catches_broadly(handler: ast.ExceptHandler) -> bool:
    """A bare `except:`, or one whose types include `Exception` or `BaseException`."""
    types = handler_types(handler)
    return not types or bool(set(types) & BROAD)


def caught(handler: ast.ExceptHandler) -> str:
    """`TimeoutError`, `any exception` for a bare or broad handler."""
    types = handler_types(handler)
    if not types or types in (["Exception"], ["BaseException"]):
        return "any error"
    return " or ".join(f"`{t}`" for t in types)


BUILTINS = set(dir(builtins))


# Calls that only shape data or report: not the check that fails.
TRIVIAL_CALLS = {
    "strip", "lower", "upper", "split", "rsplit", "join", "format", "encode", "decode", "get",
    "items", "keys", "values", "startswith", "endswith", "replace", "append", "extend", "json",
    "exception", "warning", "error", "info", "debug", "log", "critical", "getLogger", "exit",
}  # fmt: skip


def failing_call(node: ast.Try) -> str:
    """The call in the try body that fails, e.g. `self.client.check()`.

    The first call in source order that does real work: builtins, string and dict helpers,
    logging, and the deny answers (`raise ...`, `return HttpResponseForbidden()`) aside.
    """
    calls = sorted(
        (c for stmt in node.body for c in _calls_outside_denies(stmt)),
        key=lambda c: (c.lineno, c.col_offset),
    )
    for call in calls:
        if isinstance(call.func, ast.Name) and call.func.id in BUILTINS:
            continue
        if isinstance(call.func, ast.Attribute) and call.func.attr in TRIVIAL_CALLS:
            continue
        return f"`{ast.unparse(call.func)}()`"
    return "the check"


def _calls_outside_denies(stmt: ast.stmt) -> Iterator[ast.Call]:
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise) or (
            isinstance(node, ast.Return) and node.value is not None and is_deny_response(node.value)
        ):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def reword_edits(info: ModuleInfo, scope: ast.AST) -> list[Edit]:
    """Edits that stop log messages and comments in `scope` from saying the code allows."""
    start = getattr(scope, "lineno", 1)
    end = getattr(scope, "end_lineno", start) or start
    return reword_block(info, [scope], start, end)


def reword_block(info: ModuleInfo, nodes: list[ast.AST], start: int, end: int) -> list[Edit]:
    """The same for a block of statements (lines `start`..`end`): only the failing branch of
    an `if` is reworded, never the branch that answers when the check worked."""
    inner = [n for node in nodes for n in [node, *own_nodes(node)]]
    inside_fstrings = {id(v) for n in inner if isinstance(n, ast.JoinedStr) for v in n.values}
    edits: list[Edit] = [
        RewordMessage(node)
        for node in inner
        if isinstance(node, ast.Constant | ast.JoinedStr)
        and id(node) not in inside_fstrings
        and _says_allow(node)
    ]
    edits.append(RewordComments(comments_above(info, start), end))
    return edits


def comments_above(info: ModuleInfo, line: int) -> int:
    """The first line of the comment block just above `line` (or `line` itself): the
    comment above a handler or branch describes it."""
    first = line
    while first > 1 and info.lines[first - 2].lstrip().startswith("#"):
        first -= 1
    return first


def _says_allow(node: ast.Constant | ast.JoinedStr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(ALLOW_LANGUAGE.search(node.value))
    return any(
        isinstance(v, ast.Constant) and isinstance(v.value, str) and ALLOW_LANGUAGE.search(v.value)
        for v in node.values
    )


def append_to_handler(handler: ast.ExceptHandler, statement: str) -> ReplaceStatements:
    """Make `statement` the handler's last word: replaces `pass`/`continue`, else appends."""
    last = handler.body[-1]
    if isinstance(last, ast.Pass | ast.Continue) or (
        isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant)
    ):
        return ReplaceStatements(last, last, (statement,))
    return ReplaceStatements(last, last, (KEEP, statement))


def branch_answer(node: ast.If) -> ast.stmt:
    """The statement that decides an `if` branch: the first one after any logging calls."""
    for stmt in node.body:
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            return stmt
    return node.body[0]


def default_lookup(node: ast.Call) -> tuple[str, ast.expr] | None:
    """`x.get("key", default)` or `getattr(x, "key", default)` -> (key, default)."""
    name = call_name(node)
    if name == "get" and isinstance(node.func, ast.Attribute) and len(node.args) == 2:
        key, default = node.args
    elif name == "getattr" and isinstance(node.func, ast.Name) and len(node.args) == 3:
        _, key, default = node.args
    else:
        return None
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value, default
    return None


def defaulted_lookups(
    fn: FunctionInfo, info: ModuleInfo, pattern: re.Pattern[str]
) -> Iterator[tuple[ast.Call, str, ast.expr]]:
    """(call, key, default) for each `.get(key, default)`/`getattr` in the function, after
    a cheap text test with `pattern` (the rule's own shape of such a lookup)."""
    if not pattern.search(info.segment(fn.node)):
        return
    for node in fn.nodes:
        if isinstance(node, ast.Call) and (lookup := default_lookup(node)) is not None:
            yield node, *lookup


def compared_with_none(test: ast.expr, op: type[ast.cmpop]) -> ast.expr | None:
    """`x` for `x is None` (op `ast.Is`) or `x is not None` (op `ast.IsNot`)."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], op)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test.left
    return None


def present_subject(test: ast.expr) -> ast.expr:
    """`x` for `x is not None` (and for a plain `x`): "is it there?"."""
    return compared_with_none(test, ast.IsNot) or test


def present_name(test: ast.expr) -> str | None:
    """`v` for `if v:` or `if v is not None:` on a plain name."""
    subject = present_subject(test)
    return subject.id if isinstance(subject, ast.Name) else None


def negated_isinstance(test: ast.expr) -> ast.Call | None:
    """The `isinstance(...)` call of a test `not isinstance(x, T)`: "is `x` malformed?"."""
    if (
        isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and isinstance(test.operand, ast.Call)
        and dotted_name(test.operand.func) == "isinstance"
    ):
        return test.operand
    return None


def absent_subject(test: ast.expr) -> tuple[ast.expr, bool] | None:
    """(`x`, none_only) for `x is None` (True) or `not x` (False): "is it missing?"."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand, False
    subject = compared_with_none(test, ast.Is)
    return (subject, True) if subject is not None else None


def deny_statement(deny: str | None) -> str:
    """`return False` when the deny value is known, else re-raise the error."""
    return f"return {deny}" if deny is not None else "raise"


# What a test looks at when it asks "did the check fail?".
FAILURE_SUBJECT = re.compile(
    r"(?i)(?:^|_)(error|err|exc|fail\w*|timeout|timed_?out|unavailable|unreachable|down|ok"
    r"|success\w*|loaded|ready|available|healthy|connected|resp\w*|result|status(_code)?"
    r"|verdict|decision|answer|reply|verified|resolved)(?:_|$)"
)
# What a test looks at when it asks "is a permission system configured at all?".
CONFIG_SUBJECT = re.compile(
    r"(?i)(?:^|_)(url|endpoint|host|server|config\w*|setting\w*|enabled?|secret|key|token"
    r"|environ|env|path|client|polic(y|ies)|rules?|provider|backend|engine|service)(?:_|$)"
)


def failure_branches(
    stmt: ast.If, fn: FunctionInfo
) -> Iterator[tuple[list[ast.stmt], bool | None]]:
    """(block, failing) for the `if` body and a plain `else`: True when the block runs on a
    failure, False when it runs because nothing is configured, None when neither is clear."""
    kind = branch_kind(stmt.test, fn)
    if kind == "failure":
        yield stmt.body, True
    elif kind == "unconfigured":
        yield stmt.body, False
    elif kind == "success" and stmt.orelse and not _is_elif(stmt):
        yield stmt.orelse, True


def _is_elif(stmt: ast.If) -> bool:
    return len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If)


ERROR_NAME = re.compile(r"(?i)(error|errors|err|exc|exception|fail\w*|fault|timed_?out)$")


def branch_kind(test: ast.expr, fn: FunctionInfo) -> str | None:
    """ "failure", "success", "unconfigured" or None, from what the test looks at."""
    if isinstance(test, ast.BoolOp):
        kinds = {branch_kind(v, fn) for v in test.values}
        for kind in ("failure", "unconfigured"):
            if kind in kinds:
                return kind
        return None
    negated = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if (
        isinstance(test, ast.Call)
        and dotted_name(test.func) in ("all", "any")
        and len(test.args) == 1
        and isinstance(test.args[0], ast.GeneratorExp | ast.ListComp)
    ):
        test = test.args[0].elt  # `all(v == "ERROR" for v in votes)`: every answer failed
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and _error_token(test):
        failed = isinstance(test.ops[0], ast.Eq | ast.Is | ast.In)
        return "failure" if failed != negated else "success"
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        subject, op, other = test.left, test.ops[0], test.comparators[0]
        if (
            isinstance(other, ast.Constant)
            and isinstance(other.value, int)
            and 200 <= (other.value if not isinstance(other.value, bool) else 0) < 300
        ):
            ok = isinstance(op, ast.Eq | ast.In)
            return "success" if ok != negated else "failure"
        if isinstance(other, ast.Constant) and other.value is None:
            missing = isinstance(op, ast.Is) != negated
            if ERROR_NAME.search(dotted_name(subject) or ""):
                return "success" if missing else "failure"  # `result.error is None`: it worked
            return _missing_kind(subject, fn) if missing else None
        return None
    if isinstance(test, ast.Name | ast.Attribute | ast.Call):
        name = (dotted_name(test.func if isinstance(test, ast.Call) else test) or "").lower()
        if ERROR_NAME.search(name):
            return "success" if negated else "failure"
        if negated:
            return _missing_kind(test, fn)
        if FAILURE_SUBJECT.search(name.rsplit(".", 1)[-1]):
            return "success"
    return None


# An answer that says the check failed: `vote == "ERROR"`, `status == "timeout"`.
ERROR_TOKEN = re.compile(r"(?i)^(error|errored|failed|failure|timeout|timed_?out|unavailable)$")


def _error_token(test: ast.Compare) -> bool:
    other = test.comparators[0]
    return (
        isinstance(other, ast.Constant)
        and isinstance(other.value, str)
        and ERROR_TOKEN.match(other.value) is not None
    )


def _missing_kind(subject: ast.expr, fn: FunctionInfo) -> str | None:
    """`x is None` / `not x`: a failure when `x` is an answer, unconfigured when a setting."""
    name = dotted_name(subject.func if isinstance(subject, ast.Call) else subject) or ""
    last = name.rsplit(".", 1)[-1]
    if isinstance(subject, ast.Name) and _assigned_from_call(fn, subject.id, subject.lineno):
        return "failure"
    if FAILURE_SUBJECT.search(last):
        return "failure"
    if CONFIG_SUBJECT.search(last) or "environ" in name or "settings" in name:
        return "unconfigured"
    return None


def _assigned_from_call(fn: FunctionInfo, name: str, before: int) -> bool:
    """`resp = post(...)`, `resp, _ = await call(...)`: the name holds an answer.

    A parameter never does, even when it is reassigned later: the caller gave it.
    """
    args = fn.node.args
    if name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
        return False
    for stmt in fn.statements:
        if not isinstance(stmt, ast.Assign | ast.AnnAssign) or stmt.lineno >= before:
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
        if name in names and isinstance(value, ast.Call) and not _reads_setting(value):
            return True
    return False


REQUEST_INPUT = re.compile(
    r"(^|\.)(headers|cookies|args|params|query_params|query|form|META|GET|POST|data|json|kwargs)"
    r"\.get$"
)


def _reads_setting(call: ast.Call) -> bool:
    """`getattr(view, "x", default)`, `os.environ.get(...)`, `settings.get(...)`: configuration."""
    callee = dotted_name(call.func) or ""
    if REQUEST_INPUT.search(callee):
        return True  # a header or parameter the request did not carry: input, not a failure
    return (
        callee in ("getattr", "os.getenv")
        or "environ" in callee
        or (callee.endswith(".get") and CONFIG_SUBJECT.search(callee.rsplit(".", 1)[0]) is not None)
    )


def exit_code(call: ast.Call) -> int | None:
    """The status of `sys.exit(n)`: 0 for `sys.exit()`; None when not a constant int."""
    if not call.args:
        return 0
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and (arg.value is None or isinstance(arg.value, int)):
        return int(arg.value or 0)
    return None


def exits_with_error(call: ast.Call) -> bool:
    """`sys.exit(1)`, `SystemExit(2)`, `exit("message")`: a script's "no". `sys.exit()` and
    `sys.exit(0)` are its go-ahead."""
    if not (is_exit_call(call) or call_name(call) == "SystemExit") or not call.args:
        return False
    return exit_code(call) != 0


def exit_status_functions(info: ModuleInfo) -> set[str]:
    """Functions whose result is the exit status: `sys.exit(main())`, `SystemExit(main())`."""
    if "exit_status_functions" not in info.memo:
        names: set[str] = set()
        source = info.source
        calls_exit = "SystemExit(" in source or any(
            f"{name.rsplit('.', 1)[-1]}(" in source for name in EXIT_CALLS
        )
        for n in ast.walk(info.tree) if calls_exit else ():  # most files call none
            if (
                isinstance(n, ast.Call)
                and (is_exit_call(n) or call_name(n) == "SystemExit")
                and n.args
                and isinstance(n.args[0], ast.Call)
                and isinstance(n.args[0].func, ast.Name)
            ):
                names.add(n.args[0].func.id)
        info.memo["exit_status_functions"] = names
    return info.memo["exit_status_functions"]  # type: ignore[return-value]


def status_returned(node: ast.AST) -> int | None:
    """`return 1` in a function whose result is the exit status."""
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
        value = node.value.value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def deny_exit_code(fn: FunctionInfo, returns_status: bool) -> int | None:
    """The non-zero status the script exits with elsewhere (its deny), most common first."""
    codes = Counter(
        code
        for n in fn.nodes
        if (
            isinstance(n, ast.Call)
            and is_exit_call(n)
            and (code := exit_code(n)) not in (None, 0)
        )
        or (returns_status and (code := status_returned(n)) not in (None, 0))
    )  # fmt: skip
    if not codes:
        return None
    return 2 if codes[2] else codes.most_common(1)[0][0]


def exit_status_allow(ret: ast.Return, fn: FunctionInfo, info: ModuleInfo) -> AllowValue | None:
    """`return 0` in a function whose result is the exit status and that returns a non-zero
    status elsewhere: the script's "go ahead" (`sys.exit(main())`, 0 allows, 2 blocks)."""
    if status_returned(ret) != 0 or ret.value is None:
        return None
    if fn.node.name not in exit_status_functions(info):
        return None
    code = deny_exit_code(fn, returns_status=True)
    if code is None:
        return None
    return AllowValue(ret.value, str(code), "0")


def constants_set_in(handler: ast.ExceptHandler) -> dict[str, object]:
    """`matched = None` in the handler: the value that name has on the error path."""
    return {
        s.targets[0].id: s.value.value
        for s in handler.body
        if isinstance(s, ast.Assign)
        and len(s.targets) == 1
        and isinstance(s.targets[0], ast.Name)
        and isinstance(s.value, ast.Constant)
    }


def is_chain_head(stmt: ast.If, fn: FunctionInfo) -> bool:
    """An `if` with at least one `elif`, and not itself the `elif` of another `if`."""
    if not (len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If)):
        return False
    return not any(isinstance(other, ast.If) and other.orelse == [stmt] for other in fn.statements)


def if_chain(head: ast.If) -> list[ast.If]:
    """The `if` and its `elif`s, in order."""
    chain = [head]
    while len(chain[-1].orelse) == 1 and isinstance(chain[-1].orelse[0], ast.If):
        chain.append(chain[-1].orelse[0])
    return chain


@overload
def unawaited(value: ast.expr) -> ast.expr: ...
@overload
def unawaited(value: ast.expr | None) -> ast.expr | None: ...
def unawaited(value: ast.expr | None) -> ast.expr | None:
    """`x` for `await x`, else the value itself."""
    return value.value if isinstance(value, ast.Await) else value


def is_empty_collection(value: ast.expr | None) -> bool:
    """`[]`, `()`, `set()`, `{}`, `dict()`: a collection literal with nothing in it."""
    if isinstance(value, ast.List | ast.Tuple | ast.Set):
        return not value.elts
    if isinstance(value, ast.Dict):
        return not value.keys
    return (
        isinstance(value, ast.Call)
        and (dotted_name(value.func) or "") in ("list", "dict", "set", "tuple")
        and not value.args
    )


def emptied_name(stmt: ast.stmt, none_too: bool = False) -> str | None:
    """`name = []` (or `{}`, `set()`; with `none_too` also `name = None`): the name a
    statement empties."""
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return None
    target, value = stmt.targets[0], stmt.value
    empty = is_empty_collection(value) or (
        none_too and isinstance(value, ast.Constant) and value.value is None
    )
    return target.id if isinstance(target, ast.Name) and empty else None


def assigns(statements: list[ast.stmt], name: str) -> bool:
    """Some `name = ...` in the statements (nested blocks included): they set `name`."""
    return any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
        for s in statements
        for n in (s, *own_nodes(s))
    )


def blocks_of(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list of the function, nested blocks included (not nested functions)."""
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        for field in BLOCKS:
            block = getattr(current, field, None)
            if not isinstance(block, list) or not block:
                continue
            if isinstance(block[0], ast.stmt):
                yield block
            for child in block:
                if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    stack.append(child)


def refuses_somewhere(body: list[ast.stmt]) -> bool:
    """The block refuses somewhere: a deny, or `if <bad>: raise ...` under a condition."""
    if body_denies(body):
        return True
    return any(
        isinstance(node, ast.If) and any(isinstance(s, ast.Raise) and s.exc for s in node.body)
        for stmt in body
        for node in ast.walk(stmt)
    )
