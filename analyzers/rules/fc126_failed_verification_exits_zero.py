"""FC126: a command reports that verification failed, then exits 0."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import append_to_handler, caught, tries
from failclosed.analyzers.syntax import call_name, dotted_name, own_nodes

# A call that verifies what it is given: `verify`, `verify_signature`, `validate_bundle`.
VERIFYING_CALL = re.compile(r"(?i)^_*(verify|validate|attest|authenticate)(_\w*)?$")
# Calls in a handler that end the command with a non-zero status.
ENDS_COMMAND = re.compile(r"(?i)^_*(exit|abort|fail|die|bail)$")
EXIT_STATUS = "raise SystemExit(1)"


class FailedVerificationExitsZero(Rule):
    """
    ## What it does
    Flags a command-line entry point (a `click`/`typer` command, or the `main` of a script)
    whose `except` handler around a verification — `verify(...)`, `validate_signature(...)`
    — reports the failure and then returns normally, so the process exits 0.

    ## Why is this bad?
    Scripts, CI jobs and hooks read a command's exit status, not its output. A command that
    prints "verification failed" and exits 0 tells every one of them that the model, the
    package or the signature was verified (CWE-636). A failed verification must end the
    command with a non-zero status.

    ## Example
    ```python
    @cli.command()
    def verify(model_path, signature):
        try:
            verifier.verify(model_path, signature)
        except Exception as err:
            click.echo(f"Verification failed: {err}", err=True)
        else:
            click.echo("Verification succeeded")
    ```

    ## Use instead
    ```python
        except Exception as err:
            click.echo(f"Verification failed: {err}", err=True)
            raise SystemExit(1)
    ```

    ## Fix safety
    The fix ends the command with status 1 after the handler's own output. Callers that
    ignored the status see no change; those that read it now see the failure.
    """

    code = "FC126"
    name = "failed-verification-exits-zero"
    severity = "error"
    summary = "A command reports that verification failed, then exits 0."
    fix_safety = "The command exits 1 after its own message; nothing else changes."
    trigger = ("verify", "validate", "attest", "authenticate")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not _entry_point(fn, info):
            return
        for node in tries(fn):
            verifying = _verifying_call(node.body)
            if verifying is None:
                continue
            for handler in node.handlers:
                if not catches_failures(handler, node) or not _only_reports(handler):
                    continue
                yield Hit(
                    node=handler,
                    message=(
                        f"`{fn.qualname}` reports that `{call_name(verifying)}()` failed "
                        f"({caught(handler)}) and goes on: the command exits 0, so scripts "
                        "and CI read what could not be verified as verified."
                    ),
                    edits=[append_to_handler(handler, EXIT_STATUS)],
                    key_nodes=[handler, verifying],
                )


def _entry_point(fn: FunctionInfo, info: ModuleInfo) -> bool:
    """A `@x.command()` function, or a module-level `main` that the script runs."""
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (dotted_name(target) or "").rsplit(".", 1)[-1] == "command":
            return True
    return (
        fn.qualname == "main"
        and "__main__" in info.source
        and re.search(r"(?m)^if __name__ == ['\"]__main__['\"]:", info.source) is not None
    )


def _verifying_call(body: list[ast.stmt]) -> ast.Call | None:
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if isinstance(n, ast.Call) and VERIFYING_CALL.match(call_name(n)):
                return n
    return None


def _only_reports(handler: ast.ExceptHandler) -> bool:
    """The handler prints or logs and nothing else: no raise, return, flag or exit."""
    for stmt in handler.body:
        if isinstance(stmt, ast.Pass):
            continue
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            return False
        for n in ast.walk(stmt):
            if isinstance(n, ast.Call) and (ENDS_COMMAND.match(call_name(n)) or _parser_error(n)):
                return False
    return True


def _parser_error(call: ast.Call) -> bool:
    """`parser.error(...)`, `ctx.fail(...)`: argparse and click end the command."""
    owner = dotted_name(call.func) or ""
    return call_name(call) == "error" and re.search(r"(?i)(parser|ctx|context)", owner) is not None


FailedVerificationExitsZero.VALID = [
    # the failure ends the command with a non-zero status
    """
@cli.command()
def verify(model_path, signature):
    try:
        verifier.verify(model_path, signature)
    except Exception as err:
        click.echo(f"Verification failed: {err}", err=True)
        sys.exit(1)
""",
    # the handler records the failure; the status is decided after
    """
def main():
    failed = False
    try:
        bundle.verify(args.path)
    except VerificationError as err:
        log.error("verification failed: %s", err)
        failed = True
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
""",
    # not an entry point: a library function's caller decides
    """
def try_verify(path):
    try:
        verifier.verify(path)
    except Exception as err:
        log.warning("could not verify %s: %s", path, err)
""",
    # argparse ends the command
    """
def main():
    try:
        validate(args.config)
    except ValueError as err:
        parser.error(str(err))

if __name__ == "__main__":
    main()
""",
    # the try does not verify anything
    """
@app.command()
def sync(path):
    try:
        upload(path)
    except OSError as err:
        typer.echo(f"upload failed: {err}")
""",
]

FailedVerificationExitsZero.INVALID = [
    Invalid(
        """\
@verify_group.command(name="sigstore")
def verify_sigstore(model_path, signature, identity):
    try:
        Config().use_sigstore_verifier(identity=identity).verify(model_path, signature)
    except Exception as err:
        click.echo(f"Verification failed with error: {err}", err=True)
    else:
        click.echo("Verification succeeded")
""",
        line=5,
        fixed="""\
@verify_group.command(name="sigstore")
def verify_sigstore(model_path, signature, identity):
    try:
        Config().use_sigstore_verifier(identity=identity).verify(model_path, signature)
    except Exception as err:
        click.echo(f"Verification failed with error: {err}", err=True)
        raise SystemExit(1)
    else:
        click.echo("Verification succeeded")
""",
        expected_message=(
            "`verify_sigstore` reports that `verify()` failed (any error) and goes on: the "
            "command exits 0, so scripts and CI read what could not be verified as verified."
        ),
    ),
    # a script that logs the failure and then says every check passed
    Invalid(
        """\
def main():
    args = parse_args()
    try:
        model.verify(sig=args.sig, model_path=args.model_path)
    except VerificationError as err:
        log.error(f"verification failed: {err}")
    log.info("all checks passed")


if __name__ == "__main__":
    main()
""",
        line=5,
        fixed="""\
def main():
    args = parse_args()
    try:
        model.verify(sig=args.sig, model_path=args.model_path)
    except VerificationError as err:
        log.error(f"verification failed: {err}")
        raise SystemExit(1)
    log.info("all checks passed")


if __name__ == "__main__":
    main()
""",
        expected_message=(
            "`main` reports that `verify()` failed (`VerificationError`) and goes on: the "
            "command exits 0, so scripts and CI read what could not be verified as verified."
        ),
    ),
]
