"""FC116: an error path whose own comments or log messages say it lets things through."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import (
    AllowValue,
    allow_value,
    deny_word,
    gated_by_fail_open_flag,
    under_fail_open_flag,
)
from failclosed.analyzers.denials import (
    catches_failures,
    checks_auth,
    is_deny_raise,
    is_deny_response,
)
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.flow import FunctionFlow, is_exit_call, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, functions_by_qualname
from failclosed.analyzers.model import Severity
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    REQUEST_INPUT,
    absent_subject,
    append_to_handler,
    comments_above,
    exit_code,
    failure_branches,
    negated_isinstance,
    reword_block,
    reword_edits,
    status_returned,
    tries,
)
from failclosed.analyzers.rules.fc111_degraded_capability_allows import import_fallback_flags
from failclosed.analyzers.syntax import (
    call_name,
    conjuncts,
    dotted_name,
    handler_types,
    own_nodes,
    text_in,
)
from failclosed.analyzers.vocabulary import ALLOW_LANGUAGE, DECISION_WORD, IMPORT_ERRORS

# "not failing open", "rather than fail open", "never auto-approve": the words deny it.
# (a comma or a dash ends the negated clause)
NEGATED = re.compile(
    r"(?i)(\bnot|\bnever|n't|instead of|rather than|avoid(ing)?|prevent(ing)?|\bnor"
    r"|\bno longer)[^\w,;.:\-\u2013\u2014]+(\w+[^\w,;.:\-\u2013\u2014]+)?$"
)
# "... would be a fail-open": names what the code avoids ("would be allowed through" still
# says what happens).
HYPOTHETICAL = re.compile(r"(?i)\bwould (be|mean) (an? )?$")
FAIL_OPEN_WORDS = re.compile(r"(?i)^fail(ing|s|ed)?[- ]open$")
DENY_CALL = re.compile(r"(?i)^_*(deny|reject|block|forbid|refuse|abort|fail_closed)\w*$")
COMMENT = re.compile(r"#(.*)$")
DENY_RAISE = 'raise PermissionError("could not verify the check: denying")'


class SaysItFailsOpen(Rule):
    """
    ## What it does
    Flags an error path (an `except` handler, or the branch taken when a check returned no
    answer, an error, a non-200 status or a missing result) whose own comment or log
    message says it lets the action through, "fail open", "defaulting to ALLOW",
    "auto-approving", "allowing", "be permissive", "skipping the check", and that does not
    deny on that path: it returns, continues, exits 0 or falls through.

    ## Why is this bad?
    The words are the strongest evidence there is: the author describes a failure of the
    permission system and chooses to grant. Whatever the function is called, that is the
    fail-open path (CWE-636, OWASP A10:2025). When the branch instead tests whether a
    permission system is configured at all, the choice may be deliberate: it is reported
    as a note.

    ## Example
    ```python
    def sync_verdict(client, request):
        verdict = "POLICY_ACTION_ALLOW"
        try:
            verdict = client.evaluate(request)
        except Exception:
            log.warning("policy evaluation failed; defaulting to ALLOW")
        return verdict
    ```

    ## Use instead
    ```python
    def sync_verdict(client, request):
        verdict = "POLICY_ACTION_ALLOW"
        try:
            verdict = client.evaluate(request)
        except Exception:
            log.warning("policy evaluation failed; denying")
            verdict = "POLICY_ACTION_DENY"
        return verdict
    ```

    ## Fix safety
    The fix answers with the deny counterpart of the allow value on that path (`False`,
    `"deny"`, `..._DENY`, the verdict variable set to deny), exits with the script's deny
    status, or raises; and rewords the message so it no longer says it allows. Only the
    failure path changes.
    """

    code = "FC116"
    name = "says-it-fails-open"
    severity = "error"
    summary = "An error path says, in its comment or log message, that it lets things through."
    fix_safety = "Only the failure path changes: deny value, deny exit status, or raise."
    fallback = True
    trigger = ("allow", "Allow", "ALLOW", "open", "Open", "OPEN", "permissive", "approv",
               "Approv", "APPROV", "grant", "accept", "through", "skip", "Skip", "proceed",
               "permit", "let ", "letting", "treat", "block", "ignored", "bypass", "no-op",
               "noop", "back to", "nforcement", "erification", "alidation", "rotection",
               "org-wide", "org wide", "nrestricted", "nscoped", "nfiltered",
               "orld-readable", "orld readable", "ORCEMENT", "ICATION", "IDATION",
               "TECTION", "rather than")  # fmt: skip

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            for handler in node.handlers:
                imports = import_fallback(handler)
                if gated_by_fail_open_flag(handler) or not (
                    imports or catches_failures(handler, node)
                ):
                    continue
                body = _open_branch(handler.body, fn, info) or handler.body
                if body is handler.body:
                    text = _words(info, handler, handler.lineno)
                else:  # `if transient: <goes on> else: raise`: only the open branch speaks
                    text = _words(info, ast.Module(body=body, type_ignores=[]), body[0].lineno)
                declared = ""
                flow = fn.flow
                if not _says_fails_open(text):
                    declared = _declared_fail_open(fn, info, handler)
                    above = "" if declared else _said_above(info, flow, node)
                    if not (declared or _says_fails_open(above)):
                        sibling = _sibling_refusal(fn, info, node, handler)
                        if sibling is not None:
                            yield sibling
                        continue
                    text = f"{above} | {text}" if above else text
                severity: Severity = "warning" if imports or declared else "error"  # deliberate?
                hit = self._region(
                    fn, info, flow, handler, body, declared or text, severity, True, node,
                    declared=bool(declared),
                )  # fmt: skip
                if hit:
                    yield hit
        for stmt in fn.statements:
            if not isinstance(stmt, ast.If):
                continue
            branches = [*failure_branches(stmt, fn), *_unexpected_else(stmt, info)]
            if not branches and _lacks_presented_input(stmt, fn):
                branches = [(stmt.body, True)]  # a request without its headers is malformed
            if not branches and _says_it_failed(info, stmt):
                branches = [(stmt.body, True)]  # "... - membership API unavailable"
            if not branches and (_import_failed(stmt.test, info) or _malformed(stmt.test)):
                branches = [(stmt.body, True)]  # `if not HAS_NACL:`, `if not isinstance(...)`
            for body, failing in branches:
                if failing is None or not body:
                    continue
                start = stmt.lineno if body is stmt.body else body[0].lineno - 1
                text = _words(info, ast.Module(body=body, type_ignores=[]), start, stmt)
                if not _says_fails_open(text):
                    continue
                flow = fn.flow
                if under_fail_open_flag([stmt, *flow.ancestors(stmt)]):
                    continue
                severity = "error" if failing else "note"
                hit = self._region(fn, info, flow, stmt, body, text, severity, failing)
                if hit:
                    yield hit

    def _region(
        self,
        fn: FunctionInfo,
        info: ModuleInfo,
        flow: FunctionFlow,
        owner: ast.stmt | ast.ExceptHandler,
        body: list[ast.stmt],
        text: str,
        severity: Severity,
        failing: bool,
        guarded: ast.Try | None = None,
        declared: bool = False,
    ) -> Hit | None:
        """A hit for `body` when it does not deny and the function decides on access
        (or the failing code it guards is a check: `validate_tools(...)`, `acl.lookup`)."""
        handler = isinstance(owner, ast.ExceptHandler)
        if _denies(body, fn, info):
            return None
        checks = (
            declared
            or (guarded is not None and (checks_auth(guarded) or _relays_failure(guarded, fn)))
            or _script_lets_through(fn, info, body)
        )
        if not (checks or _decides(fn, info, text, handler)):
            return None
        exit_stmt = _exit_of(body)
        edits = _fix(fn, info, flow, owner, body, exit_stmt) if failing else []
        if edits and handler:
            edits += reword_edits(info, owner)
        elif edits:
            start = owner.lineno if body is getattr(owner, "body", None) else body[0].lineno - 1
            edits += reword_block(info, list(body), start, _end(body))
        said = f"`{fn.qualname}` says this path lets the action through ({_quote(text)})"
        message = (
            f"{said} when its check fails, and nothing on it denies: a failing permission "
            "check grants access."
            if failing
            else f"{said} when nothing is configured; fine if that is documented, but a "
            "configured system that errors must deny."
        )
        return Hit(
            node=exit_stmt if exit_stmt is not None else body[0],
            message=message,
            edits=edits,
            key_nodes=[owner] if isinstance(owner, ast.ExceptHandler) else body,
            severity=severity,
            region=(owner.lineno if handler else body[0].lineno, _end(body)),
        )


def _open_branch(body: list[ast.stmt], fn: FunctionInfo, info: ModuleInfo) -> list[ast.stmt] | None:
    """The branch of a handler's closing `if` that goes on, when the other one denies:
    `if "no such table" in str(e): <log, let it pass> else: raise`."""
    last = body[-1] if body else None
    if not isinstance(last, ast.If) or not last.orelse:
        return None
    denies = _denies(last.body, fn, info), _denies(last.orelse, fn, info)
    if denies == (False, True):
        return last.body
    if denies == (True, False):
        return last.orelse
    return None


# A branch's own log line saying it runs because something failed.
FAILURE_SAID = re.compile(
    r"(?i)\b(unavailable|unreachable|failed|failure|timed out|time(d)?out|is down|errored"
    r"|could not|unable to)\b"
)


def _says_it_failed(info: ModuleInfo, stmt: ast.If) -> bool:
    """The branch's own strings say a service failed, or its test looks for a failure in a
    tool's output (`"Failed to install" in text`): it is the failure path."""
    if any(_failure_in_output(part) for part in _parts(stmt.test)):
        return True
    end = stmt.body[-1].end_lineno or stmt.body[-1].lineno
    source = "".join(info.lines[stmt.body[0].lineno - 1 : end])
    if not FAILURE_SAID.search(source):
        return False  # the cheap test first: most branches say nothing of the kind
    said = " ".join(
        n.value
        for s in stmt.body
        for n in _outside_handlers(s)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )
    return FAILURE_SAID.search(said) is not None


def _outside_handlers(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and what it holds, except `except` handlers: a handler's "... failed" speaks
    of its own failure, not of the branch around it."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(
            c for c in ast.iter_child_nodes(current) if not isinstance(c, ast.ExceptHandler)
        )


def _parts(test: ast.expr) -> list[ast.expr]:
    return test.values if isinstance(test, ast.BoolOp) else [test]


def _failure_in_output(test: ast.expr) -> bool:
    """`"ResolutionImpossible" in output`, `"Failed to install" in text`."""
    said = text_in(test)
    return said is not None and FAILURE_SAID.search(said) is not None


def _import_failed(test: ast.expr, info: ModuleInfo) -> bool:
    """`if not HAS_NACL:` where the module sets HAS_NACL False when its import fails: the
    branch runs because the verifier could not be loaded."""
    absent = absent_subject(test)
    name = dotted_name(absent[0]) if absent is not None else None
    return name is not None and name in import_fallback_flags(info)


def _malformed(test: ast.expr) -> bool:
    """`if not isinstance(answer, str)` (alone or in an `and`): the value is malformed."""
    return any(negated_isinstance(p) is not None for p in conjuncts(test))


def _lacks_presented_input(stmt: ast.If, fn: FunctionInfo) -> bool:
    """`if not all(required_headers.values()):` where the values are the request's own
    headers or parameters: the caller did not send what the check needs."""
    absent = absent_subject(stmt.test)
    if absent is None:
        return False
    subject = absent[0]
    names = {n.id for n in ast.walk(subject) if isinstance(n, ast.Name)}
    sources: list[ast.AST] = [subject]
    for node in fn.statements:
        if (
            isinstance(node, ast.Assign)
            and node.lineno < stmt.lineno
            and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
        ):
            sources.append(node.value)
    return any(
        isinstance(n, ast.Call) and REQUEST_INPUT.search(dotted_name(n.func) or "")
        for source in sources
        for n in ast.walk(source)
    )


# "A missing config fails OPEN (= enabled)": the function's own docstring says its errors allow.
DECLARED_FAIL_OPEN = re.compile(r"(?i)\bfail(s|ing|ed)?[- ]open\b")


def _declared_fail_open(fn: FunctionInfo, info: ModuleInfo, handler: ast.ExceptHandler) -> str:
    """The docstring sentence that says the function fails open on errors, or "". Only for
    a function that answers (a yes/no, a guard): "a cache miss fails open" in a helper that
    returns nothing describes something else. The docstring is read first: it is cheap,
    and it rules out almost every function before any handler is read."""
    declared = _fail_open_sentence(fn)
    if not declared or not (fn.returns_bool or fn.polarity is not None or fn.guard):
        return ""
    if not any(isinstance(n, ast.Return) and n.value is not None for n in handler.body):
        return ""  # the docstring speaks of the answer: a handler that answers
    if any(_says_fails_open(_words(info, h, h.lineno)) for t in tries(fn) for h in t.handlers):
        return ""  # the handlers say it themselves, where it applies
    return declared


def _fail_open_sentence(fn: FunctionInfo) -> str:
    """The first docstring sentence saying "fails open", not negated; "" when none."""
    doc = (ast.get_docstring(fn.node, clean=False) or "") if fn.qualname != "<module>" else ""
    if not DECLARED_FAIL_OPEN.search(doc[:3000]):
        return ""
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc[:3000].split())):
        m = DECLARED_FAIL_OPEN.search(sentence)
        if m and not NEGATED.search(sentence[max(0, m.start() - 30) : m.start()]):
            return sentence[:200]
    return ""


def import_fallback(handler: ast.ExceptHandler) -> bool:
    """`except ImportError:` alone: the module that would check is missing."""
    types = handler_types(handler)
    return bool(types) and set(types) <= IMPORT_ERRORS


# An `else:` that catches what the check did not expect: "Unclear response", "unknown verdict".
UNEXPECTED = re.compile(
    r"(?i)\b(unclear|unexpected|unknown|unrecogni[sz]ed|malformed|invalid|ambiguous"
    r"|could ?n[o']t (parse|decide|tell|determine)|neither)\b"
)


def _unexpected_else(stmt: ast.If, info: ModuleInfo) -> list[tuple[list[ast.stmt], bool]]:
    """The last `else:` of an if/elif chain whose own words say the answer was not understood."""
    last = stmt
    while len(last.orelse) == 1 and isinstance(last.orelse[0], ast.If):
        last = last.orelse[0]
    if last is stmt and len(stmt.orelse) == 0:
        return []
    body = last.orelse
    if not body or isinstance(body[0], ast.If):
        return []
    said = "".join(info.lines[comments_above(info, body[0].lineno) - 1 : _end(body)])
    return [(body, True)] if UNEXPECTED.search(said) else []


def _end(body: list[ast.stmt]) -> int:
    return body[-1].end_lineno or body[-1].lineno


def _words(info: ModuleInfo, node: ast.AST, start: int, test_of: ast.If | None = None) -> str:
    """The comments and string literals of a region: what the code says about itself.

    Comments on the lines just above the region count (`# config did not load: allow all`),
    code does not: identifiers such as `fail_open` are a setting, not a description.
    """
    end = max((getattr(n, "end_lineno", 0) or 0) for n in ast.walk(node)) or start
    first = comments_above(info, start)
    said = [m.group(1) for line in info.lines[first - 1 : end] if (m := COMMENT.search(line))]
    skip = set() if test_of is None else {id(n) for n in ast.walk(test_of.test)}
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip:
            said.append(n.value)
    return " | ".join(said)


def _said_above(info: ModuleInfo, flow: FunctionFlow, node: ast.Try | ast.TryStar) -> str:
    """The comments just above a `try`, or above the default it sets up right before it:
    `# fail-open: apply at once if there is no Redis` / `applied = False` / `try: ...`."""
    start = comments_above(info, node.lineno)
    place = flow.places.get(id(node))
    if start == node.lineno and place is not None and place.index > 0:
        before = place.block[place.index - 1]
        if isinstance(before, ast.Assign | ast.AnnAssign) and before.end_lineno == node.lineno - 1:
            start = comments_above(info, before.lineno)
    return " | ".join(
        m.group(1)
        for line in info.lines[start - 1 : node.lineno - 1]
        if (m := COMMENT.search(line))
    )


def _sibling_refusal(
    fn: FunctionInfo, info: ModuleInfo, node: ast.Try | ast.TryStar, handler: ast.ExceptHandler
) -> Hit | None:
    """A broad handler that swallows the error and goes on, after a sibling handler of the
    same `try` that raises and says why: "the task will fail rather than run without the
    caller's identity". The broad handler does what its sibling refuses to."""
    if handler.type is not None and dotted_name(handler.type) not in ("Exception", "BaseException"):
        return None
    if not swallows(handler):
        return None
    for sibling in node.handlers:
        if sibling is handler or not sibling.body or not isinstance(sibling.body[-1], ast.Raise):
            continue
        refused = _refused_words(_words(info, sibling, sibling.lineno))
        if refused is None:
            continue
        return Hit(
            node=handler.body[0],
            message=(
                f"`{fn.qualname}` swallows any other error here and goes on, while the handler "
                f'at line {sibling.lineno} raises rather than let that happen ("{refused}"): '
                "an unexpected failure does what the expected one may not."
            ),
            edits=[append_to_handler(handler, "raise")],
            key_nodes=[handler, sibling],
            severity="warning",
        )
    return None


def _spoken(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Each allow phrase of `text`, with the words just before it (what may negate it)."""
    for m in ALLOW_LANGUAGE.finditer(text):
        yield m, text[max(0, m.start() - 30) : m.start()]


def _refused_words(text: str) -> str | None:
    """The allow phrase a text says the code refuses ("rather than run without ...")."""
    return next((m.group(0) for m, before in _spoken(text) if NEGATED.search(before)), None)


def _says_fails_open(text: str) -> bool:
    """Allow language that is not negated ("rather than fail open" does not count)."""
    if not text:
        return False
    for m, before in _spoken(text):
        if NEGATED.search(before):
            continue
        if FAIL_OPEN_WORDS.match(m.group(0)) and HYPOTHETICAL.search(before):
            continue
        return True
    return False


def _quote(text: str) -> str:
    m = ALLOW_LANGUAGE.search(text)
    return f'"{m.group(0)}"' if m else "its own words"


def _denies(body: list[ast.stmt], fn: FunctionInfo, info: ModuleInfo) -> bool:
    """Something on the path says no: a raise, a deny value, a deny exit or helper."""
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if isinstance(n, ast.Raise):
                return True
            if isinstance(n, ast.Return) and n.value is not None and _is_deny(n.value, fn, info):
                return True
            if isinstance(n, ast.Call):
                if is_exit_call(n) and n.args and not _is_zero(n.args[0]):
                    return True
                if DENY_CALL.match(call_name(n)) or is_deny_raise(n):
                    return True
            if (
                isinstance(n, ast.Constant)
                and isinstance(n.value, str)
                and n.value.lower() in ("deny", "denied", "block", "blocked", "reject", "rejected")
            ):
                return True
    return False


def _is_zero(arg: ast.expr) -> bool:
    return isinstance(arg, ast.Constant) and arg.value in (0, None, False)


def _is_deny(value: ast.expr, fn: FunctionInfo, info: ModuleInfo) -> bool:
    if is_deny_response(value):
        return True
    if isinstance(value, ast.Tuple) and value.elts:
        value = value.elts[0]
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return value.value is (fn.polarity == "deny")
    if isinstance(value, ast.Constant) and type(value.value) is int and value.value != 0:
        return _answers_exit_status(fn)  # `return 2` from a hook whose `return 0` lets it run
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return deny_word(value.value) is None and bool(
            re.search(r"(?i)deny|denied|block|reject|forbid", value.value)
        )
    return isinstance(value, ast.Attribute) and bool(
        re.search(r"(?i)deny|denied|block|reject|forbid", value.attr)
    )


def _decides(fn: FunctionInfo, info: ModuleInfo, text: str, handler: bool) -> bool:
    """The function, its class or the path's own words are about access decisions.

    The allow words that made the path suspect do not count twice: "defaulting to allowing
    filtering" says nothing about permissions, "policy down, allowing" does.
    """
    if fn.polarity is not None or fn.guard:
        return True
    doc = (ast.get_docstring(fn.node, clean=False) or "") if fn.qualname != "<module>" else ""
    cls = fn.class_node.name if fn.class_node is not None else ""
    said = " ".join([fn.node.name, cls]).replace("_", " ")
    if DECISION_WORD.search(said) or DECISION_WORD.search(doc[:2000]) or GUARDRAIL.search(doc):
        return True
    rest = ALLOW_LANGUAGE.sub(" ", text)
    if any(m.group(0).lower() not in ALLOW_FORMS for m in DECISION_WORD.finditer(rest)):
        return True
    if handler and re.search(r"(?i)(?<![a-z])allowing(?![a-z])", text) is not None:
        return True
    outer = _enclosing_function(fn, info)  # a decorator's wrapper does what the decorator is for
    return outer is not None and _decides(outer, info, "", False)


def _script_lets_through(fn: FunctionInfo, info: ModuleInfo, body: list[ast.stmt]) -> bool:
    """A script's own code (module level, or the function its `__main__` block runs) that
    blocks with a non-zero exit status elsewhere (a hook: `sys.exit(2)` blocks, a CI gate:
    `sys.exit(1)`) ends this path with `sys.exit(0)`: it lets it through."""
    if fn.qualname != "<module>" and fn.qualname not in _script_entries(info):
        return False
    last = _exit_of(body)
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)):
        return False
    if exit_code(last.value) != 0:
        return False
    doc = ast.get_docstring(info.tree) or ""
    if TOOL_HOOK.search(doc[:2000]) or DECISION_WORD.search(doc[:2000]):
        return True  # the script is a gate by its own account (it may block with JSON)
    return any(
        isinstance(n, ast.Call) and is_exit_call(n) and (exit_code(n) or 0) > 0
        for n in ast.walk(info.tree)
    )


def _script_entries(info: ModuleInfo) -> set[str]:
    """Names of the functions `if __name__ == "__main__":` calls: the script's own code."""
    found: set[str] = set()
    for stmt in info.tree.body:
        if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
            found.update(
                call_name(n) for s in stmt.body for n in ast.walk(s) if isinstance(n, ast.Call)
            )
    return found


def _enclosing_function(fn: FunctionInfo, info: ModuleInfo) -> FunctionInfo | None:
    """`safety_wrapper` for `safety_wrapper.decorator.wrapper`: the function `fn` is defined
    in, when it is defined in one."""
    qualname = fn.qualname.rsplit(".", 1)[0] if "." in fn.qualname else ""
    while qualname:
        outer = functions_by_qualname(info).get(qualname)
        if outer is not None:
            return outer
        qualname = qualname.rsplit(".", 1)[0] if "." in qualname else ""
    return None


def _relays_failure(node: ast.Try | ast.TryStar, fn: FunctionInfo) -> bool:
    """The try answers a failing status (`if retval: return retval`, `return 1`) in a
    function whose `return 0` lets things go ahead: a hook that runs checks."""
    relays = False
    for stmt in node.body:
        for n in [stmt, *own_nodes(stmt)]:
            if (
                isinstance(n, ast.If)
                and isinstance(n.test, ast.Name)
                and any(
                    isinstance(r, ast.Return)
                    and isinstance(r.value, ast.Name)
                    and r.value.id == n.test.id
                    for r in n.body
                )
            ):
                relays = True
    return relays and _answers_exit_status(fn)


def _answers_exit_status(fn: FunctionInfo) -> bool:
    """The function answers a process status: `return 0` is one of its answers."""
    return any(status_returned(n) == 0 for n in fn.nodes)


ALLOW_FORMS = {"allow", "allows", "allowed"}
# A guardrail decides too (not a decision word for weighing names: `..._guardrail_trip`).
GUARDRAIL = re.compile(r"(?i)guardrail")
# An agent's hook that runs before a tool and may stop it: a gate by design.
TOOL_HOOK = re.compile(
    r"(?i)(?<![a-z])(pre.?tool.?use|before.?tool.?(use|call)|permission.?request)"
)


def _exit_of(body: list[ast.stmt]) -> ast.stmt | None:
    """The statement that answers on this path, when there is one."""
    last = body[-1]
    if isinstance(last, ast.Return | ast.Continue | ast.Pass):
        return last
    if isinstance(last, ast.Expr) and is_exit_call(last.value):
        return last
    for stmt in body:
        if isinstance(stmt, ast.Return):
            return stmt
    return None


def _fix(
    fn: FunctionInfo,
    info: ModuleInfo,
    flow: FunctionFlow,
    owner: ast.AST,
    body: list[ast.stmt],
    exit_stmt: ast.stmt | None,
) -> list[Edit]:
    """Edits that deny on this path instead, or [] when no safe deny is known."""
    for stmt in body:  # a printed verdict: print the deny one instead
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            for arg in stmt.value.args:
                found = allow_value(arg, fn, info, loose=True)
                if isinstance(arg, ast.Dict) and found is not None and found.deny is not None:
                    return [ReplaceExpression(found.node, found.deny)]
    if isinstance(exit_stmt, ast.Return):
        value = allow_value(exit_stmt.value, fn, info, loose=True)
        if value is not None and value.deny is not None:
            return [ReplaceExpression(value.node, value.deny)]
        if value is None and not _answers_value(exit_stmt):
            return [ReplaceStatements(exit_stmt, exit_stmt, (_deny_raise(owner),))]
        return []
    if isinstance(exit_stmt, ast.Expr):  # sys.exit(0)
        return [ReplaceStatements(exit_stmt, exit_stmt, ("sys.exit(2)",))]
    verdict = _default_verdict(fn, info, flow, owner)
    if verdict is not None:
        name, deny = verdict
        statement = f"{name} = {deny.deny}"
    else:
        statement = _deny_raise(owner)
    if isinstance(exit_stmt, ast.Continue) and verdict is not None:
        # deny, and leave the loop: the rest of its body must not run on a missing answer
        return [ReplaceStatements(exit_stmt, exit_stmt, (statement, "break"))]
    if isinstance(exit_stmt, ast.Continue | ast.Pass):
        return [ReplaceStatements(exit_stmt, exit_stmt, (statement,))]
    last = body[-1]
    return [ReplaceStatements(last, last, (KEEP, statement))]


def _answers_value(ret: ast.Return) -> bool:
    """`return data`: some value we cannot turn into its deny counterpart."""
    value = ret.value
    return value is not None and not (isinstance(value, ast.Constant) and value.value is None)


def _deny_raise(owner: ast.AST) -> str:
    return "raise" if isinstance(owner, ast.ExceptHandler) else DENY_RAISE


def _default_verdict(
    fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow, owner: ast.AST
) -> tuple[str, AllowValue] | None:
    """`verdict = "ALLOW"` set before the path and still in force on it: (name, its deny)."""
    anchor = flow.owner_of(owner) if isinstance(owner, ast.ExceptHandler) else owner
    for stmt in fn.statements:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and anchor is not None
            and stmt.lineno < getattr(anchor, "lineno", 0)
        ):
            value = allow_value(stmt.value, fn, info, loose=True)
            if value is not None and value.deny is not None and value.node is stmt.value:
                return stmt.targets[0].id, value
    return None


SaysItFailsOpen.VALID = [
    # a branch that says a service failed, and denies
    """
def role_for(request, account_id):
    for m in fetch_memberships(request.user):
        if m["account_id"] == account_id:
            return m["role"]
    if request.session.get("account_id") == account_id:
        logger.warning("membership service unavailable: not falling back to owner role")
        return None
    return None
""",
    # a hook's handler that answers the blocking status, whatever its comment recalls
    """
def main() -> int:
    try:
        result = subprocess.run(["python3", RUNNER, "scope"], timeout=5)
    except Exception:
        # FAIL CLOSED. This returned 0 (ALLOW) until a runner timeout let an edit through.
        return 2
    return 0 if result.returncode == 0 else 2
""",
    # both branches of the handler deny
    """
def within_quota(user) -> bool:
    try:
        used = store.used(user)
    except OperationalError as e:
        if "no such table" in str(e):
            logger.warning("quota tables missing; refusing rather than letting it pass")
            return False
        else:
            raise
    return used < LIMIT
""",
    # the hook's error is itself a refusal
    """
async def call_tool(self, name, args):
    try:
        for result in await hooks.before_tool(name, args):
            if result.get("blocked"):
                return f"ERROR: {result.get('reason')}"
    except Exception as exc:
        return f"ERROR: hook failed ({exc}), so the tool does not run; don't block the loop"
    return await self.run(name, args)
""",
    # "allow it to" describes what a value may do, not an error path letting things through
    """
def load_limits(path):
    try:
        return json.loads(path.read_text())
    except OSError:
        # allow it to be created later
        return {}
""",
    # "a miss fails open" in a helper that answers nothing is about something else
    """
def _seed_schema(self, name, candidates) -> None:
    \"\"\"Seed the schema cache: a miss fails open, a wrong entry fails closed.\"\"\"
    try:
        schema = build(candidates)
    except Exception:
        return
    self.cache[name] = schema
""",
    # the path denies, whatever its comment says
    """
def has_access(user):
    try:
        return acl.check(user)
    except Exception:
        log.warning("acl down; not failing open, denying")
        return False
""",
    # negated: the comment says why it does *not* allow
    """
def check_quota(user):
    try:
        return quota.remaining(user) > 0
    except RedisError:
        # fail closed rather than fail open: an outage must not grant unlimited use
        raise
""",
    # a cache that fails open is not a permission path
    """
def cached_render(key):
    try:
        return cache.get(key)
    except ConnectionError:
        # fail open: render without the cache
        return None
""",
    # a named, configured fail-open mode is a choice, not a bug
    """
def evaluate(self, request):
    try:
        return self.engine.decide(request)
    except Exception:
        if self.settings.fail_open:
            log.warning("policy engine down, allowing (fail_open is set)")
            return "allow"
        raise
""",
    # not a failure: an ordinary branch that allows
    """
def can_edit(user, doc):
    if user.is_admin:
        # admins: allow all
        return True
    return doc.owner == user
""",
]

SaysItFailsOpen.VALID += [
    # the comment above the try says the path fails closed
    """
def apply_recommendation(rec_id, example):
    # Queue for human approval; never apply without it, rather than fail open
    queued = False
    try:
        approvals.put(rec_id, example)
        queued = True
    except Exception:
        log.warning("approval store down")
    return {"queued": queued}
""",
]

SaysItFailsOpen.INVALID = [
    # the branch's own log says the service failed and that it falls back to the top role
    Invalid(
        """\
def role_for(request, account_id):
    memberships = fetch_memberships(request.user)
    for m in memberships:
        if m["account_id"] == account_id:
            return m["role"]
    if request.session.get("account_id") == account_id:
        logger.warning("falling back to owner role: membership service unavailable")
        return "owner"
    return None
""",
        line=8,
        expected_message=(
            '`role_for` says this path lets the action through ("falling back to owner role") '
            "when its check fails, and nothing on it denies: a failing permission check "
            "grants access."
        ),
    ),
    # every critic answered "ERROR", and the branch says it approves
    Invalid(
        """\
def check_consensus(self, action):
    votes = [self._vote(critic, action) for critic in self.critics]
    if all(v == "ERROR" for v in votes):
        logger.warning("all critics unavailable, skipping consensus (fail-open)")
        decision = "APPROVE"
    elif all(v == "REJECT" for v in votes):
        decision = "REJECT"
    else:
        decision = "ESCALATE"
    return decision
""",
        line=4,
        fixed="""\
def check_consensus(self, action):
    votes = [self._vote(critic, action) for critic in self.critics]
    if all(v == "ERROR" for v in votes):
        logger.warning("all critics unavailable, skipping consensus (failing closed)")
        decision = "APPROVE"
        raise PermissionError("could not verify the check: denying")
    elif all(v == "REJECT" for v in votes):
        decision = "REJECT"
    else:
        decision = "ESCALATE"
    return decision
""",
        expected_message=(
            '`check_consensus` says this path lets the action through ("fail-open") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # a pre-commit runner relays each check's failing status, but a crash is "ignored"
    Invalid(
        """\
def run():
    for name in config.get_pre_commit_script_names():
        try:
            plugin = load_plugin(name)
            retval = plugin.precommit(config=config.get_config())
            if retval:
                return retval
        except Exception as e:
            error(f"An error occurred while running hook {name}: {e}. The hook will be ignored.")
    return 0
""",
        line=9,
        fixed="""\
def run():
    for name in config.get_pre_commit_script_names():
        try:
            plugin = load_plugin(name)
            retval = plugin.precommit(config=config.get_config())
            if retval:
                return retval
        except Exception as e:
            error(f"An error occurred while running hook {name}: {e}. The check failed, denying.")
            raise
    return 0
""",
        expected_message=(
            '`run` says this path lets the action through ("hook will be ignored") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # one branch of the handler re-raises; the other says it lets the request pass
    Invalid(
        """\
def within_quota(user) -> bool:
    used = 0
    try:
        used = store.used(user)
    except OperationalError as e:
        if "no such table" in str(e):
            logger.warning("quota tables missing; letting the request pass")
        else:
            raise
    return used < LIMIT
""",
        line=7,
        fixed="""\
def within_quota(user) -> bool:
    used = 0
    try:
        used = store.used(user)
    except OperationalError as e:
        if "no such table" in str(e):
            logger.warning("quota tables missing; denying")
            raise
        else:
            raise
    return used < LIMIT
""",
        expected_message=(
            '`within_quota` says this path lets the action through ("letting the request '
            'pass") when its check fails, and nothing on it denies: a failing permission '
            "check grants access."
        ),
    ),
    # the try relays a hook's "blocked"; an error in it lets the tool run
    Invalid(
        """\
async def call_tool(self, name, args):
    try:
        results = await hooks.before_tool(name, args)
        for result in results:
            if result.get("blocked"):
                reason = result.get("reason") or "blocked by hook"
                emit_warning(reason)
                return f"ERROR: {reason}"
    except Exception:
        pass  # hook errors don't block tool execution
    return await self.run(name, args)
""",
        line=10,
        fixed="""\
async def call_tool(self, name, args):
    try:
        results = await hooks.before_tool(name, args)
        for result in results:
            if result.get("blocked"):
                reason = result.get("reason") or "blocked by hook"
                emit_warning(reason)
                return f"ERROR: {reason}"
    except Exception:
        raise  # hook errors denying execution
    return await self.run(name, args)
""",
        expected_message=(
            '`call_tool` says this path lets the action through ("don\'t block tool") when '
            "its check fails, and nothing on it denies: a failing permission check grants "
            "access."
        ),
    ),
    # a webhook without its signature headers goes on as if verified
    Invalid(
        """\
async def verify_webhook(headers, body):
    webhook_id = settings.webhook_id
    if not webhook_id:
        logger.warning("webhook id not set; skipping verification.")
        return
    required = {"X-SIG": headers.get("X-SIG"), "X-TIME": headers.get("X-TIME")}
    if not all(required.values()):
        logger.warning("Missing webhook headers; skipping verification.")
        return
    await check_signature(required, body, webhook_id)
""",
        line=9,
        fixed="""\
async def verify_webhook(headers, body):
    webhook_id = settings.webhook_id
    if not webhook_id:
        logger.warning("webhook id not set; skipping verification.")
        return
    required = {"X-SIG": headers.get("X-SIG"), "X-TIME": headers.get("X-TIME")}
    if not all(required.values()):
        logger.warning("Missing webhook headers; denying.")
        raise PermissionError("could not verify the check: denying")
    await check_signature(required, body, webhook_id)
""",
        expected_message=(
            '`verify_webhook` says this path lets the action through ("skipping '
            'verification") when its check fails, and nothing on it denies: a failing '
            "permission check grants access."
        ),
    ),
    # an address that does not resolve skips the private-range check
    Invalid(
        """\
def validate_webhook_url(url):
    host = urlparse(url).hostname
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        # Cannot resolve -- allow through; the request will fail later.
        return
    for info in infos:
        if ipaddress.ip_address(info[4][0]).is_private:
            raise WebhookURLError(host)
""",
        line=7,
        fixed="""\
def validate_webhook_url(url):
    host = urlparse(url).hostname
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        # Cannot resolve -- denying; the request will fail later.
        raise
    for info in infos:
        if ipaddress.ip_address(info[4][0]).is_private:
            raise WebhookURLError(host)
""",
        expected_message=(
            '`validate_webhook_url` says this path lets the action through ("allow through") '
            "when its check fails, and nothing on it denies: a failing permission check "
            "grants access."
        ),
    ),
    # the docstring says the errors allow, and the handler answers: a warning
    Invalid(
        """\
def _embedding_on() -> bool:
    \"\"\"Read `embedding.enabled` off the live config. A missing or unloadable config
    fails OPEN (= enabled) rather than stopping every caller.\"\"\"
    try:
        return bool(load_config().embedding.enabled)
    except Exception:
        return True
""",
        line=7,
        fixed="""\
def _embedding_on() -> bool:
    \"\"\"Read `embedding.enabled` off the live config. A missing or unloadable config
    fails OPEN (= enabled) rather than stopping every caller.\"\"\"
    try:
        return bool(load_config().embedding.enabled)
    except Exception:
        return False
""",
        expected_message=(
            '`_embedding_on` says this path lets the action through ("fails OPEN") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # the function only registers tools, but the code that failed is a check and the
    # handler says it lets them through
    Invalid(
        """\
async def register_server(self, server):
    tools = await server.list_tools()
    try:
        verdict = await self.guardrails.validate_tools(tools)
        tools = [t for t in tools if t.name not in verdict.blocked]
    except Exception as e:
        # Fail open: if validation fails, allow the tools
        logger.error("tool validation error: %s", e)
    self.registry.add(server, tools)
""",
        line=8,
        fixed="""\
async def register_server(self, server):
    tools = await server.list_tools()
    try:
        verdict = await self.guardrails.validate_tools(tools)
        tools = [t for t in tools if t.name not in verdict.blocked]
    except Exception as e:
        # failing closed: if validation fails, deny
        logger.error("tool validation error: %s", e)
        raise
    self.registry.add(server, tools)
""",
        expected_message=(
            '`register_server` says this path lets the action through ("Fail open") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # the module that would check is missing, and the handler says it allows: a warning
    Invalid(
        """\
def require_seat(workspace):
    try:
        from billing.entitlements import check_seat
        check_seat(workspace)
    except ImportError:
        log.warning("entitlements unavailable; allowing by default")
""",
        line=6,
        fixed="""\
def require_seat(workspace):
    try:
        from billing.entitlements import check_seat
        check_seat(workspace)
    except ImportError:
        log.warning("entitlements unavailable; denying")
        raise
""",
        expected_message=(
            '`require_seat` says this path lets the action through ("allowing by default") '
            "when its check fails, and nothing on it denies: a failing permission check "
            "grants access."
        ),
    ),
    # an answer the check did not understand, passed through
    Invalid(
        """\
def review_output(self, text):
    \"\"\"Run the output guardrail: the reviewer model approves or rejects.\"\"\"
    verdict = self.judge.ask(text)
    if "APPROVE" in verdict:
        return True, text
    elif "REJECT" in verdict:
        return False, "rejected by the reviewer"
    else:
        # Unclear verdict, log and pass through
        return True, text
""",
        line=10,
        fixed="""\
def review_output(self, text):
    \"\"\"Run the output guardrail: the reviewer model approves or rejects.\"\"\"
    verdict = self.judge.ask(text)
    if "APPROVE" in verdict:
        return True, text
    elif "REJECT" in verdict:
        return False, "rejected by the reviewer"
    else:
        # Unclear verdict, log and denying
        return False, text
""",
        expected_message=(
            '`review_output` says this path lets the action through ("pass through") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # the branch taken on a non-200 answer keeps the default ALLOW verdict
    Invalid(
        """\
async def relay_verdict(client, request):
    verdict = "POLICY_ACTION_ALLOW"
    resp = await client.post("/evaluate", json=request)
    if resp.status_code == 200:
        verdict = resp.json()["result"]
    else:
        log.warning("policy evaluate returned %d; defaulting to ALLOW", resp.status_code)
    await client.post("/verdict", json={"result": verdict})
""",
        line=7,
        fixed="""\
async def relay_verdict(client, request):
    verdict = "POLICY_ACTION_ALLOW"
    resp = await client.post("/evaluate", json=request)
    if resp.status_code == 200:
        verdict = resp.json()["result"]
    else:
        log.warning("policy evaluate returned %d; denying", resp.status_code)
        verdict = "POLICY_ACTION_DENY"
    await client.post("/verdict", json={"result": verdict})
""",
        expected_message=(
            '`relay_verdict` says this path lets the action through ("defaulting to ALLOW") '
            "when its check fails, and nothing on it denies: a failing permission check "
            "grants access."
        ),
    ),
    # a script's outer handler that exits 0 after saying it allows
    Invalid(
        """\
import sys

if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"[guard] non-fatal error, allowing: {e}", file=sys.stderr)
        sys.exit(0)
""",
        line=8,
        fixed="""\
import sys

if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"[guard] non-fatal error, denying: {e}", file=sys.stderr)
        sys.exit(2)
""",
        expected_message=(
            '`<module>` says this path lets the action through ("allowing") when its check '
            "fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # the branch taken when the policy server gave no answer
    Invalid(
        """\
def pre_tool_hook(payload):
    resp = post_with_retry(URL, payload)
    if resp is None:
        # network error: fail open so an outage does not block the turn
        json.dump({"permission": "allow"}, sys.stdout)
        return
    json.dump(resp.json(), sys.stdout)
""",
        line=6,
        fixed="""\
def pre_tool_hook(payload):
    resp = post_with_retry(URL, payload)
    if resp is None:
        # network error: failing closed so an outage does not block the turn
        json.dump({"permission": "deny"}, sys.stdout)
        return
    json.dump(resp.json(), sys.stdout)
""",
        expected_message=(
            '`pre_tool_hook` says this path lets the action through ("fail open") when its '
            "check fails, and nothing on it denies: a failing permission check grants access."
        ),
    ),
    # a flag that records a failed load, read as "allow everything"
    Invalid(
        """\
class DomainList:
    def is_domain_allowed(self, email: str) -> bool:
        # If the list failed to load, allow all (fail open)
        if not self.config_loaded:
            return True
        return email.split("@")[-1] in self.domains
""",
        line=5,
        fixed="""\
class DomainList:
    def is_domain_allowed(self, email: str) -> bool:
        # If the list failed to load, denying (failing closed)
        if not self.config_loaded:
            return False
        return email.split("@")[-1] in self.domains
""",
        expected_message=(
            '`DomainList.is_domain_allowed` says this path lets the action through ("allow '
            'all") when its check fails, and nothing on it denies: a failing permission check '
            "grants access."
        ),
    ),
    # not configured at all: a deliberate choice is possible, so only a note
    Invalid(
        """\
def pre_tool_hook(payload):
    if not os.environ.get("POLICY_SERVER_URL"):
        # no server wired: fail open (allow)
        print('{"permission": "allow"}')
        return
    check(payload)
""",
        line=5,
        fixed=None,
        expected_message=(
            '`pre_tool_hook` says this path lets the action through ("fail open") when '
            "nothing is configured; fine if that is documented, but a configured system that "
            "errors must deny."
        ),
    ),
    # the comment above the try, and the default it sets up, say what its handler does
    Invalid(
        """\
def apply_recommendation(rec_id, example):
    # Queue for human approval (fail-open: apply immediately if the store is down)
    applied = False
    try:
        approvals.put(rec_id, example)
    except Exception:
        applied = True
    if applied:
        corpus.add(example)
    return {"applied": applied}
""",
        line=7,
        fixed="""\
def apply_recommendation(rec_id, example):
    # Queue for human approval (fail-open: apply immediately if the store is down)
    applied = False
    try:
        approvals.put(rec_id, example)
    except Exception:
        applied = True
        raise
    if applied:
        corpus.add(example)
    return {"applied": applied}
""",
        expected_message=(
            '`apply_recommendation` says this path lets the action through ("fail-open") when '
            "its check fails, and nothing on it denies: a failing permission check grants "
            "access."
        ),
    ),
    # the verifier's import failed, and the branch says it trusts the caller anyway
    Invalid(
        """\
try:
    from nacl.signing import VerifyKey
    HAVE_SIGNING = True
except ImportError:
    HAVE_SIGNING = False


def verify_webhook(body, signature, key):
    if not HAVE_SIGNING:
        return None  # cannot verify: accept on trust
    return VerifyKey(key).verify(body, signature) is not None
""",
        line=10,
        fixed="""\
try:
    from nacl.signing import VerifyKey
    HAVE_SIGNING = True
except ImportError:
    HAVE_SIGNING = False


def verify_webhook(body, signature, key):
    if not HAVE_SIGNING:
        raise PermissionError("could not verify the check: denying")  # cannot verify: rejecting
    return VerifyKey(key).verify(body, signature) is not None
""",
        expected_message=(
            '`verify_webhook` says this path lets the action through ("accept on trust") when '
            "its check fails, and nothing on it denies: a failing permission check grants "
            "access."
        ),
    ),
    # a decorator's wrapper skips the policy check on a malformed argument, then runs the tool
    Invalid(
        """\
def require_review(func):
    \"\"\"Runs the policy review on the command before the tool runs.\"\"\"

    def wrapper(command, **kw):
        if isinstance(command, str):
            policy.review(command)
        elif not isinstance(command, str):
            log.warning("command is not text: policy check skipped")
        return func(command, **kw)

    return wrapper
""",
        line=8,
        fixed="""\
def require_review(func):
    \"\"\"Runs the policy review on the command before the tool runs.\"\"\"

    def wrapper(command, **kw):
        if isinstance(command, str):
            policy.review(command)
        elif not isinstance(command, str):
            log.warning("command is not text: policy check failed, denying")
            raise PermissionError("could not verify the check: denying")
        return func(command, **kw)

    return wrapper
""",
        expected_message=(
            '`require_review.wrapper` says this path lets the action through ("check '
            'skipped") when its check fails, and nothing on it denies: a failing permission '
            "check grants access."
        ),
    ),
    # "don't fail - allow ...": the dash ends the negation
    Invalid(
        """\
def run_confined(cmd):
    def confine():
        try:
            landlock.restrict(READ_ONLY)
        except Exception as e:
            # don't fail - allow execution without sandbox
            log.warning("could not apply the sandbox: %s", e)

    return subprocess.run(cmd, preexec_fn=confine)
""",
        line=7,
        fixed="""\
def run_confined(cmd):
    def confine():
        try:
            landlock.restrict(READ_ONLY)
        except Exception as e:
            # don't fail - refusing
            log.warning("could not apply the sandbox: %s", e)
            raise

    return subprocess.run(cmd, preexec_fn=confine)
""",
        expected_message=(
            '`run_confined.confine` says this path lets the action through ("allow execution '
            'without sandbox") when its check fails, and nothing on it denies: a failing '
            "permission check grants access."
        ),
    ),
]

SaysItFailsOpen.VALID += [
    # the malformed argument is refused, whatever the log line says
    """
def require_review(func):
    \"\"\"Runs the policy review on the command before the tool runs.\"\"\"

    def wrapper(command, **kw):
        if not isinstance(command, str):
            log.warning("command is not text: policy check skipped")
            raise TypeError("command must be text")
        policy.review(command)
        return func(command, **kw)

    return wrapper
""",
]

SaysItFailsOpen.INVALID += [
    # a hook script's module-level import fails and it exits 0, which lets the tool run
    Invalid(
        """\
\"\"\"Runs before each shell command an agent issues; exit 2 blocks it.\"\"\"
import sys

try:
    from shellwatch.rules import verdict_for
except ImportError:
    print("shellwatch missing, letting the command through", file=sys.stderr)
    sys.exit(0)


def main():
    command = sys.stdin.read()
    if verdict_for(command) == "block":
        sys.exit(2)
    sys.exit(0)
""",
        line=8,
        fixed="""\
\"\"\"Runs before each shell command an agent issues; exit 2 blocks it.\"\"\"
import sys

try:
    from shellwatch.rules import verdict_for
except ImportError:
    print("shellwatch missing, denying", file=sys.stderr)
    sys.exit(2)


def main():
    command = sys.stdin.read()
    if verdict_for(command) == "block":
        sys.exit(2)
    sys.exit(0)
""",
        expected_message=(
            '`<module>` says this path lets the action through ("letting the command '
            'through") when its check fails, and nothing on it denies: a failing permission '
            "check grants access."
        ),
    ),
]

SaysItFailsOpen.VALID += [
    # a script that decides nothing: its missing renderer lets it go on with plain text
    """
\"\"\"Writes the changelog as HTML.\"\"\"
import sys

try:
    import markdown
except ImportError:
    print("markdown missing, letting the plain text through", file=sys.stderr)
    sys.exit(0)
""",
]

SaysItFailsOpen.INVALID += [
    # a CI gate's `main()` (its `__main__` block runs it) looks for the tool's failure in
    # its output and says it skips the check: it exits 0 where it exits 1 on findings
    Invalid(
        """\
def main() -> None:
    report = sys.stdin.read()
    if "Failed to resolve" in report:
        print("dependencies did not resolve: skipping the vulnerability check")
        sys.exit(0)
    findings = FINDING.findall(report)
    if findings:
        print("\\n".join(findings))
        sys.exit(1)
    print("no known vulnerabilities")


if __name__ == "__main__":
    main()
""",
        line=5,
        fixed="""\
def main() -> None:
    report = sys.stdin.read()
    if "Failed to resolve" in report:
        print("dependencies did not resolve: denying")
        sys.exit(2)
    findings = FINDING.findall(report)
    if findings:
        print("\\n".join(findings))
        sys.exit(1)
    print("no known vulnerabilities")


if __name__ == "__main__":
    main()
""",
        expected_message=(
            '`main` says this path lets the action through ("skipping the vulnerability '
            'check") when its check fails, and nothing on it denies: a failing permission '
            "check grants access."
        ),
    ),
]

SaysItFailsOpen.VALID += [
    # the same gate refusing when the tool failed
    """\
def main() -> None:
    report = sys.stdin.read()
    if "Failed to resolve" in report:
        print("dependencies did not resolve: the vulnerability check cannot run")
        sys.exit(2)
    findings = FINDING.findall(report)
    if findings:
        print("\\n".join(findings))
        sys.exit(1)
    print("no known vulnerabilities")


if __name__ == "__main__":
    main()
""",
]

SaysItFailsOpen.VALID += [
    # "no ... errors": nothing to enforce is not the check being skipped
    """
def lint_payload(payload):
    if not isinstance(payload, dict):
        logger.debug("malformed payload, no validation errors to report")
        return []
    return validate(payload)
""",
    # "no verification token" names what is missing, and the path refuses (None: no token)
    """
async def load_access_token(self, token):
    verification_token = self._verification_token(token)
    if verification_token is None:
        logger.debug("No verification token available")
        return None
    return await self._validator.verify_token(verification_token)
""",
]

SaysItFailsOpen.VALID += [
    # "would be a fail-open" names what the branch avoids: it refuses
    """
def managed_deny_list(config, errors):
    denied, malformed = read_list(config.get("denied_servers"))
    if malformed:
        # A deny list we cannot read would be a fail-open: the caller refuses on errors.
        errors.append("denied_servers must be a list of strings")
    return denied
""",
]

SaysItFailsOpen.INVALID += [
    # a malformed claim, and the message says nothing is enforced for it
    Invalid(
        """\
def token_permissions(request, payload):
    scopes = payload.get("scopes")
    if scopes is not None:
        if isinstance(scopes, dict):
            request.state.token_scopes = scopes.get("permissions", [])
        else:
            logger.debug("invalid scopes claim, a session token (no scope enforcement)")
    return payload["sub"]
""",
        line=7,
        fixed="""\
def token_permissions(request, payload):
    scopes = payload.get("scopes")
    if scopes is not None:
        if isinstance(scopes, dict):
            request.state.token_scopes = scopes.get("permissions", [])
        else:
            logger.debug("invalid scopes claim, a session token (denying)")
            raise PermissionError("could not verify the check: denying")
    return payload["sub"]
""",
        expected_message=(
            '`token_permissions` says this path lets the action through ("no scope '
            'enforcement") when its check fails, and nothing on it denies: a failing '
            "permission check grants access."
        ),
    ),
]

SaysItFailsOpen.VALID += [
    # "stays global" of a layout is no access decision
    """
def load_layout(client):
    try:
        return fetch_layout(client)
    except ApiError:
        # the sidebar stays global if this fails: every team sees the default layout
        return DEFAULT_LAYOUT
""",
]

SaysItFailsOpen.INVALID += [
    # the comment says a failed lookup leaves access wider than it should be
    Invalid(
        """\
class ChannelIndex:
    def load_teams(self, client):
        self.team_members = {}
        try:
            self.team_members = fetch_team_members(client)
        except ApiError as e:
            # channel access stays org-wide if this fails
            logger.warning("team member lookup failed: %s", e)
            self.team_members = {}
""",
        line=8,
        fixed="""\
class ChannelIndex:
    def load_teams(self, client):
        self.team_members = {}
        try:
            self.team_members = fetch_team_members(client)
        except ApiError as e:
            # channel access is refused if this fails
            logger.warning("team member lookup failed: %s", e)
            self.team_members = {}
            raise
""",
        expected_message=(
            '`ChannelIndex.load_teams` says this path lets the action through ("access stays '
            'org-wide") when its check fails, and nothing on it denies: a failing permission '
            "check grants access."
        ),
    ),
]

SaysItFailsOpen.VALID += [
    # the sibling that raises gives no reason about access
    """
def load_plugin(name):
    try:
        module = importlib.import_module(name)
        module.setup()
    except KeyboardInterrupt:
        raise
    except Exception:
        logger.warning("plugin %s failed to load", name)
""",
]

SaysItFailsOpen.INVALID += [
    # the expected error refuses, and says why; any other error does what it refuses
    Invalid(
        """\
def restore_identity(task):
    try:
        snapshot = load_snapshot(task.key)
        apply_identity(snapshot)
    except SnapshotKeyError:
        logger.error("key mismatch: the task fails rather than run without the caller's identity")
        raise
    except Exception:
        logger.warning("could not restore the snapshot for %s", task.key)
""",
        line=9,
        fixed="""\
def restore_identity(task):
    try:
        snapshot = load_snapshot(task.key)
        apply_identity(snapshot)
    except SnapshotKeyError:
        logger.error("key mismatch: the task fails rather than run without the caller's identity")
        raise
    except Exception:
        logger.warning("could not restore the snapshot for %s", task.key)
        raise
""",
        expected_message=(
            "`restore_identity` swallows any other error here and goes on, while the handler "
            "at line 5 raises rather than let that happen (\"run without the caller's "
            'identity"): an unexpected failure does what the expected one may not.'
        ),
    ),
]
