"""FC138: client errors are handled, a server error's body is read as the answer."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.syntax import call_name

STATUS = re.compile(r"(?i)(^|_)(status|status_code|code)$")
# Calls that judge a status: `is_status_code_client_error(s)`, `response.raise_for_status()`.
CLIENT_ERROR_CALL = re.compile(r"(?i)client_error")
SERVER_AWARE_CALL = re.compile(r"(?i)(server_error|raise_for_status|is_success|is_error|is_ok)")
SERVER_AWARE_ATTR = re.compile(r"^(ok|is_success|is_error|is_server_error|is_redirect)$")
BODY_READ = {"text", "content", "body"}
BODY_CALL = {"read", "json", "text", "aread"}
ALLOW_TEXT = re.compile(r"(?i)\ballow(ed)?\b")
REFUSAL = "server error: the answer cannot be read, refusing"


class ServerErrorReadAsAnswer(Rule):
    """
    ## What it does
    Flags a function that fetches a permission document or answer over HTTP, handles the
    client errors (`401`/`403` deny, other `4xx` allow), never looks at server errors, and
    then reads the response body as the answer.

    ## Why is this bad?
    A `500` or `503` is not an answer: its body is an error page, or empty. Parsed as a
    robots.txt, a policy or a rule list it usually says nothing, which reads as "allow
    everything". A server that is down then grants what it would have refused (CWE-636;
    RFC 9309 asks crawlers to assume full restriction on `5xx` for exactly this reason).

    ## Example
    ```python
    response = await client.get(robots_url)
    if response.status_code in (401, 403):
        raise Forbidden(robots_url)
    elif 400 <= response.status_code < 500:
        return
    rules = parse(response.text)
    ```

    ## Use instead
    ```python
    elif 400 <= response.status_code < 500:
        return
    elif response.status_code >= 500:
        raise Forbidden(robots_url)
    rules = parse(response.text)
    ```

    ## Fix safety
    The fix raises `PermissionError` on a `5xx` before the body is read. Whether a server
    error should refuse, be retried or keep the last good answer is the author's decision —
    but it must not be "allow"; a caller that catches every error and allows needs fixing
    too.
    """

    code = "FC138"
    name = "server-error-read-as-answer"
    severity = "warning"
    summary = "Client errors are handled, and a server error's body is read as the answer."
    trigger = ("status",)
    file_words = ("status",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        nodes = list(fn.nodes)
        if _server_errors_handled(nodes):
            return
        allowing = [
            n
            for n in nodes
            if isinstance(n, ast.If | ast.IfExp) and _allows_on_client_error(n, nodes)
        ]
        if not allowing:
            return
        after = min(n.lineno for n in allowing)
        read = next((n for n in _body_reads(nodes) if n.lineno >= after), None)
        if read is None:
            return
        status = _status_of(allowing[0].test)
        statement = _statement_holding(fn.node, read)
        edits = []
        if status is not None and statement is not None:
            check = f'if {ast.unparse(status)} >= 500:\n    raise PermissionError("{REFUSAL}")\n'
            edits.append(ReplaceStatements(statement, statement, (check, KEEP)))
        yield Hit(
            node=read,
            message=(
                f"`{fn.qualname}` handles client errors (4xx) and never server errors: a "
                f"5xx error page is read here (`{ast.unparse(read)}`) as the answer, which "
                "usually says nothing, and nothing reads as allow."
            ),
            edits=edits,
            key_nodes=[read],
        )


def _status_of(test: ast.expr) -> ast.expr | None:
    """The status a client-error test looks at: `response.status_code`."""
    for node in ast.walk(test):
        if isinstance(node, ast.Call) and CLIENT_ERROR_CALL.search(call_name(node) or ""):
            return node.args[0] if node.args else None
        if isinstance(node, ast.Attribute | ast.Name) and _is_status(node):
            return node
    return None


def _statement_holding(root: ast.AST, expr: ast.expr) -> ast.stmt | None:
    """The innermost statement of a block that holds `expr`: where a check can go before."""
    found: ast.stmt | None = None
    for node in ast.walk(root):
        if (
            isinstance(node, ast.stmt)
            and node is not root
            and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.lineno <= expr.lineno <= (node.end_lineno or node.lineno)
            and any(child is expr for child in ast.walk(node))
            and (found is None or node.lineno >= found.lineno)
            and not _compound_around(node, expr)
        ):
            found = node
    return found


def _compound_around(node: ast.stmt, expr: ast.expr) -> bool:
    """A compound statement whose body holds `expr`: the check goes inside, not before it."""
    blocks = [getattr(node, name, []) for name in ("body", "orelse", "finalbody", "handlers")]
    return any(
        isinstance(stmt, ast.AST) and any(child is expr for child in ast.walk(stmt))
        for block in blocks
        for stmt in block
    )


def _server_errors_handled(nodes: list[ast.AST]) -> bool:
    """A 5xx status, a success range, `raise_for_status()` or `.ok` is looked at."""
    for node in nodes:
        if isinstance(node, ast.Call) and SERVER_AWARE_CALL.search(call_name(node) or ""):
            return True
        if isinstance(node, ast.Attribute) and SERVER_AWARE_ATTR.match(node.attr):
            return True
        if isinstance(node, ast.Compare) and _judges_server_errors(node):
            return True
    return False


def _judges_server_errors(test: ast.Compare) -> bool:
    """`s >= 500`, `s == 200`, `s < 300`, `s >= 400` (no upper bound), `s in (500, 503)`."""
    bounds = _bounds(test)
    if not bounds:
        return False
    lower = [c for op, c in bounds if op in ("ge", "gt")]
    upper = [c for op, c in bounds if op in ("le", "lt")]
    exact = [c for op, c in bounds if op == "eq"]
    if any(500 <= c < 600 or 200 <= c < 300 for c in exact):
        return True
    if any(c >= 400 for c in lower) and not upper:
        return True
    return any(c <= 400 for c in upper) and not lower


def _bounds(test: ast.Compare) -> list[tuple[str, int]]:
    """How the status is bounded: [("ge", 400), ("lt", 500)] for `400 <= s < 500`."""
    operands = [test.left, *test.comparators]
    bounds: list[tuple[str, int]] = []
    for i, op in enumerate(test.ops):
        left, right = operands[i], operands[i + 1]
        if _is_status(left):
            bounds += [(_relation(op, flipped=False), c) for c in _codes(right)]
        elif _is_status(right):
            bounds += [(_relation(op, flipped=True), c) for c in _codes(left)]
    return [(rel, c) for rel, c in bounds if rel]


def _relation(op: ast.cmpop, flipped: bool) -> str:
    """The status's relation to the constant: `400 <= s` is ("ge") like `s >= 400`."""
    names = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le"}
    mirror = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
    if isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn):
        return "eq"
    name = names.get(type(op), "")
    return mirror.get(name, "") if flipped else name


def _codes(expr: ast.expr) -> list[int]:
    elements = expr.elts if isinstance(expr, ast.Tuple | ast.List | ast.Set) else [expr]
    return [
        e.value
        for e in elements
        if isinstance(e, ast.Constant) and isinstance(e.value, int) and 100 <= e.value < 600
    ]


def _is_status(expr: ast.expr) -> bool:
    name = expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", "")
    return bool(STATUS.search(name or ""))


def _client_error_test(test: ast.expr) -> bool:
    """`400 <= s < 500`, `s in (401, 403)`, `s == 404`, `is_status_code_client_error(s)`."""
    if isinstance(test, ast.Call):
        return bool(CLIENT_ERROR_CALL.search(call_name(test) or ""))
    if isinstance(test, ast.BoolOp):
        return any(_client_error_test(v) for v in test.values)
    if isinstance(test, ast.Compare):
        bounds = _bounds(test)
        exact = [c for op, c in bounds if op == "eq"]
        if exact:
            return all(400 <= c < 500 for c in exact)
        lower = [c for op, c in bounds if op in ("ge", "gt")]
        upper = [c for op, c in bounds if op in ("le", "lt")]
        return any(c >= 400 for c in lower) and any(c <= 500 for c in upper)
    return False


def _allows_on_client_error(node: ast.AST, nodes: list[ast.AST]) -> bool:
    """A client error lets the action through: the branch returns nothing or yes while the
    function refuses elsewhere, or it stands in an allow-everything answer (`"Allow: /"`)."""
    if isinstance(node, ast.IfExp) and _client_error_test(node.test):
        return _says_allow(node.body)
    if not isinstance(node, ast.If) or not _client_error_test(node.test):
        return False
    last = node.body[-1]
    if isinstance(last, ast.Assign | ast.Return) and last.value and _says_allow(last.value):
        return True
    returns_yes = isinstance(last, ast.Return) and (
        last.value is None or (isinstance(last.value, ast.Constant) and last.value.value is True)
    )
    return returns_yes and any(isinstance(n, ast.Raise) for n in nodes)


def _says_allow(expr: ast.expr) -> bool:
    return (
        isinstance(expr, ast.Constant)
        and isinstance(expr.value, str | bytes)
        and ALLOW_TEXT.search(
            expr.value if isinstance(expr.value, str) else expr.value.decode("latin-1")
        )
        is not None
    )


def _body_reads(nodes: list[ast.AST]) -> list[ast.expr]:
    """`response.text`, `await response.read()`, `response.json()`, in source order."""
    reads: list[ast.expr] = []
    for node in nodes:
        read_attribute = isinstance(node, ast.Attribute) and node.attr in BODY_READ
        read_call = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in BODY_CALL
            and not node.args
        )
        if (read_attribute or read_call) and isinstance(node, ast.expr):
            reads.append(node)
    reads = [r for r in reads if not any(r is not o and _inside(r, o) for o in reads)]
    return sorted(reads, key=lambda n: (n.lineno, n.col_offset))


def _inside(inner: ast.expr, outer: ast.expr) -> bool:
    return any(child is inner for child in ast.walk(outer))


ServerErrorReadAsAnswer.VALID = [
    # server errors refuse
    """
async def check_robots(client, url):
    response = await client.get(url)
    if response.status_code in (401, 403):
        raise Forbidden(url)
    elif 400 <= response.status_code < 500:
        return
    elif response.status_code >= 500:
        raise Forbidden(url)
    if not parse(response.text).can_fetch(url):
        raise Forbidden(url)
""",
    # raise_for_status() turns a 5xx into an error before the body is read
    """
def load_policy(session, url):
    response = session.get(url)
    if response.status_code == 404:
        return "allow-all"
    response.raise_for_status()
    return parse(response.text)
""",
    # a client error is not read as allow: only reported
    """
def fetch_user(session, url):
    response = session.get(url)
    if response.status_code == 404:
        return None
    return response.json()
""",
]

ServerErrorReadAsAnswer.INVALID = [
    Invalid(
        """\
async def check_robots(client, url):
    response = await client.get(url)
    if response.status_code in (401, 403):
        raise Forbidden(url)
    elif 400 <= response.status_code < 500:
        return
    robots = response.text
    if not parse(robots).can_fetch(url):
        raise Forbidden(url)
""",
        line=7,
        fixed="""\
async def check_robots(client, url):
    response = await client.get(url)
    if response.status_code in (401, 403):
        raise Forbidden(url)
    elif 400 <= response.status_code < 500:
        return
    if response.status_code >= 500:
        raise PermissionError("server error: the answer cannot be read, refusing")
    robots = response.text
    if not parse(robots).can_fetch(url):
        raise Forbidden(url)
""",
        expected_message=(
            "`check_robots` handles client errors (4xx) and never server errors: a 5xx error "
            "page is read here (`response.text`) as the answer, which usually says nothing, "
            "and nothing reads as allow."
        ),
    ),
    Invalid(
        """\
async def load_robots(client, url):
    response = await client.send(url)
    body = (
        b"User-agent: *\\nAllow: /"
        if is_client_error(response.status_code)
        else await response.read()
    )
    return Robots.parse(body.decode())
""",
        line=6,
        fixed="""\
async def load_robots(client, url):
    response = await client.send(url)
    if response.status_code >= 500:
        raise PermissionError("server error: the answer cannot be read, refusing")
    body = (
        b"User-agent: *\\nAllow: /"
        if is_client_error(response.status_code)
        else await response.read()
    )
    return Robots.parse(body.decode())
""",
        expected_message=(
            "`load_robots` handles client errors (4xx) and never server errors: a 5xx error "
            "page is read here (`response.read()`) as the answer, which usually says nothing, "
            "and nothing reads as allow."
        ),
    ),
]
