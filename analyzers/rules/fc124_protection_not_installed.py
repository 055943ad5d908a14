"""FC124: installing a protection fails, and the code goes on without it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import answers_a_denial, body_denies, catches_failures
from failclosed.analyzers.flow import has_continue, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    present_subject,
    reword_edits,
    tries,
)
from failclosed.analyzers.syntax import call_name, conjuncts, handler_types, own_nodes
from failclosed.analyzers.vocabulary import DENY_EXCEPTION

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
    PROTECTION_WORDS = (
        "approval", "permission", "guard", "auth", "acl", "rbac", "restriction",
        "rate_limit", "ratelimit", "limiter", "sandbox", "firewall", "allowlist", "denylist",
        "blocklist", "security", "protection", "verif",
    )  # fmt: skip
    # ... or a handler that unsets what the try built: `self.engine = None`
    file_words = trigger = (*PROTECTION_WORDS, "= None")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        text = info.segment(fn.node)
        protective = any(word in text for word in self.PROTECTION_WORDS)
        unsets = fn.class_node is not None and "= None" in text
        for node in tries(fn):
            if unsets:
                yield from _guard_left_unset(fn, info, node)
            installed = _installed_protection(node) if protective else None
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


def _guard_left_unset(fn: FunctionInfo, info: ModuleInfo, node: ast.Try) -> Iterator[Hit]:
    """`self.engine = Engine(...)` fails and the handler sets `self.engine = None`, while
    another method runs its check only `if self.engine:`: the check is skipped for good."""
    if fn.class_node is None:
        return
    built = {_self_attr(s.targets[0]) for s in node.body if _builds(s)}  # type: ignore[attr-defined]
    built.discard(None)
    for handler in node.handlers:
        if not catches_failures(handler, node) or not swallows(handler):
            continue
        for stmt in handler.body:
            attr = _self_attr(stmt.targets[0]) if _unsets(stmt) else None  # type: ignore[attr-defined]
            if attr is None or attr not in built:
                continue
            gate = _check_run_only_if_set(fn.class_node, attr)
            if gate is None:
                continue
            yield Hit(
                node=stmt,
                message=(
                    f"`{fn.qualname}` sets `self.{attr} = None` when building it raises "
                    f"{caught(handler)}, and `{gate}` runs its check only when `self.{attr}` "
                    "is set: from then on every request skips the check."
                ),
                edits=[append_to_handler(handler, "raise"), *reword_edits(info, handler)],
                key_nodes=[handler],
            )


def _self_attr(target: ast.expr) -> str | None:
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return target.attr
    return None


def _builds(stmt: ast.stmt) -> bool:
    """`self.engine = Engine(...)`: the try puts an object in place."""
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.value, ast.Call)
        and _self_attr(stmt.targets[0]) is not None
    )


def _unsets(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is None
    )


def _check_run_only_if_set(cls: ast.ClassDef, attr: str) -> str | None:
    """The method that runs `if ... self.attr:` around code that can refuse, if any."""
    for method in cls.body:
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for n in own_nodes(method):
            if (
                isinstance(n, ast.If)
                and _tests_set(n.test, attr)
                and _can_refuse(n.body)
                and not _leaves(n.orelse)  # `else: raise Unavailable()` fails closed
            ):
                return method.name
    return None


def _tests_set(test: ast.expr, attr: str) -> bool:
    """`self.attr`, `self.attr is not None`, or either inside an `and`."""
    return any(_self_attr(present_subject(p)) == attr for p in conjuncts(test))


def _can_refuse(body: list[ast.stmt]) -> bool:
    """A denial raised or answered, or one caught from the check and answered."""
    if body_denies(body) or answers_a_denial(body):
        return True
    return any(
        isinstance(n, ast.Try)
        and any(
            any(DENY_EXCEPTION.search(t) for t in handler_types(h))
            and any(isinstance(x, ast.Return | ast.Raise) for x in h.body)
            for h in n.handlers
        )
        for stmt in body
        for n in [stmt, *own_nodes(stmt)]
    )


def _leaves(body: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Return | ast.Raise) for s in body for n in [s, *own_nodes(s)])


def _installed_protection(node: ast.Try) -> ast.Call | None:
    """The protection-installing call the try body makes, when it makes one."""
    for stmt in node.body:
        for n in (stmt, *own_nodes(stmt)):
            if isinstance(n, ast.Call) and INSTALLS_PROTECTION.match(call_name(n)):
                return n
    return None


ProtectionNotInstalled.VALID = [
    # the gate refuses when the check object is missing
    """
class Gateway:
    def start(self):
        try:
            self._consent = ConsentEngine(self._config.consent_db)
        except Exception:
            self._consent = None
            log.debug("consent engine not started", exc_info=True)

    def handle(self, msg):
        if self._consent:
            try:
                self._consent.check(msg.user_id, purpose="conversation")
            except ConsentViolation as e:
                return Reply(text=str(e))
        else:
            raise Unavailable("consent engine down")
        return self._answer(msg)
""",
    # an optional helper that never refuses anything
    """
class Gateway:
    def start(self):
        try:
            self._metrics = MetricsClient(self._config.statsd)
        except Exception:
            self._metrics = None

    def handle(self, msg):
        if self._metrics:
            self._metrics.incr("messages")
        return self._answer(msg)
""",
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
    # the check object failed to build, and the gate runs only when it is there
    Invalid(
        """\
class Gateway:
    def start(self):
        try:
            self._consent = ConsentEngine(self._config.consent_db)
        except Exception:
            self._consent = None
            log.debug("consent engine not started", exc_info=True)

    def handle(self, msg):
        if self._consent:
            try:
                self._consent.check(msg.user_id, purpose="conversation")
            except ConsentViolation as e:
                return Reply(text=str(e))
        return self._answer(msg)
""",
        line=6,
        fixed="""\
class Gateway:
    def start(self):
        try:
            self._consent = ConsentEngine(self._config.consent_db)
        except Exception:
            self._consent = None
            log.debug("consent engine not started", exc_info=True)
            raise

    def handle(self, msg):
        if self._consent:
            try:
                self._consent.check(msg.user_id, purpose="conversation")
            except ConsentViolation as e:
                return Reply(text=str(e))
        return self._answer(msg)
""",
        expected_message=(
            "`Gateway.start` sets `self._consent = None` when building it raises any error, "
            "and `handle` runs its check only when `self._consent` is set: from then on every "
            "request skips the check."
        ),
    ),
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
        expected_message=(
            "`tool` swallows any error from `add_approval_requirement()` and goes on, so what "
            "it was meant to protect is used without the protection."
        ),
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
        expected_message=(
            "`create_app` swallows `ConnectionError` from `install_auth_middleware()` and "
            "goes on, so what it was meant to protect is used without the protection."
        ),
    ),
]
