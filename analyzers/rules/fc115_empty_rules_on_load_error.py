"""FC115: a policy/rules load error leaves the rules empty, and no rules means allow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import allow_value, gated_by_fail_open_flag
from failclosed.analyzers.denials import body_denies, catches_failures
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.flow import FunctionFlow, returns_in, swallows
from failclosed.analyzers.functions import (
    MODULE,
    FunctionInfo,
    ModuleInfo,
    functions_by_qualname,
    resolve_call,
)
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    append_to_handler,
    caught,
    failing_call,
    is_empty_collection,
    tries,
)
from failclosed.analyzers.syntax import call_name, dotted_name

LOADER = re.compile(
    r"_*(load|read|parse|fetch|refresh|reload|get|compile)_\w*(polic|rule|acl|permission|allow"
    r"|deny|denied|block|ban|grant|role|restriction|guardrail|pattern)\w*"
)


class EmptyRulesOnLoadError(Rule):
    """
    ## What it does
    Flags a loader of permission rules (`load_policy`, `read_acl`, `reload_rules`) whose
    `except` handler answers an empty rule set (`return []`, `self.rules = {}`) when the
    policy file or service cannot be read, in a module whose permission check allows when
    no rule denies (`for rule in rules: if rule.denies(x): return False` then `return True`).

    ## Why is this bad?
    An unreadable or malformed policy is an error, not "no restrictions". With an empty rule
    list the deny-list check finds nothing to object to, so a typo in the policy file, a
    failed deploy of the config or an outage of the policy service allows every action
    (CWE-636).

    ## Example
    ```python
    def load_rules(path):
        try:
            with open(path) as f:
                return yaml.safe_load(f)["deny"]
        except (OSError, yaml.YAMLError):
            return []

    def is_allowed(command):
        for rule in load_rules(RULES_PATH):
            if re.match(rule, command):
                return False
        return True
    ```

    ## Use instead
    ```python
        except (OSError, yaml.YAMLError):
            raise
    ```

    ## Fix safety
    The fix re-raises, so a broken policy stops the check (and the caller denies or
    errors) instead of silently allowing. Severity is `warning`: that empty rules mean
    "allow" is inferred from another function of the module.
    """

    code = "FC115"
    name = "empty-rules-on-load-error"
    severity = "warning"
    summary = "A rules/policy load error leaves the rules empty, and no rules means allow."
    fix_safety = "The loader re-raises instead of answering an empty rule set."

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if CONFIG_READER.search(fn.node.name):
            yield from self._switch_left_off(fn)
        if not (LOADER.fullmatch(fn.node.name) or fn.node.name in (MODULE, "__init__")):
            return
        checker: str | None = None
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                empty = _empty_answer(handler)
                edit = ReplaceStatements(empty, empty, ("raise",)) if empty else None
                shown: ast.stmt | ast.ExceptHandler | None = empty
                if empty is None and swallows(handler):
                    empty = _empty_after(fn, node)  # `except: pass` then `return set()`
                    edit = append_to_handler(handler, "raise")
                    shown = handler  # the handler that swallows is what to change
                if empty is None or edit is None:
                    continue
                checker = checker or _allows_without_rules(fn, info)  # the costly part, last
                if checker is None:
                    return
                yield Hit(
                    node=shown or empty,
                    message=(
                        f"`{fn.qualname}` leaves the rules empty when {failing_call(node)} "
                        f"raises {caught(handler)}, and `{checker}` allows when no rule "
                        "denies, so a broken policy allows everything."
                    ),
                    edits=[edit],
                    key_nodes=[handler],
                )

    def _switch_left_off(self, fn: FunctionInfo) -> Iterator[Hit]:
        """`except: section = {}` then `section.get("enabled", False)`: an unreadable
        security configuration reads as "enforcement off"."""
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                empty = _empty_answer(handler)
                if not isinstance(empty, ast.Assign) or not isinstance(empty.targets[0], ast.Name):
                    continue
                switch = _switch_read_off(fn, empty.targets[0].id, node)
                if switch is None:
                    continue
                yield Hit(
                    node=empty,
                    message=(
                        f"`{fn.qualname}` reads its configuration as empty when "
                        f"{failing_call(node)} raises {caught(handler)}, so `{switch}` "
                        "defaults to off and what it enforces is disabled."
                    ),
                    edits=[ReplaceStatements(empty, empty, ("raise",))],
                    key_nodes=[handler],
                )


# Functions that read a configuration section: `multitenancy_config`, `load_settings`.
CONFIG_READER = re.compile(r"(?i)(config|settings|conf|options)(_|$)")
# Keys that switch enforcement on: off by default when the section is empty.
ENFORCING_KEY = re.compile(
    r"(?i)(^|_)(enabled?|enforce\w*|strict\w*|require\w*|isolat\w*|tenan\w*|verify\w*"
    r"|protect\w*|restrict\w*|sandbox\w*|auth\w*)(_|$)"
)


def _switch_read_off(fn: FunctionInfo, name: str, node: ast.Try) -> str | None:
    """The enforcing key read from `name` (or a `get` bound from it) with an "off" default."""
    getters = {name}
    for stmt in fn.statements:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and any(
                isinstance(n, ast.Attribute) and n.attr == "get" and dotted_name(n.value) == name
                for n in ast.walk(stmt.value)
            )
        ):
            getters.add(stmt.targets[0].id)  # `get = section.get`
    end = node.end_lineno or node.lineno
    for call in (n for n in ast.walk(fn.node) if isinstance(n, ast.Call)):
        if call.lineno <= end or len(call.args) != 2:
            continue
        callee = dotted_name(call.func) or ""
        if callee not in getters and callee.removesuffix(".get") not in getters:
            continue
        key, default = call.args
        if (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and ENFORCING_KEY.search(key.value)
            and isinstance(default, ast.Constant)
            and default.value in (False, None, 0, "", "off", "no")
        ):
            return key.value
    return None


def _empty_after(fn: FunctionInfo, node: ast.Try) -> ast.stmt | None:
    """The `return []` the function reaches after a swallowed error, if it is certain."""
    outcome = fn.flow.after(node)
    ends_empty = isinstance(outcome.node, ast.Return) and is_empty_collection(outcome.node.value)
    return outcome.node if outcome.kind == "return" and ends_empty else None  # type: ignore[return-value]


def _empty_answer(handler: ast.ExceptHandler) -> ast.stmt | None:
    """`return []` / `return {}` / `self.rules = []` in the handler."""
    for ret in returns_in(handler):
        if is_empty_collection(ret.value):
            return ret
    for stmt in handler.body:
        if isinstance(stmt, ast.Assign) and is_empty_collection(stmt.value):
            return stmt
    return None


def _allows_without_rules(loader: FunctionInfo, info: ModuleInfo) -> str | None:
    """A permission check that loops over what `loader` produces and allows after the loop."""
    for fn in functions_by_qualname(info).values():
        if fn.polarity is None or fn.node is loader.node:
            continue
        for node in fn.statements:
            flow = fn.flow
            if isinstance(node, ast.For | ast.AsyncFor) and not node.orelse:
                if not _fed_by(node.iter, loader, fn, info, flow, node):
                    continue
                outcome = flow.after(node)
                if outcome.kind == "return" and allow_value(outcome.value, fn, info) is not None:
                    return fn.qualname
            elif (
                isinstance(node, ast.Return) and _any_over_rules(node, loader, fn, info, flow)
            ) or (isinstance(node, ast.If) and _denies_members(node, loader, fn, info, flow)):
                return fn.qualname
    return None


def _denies_members(
    node: ast.If, loader: FunctionInfo, fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow
) -> bool:
    """`if domain in blocked: return False` over what `loader` returns, in a check that
    ends by allowing: with no entries nothing is ever in the list, so all is allowed."""
    last = fn.node.body[-1]
    if not (isinstance(last, ast.Return) and allow_value(last.value, fn, info) is not None):
        return False
    if not any(
        isinstance(b, ast.Return) and b.value is not None and allow_value(b.value, fn, info) is None
        for b in node.body
    ) and not body_denies(node.body):
        return False
    return any(
        isinstance(t, ast.Compare)
        and len(t.ops) == 1
        and isinstance(t.ops[0], ast.In)
        and _fed_by(t.comparators[0], loader, fn, info, flow, node)
        for t in ast.walk(node.test)
    )


def _any_over_rules(
    ret: ast.Return, loader: FunctionInfo, fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow
) -> bool:
    """`return any(... for r in RULES)` in a deny-style check, `not any(...)` in an allow one:
    over no rules, both answer "allowed"."""
    value, negated = ret.value, False
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not):
        value, negated = value.operand, True
    if not (
        isinstance(value, ast.Call)
        and call_name(value) == "any"
        and len(value.args) == 1
        and isinstance(value.args[0], ast.GeneratorExp)
    ):
        return False
    if negated != (fn.polarity == "allow"):
        return False
    source = value.args[0].generators[0].iter
    return _fed_by(source, loader, fn, info, flow, ret)


def _fed_by(
    source: ast.expr,
    loader: FunctionInfo,
    fn: FunctionInfo,
    info: ModuleInfo,
    flow: FunctionFlow,
    loop: ast.AST,
    depth: int = 0,
) -> bool:
    """Does the loop iterate over what `loader` returns or stores?"""
    if depth > 3:
        return False  # `rules = rules if rules is not None else load()` names itself
    if isinstance(source, ast.IfExp):  # `cache if cache is not None else load_rules()`
        return any(
            _fed_by(s, loader, fn, info, flow, loop, depth + 1)
            for s in (source.body, source.orelse)
        )
    if isinstance(source, ast.Call):
        if _calls(source, loader, fn, info):
            return True
        if source.args and (dotted_name(source.func) or "") in ("list", "set", "sorted", "tuple"):
            return _fed_by(source.args[0], loader, fn, info, flow, loop, depth + 1)
        return False
    name = dotted_name(source)
    if name is None:
        return False
    if name in _stored_by(loader):
        return True
    if isinstance(source, ast.Name):
        assigned = flow.value_before(loop, name) or _module_value(info, name)
        if isinstance(assigned, ast.IfExp):
            return _fed_by(assigned, loader, fn, info, flow, loop, depth + 1)
        return isinstance(assigned, ast.Call) and _calls(assigned, loader, fn, info)
    return False


def _calls(call: ast.Call, loader: FunctionInfo, fn: FunctionInfo, info: ModuleInfo) -> bool:
    target = resolve_call(call, fn, info)
    return target is not None and target.node is loader.node


def _stored_by(loader: FunctionInfo) -> set[str]:
    """Names and attributes the loader assigns: `self.blocked = ...`."""
    return {
        dotted_name(t) or ""
        for n in loader.statements
        if isinstance(n, ast.Assign)
        for t in n.targets
    } - {""}


def _module_value(info: ModuleInfo, name: str) -> ast.expr | None:
    """The value of a module-level `NAME = ...`."""
    for stmt in info.tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            return stmt.value
    return None


EmptyRulesOnLoadError.VALID = [
    # the switch defaults to on: an unreadable configuration enforces
    """
def isolation_config():
    try:
        section = read_ini("app.ini")["isolation"]
    except Exception:
        section = {}
    return IsolationConfig(enabled=bool(section.get("enabled", True)))
""",
    # the loader re-raises
    """
def load_rules(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)["deny"]
    except (OSError, yaml.YAMLError):
        raise

def is_allowed(command):
    for rule in load_rules(RULES_PATH):
        if re.match(rule, command):
            return False
    return True
""",
    # an allow-list: empty rules deny everything, which is fail-closed
    """
def load_rules(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)["allow"]
    except OSError:
        return []

def is_allowed(command):
    for rule in load_rules(RULES_PATH):
        if re.match(rule, command):
            return True
    return False
""",
]

EmptyRulesOnLoadError.INVALID = [
    # a membership test over the loaded deny list: with no entries, nothing is ever in it
    Invalid(
        """\
def load_banned_hosts():
    try:
        with open(BANNED_PATH) as f:
            return {line.strip() for line in f}
    except OSError:
        pass
    return set()


def is_allowed_host(host, banned=None):
    banned = banned if banned is not None else load_banned_hosts()
    if host in banned:
        return False
    return True
""",
        line=5,
        fixed="""\
def load_banned_hosts():
    try:
        with open(BANNED_PATH) as f:
            return {line.strip() for line in f}
    except OSError:
        raise
    return set()


def is_allowed_host(host, banned=None):
    banned = banned if banned is not None else load_banned_hosts()
    if host in banned:
        return False
    return True
""",
        expected_message=(
            "`load_banned_hosts` leaves the rules empty when the check raises `OSError`, and "
            "`is_allowed_host` allows when no rule denies, so a broken policy allows "
            "everything."
        ),
    ),
    # an unreadable configuration turns the enforcement switch off
    Invalid(
        """\
def isolation_config():
    try:
        section = read_ini("app.ini")["isolation"]
    except Exception:
        section = {}
    return IsolationConfig(enabled=bool(section.get("enabled", False)))
""",
        line=5,
        fixed="""\
def isolation_config():
    try:
        section = read_ini("app.ini")["isolation"]
    except Exception:
        raise
    return IsolationConfig(enabled=bool(section.get("enabled", False)))
""",
        expected_message=(
            "`isolation_config` reads its configuration as empty when `read_ini()` raises any "
            "error, so `enabled` defaults to off and what it enforces is disabled."
        ),
    ),
    Invalid(
        """\
def load_rules(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)["deny"]
    except (OSError, yaml.YAMLError):
        return []

def is_allowed(command):
    for rule in load_rules(RULES_PATH):
        if re.match(rule, command):
            return False
    return True
""",
        line=6,
        fixed="""\
def load_rules(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)["deny"]
    except (OSError, yaml.YAMLError):
        raise

def is_allowed(command):
    for rule in load_rules(RULES_PATH):
        if re.match(rule, command):
            return False
    return True
""",
        expected_message=(
            "`load_rules` leaves the rules empty when `yaml.safe_load()` raises `OSError` or "
            "`YAMLError`, and `is_allowed` allows when no rule denies, so a broken policy "
            "allows everything."
        ),
    ),
    # a guardrail that reloads its blocklist into an attribute
    Invalid(
        """\
class CommandGuard:
    def reload_blocklist(self):
        try:
            self.blocked = set(self.store.fetch("blocked-commands"))
        except StoreError as exc:
            log.error("cannot load blocklist: %s", exc)
            self.blocked = set()

    def is_allowed(self, command):
        for pattern in self.blocked:
            if fnmatch(command, pattern):
                return False
        return True
""",
        line=7,
        fixed="""\
class CommandGuard:
    def reload_blocklist(self):
        try:
            self.blocked = set(self.store.fetch("blocked-commands"))
        except StoreError as exc:
            log.error("cannot load blocklist: %s", exc)
            raise

    def is_allowed(self, command):
        for pattern in self.blocked:
            if fnmatch(command, pattern):
                return False
        return True
""",
        expected_message=(
            "`CommandGuard.reload_blocklist` leaves the rules empty when `self.store.fetch()` "
            "raises `StoreError`, and `CommandGuard.is_allowed` allows when no rule denies, "
            "so a broken policy allows everything."
        ),
    ),
]
