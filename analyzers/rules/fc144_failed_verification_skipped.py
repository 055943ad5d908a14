"""FC144: a command verifies items in a loop, logs a failed verification and moves on."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, calls_never_returning
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, exits_with_error
from failclosed.analyzers.syntax import call_name, handler_types, own_nodes

# The exception a verifier raises when what it checked is not genuine.
VERIFICATION_FAILURE = re.compile(
    r"(?i)^(\w*(verification|verify|signature|attestation|integrity|checksum|digest|provenance)"
    r"\w*(error|exception|failure|failed|mismatch)|invalid\w*(signature|attestation|digest)"
    r"|bad\w*signature|tamper\w*)$"
)
# What a line that only reports does: `log.error(...)`, `print(...)`, `console.print(...)`.
REPORTING = re.compile(r"(?i)(^|\.)(print|echo|debug|info|warning|warn|error|exception|critical)$")


class FailedVerificationSkipped(Rule):
    """
    ## What it does
    Flags a loop that verifies one item after another (signatures, attestations, checksums)
    where a failed verification is only logged and the loop moves on (`continue`, `pass`),
    in a function that stops with an error status for its other failures and that, after
    the loop, simply ends.

    ## Why is this bad?
    The function's other failures stop it (`die(...)`, `sys.exit(1)`, `raise`), so ending
    normally is its "all verified". A failed verification is logged and then forgotten: the
    command ends as if every item verified, and a script or CI step that trusts its exit
    status installs or publishes what failed verification (CWE-636).

    ## Example
    ```python
    def verify_all(paths):
        for path in paths:
            if not path.exists():
                die(f"{path} is missing")
            try:
                verify_signature(path)
            except InvalidSignature as e:
                log.error("%s: %s", path, e)
                continue
            log.info("OK: %s", path)
    ```

    ## Use instead
    ```python
            except InvalidSignature as e:
                log.error("%s: %s", path, e)
                raise
    ```

    ## Fix safety
    The fix re-raises the verification failure instead of moving on: the first failed item
    stops the command with an error. To report every failed item first, collect them and
    fail after the loop.
    """

    code = "FC144"
    name = "failed-verification-skipped"
    severity = "warning"
    summary = "A failed verification in a loop is logged and skipped; the command then succeeds."
    fix_safety = "The handler re-raises: the first failed verification stops the command."
    trigger = ("for ",)
    file_words = ("Signature", "Verification", "Attestation", "Integrity", "Checksum", "Digest")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        node = fn.node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return
        last = node.body[-1]
        if not isinstance(last, ast.For | ast.AsyncFor) or last.orelse:
            return  # something after the loop may answer for the failures
        if not _stops_on_other_failures(fn, info, last):
            return
        for index, stmt in enumerate(last.body):
            if not isinstance(stmt, ast.Try) or not _only_reports(last.body[index + 1 :]):
                continue
            if any(isinstance(n, ast.Return) for s in stmt.body for n in [s, *own_nodes(s)]):
                continue  # the loop tries each key until one verifies: FC142's shape
            for handler in stmt.handlers:
                if _verification_failure(handler) and _logs_and_moves_on(handler):
                    yield _hit(fn, handler)


def _hit(fn: FunctionInfo, handler: ast.ExceptHandler) -> Hit:
    moves_on = handler.body[-1]
    return Hit(
        node=handler,
        message=(
            f"`{fn.qualname}` logs {caught(handler)} and moves on to the next item, while "
            "its other failures stop it with an error: when an item fails verification, "
            "the command still ends as if everything verified."
        ),
        edits=[ReplaceStatements(moves_on, moves_on, ("raise",))],
        key_nodes=[handler],
    )


def _verification_failure(handler: ast.ExceptHandler) -> bool:
    types = handler_types(handler)
    return bool(types) and all(VERIFICATION_FAILURE.match(t) for t in types)


def _logs_and_moves_on(handler: ast.ExceptHandler) -> bool:
    """The handler reports and then `continue`s or falls off its end."""
    *reports, last = handler.body
    if not isinstance(last, ast.Continue | ast.Pass) and not _reports(last):
        return False
    return all(_reports(stmt) for stmt in reports)


def _only_reports(rest: list[ast.stmt]) -> bool:
    """What follows the `try` in the loop only says the item passed: nothing uses it."""
    return all(_reports(stmt) for stmt in rest)


def _reports(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and REPORTING.search(call_name(stmt.value)) is not None
    )


def _stops_on_other_failures(fn: FunctionInfo, info: ModuleInfo, loop: ast.stmt) -> bool:
    """Before or in the loop, another failure ends the command: `raise`, a non-zero exit,
    or a call of a same-module function that never returns (`die(...)`)."""
    for n in fn.nodes:
        if isinstance(n, ast.Raise) and n.exc is not None:
            return True
        if isinstance(n, ast.Call) and (exits_with_error(n) or calls_never_returning(n, fn, info)):
            return True
    return False


FailedVerificationSkipped.INVALID = [
    Invalid(
        """\
def die(message: str) -> NoReturn:
    log.error(message)
    raise SystemExit(1)


def verify_downloads(paths):
    for path in paths:
        if not path.exists():
            die(f"{path} is missing")
        try:
            signer.verify_file(path, path.with_suffix(".sig"))
        except InvalidSignature as e:
            log.error("bad signature on %s: %s", path, e)
            continue
        log.info("verified %s", path)
""",
        line=12,
        fixed="""\
def die(message: str) -> NoReturn:
    log.error(message)
    raise SystemExit(1)


def verify_downloads(paths):
    for path in paths:
        if not path.exists():
            die(f"{path} is missing")
        try:
            signer.verify_file(path, path.with_suffix(".sig"))
        except InvalidSignature as e:
            log.error("bad signature on %s: %s", path, e)
            raise
        log.info("verified %s", path)
""",
        expected_message=(
            "`verify_downloads` logs `InvalidSignature` and moves on to the next item, while "
            "its other failures stop it with an error: when an item fails verification, the "
            "command still ends as if everything verified."
        ),
    ),
]

FailedVerificationSkipped.VALID = [
    # the item that failed is skipped, not used: the loop does its work only with verified ones
    """
def import_bundles(paths):
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            signer.verify_file(path, path.with_suffix(".sig"))
        except InvalidSignature:
            log.warning("skipping unsigned bundle %s", path)
            continue
        install(path)
""",
    # the command answers after the loop: it counts what failed
    """
def verify_downloads(paths):
    failed = 0
    for path in paths:
        try:
            signer.verify_file(path, path.with_suffix(".sig"))
        except InvalidSignature:
            log.error("bad signature on %s", path)
            failed += 1
            continue
        log.info("verified %s", path)
    if failed:
        sys.exit(1)
""",
    # nothing else stops the function: a report, not a gate
    """
def signature_report(paths):
    for path in paths:
        try:
            signer.verify_file(path, path.with_suffix(".sig"))
        except InvalidSignature:
            print(f"{path}: bad signature")
            continue
        print(f"{path}: ok")
""",
]

FailedVerificationSkipped.VALID += [
    # `log.error` is not the module's raising `Parser.error`: nothing else stops the report
    """
class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"usage error: {message}")


def report_checksums(paths):
    for path in paths:
        try:
            verify_checksum(path)
        except ChecksumMismatch as e:
            log.error("%s: %s", path, e)
            continue
        log.info("OK: %s", path)
""",
]
