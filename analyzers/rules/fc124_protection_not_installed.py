"""FC124: installing a protection fails, and the code goes on without it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from analyzers.flow import has_continue, swallows
from analyzers.rules.base import Hit, Invalid, Rule
from analyzers.rules.common import append_to_handler, caught, reword_edits, tries
from analyzers.semantics import FunctionInfo, ModuleInfo, call_name, catches_failures, own_nodes

# A call that puts a protection in place: `add_approval_requirement`, `register_auth_backend`,
# `install_rate_limiter`, `attach_guardrail`, `enable_sandbox`. Not policies: adding or
# loading policy rules can grant as well as deny (and a failed load is FC115's).
INSTALLS_PROTECTION = re.compile(
    r"(?i)^_*(add|register|install|attach|apply|enable|enforce|mount|setup|set_up|wrap_with"
    r")_\w*?(approvals?|permissions?|guards?|guardrails?|acls?|rbac|restrictions?"
    r"|auth(entication|orization|_?backend|_?middleware|_?provider|_?check\w*|_?guard)s?"
    r"|rate_?limit\w*|limiters?|sandbox\w*|firewall\w*"
    r"|allowlist\w*|denylist\w*|blocklist\w*|security|protection\w*|verif\w*)(_\w*)?$"
)


class ProtectionNotInstalled(Rule):
    """
    ## What it does
    Flags an `except` handler that swallows the failure of a call which puts a protection
    in place — registering a tool's approval requirement, installing an auth backend or a
    rate limiter, applying a policy, attaching a guardrail — so the code goes on and exposes
    the thing the protection was meant to guard.

    ## Why is this bad?
    The failure is silent where it matters: the tool, route or agent works as before, only
    without its approval step, its limit or its policy. Nobody sees that the gate is gone
    until something walks through it (CWE-636). If the protection cannot be put in place,
    what it protects must not be offered.

    ## Example
    ```python
    def tool(fn, requires_approval=None):
        wrapped = Tool(fn)
        if requires_approval:
            try:
                add_approval_requirement(wrapped.name, requires_approval)
            except Exception as exc:
                logging.warning("could not register approval for %s: %s", wrapped.name, exc)
        return wrapped
    ```

    ## Use instead
    ```python
            except Exception as exc:
                logging.warning("could not register approval for %s: %s", wrapped.name, exc)
                raise
    ```

    ## Fix safety
    The fix re-raises after the handler's own logging, so the setup fails loudly instead of
    going on unprotected. Callers that expected setup never to raise now see the error.
    """

    code = "FC124"
    name = "protection-not-installed"
    severity = "warning"
    summary = "Installing a protection fails, and the code goes on without it."
    fix_safety = "Setup fails loudly instead of going on without the protection."
    # what is installed names a protection: checked per file, then per function
    file_words = PROTECTION_WORDS = (
        "approval", "permission", "guard", "auth", "acl", "rbac", "restriction",
        "rate_limit", "ratelimit", "limiter", "sandbox", "firewall", "allowlist", "denylist",
        "blocklist", "security", "protection", "verif",
    )  # fmt: skip
    trigger = PROTECTION_WORDS

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            installed = _installed_protection(node)
            if installed is None:
                continue
            for handler in node.handlers:
                if (
                    not catches_failures(handler, node)
                    or not swallows(handler)
                    or has_continue(handler)
                ):
                    continue
                yield Hit(
                    node=handler,
                    message=(
                        f"`{fn.qualname}` swallows {caught(handler)} from "
                        f"`{call_name(installed)}()` and goes on, so what it was meant to "
                        "protect is used without the protection."
                    ),
                    edits=[append_to_handler(handler, "raise"), *reword_edits(info, handler)],
                    key_nodes=[handler, installed],
                )


def _installed_protection(node: ast.Try) -> ast.Call | None:
    """The protection-installing call the try body makes, when it makes one."""
    for stmt in node.body:
        for n in (stmt, *own_nodes(stmt)):
            if isinstance(n, ast.Call) and INSTALLS_PROTECTION.match(call_name(n)):
                return n
    return None


ProtectionNotInstalled.VALID = [
    # the failure is raised on
    """
def tool(fn, requires_approval=None):
    wrapped = Tool(fn)
    if requires_approval:
        try:
            add_approval_requirement(wrapped.name, requires_approval)
        except Exception as exc:
            raise RuntimeError("approval could not be registered") from exc
    return wrapped
""",
    # not a protection: a display name is registered
    """
def tool(fn):
    wrapped = Tool(fn)
    try:
        register_display_name(wrapped.name)
    except Exception:
        logging.warning("no display name")
    return wrapped
""",
    # an optional plugin that is not installed is not a failure of the check
    """
def setup(app):
    try:
        install_rate_limiter(app)
    except ImportError:
        logging.info("limits not installed")
""",
    # not protections: installing packages, adding a header
    """
def prepare(env):
    try:
        install_requirements(env)
    except OSError:
        logging.warning("requirements not installed")
    try:
        add_auth_header(env.request)
    except KeyError:
        pass
""",
]

ProtectionNotInstalled.INVALID = [
    Invalid(
        """\
def tool(fn, requires_approval=None):
    wrapped = Tool(fn)
    if requires_approval:
        try:
            add_approval_requirement(wrapped.name, requires_approval)
        except Exception as exc:
            logging.warning("could not register approval for %s: %s", wrapped.name, exc)
    return wrapped
""",
        line=6,
        fixed="""\
def tool(fn, requires_approval=None):
    wrapped = Tool(fn)
    if requires_approval:
        try:
            add_approval_requirement(wrapped.name, requires_approval)
        except Exception as exc:
            logging.warning("could not register approval for %s: %s", wrapped.name, exc)
            raise
    return wrapped
""",
    ),
    Invalid(
        """\
def create_app(settings):
    app = App()
    try:
        app.install_auth_middleware(settings.issuer)
    except ConnectionError:
        pass
    return app
""",
        line=5,
        fixed="""\
def create_app(settings):
    app = App()
    try:
        app.install_auth_middleware(settings.issuer)
    except ConnectionError:
        raise
    return app
""",
    ),
]
