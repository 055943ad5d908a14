"""FC143: a detector that fails is read as a detector that found nothing."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator

from failclosed.analyzers.denials import body_denies, catches_failures
from failclosed.analyzers.fixes import Edit, ReplaceStatements
from failclosed.analyzers.flow import swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    emptied_name,
    is_empty_collection,
    unawaited,
)
from failclosed.analyzers.syntax import (
    call_name,
    equals_text,
    mentions,
    nodes_in,
    own_nodes,
    words_in,
)

# What a detector is asked: `recognizer.analyze(text)`, `scanner.scan(blob)`, `detect_pii(x)`.
DETECTOR_CALL = re.compile(
    r"(?i)^_*(analy[sz]e|scan|detect|recogni[sz]e|classify|moderate|inspect)(_\w+)?$"
    r"|^_*(find|detect|scan)_\w*(threat|secret|pii|violation|malware|injection|attack)\w*$"
)


class FailedDetectorFindsNothing(Rule):
    """
    ## What it does
    Flags a detection result — PII spans, secrets, threats, policy violations — that an
    `except` handler replaces with an empty list when the detector raises, so the code
    after it goes on as if the detector had looked and found nothing. Also a scanner that
    collects each detector's findings (`issues.extend(detect_drift(path))`) in a `try`
    whose handler only logs: that detector's findings are silently missing. And a gate
    that refuses only on a scan result's count of threats (`if result.infected_files:
    raise ...`) and reads nothing else of it: scanners report a file they could not scan
    in an error field, with nothing counted.

    ## Why is this bad?
    "Found nothing" is the answer that lets content through unmasked, unscanned, unblocked.
    A crashed recognizer, a scanner that timed out or a classifier that could not load then
    turns every input into a clean one (CWE-636). A detector that could not look must stop
    the pipeline, or mark the result as not checked.

    ## Example
    ```python
    for recognizer in registry.recognizers:
        try:
            found = recognizer.analyze(text=text, entities=entities)
        except Exception as exc:
            logger.warning("recognizer failed: %s", exc)
            found = []
        results.extend(found)
    ```

    ## Use instead
    ```python
        except Exception as exc:
            logger.warning("recognizer failed: %s", exc)
            raise
    ```

    ## Fix safety
    The fix re-raises, so one failing detector fails the whole analysis. If partial results
    are wanted, return them marked as incomplete and have the caller refuse them.
    """

    code = "FC143"
    name = "failed-detector-finds-nothing"
    severity = "warning"
    summary = "A detector that fails is read as a detector that found nothing."
    fix_safety = "A failing detector fails the analysis."
    trigger = ("analy", "scan", "detect", "recogni", "classif", "moderat", "inspect", "find_")
    fallback = True  # a rule that already reports the same lines (FC101's `return []`) speaks

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        yield from _detector_answers_nothing(fn)
        yield from _only_the_count_is_read(fn)
        yield from _only_found_entries_read(fn)
        for node in fn.nodes:
            if not isinstance(node, ast.Try | ast.TryStar):
                continue
            yield from _collection_goes_on(fn, node)
            detected = _detections(node.body)
            for handler in node.handlers if detected else []:
                if not catches_failures(handler, node) or _records_the_error(handler, fn):
                    continue
                store = _error_store(handler)
                for stmt in handler.body:
                    name = emptied_name(stmt)
                    if name is None or name not in detected:
                        continue
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` sets `{name}` to an empty result when "
                            f"`{detected[name]}()` raises {caught(handler)}: a detector that "
                            "could not look is read as one that found nothing, and the input "
                            f"passes as clean.{_unjudged_note(store)}"
                        ),
                        edits=_reraise_after_recording(handler, stmt, store),
                        key_nodes=[handler],
                    )


def _reraise_after_recording(
    handler: ast.ExceptHandler, emptied: ast.stmt, store: ast.expr | None
) -> list[Edit]:
    """`raise` in place of the empty result; where the handler records the error after it
    in `store` (`errors[name] = str(exc)`), the record is kept and the handler re-raises at
    its end."""
    if store is None or emptied is handler.body[-1]:
        return [ReplaceStatements(emptied, emptied, ("raise",))]
    return [ReplaceStatements(emptied, emptied, ()), append_to_handler(handler, "raise")]


def _detector_answers_nothing(fn: FunctionInfo) -> Iterator[Hit]:
    """The function is the detector (`def scan(self, content)`): a handler of a failure
    answers an empty list of issues, which its callers read as "clean"."""
    name = getattr(fn.node, "name", "")
    if not DETECTOR_CALL.match(name):
        return
    for node in fn.nodes:
        if not isinstance(node, ast.Try | ast.TryStar):
            continue
        answers = any(isinstance(n, ast.Return) and n.value is not None for n in node.body)
        if not answers:
            continue
        for handler in node.handlers:
            if not catches_failures(handler, node) or _records_the_error(handler, fn):
                continue
            for stmt in handler.body:
                if isinstance(stmt, ast.Return) and is_empty_collection(stmt.value):
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` answers no issues found when it catches "
                            f"{caught(handler)}: a detector that could not look is read as "
                            "one that found nothing, and the input passes as clean."
                        ),
                        edits=[ReplaceStatements(stmt, stmt, ("raise",))],
                        key_nodes=[handler],
                    )


def _collection_goes_on(fn: FunctionInfo, node: ast.Try | ast.TryStar) -> Iterator[Hit]:
    """`found.extend(detect_regressions(diff))` in a `try` whose handler only logs: the
    detector's findings are missing from `found`, and nothing says the scan is incomplete."""
    collected = (
        _collected_detections(node.body)
        or _filled_by_detector(fn, node)
        or _copied_from_detector(node.body)
    )
    if not collected:
        return
    into, detector = collected
    for handler in node.handlers:
        if not catches_failures(handler, node) or _records_the_error(handler, fn):
            continue
        if not swallows(handler) or not handler.body:
            continue
        if any(emptied_name(stmt) is not None for stmt in handler.body):
            continue  # `found = []`: the emptied result below is the finding
        if "." in into and (not _only_logs(handler) or _set_elsewhere(fn, node, into)):
            continue  # `event.scan_error = str(exc)`, a pessimistic default before the `try`
        yield Hit(
            node=handler.body[0],
            message=(
                f"`{fn.qualname}` collects what `{detector}()` finds into `{into}`, and when "
                f"that raises {caught(handler)} the handler only goes on: the findings are "
                "missing, nothing records that the scan is incomplete, and the input passes "
                "as clean."
            ),
            edits=[append_to_handler(handler, "raise")],
            key_nodes=[handler],
        )


# What a scan result counts of what it found: `infected_files`, `threats`, `issues_count`.
FOUND_COUNT = re.compile(
    r"(?i)(^|_)(infected|infections?|threats?|malicious|malware|virus(es)?|findings?|issues?"
    r"|detections?|detected|violations?|vulnerabilit(y|ies)|positives?|flagged|found)(_|$)"
)


def _only_the_count_is_read(fn: FunctionInfo) -> Iterator[Hit]:
    """`result = scan_file_path(path)` then `if result.infected_files != 0: raise ...`, and
    nothing else of `result` is read: a scan that failed (its error field set, nothing
    counted) passes the gate as a clean one."""
    for stmt in fn.statements:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if not isinstance(target, ast.Name) or not (detector := _detector_of(value)):
            continue
        gate = _count_gate(fn, stmt, target.id)
        if gate is None or not (
            SECURITY_FINDINGS.search(ast.unparse(gate.test)) or SECURITY_FINDINGS.search(detector)
        ):
            continue
        yield Hit(
            node=gate,
            message=(
                f"`{fn.qualname}` refuses on `{ast.unparse(gate.test)}` alone, and reads "
                f"nothing else of what `{detector}()` answered: a scan that failed counts "
                "nothing, so it passes as clean. Refuse when the scan reports an error too."
            ),
            key_nodes=[gate.test],
        )


def _only_found_entries_read(fn: FunctionInfo) -> Iterator[Hit]:
    """`output = scanner.scan_file()`, `infections = {v for status, v in output.values() if
    status == "FOUND"}`, then `if infections: ... else: <clean>`, and `output` read nowhere
    else: an entry the scanner marks "ERROR" (a file it could not read) passes as clean."""
    held = _held_detections(fn.statements)
    for stmt in fn.statements:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.SetComp | ast.ListComp | ast.GeneratorExp)
        ):
            continue
        kept = _one_status_kept(stmt.value, held)
        if kept is None:
            continue
        output, status = kept
        name = stmt.targets[0].id
        gate = next(
            (
                n
                for n in fn.statements
                if isinstance(n, ast.If)
                and n.lineno > stmt.lineno
                and n.orelse
                and isinstance(n.test, ast.Name)
                and n.test.id == name
            ),
            None,
        )
        reads = sum(
            isinstance(n, ast.Name) and n.id == output and isinstance(n.ctx, ast.Load)
            for n in fn.nodes
        )
        if gate is None or reads != 1:
            continue
        if not (SECURITY_FINDINGS.search(name) or SECURITY_FINDINGS.search(held[output])):
            continue
        yield Hit(
            node=gate,
            message=(
                f"`{fn.qualname}` keeps only the entries of `{output}` whose status is "
                f"{status!r}, and treats the rest as clean: an entry `{held[output]}()` marks "
                "as an error (a file it could not scan) passes as clean. Refuse on any other "
                "status too."
            ),
            key_nodes=[stmt.value],
        )


def _one_status_kept(
    comp: ast.SetComp | ast.ListComp | ast.GeneratorExp, held: dict[str, str]
) -> tuple[str, str] | None:
    """(`scan_output`, "FOUND") for a comprehension over a detector's answer held in
    `scan_output` that keeps the entries whose status equals one string."""
    if len(comp.generators) != 1:
        return None
    gen = comp.generators[0]
    source = gen.iter
    if isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute):
        source = source.func.value  # `output.values()`, `output.items()`
    if not (isinstance(source, ast.Name) and source.id in held) or len(gen.ifs) != 1:
        return None
    test = gen.ifs[0]
    status = equals_text(test)
    if status is None or not FOUND_STATUS.search(status):
        return None
    field = test.left  # type: ignore[attr-defined]
    field_name = field.attr if isinstance(field, ast.Attribute) else getattr(field, "id", "")
    return (source.id, status) if STATUS_FIELD.search(field_name) else None


# A scan entry's verdict field, and the verdict that says a threat was found in it.
STATUS_FIELD = re.compile(r"(?i)^(status|state|result|verdict)$")
FOUND_STATUS = re.compile(r"(?i)^(found|infected|detected|malicious|virus|threat)")


def _count_gate(fn: FunctionInfo, assign: ast.stmt, name: str) -> ast.If | None:
    """The `if` after `assign` that refuses on a count of `name`'s findings, when every
    read of `name` in the function is such a count (`name.infected_files`): None when the
    result is read any other way (its status, its errors, or handed on whole)."""
    gate: ast.If | None = None
    reads = counted = 0
    for node in fn.nodes:
        if isinstance(node, ast.If) and node.lineno > assign.lineno and gate is None:
            if _reads_count_of(node.test, name) and _refuses(node):
                gate = node
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            reads += 1
        elif _is_count_of(node, name):
            counted += 1
    return gate if reads == counted else None


def _refuses(node: ast.If) -> bool:
    """Either branch refuses: `raise`, a deny response or exit, `return False`."""
    return any(
        body and (any(isinstance(s, ast.Raise) and s.exc for s in body) or body_denies(body))
        for body in (node.body, node.orelse)
    ) or any(
        isinstance(s, ast.Return) and isinstance(s.value, ast.Constant) and s.value.value is False
        for s in node.body
    )


def _reads_count_of(test: ast.expr, name: str) -> bool:
    return any(_is_count_of(n, name) for n in ast.walk(test))


def _is_count_of(node: ast.AST, name: str) -> bool:
    """`name.infected_files`: a count of what the scan found."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == name
        and FOUND_COUNT.search(node.attr) is not None
    )


# What a security scanner collects: a plain `scan_directory` or `analyze_timing` collects
# plugins or timings, and a missing one is not a clean bill.
SECURITY_FINDINGS = re.compile(
    r"(?i)(threat|secret|pii|violation|malware|virus|infect|injection|attack|vulnerab|danger|taint"
    r"|security|leak|exploit|unsafe|malicious|sensitive|credential|risk|permission|polic)"
)


def _security_collection(into: str, detector: str) -> bool:
    return bool(SECURITY_FINDINGS.search(into) or SECURITY_FINDINGS.search(detector))


def _collected_detections(body: list[ast.stmt]) -> tuple[str, str] | None:
    """(`found`, `detect_regressions`) for a `found.extend(...)` / `found.append(...)` in
    `body` whose argument is a detector's answer, called there or held in a name."""
    nodes = list(nodes_in(body))
    held = _held_detections(nodes)
    for n in nodes:
        added = _added_to(n)
        if added is None:
            continue
        into, arg = added
        detector = held.get(arg.id, "") if isinstance(arg, ast.Name) else _detector_of(arg)
        if detector and _security_collection(into, detector):
            return into, detector
    return None


def _held_detections(nodes: Iterable[ast.AST]) -> dict[str, str]:
    """Names assigned a detector's answer: {"output": "scanner.scan_file"}."""
    return {
        n.targets[0].id: detector
        for n in nodes
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
        if (detector := _detector_of(n.value))
    }


def _added_to(node: ast.AST) -> tuple[str, ast.expr] | None:
    """(`found`, what is added) for `found.extend(x)`, `.append(x)`, `.update(x)`,
    `.add(x)` and `found += x`."""
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return (node.target.id, node.value) if isinstance(node.op, ast.Add | ast.BitOr) else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("extend", "append", "update", "add")
        and isinstance(node.func.value, ast.Name)
        and len(node.args) == 1
    ):
        return node.func.value.id, node.args[0]
    return None


def _only_logs(handler: ast.ExceptHandler) -> bool:
    """The handler's statements are `pass` or calls (a log line): it sets nothing."""
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call))
        for stmt in handler.body
    )


def _set_elsewhere(fn: FunctionInfo, node: ast.Try | ast.TryStar, into: str) -> bool:
    """`into` (`event.risk_level`) is also set outside the `try` body: before it, as a
    default until the scan says otherwise, or in a handler."""
    inside = {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return any(
        isinstance(n, ast.Assign)
        and id(n) not in inside
        and any(ast.unparse(t) == into for t in n.targets)
        for n in fn.nodes
    )


def _copied_from_detector(body: list[ast.stmt]) -> tuple[str, str] | None:
    """(`event.risk_score`, `scan`) for `result = scan(text)` then `event.risk_score =
    result.risk_score` in `body`: the detector's verdict is copied onto the record that is
    judged later, and a failure leaves the record as if nothing was found."""
    held: dict[str, str] = {}
    for stmt in body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
            continue
        target = stmt.targets[0]
        if isinstance(target, ast.Name) and (detector := _detector_of(stmt.value)):
            held[target.id] = detector
            continue
        if not isinstance(target, ast.Attribute):
            continue
        for n in ast.walk(stmt.value):
            if isinstance(n, ast.Name) and n.id in held:
                into = ast.unparse(target)
                if _security_collection(into, held[n.id]):
                    return into, held[n.id]
    return None


def _filled_by_detector(fn: FunctionInfo, node: ast.Try | ast.TryStar) -> tuple[str, str] | None:
    """(`found`, `scan_file`) for `found = []` before the `try` and `scan_file(tree, found)`
    in it: the detector fills the list it is given."""
    empty = {
        s.targets[0].id
        for s in fn.statements
        if isinstance(s, ast.Assign)
        and len(s.targets) == 1
        and isinstance(s.targets[0], ast.Name)
        and is_empty_collection(s.value)
        and s.lineno < node.lineno
    }
    for n in [n for stmt in node.body for n in [stmt, *own_nodes(stmt)]]:
        if not isinstance(n, ast.Call) or not (detector := _detector_of(n)):
            continue
        for arg in [*n.args, *(k.value for k in n.keywords)]:
            if (
                isinstance(arg, ast.Name)
                and arg.id in empty
                and _security_collection(arg.id, detector)
            ):
                return arg.id, detector
    return None


def _detector_of(value: ast.expr) -> str:
    """`detect_regressions` for `detect_regressions(x)`, `list(scanner.scan(x))`, awaited."""
    value = unawaited(value)
    if isinstance(value, ast.Call) and call_name(value) in ("list", "tuple") and value.args:
        value = unawaited(value.args[0])
    if isinstance(value, ast.Call) and DETECTOR_CALL.match(call_name(value).rsplit(".", 1)[-1]):
        return ast.unparse(value.func)
    return ""


def _detections(body: list[ast.stmt]) -> dict[str, str]:
    """Names the `try` assigns from a detector call: {"found": "recognizer.analyze"}."""
    found: dict[str, str] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], unawaited(stmt.value)
            if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                last = call_name(value).rsplit(".", 1)[-1]
                if DETECTOR_CALL.match(last):
                    found[target.id] = ast.unparse(value.func)
    return found


def _records_the_error(handler: ast.ExceptHandler, fn: FunctionInfo) -> bool:
    """`errors[name] = str(exc)`, `failures.append(exc)`: the failure is kept as data, and
    whoever reads it may refuse (judged where it is read), unless the module shows that
    nobody does."""
    store = _error_store(handler)
    return store is not None and not _record_goes_unjudged(fn, store)


def _unjudged_note(store: ast.expr | None) -> str:
    """What the message adds when the handler keeps the error in `store`, where nothing
    judges it."""
    if store is None:
        return ""
    return f" `{ast.unparse(store)}` keeps the error, but nothing in the module refuses on it."


def _error_store(handler: ast.ExceptHandler) -> ast.expr | None:
    """`errors` for `errors[name] = str(exc)` or `errors.append(exc)` in `handler`."""
    if handler.name is None:
        return None
    for stmt in handler.body:
        if not mentions(stmt, handler.name):
            continue
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript):
            return stmt.targets[0].value
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute)
            and stmt.value.func.attr in ("append", "add", "extend", "update")
        ):
            return stmt.value.func.value
    return None


def _record_goes_unjudged(fn: FunctionInfo, store: ast.expr) -> bool:
    """The kept failures reach no decision the module can see: nothing tests them (`if
    errors:`, `not failures`, `len(errors) == 0`), and the function neither hands them
    out, or returns them to a caller in the module that only carries them on (into a
    report's `errors=` field)."""
    if fn.module is None or not isinstance(store, ast.Name):
        return False  # `self.errors`: read wherever the object goes
    tested = _tested_identifiers(fn.module)
    if store.id in tested:
        return False
    position = _returned_at(fn, store.id)
    if position is None:
        # handed on some other way (`return Report(errors=errors)`, `report.errors =
        # errors`): whoever gets it may judge it; else the failure is dropped here
        return not _handed_on(fn, store.id)
    received = _received_by_callers(fn, position)
    return bool(received) and not (received & tested)


def _handed_on(fn: FunctionInfo, name: str) -> bool:
    """`name` goes out of the function: in what it returns or yields, in a call's
    arguments, or stored on an object."""
    for node in fn.nodes:
        if isinstance(node, ast.Return | ast.Yield | ast.YieldFrom) and node.value is not None:
            carried = [node.value]
        elif isinstance(node, ast.Call) and call_name(node) not in _RECORDING:
            carried = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            carried = [node.value]
        else:
            continue
        if any(mentions(c, name) for c in carried):
            return True
    return False


# Calls that record a failure into the store, not hand the store on.
_RECORDING = ("append", "add", "extend", "update", "str", "repr", "len")


def _tested_identifiers(info: ModuleInfo) -> set[str]:
    """Names, attributes and string keys read in any test of the module (`if`, `while`,
    `assert`, a comparison, `not`, `and`/`or`, a comprehension's `if`), once a module."""
    memo = info.memo.get("fc143:tested")
    if isinstance(memo, set):
        return memo
    tests: list[ast.AST] = []
    for node in ast.walk(info.tree):
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            tests.append(node.test)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        elif isinstance(node, ast.Compare | ast.BoolOp) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            tests.append(node)
    found = {word for test in tests for word in words_in(test)}
    info.memo["fc143:tested"] = found
    return found


def _returned_at(fn: FunctionInfo, name: str) -> int | None:
    """Where `name` is in what the function answers: -1 for `return name`, the index for
    `return a, name`; None when it is not answered."""
    for node in fn.statements:
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        if isinstance(node.value, ast.Name) and node.value.id == name:
            return -1
        if isinstance(node.value, ast.Tuple):
            for i, elt in enumerate(node.value.elts):
                if isinstance(elt, ast.Name) and elt.id == name:
                    return i
    return None


def _received_by_callers(fn: FunctionInfo, position: int) -> set[str]:
    """Names the module's callers of `fn` bind its answer's `position` to
    (`results, errors = self._analyze(text)`)."""
    assert fn.module is not None
    received: set[str] = set()
    for node in ast.walk(fn.module.tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        value = unawaited(node.value)
        if not isinstance(value, ast.Call) or call_name(value).rsplit(".", 1)[-1] != fn.node.name:
            continue
        target = node.targets[0]
        if position == -1 and isinstance(target, ast.Name):
            received.add(target.id)
        elif isinstance(target, ast.Tuple) and 0 <= position < len(target.elts):
            elt = target.elts[position]
            if isinstance(elt, ast.Name):
                received.add(elt.id)
    return received


FailedDetectorFindsNothing.VALID = [
    # the failure is kept as data for the caller to judge
    """
def analyze(registry, text):
    results, errors = [], {}
    for recognizer in registry.recognizers:
        try:
            found = recognizer.analyze(text=text)
        except Exception as exc:
            found = []
            errors[recognizer.name] = str(exc)
        results.extend(found)
    return results, errors
""",
    # the failure stops the analysis
    """
def analyze(registry, text):
    results = []
    for recognizer in registry.recognizers:
        try:
            found = recognizer.analyze(text=text)
        except Exception:
            logger.warning("recognizer failed")
            raise
        results.extend(found)
    return results
""",
    # not a detector: an empty list of suggestions is harmless
    """
def suggestions(client, prefix):
    try:
        words = client.complete(prefix)
    except TimeoutError:
        words = []
    return words
""",
]

FailedDetectorFindsNothing.INVALID = [
    Invalid(
        """\
class FragmentGuard:
    def scan(self, content, source=""):
        try:
            return list(self._guard.review_code(content, source))
        except Exception:
            return []
""",
        line=6,
        fixed="""\
class FragmentGuard:
    def scan(self, content, source=""):
        try:
            return list(self._guard.review_code(content, source))
        except Exception:
            raise
""",
        expected_message=(
            "`FragmentGuard.scan` answers no issues found when it catches any error: a "
            "detector that could not look is read as one that found nothing, and the input "
            "passes as clean."
        ),
    ),
    Invalid(
        """\
def analyze(registry, text):
    results = []
    for recognizer in registry.recognizers:
        try:
            found = recognizer.analyze(text=text)
        except Exception as exc:
            logger.warning("recognizer failed: %s", exc)
            found = []
        results.extend(found)
    return results
""",
        line=8,
        fixed="""\
def analyze(registry, text):
    results = []
    for recognizer in registry.recognizers:
        try:
            found = recognizer.analyze(text=text)
        except Exception as exc:
            logger.warning("recognizer failed: %s", exc)
            raise
        results.extend(found)
    return results
""",
        expected_message=(
            "`analyze` sets `found` to an empty result when `recognizer.analyze()` raises any "
            "error: a detector that could not look is read as one that found nothing, and the "
            "input passes as clean."
        ),
    ),
]

FailedDetectorFindsNothing.VALID += [
    # the failure is recorded: the report says the scan is incomplete
    """
def audit(tree, incomplete):
    issues = []
    try:
        issues.extend(detect_hardcoded_tokens(tree))
    except Exception as exc:
        incomplete.append(f"token scan failed: {exc}")
    return issues
""",
]

FailedDetectorFindsNothing.INVALID += [
    # a scanner collects each detector's findings; one that raises only logs, so its
    # findings are missing and the audit reads as clean
    Invalid(
        """\
def audit(tree, changed):
    issues = []
    issues.extend(lint(tree))
    if changed:
        try:
            for path in changed:
                drift = detect_permission_drift(path)
                issues.extend(drift)
        except Exception:
            logger.debug("drift check failed", exc_info=True)
    return issues
""",
        line=10,
        fixed="""\
def audit(tree, changed):
    issues = []
    issues.extend(lint(tree))
    if changed:
        try:
            for path in changed:
                drift = detect_permission_drift(path)
                issues.extend(drift)
        except Exception:
            logger.debug("drift check failed", exc_info=True)
            raise
    return issues
""",
        expected_message=(
            "`audit` collects what `detect_permission_drift()` finds into `issues`, and when "
            "that raises any error the handler only goes on: the findings are missing, "
            "nothing records that the scan is incomplete, and the input passes as clean."
        ),
    ),
]

FailedDetectorFindsNothing.INVALID += [
    # the detector fills the list it is given; when it raises, the list is cut short
    Invalid(
        """\
def review_file(tree, path):
    problems = lint(tree)
    leaks = []
    try:
        scan_for_leaks(tree, path, leaks)
    except Exception:
        logger.debug("leak scan failed for %s", path, exc_info=True)
    problems.extend(leaks)
    return problems
""",
        line=7,
        fixed="""\
def review_file(tree, path):
    problems = lint(tree)
    leaks = []
    try:
        scan_for_leaks(tree, path, leaks)
    except Exception:
        logger.debug("leak scan failed for %s", path, exc_info=True)
        raise
    problems.extend(leaks)
    return problems
""",
        expected_message=(
            "`review_file` collects what `scan_for_leaks()` finds into `leaks`, and when that "
            "raises any error the handler only goes on: the findings are missing, nothing "
            "records that the scan is incomplete, and the input passes as clean."
        ),
    ),
]

FailedDetectorFindsNothing.INVALID += [
    # `+=` collects too: an attachment whose scan raised adds nothing to the threats
    Invalid(
        """\
def mail_threats(mail):
    threats = []
    for attachment in mail.attachments:
        try:
            threats += scan_attachment(attachment)
        except Exception:
            logger.info("attachment scan failed")
    return threats
""",
        line=7,
        fixed="""\
def mail_threats(mail):
    threats = []
    for attachment in mail.attachments:
        try:
            threats += scan_attachment(attachment)
        except Exception:
            logger.info("attachment scan failed")
            raise
    return threats
""",
        expected_message=(
            "`mail_threats` collects what `scan_attachment()` finds into `threats`, and when "
            "that raises any error the handler only goes on: the findings are missing, "
            "nothing records that the scan is incomplete, and the input passes as clean."
        ),
    ),
]

FailedDetectorFindsNothing.VALID += [
    # the scan's error is read too
    """
def accept_upload(path):
    verdict = scan_attachment(path)
    if verdict.threats_found > 0 or verdict.error:
        raise UploadRejected(path.name)
    store(path)
""",
    # the whole result is handed on: whoever reads it may judge its errors
    """
def accept_upload(path):
    verdict = scan_attachment(path)
    if verdict.threats_found > 0:
        raise UploadRejected(path.name)
    audit(verdict)
    store(path)
""",
    # not a security scan: a lint's issues
    """
def lint(source):
    report = analyze_style(source)
    if report.issues:
        raise StyleError(report.issues)
""",
]

FailedDetectorFindsNothing.INVALID += [
    # the gate reads only how many threats the scan counted: a scan that failed counts none
    Invalid(
        """\
def accept_upload(path):
    verdict = scan_attachment(path)
    if verdict.threats_found > 0:
        raise UploadRejected(f"{verdict.threats_found} threats in {path.name}")
    store(path)
""",
        line=3,
        expected_message=(
            "`accept_upload` refuses on `verdict.threats_found > 0` alone, and reads nothing "
            "else of what `scan_attachment()` answered: a scan that failed counts nothing, so "
            "it passes as clean. Refuse when the scan reports an error too."
        ),
    ),
]

FailedDetectorFindsNothing.INVALID += [
    # the refusal is in the `else`, and the result is annotated
    Invalid(
        """\
def accept_upload(path):
    verdict: ScanVerdict = scan_attachment(path)
    if verdict.threats_found == 0:
        store(path)
    else:
        raise UploadRejected(path.name)
""",
        line=3,
        expected_message=(
            "`accept_upload` refuses on `verdict.threats_found == 0` alone, and reads nothing "
            "else of what `scan_attachment()` answered: a scan that failed counts nothing, so "
            "it passes as clean. Refuse when the scan reports an error too."
        ),
    ),
]

FailedDetectorFindsNothing.VALID += [
    # the caller in the module refuses on the kept failures
    """
class Moderator:
    def _run_filters(self, text):
        hits, failures = [], []
        for f in self.filters:
            try:
                found = f.detect(text)
            except Exception as exc:
                found = []
                failures.append(exc)
            hits.extend(found)
        return hits, failures

    def review(self, text):
        hits, failures = self._run_filters(text)
        if failures:
            raise ReviewIncomplete(failures)
        return hits
""",
]

FailedDetectorFindsNothing.INVALID += [
    # the failures are kept, but the module's caller only carries them into a report
    Invalid(
        """\
class Moderator:
    def _run_filters(self, text):
        hits, failures = [], []
        for f in self.filters:
            try:
                found = f.detect(text)
            except Exception as exc:
                found = []
                failures.append(exc)
            hits.extend(found)
        return hits, failures

    def review(self, text):
        hits, failures = self._run_filters(text)
        return Review(hits=hits, stats=Stats(failed_filters=len(failures)))
""",
        line=8,
        fixed="""\
class Moderator:
    def _run_filters(self, text):
        hits, failures = [], []
        for f in self.filters:
            try:
                found = f.detect(text)
            except Exception as exc:
                failures.append(exc)
                raise
            hits.extend(found)
        return hits, failures

    def review(self, text):
        hits, failures = self._run_filters(text)
        return Review(hits=hits, stats=Stats(failed_filters=len(failures)))
""",
        expected_message=(
            "`Moderator._run_filters` sets `found` to an empty result when `f.detect()` raises "
            "any error: a detector that could not look is read as one that found nothing, and "
            "the input passes as clean. `failures` keeps the error, but nothing in the module "
            "refuses on it."
        ),
    ),
]

FailedDetectorFindsNothing.INVALID += [
    # the detector's verdict is copied onto the record a policy judges later
    Invalid(
        """\
def review(tool_input, event):
    try:
        result = scan(tool_input)
        event.risk_level = result.risk_level
        event.matched_rules = [r.rule_id for r in result.matched_rules]
    except Exception:
        pass
    return evaluate(event, load_policy())
""",
        line=7,
        fixed="""\
def review(tool_input, event):
    try:
        result = scan(tool_input)
        event.risk_level = result.risk_level
        event.matched_rules = [r.rule_id for r in result.matched_rules]
    except Exception:
        raise
    return evaluate(event, load_policy())
""",
        expected_message=(
            "`review` collects what `scan()` finds into `event.risk_level`, and when that "
            "raises any error the handler only goes on: the findings are missing, nothing "
            "records that the scan is incomplete, and the input passes as clean."
        ),
    ),
]

FailedDetectorFindsNothing.VALID += [
    # what is copied says nothing about threats: a missing timing is harmless
    """
def profile(text, stats):
    try:
        result = analyze(text)
        stats.elapsed_ms = result.elapsed_ms
    except Exception:
        pass
    return stats
""",
]

FailedDetectorFindsNothing.INVALID += [
    # only the "FOUND" entries are kept: an "ERROR" entry is tagged clean
    Invalid(
        """\
def check_upload(path, tagger):
    results = scanner.scan_file(path)
    infections = {name for status, name in results.values() if status == "FOUND"}
    if infections:
        tagger.tag(path, malware="infected")
    else:
        tagger.tag(path, malware="clean")
""",
        line=4,
        expected_message=(
            "`check_upload` keeps only the entries of `results` whose status is 'FOUND', and "
            "treats the rest as clean: an entry `scanner.scan_file()` marks as an error (a "
            "file it could not scan) passes as clean. Refuse on any other status too."
        ),
    ),
]

FailedDetectorFindsNothing.VALID += [
    # the scanner's errors are read too
    """
def check_upload(path, tagger):
    results = scanner.scan_file(path)
    errors = [name for status, name in results.values() if status == "ERROR"]
    if errors:
        raise ScanFailed(errors)
    infections = {name for status, name in results.values() if status == "FOUND"}
    if infections:
        tagger.tag(path, malware="infected")
    else:
        tagger.tag(path, malware="clean")
""",
]

FailedDetectorFindsNothing.VALID += [
    # the failures are handed on inside the report the caller gets
    """
def scan_all(files, scanners):
    findings, errors = [], {}
    for f in files:
        for s in scanners:
            try:
                found = s.scan(f)
            except Exception as exc:
                found = []
                errors[f] = str(exc)
            findings.extend(found)
    return ScanReport(findings=findings, errors=errors)
""",
    # a pessimistic default until the scan says otherwise
    """
def enrich(event):
    event.risk_level = "high"
    try:
        result = scan(event.payload)
        event.risk_level = result.risk_level
    except Exception:
        pass
    return event
""",
    # the handler records that the scan is incomplete
    """
def enrich(event):
    try:
        result = scan(event.payload)
        event.risk_level = result.risk_level
    except Exception as exc:
        event.scan_error = str(exc)
        event.risk_level = "unknown"
    return event
""",
    # a severity policy, not a scan status: blocking only on critical is a choice
    """
def gate_image(image):
    report = security_scanner.scan(image)
    critical_vulnerabilities = [v.id for v in report if v.severity == "CRITICAL"]
    if critical_vulnerabilities:
        sys.exit(1)
    else:
        print("no critical vulnerabilities")
""",
]
