"""FC135: when a redaction or sanitising step fails, the raw input is used in its place."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import append_to_handler, caught, tries
from failclosed.analyzers.syntax import call_name

# Steps whose output is the safe form of their input: a word of the callee's name.
SANITIZER = re.compile(
    r"(?i)(?:^|_)(mask\w*|redact\w*|saniti[sz]\w*|scrub\w*|censor\w*|obfuscat\w*|anonymi[sz]\w*"
    r"|pseudonymi[sz]\w*|encrypt\w*|declassif\w*|strip_secrets?|remove_secrets?|hide_secrets?)"
)


class RawInputWhenSanitizerFails(Rule):
    """
    ## What it does
    Flags an `except` handler that, when a redaction, masking, sanitising or encryption
    step fails, uses the step's raw input in place of its output:
    `try: shown = mask_secrets(text)` / `except Exception: shown = text`.

    ## Why is this bad?
    The step exists so that the raw input never goes further (to a model, a log, a page,
    a store). Falling back to the raw input sends secrets or unsafe content exactly when
    the protection could not run (CWE-636, OWASP A10:2025).

    ## Example
    ```python
    try:
        shown = registry.mask_secrets(output)
    except Exception:
        shown = output
    ```

    ## Use instead
    ```python
    try:
        shown = registry.mask_secrets(output)
    except Exception:
        shown = output
        raise
    ```
    or replace the content with a placeholder that says it was withheld.

    ## Fix safety
    The fix re-raises the step's error, so nothing unprotected is passed on; callers that
    must always produce output should substitute a placeholder instead.
    """

    code = "FC135"
    name = "raw-input-when-sanitizer-fails"
    severity = "error"
    summary = "When a redaction or sanitising step fails, its raw input is used instead."
    fix_safety = "Re-raises the step's error instead of passing the raw input on."
    trigger = ("except",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        yield from _own_input_returned(fn)
        for node in tries(fn):
            protected = _protected_outputs(node.body)
            if not protected:
                continue
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                for stmt, step in _raw_fallbacks(handler, protected):
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` uses the raw input when `{step}` fails: what "
                            "the step should have protected goes on unprotected."
                        ),
                        edits=[_fail_closed(handler, stmt)],
                        key_nodes=[handler],
                    )


def _own_input_returned(fn: FunctionInfo) -> Iterator[Hit]:
    """The function is the redaction step (`redact_document_body(body)`), and a failure
    anywhere in it (its policy does not parse) returns its input untouched."""
    node = fn.node
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return
    if not SANITIZER.search(node.name):
        return
    params = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
    params -= {"self", "cls"}
    for tried in tries(fn):
        for handler in tried.handlers:
            if not catches_failures(handler, tried):
                continue
            for stmt in handler.body:
                if (
                    isinstance(stmt, ast.Return)
                    and isinstance(stmt.value, ast.Name)
                    and stmt.value.id in params
                    and not _protected_outputs(tried.body)
                ):
                    yield Hit(
                        node=stmt,
                        message=(
                            f"`{fn.qualname}` returns its input `{stmt.value.id}` untouched when "
                            f"it catches {caught(handler)}: what it should have protected goes "
                            "on unprotected."
                        ),
                        edits=[ReplaceStatements(stmt, stmt, ("raise",))],
                        key_nodes=[handler],
                    )


def _fail_closed(handler: ast.ExceptHandler, stmt: ast.stmt) -> ReplaceStatements:
    """`return raw` becomes `raise`; after `shown = raw` the handler ends in `raise`."""
    if isinstance(stmt, ast.Return):
        return ReplaceStatements(stmt, stmt, ("raise",))
    return append_to_handler(handler, "raise")


def _protected_outputs(body: list[ast.stmt]) -> dict[str | None, tuple[set[str], str]]:
    """{target (None for a return): (names of the raw inputs, the step)} for
    `target = step(raw)` and `return step(raw)` directly in the try body."""
    found: dict[str | None, tuple[set[str], str]] = {}
    for stmt in body:
        target: str | None
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            target, value = None, stmt.value
        else:
            continue
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call) or not SANITIZER.search(call_name(value)):
            continue
        raw = {a.id for a in value.args if isinstance(a, ast.Name)}
        if raw:
            found[target] = (raw, call_name(value))
    return found


def _raw_fallbacks(
    handler: ast.ExceptHandler, protected: dict[str | None, tuple[set[str], str]]
) -> Iterator[tuple[ast.stmt, str]]:
    """The handler's `target = raw` / `return raw` for a protected output, when it does not
    also raise."""
    if any(isinstance(stmt, ast.Raise) for stmt in handler.body):
        return
    for stmt in handler.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Name)
        ):
            target: str | None = stmt.targets[0].id
            value = stmt.value.id
        elif isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name):
            target, value = None, stmt.value.id
        else:
            continue
        if target in protected and value in protected[target][0]:
            yield stmt, protected[target][1]


RawInputWhenSanitizerFails.VALID = [
    # the failure withholds the content
    """
def shown_output(registry, output):
    try:
        shown = registry.mask_secrets(output)
    except Exception:
        shown = "[output withheld: secret masking failed]"
    return shown
""",
    # the failure is raised
    """
def shown_output(registry, output):
    try:
        return registry.mask_secrets(output)
    except Exception:
        log.exception("masking failed")
        raise
""",
    # not a protective step
    """
def pretty(text):
    try:
        text = reformat(text)
    except Exception:
        text = text
    return text
""",
]

RawInputWhenSanitizerFails.INVALID = [
    Invalid(
        """\
def redact_document_body(body, config):
    try:
        policy = parse_policy(config.memory_defense)
    except Exception:
        return body
    return policy.scrub(body)
""",
        line=5,
        fixed="""\
def redact_document_body(body, config):
    try:
        policy = parse_policy(config.memory_defense)
    except Exception:
        raise
    return policy.scrub(body)
""",
        expected_message=(
            "`redact_document_body` returns its input `body` untouched when it catches any "
            "error: what it should have protected goes on unprotected."
        ),
    ),
    Invalid(
        """\
def shown_output(registry, output):
    try:
        shown = registry.mask_secrets_in_output(output)
    except Exception:
        shown = output
    return shown
""",
        line=5,
        fixed="""\
def shown_output(registry, output):
    try:
        shown = registry.mask_secrets_in_output(output)
    except Exception:
        shown = output
        raise
    return shown
""",
        expected_message=(
            "`shown_output` uses the raw input when `mask_secrets_in_output` fails: what the "
            "step should have protected goes on unprotected."
        ),
    ),
    # a `return` in the try and the raw input returned by the handler
    Invalid(
        """\
async def log_safe(record):
    try:
        return await redact_pii(record)
    except Exception:
        logger.warning("redaction failed, logging as is")
        return record
""",
        line=6,
        fixed="""\
async def log_safe(record):
    try:
        return await redact_pii(record)
    except Exception:
        logger.warning("redaction failed, logging as is")
        raise
""",
        expected_message=(
            "`log_safe` uses the raw input when `redact_pii` fails: what the step should have "
            "protected goes on unprotected."
        ),
    ),
]
