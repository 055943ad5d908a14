"""FC139: a helper drops what it cannot read, and its caller checks only what is left."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import (
    FunctionInfo,
    ModuleInfo,
    functions_by_qualname,
    resolve_call,
)
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, refuses_somewhere, unawaited

COLLECT = {"append", "add", "extend", "update"}


class DroppedItemsSkipTheCheck(Rule):
    """
    ## What it does
    Flags a helper that builds a list in a loop and skips an item it cannot read
    (`except ValueError: continue`), when a caller in the module walks the helper's answer
    and refuses on a bad item (`for ip in resolve(host): if is_private(ip): raise ...`).

    ## Why is this bad?
    What the helper could not read is exactly what the caller never checks: an address
    that does not parse, a rule that does not load. If nothing could be read, the answer is
    empty and the check passes without having looked at anything (CWE-636).

    ## Example
    ```python
    def resolve(host):
        ips = []
        for info in socket.getaddrinfo(host, 443):
            try:
                ips.append(ipaddress.ip_address(info[4][0]))
            except ValueError:
                continue
        return ips

    def validate(host):
        for ip in resolve(host):
            if ip.is_private:
                raise Blocked(host)
    ```

    ## Use instead
    ```python
            except ValueError:
                raise
    ```

    ## Fix safety
    The fix lets the helper's error reach the caller, so the check fails instead of
    passing. A caller that must tolerate unreadable items should refuse them instead.
    """

    code = "FC139"
    name = "dropped-items-skip-the-check"
    severity = "warning"
    summary = "A helper drops what it cannot read, and its caller checks only what is left."
    fix_safety = "The helper's error reaches the caller's check."
    trigger = ("continue", "pass")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not fn.tries:
            return  # the items are dropped in a handler
        returned = _returned_names(fn)
        if not returned:
            return
        for handler, skip, collected in _dropped_items(fn, returned):
            if _refuses_nothing(fn, collected):
                continue
            caller = _checking_caller(fn, info)
            if caller is None:
                return
            yield Hit(
                node=skip,
                message=(
                    f"`{fn.qualname}` drops an item of `{collected}` when it catches "
                    f"{caught(handler)}, and `{caller.qualname}` refuses only items it is "
                    "given: what cannot be read is never checked, and an answer of nothing "
                    "passes."
                ),
                edits=[ReplaceStatements(skip, skip, ("raise",))],
                key_nodes=[handler],
            )


def _refuses_nothing(fn: FunctionInfo, name: str) -> bool:
    """`if not ips: raise ...`: an answer of nothing is refused, not passed on."""
    for node in fn.nodes:
        if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
            test = node.test
            if (
                isinstance(test, ast.UnaryOp)
                and isinstance(test.op, ast.Not)
                and isinstance(test.operand, ast.Name)
                and test.operand.id == name
            ):
                return True
            if (
                isinstance(test, ast.Compare)
                and name in ast.unparse(test.left)
                and "len" in ast.unparse(test.left)
            ):
                return True
    return False


def _returned_names(fn: FunctionInfo) -> set[str]:
    return {
        n.value.id
        for n in fn.statements
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)
    }


def _dropped_items(
    fn: FunctionInfo, returned: set[str]
) -> Iterator[tuple[ast.ExceptHandler, ast.stmt, str]]:
    """(handler, its `continue`/`pass`, the list) for a loop whose `try` collects into a
    returned list and whose handler skips the item."""
    for loop in fn.nodes:
        if not isinstance(loop, ast.For | ast.AsyncFor):
            continue
        for stmt in loop.body:
            if not isinstance(stmt, ast.Try):
                continue
            collected = _collected_into(stmt.body, returned)
            if collected is None:
                continue
            last_in_loop = stmt is loop.body[-1]
            for handler in stmt.handlers:
                skip = _skip(handler, last_in_loop)
                if skip is not None and catches_failures(handler, stmt):
                    yield handler, skip, collected


def _collected_into(body: list[ast.stmt], names: set[str]) -> str | None:
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COLLECT
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in names
        ):
            return node.func.value.id
    return None


def _skip(handler: ast.ExceptHandler, last_in_loop: bool) -> ast.stmt | None:
    """`continue`, or `pass` (or a log line) when the `try` ends the loop's body."""
    last = handler.body[-1]
    if isinstance(last, ast.Continue):
        return last
    quiet = all(isinstance(s, ast.Pass | ast.Expr) for s in handler.body)
    return last if last_in_loop and quiet else None


def _checking_caller(helper: FunctionInfo, info: ModuleInfo) -> FunctionInfo | None:
    """A function of the module that loops over the helper's answer and refuses in it."""
    for caller in functions_by_qualname(info).values():
        if caller.node is helper.node:
            continue
        answers = _names_of_answers(caller, helper, info)
        for loop in caller.nodes:
            if not isinstance(loop, ast.For | ast.AsyncFor):
                continue
            source = unawaited(loop.iter)
            from_helper = (
                isinstance(source, ast.Call) and _calls(source, helper, caller, info)
            ) or (isinstance(source, ast.Name) and source.id in answers)
            if from_helper and refuses_somewhere(loop.body):
                return caller
    return None


def _calls(call: ast.Call, helper: FunctionInfo, caller: FunctionInfo, info: ModuleInfo) -> bool:
    resolved = resolve_call(call, caller, info)
    return resolved is not None and resolved.node is helper.node


def _names_of_answers(caller: FunctionInfo, helper: FunctionInfo, info: ModuleInfo) -> set[str]:
    """`ips` for `ips = await resolve(host)` in the caller."""
    names: set[str] = set()
    for node in caller.nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            value = unawaited(node.value)
            target = node.targets[0]
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.Call)
                and _calls(value, helper, caller, info)
            ):
                names.add(target.id)
    return names


DroppedItemsSkipTheCheck.VALID = [
    # an answer of nothing is refused: what is left is at least something to check
    """
def resolve(host):
    ips = []
    for info in socket.getaddrinfo(host, 443):
        try:
            ips.append(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
        except ValueError:
            continue
    if not ips:
        raise PermissionError(f"{host} resolves to no usable address")
    return ips

def validate(host):
    for ip in resolve(host):
        if ip.is_private:
            raise PermissionError(host)
""",
    # the helper lets the error through: the check fails instead of passing
    """
def resolve(host):
    ips = []
    for info in socket.getaddrinfo(host, 443):
        ips.append(ipaddress.ip_address(info[4][0]))
    return ips

def validate(host):
    for ip in resolve(host):
        if ip.is_private:
            raise PermissionError(host)
""",
    # nobody checks the answer: skipping bad lines of a report is fine
    """
def parse_lines(text):
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows

def show(text):
    for row in parse_lines(text):
        print(row)
""",
]

DroppedItemsSkipTheCheck.INVALID = [
    Invalid(
        """\
async def resolve(host):
    ips = []
    for info in await loop.getaddrinfo(host, 443):
        try:
            ips.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            continue
    return ips

async def validate(url, host):
    for ip in await resolve(host):
        if ip.is_private:
            raise PermissionError(f"{url} resolves to a private address")
""",
        line=7,
        fixed="""\
async def resolve(host):
    ips = []
    for info in await loop.getaddrinfo(host, 443):
        try:
            ips.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            raise
    return ips

async def validate(url, host):
    for ip in await resolve(host):
        if ip.is_private:
            raise PermissionError(f"{url} resolves to a private address")
""",
        expected_message=(
            "`resolve` drops an item of `ips` when it catches `ValueError`, and `validate` "
            "refuses only items it is given: what cannot be read is never checked, and an "
            "answer of nothing passes."
        ),
    ),
]
