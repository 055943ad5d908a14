"""FC147: one error handler escalates the verdict, another error leaves it as it was."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag
from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import KEEP, ReplaceStatements
from failclosed.analyzers.flow import assigned_names
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, tries
from failclosed.analyzers.syntax import call_name, own_nodes
from failclosed.analyzers.vocabulary import ALLOW_STATE, DENY_STATE

# What an error raises a verdict to: `Severity.SUSPICIOUS`, `"unsafe"`, `Risk.HIGH`.
RISK = re.compile(
    r"(?i)(?<![a-z])(suspicious|unsafe|danger\w*|malicious|deny|denied"
    r"|block(ed)?|reject(ed)?|fail(ed|ure)?|invalid|untrusted|insecure|critical|high)"
    r"(?![a-z])"
)


UNDECIDED = re.compile(r"(?i)(?<![a-z])(unknown|undecided|pending|unverified|unchecked)(?![a-z])")


class ErrorSkipsEscalation(Rule):
    """
    ## What it does
    Flags an error handler that records the error and goes on when another handler of the
    same function, for another error, escalates the verdict the function answers with
    (`overall = max(overall, Severity.SUSPICIOUS)`): the first error leaves the verdict at
    its earlier, passing value.

    ## Why is this bad?
    The function says itself what an error must do to the verdict: its other handler raises
    it, because a check that did not run proves nothing. The handler that only logs (or
    appends to an error list nobody decides on) lets the unchecked input through as safe
    (CWE-636). Scanners do this when a "graceful" mode collects errors: the file that made
    the analysis crash is the one reported clean.

    ## Example
    ```python
    def scan(data):
        severity = Severity.SAFE
        try:
            severity = max(severity, analyse(data))
        except DecodeError:
            severity = max(severity, Severity.SUSPICIOUS)
        except Exception as e:
            errors.append(str(e))
        return Verdict(is_safe=severity <= Severity.SAFE, errors=errors)
    ```

    ## Use instead
    ```python
        except Exception as e:
            errors.append(str(e))
            severity = max(severity, Severity.SUSPICIOUS)
    ```

    ## Fix safety
    The fix makes the handler do what its sibling does to the verdict, after what it does
    already: inputs whose analysis raised are no longer reported as passing.
    """

    code = "FC147"
    name = "error-skips-escalation"
    severity = "error"
    summary = "One error escalates the verdict; another error handler leaves it as it was."
    fix_safety = "The handler escalates the verdict as its sibling does."
    trigger = ("except",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        handlers = [
            (node, handler)
            for node in tries(fn)
            for handler in node.handlers
            if catches_failures(handler, node) and not gated_by_fail_open_flag(handler)
        ]
        if len(handlers) < 2:
            return
        raising = [(h, found) for _, h in handlers if (found := _escalation(h)) is not None]
        for node, handler in handlers:
            going_on = _goes_on(handler.body)
            if not going_on:
                continue
            computed = _bound_in(node.body)  # what the handler's `try` works out
            assigned = _bound_in(going_on)
            for other, (name, escalation) in raising:
                if other is handler or name in assigned or name not in computed:
                    continue
                if not _decides_on(fn, name, node, handler):
                    continue
                yield Hit(
                    node=going_on[0],
                    message=(
                        f"`{fn.qualname}` escalates `{name}` when it catches "
                        f"{caught(other)} (line {escalation.lineno}), but the handler for "
                        f"{caught(handler)} only goes on: that error leaves `{name}` at its "
                        "earlier value, so input whose check failed passes."
                    ),
                    edits=[
                        ReplaceStatements(
                            going_on[-1], going_on[-1], (KEEP, ast.unparse(escalation))
                        )
                    ],
                    key_nodes=[handler],
                )
                break


def _goes_on(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements a handler runs when it does not leave: the whole body, or the
    branch of its closing `if graceful: ... else: raise` that goes on; [] if it leaves."""
    if not body:
        return []
    *before, last = body
    if isinstance(last, ast.If) and last.orelse:
        leaves = _leaves(last.body), _leaves(last.orelse)
        if leaves == (False, True) and not any(_leaves([s]) for s in before):
            return [*before, *last.body]
        if leaves == (True, False) and not any(_leaves([s]) for s in before):
            return [*before, *last.orelse]
        return []
    return [] if _leaves(body) else body


def _leaves(body: list[ast.stmt]) -> bool:
    return any(
        isinstance(n, ast.Return | ast.Raise | ast.Break)
        for stmt in body
        for n in [stmt, *own_nodes(stmt)]
    )


def _escalation(handler: ast.ExceptHandler) -> tuple[str, ast.Assign] | None:
    """`(name, statement)` for a handler that goes on after raising a verdict:
    `level = max(level, Severity.SUSPICIOUS)`, `risk = Risk.HIGH`."""
    for stmt in _goes_on(handler.body):
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            continue
        name, value = stmt.targets[0].id, stmt.value
        if isinstance(value, ast.Call) and call_name(value) == "max":
            if any(isinstance(a, ast.Name) and a.id == name for a in value.args):
                return name, stmt
        elif isinstance(value, ast.Attribute | ast.Constant) and RISK.search(ast.unparse(value)):
            return name, stmt
    return None


def _decides_on(
    fn: FunctionInfo, name: str, node: ast.Try | ast.TryStar, handler: ast.ExceptHandler
) -> bool:
    """`name` has a passing value before the handler's `try` (not `UNKNOWN` or `FAILED`
    already) and, after it, decides whether the input passes: `is_safe = level <= SAFE`,
    `Verdict(is_safe=level <= SAFE)`, or the answer of a function that is a check."""
    earlier = [
        s
        for s in fn.statements
        if isinstance(s, ast.Assign | ast.AnnAssign)
        and any(isinstance(t, ast.Name) and t.id == name for t in _targets(s))
        and s.lineno < node.lineno
    ]
    if not earlier:
        return False
    last = max(earlier, key=lambda s: s.lineno)
    if last.value is None or RISK.search(ast.unparse(last.value)):
        return False
    if UNDECIDED.search(ast.unparse(last.value)):
        return False  # `Verdict.UNKNOWN` passes nothing by itself
    for stmt in fn.statements:
        if getattr(stmt, "lineno", 0) <= (handler.end_lineno or handler.lineno):
            continue
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Compare):
            said = " ".join(ast.unparse(t) for t in stmt.targets)
            if _reads(stmt.value, name) and _states(said):
                return True
        if isinstance(stmt, ast.Return | ast.Expr | ast.Assign) and stmt.value is not None:
            keywords = [
                n for n in [stmt.value, *own_nodes(stmt.value)] if isinstance(n, ast.keyword)
            ]
            if any(
                kw.arg
                and _states(kw.arg)
                and isinstance(kw.value, ast.Compare)
                and _reads(kw.value, name)
                for kw in keywords
            ):
                return True
        value = stmt.value if isinstance(stmt, ast.Return) else None
        if value is not None and _reads(value, name) and fn.polarity is not None:
            return True  # the answer of a function that is a check
    return False


def _states(name: str) -> bool:
    """`is_safe`, `allowed`, `infected`: a name for whether the input passes."""
    return bool(ALLOW_STATE.search(name) or PASSED.search(name) or DENY_STATE.search(name))


# What an input that passed a scan is (`within` and the like are ordinary predicates).
PASSED = re.compile(r"(?i)(?<![a-z])(safe|clean|trusted|verified)(?![a-z])")


def _bound_in(body: list[ast.stmt]) -> set[str]:
    return set().union(*map(assigned_names, body))


def _targets(stmt: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]


def _reads(expr: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in [expr, *own_nodes(expr)])


ErrorSkipsEscalation.VALID = [
    # every error escalates the verdict
    """
def scan(data):
    level = Level.SAFE
    try:
        level = analyse(data)
    except DecodeError:
        level = max(level, Level.SUSPICIOUS)
    except Exception:
        log.exception("analysis failed")
        level = max(level, Level.SUSPICIOUS)
    is_safe = level <= Level.SAFE
    return Report(is_safe, level)
""",
    # the other handler leaves: nothing is answered from the old verdict
    """
def scan(data):
    level = Level.SAFE
    try:
        level = analyse(data)
    except DecodeError:
        level = max(level, Level.SUSPICIOUS)
    except Exception:
        log.exception("analysis failed")
        raise
    is_safe = level <= Level.SAFE
    return Report(is_safe, level)
""",
    # the variable decides nothing: a retry counter, not a verdict
    """
def fetch(url):
    delay = 1
    try:
        body = get(url)
    except Timeout:
        delay = max(delay, 30)
    except Exception:
        log.exception("fetch failed")
    sleep(delay)
    return body
""",
]

ErrorSkipsEscalation.VALID += [
    # the handler that goes on belongs to another `try`, which computes nothing of the verdict
    """
def scan(upload):
    risk = Risk.NONE
    try:
        risk = max(risk, analyse(upload))
    except DecodeError:
        risk = max(risk, Risk.HIGH)
    try:
        metrics.increment("scans")
    except Exception:
        log.debug("metrics down")
    safe = risk <= Risk.NONE
    return Report(safe=safe, risk=risk)
""",
    # the earlier value passes nothing: an error that leaves it is still not allowed
    """
def verify(doc):
    verdict = Verdict.UNKNOWN
    try:
        verdict = classify(doc)
    except ParseError:
        verdict = Verdict.INVALID
    except Exception:
        log.exception("classification failed")
    allowed = verdict == Verdict.OK
    return Result(allowed=allowed)
""",
]

ErrorSkipsEscalation.INVALID = [
    # the example of the docs: the verdict is answered as a keyword
    Invalid(
        """\
def scan(data):
    severity = Severity.SAFE
    try:
        severity = max(severity, analyse(data))
    except DecodeError:
        severity = max(severity, Severity.SUSPICIOUS)
    except Exception as e:
        errors.append(str(e))
    return Verdict(is_safe=severity <= Severity.SAFE, errors=errors)
""",
        line=8,
        fixed="""\
def scan(data):
    severity = Severity.SAFE
    try:
        severity = max(severity, analyse(data))
    except DecodeError:
        severity = max(severity, Severity.SUSPICIOUS)
    except Exception as e:
        errors.append(str(e))
        severity = max(severity, Severity.SUSPICIOUS)
    return Verdict(is_safe=severity <= Severity.SAFE, errors=errors)
""",
        expected_message=(
            "`scan` escalates `severity` when it catches `DecodeError` (line 6), but the "
            "handler for any error only goes on: that error leaves `severity` at its earlier "
            "value, so input whose check failed passes."
        ),
    ),
    # a graceful scanner: a failed analysis of one part is recorded, the verdict stays safe
    Invalid(
        """\
def scan_blob(blob, graceful=True):
    problems = []
    risk = Risk.NONE
    try:
        for part in split(blob):
            try:
                risk = max(risk, assess(part))
            except Exception as e:
                if graceful:
                    problems.append(f"analysis error: {e}")
                else:
                    raise
    except FormatError as e:
        if graceful:
            problems.append(f"format error: {e}")
            risk = max(risk, Risk.SUSPICIOUS)
        else:
            raise
    clean = risk <= Risk.NONE
    return Outcome(clean=clean, risk=risk, problems=problems)
""",
        line=10,
        fixed="""\
def scan_blob(blob, graceful=True):
    problems = []
    risk = Risk.NONE
    try:
        for part in split(blob):
            try:
                risk = max(risk, assess(part))
            except Exception as e:
                if graceful:
                    problems.append(f"analysis error: {e}")
                    risk = max(risk, Risk.SUSPICIOUS)
                else:
                    raise
    except FormatError as e:
        if graceful:
            problems.append(f"format error: {e}")
            risk = max(risk, Risk.SUSPICIOUS)
        else:
            raise
    clean = risk <= Risk.NONE
    return Outcome(clean=clean, risk=risk, problems=problems)
""",
        expected_message=(
            "`scan_blob` escalates `risk` when it catches `FormatError` (line 16), but the "
            "handler for any error only goes on: that error leaves `risk` at its earlier "
            "value, so input whose check failed passes."
        ),
    ),
]
