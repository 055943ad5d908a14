"""FC110: an access filter hands back the unfiltered input when it fails."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from analyzers.fixes import ReplaceExpression
from analyzers.flow import FunctionFlow, assigned_names, returns_in, swallows
from analyzers.rules.base import Hit, Invalid, Rule
from analyzers.rules.common import (
    absent_subject,
    append_to_handler,
    branch_answer,
    caught,
    failing_call,
    tries,
)
from analyzers.semantics import (
    FunctionInfo,
    ModuleInfo,
    call_name,
    catches_failures,
    checks_auth,
    gated_by_fail_open_flag,
)

ACCESS_WORDS = (
    r"(allowed|permitted|visible|accessible|authori[sz]ed|readable|writable|viewable|owned"
    r"|acl|permission|permissions|tenant|scoped)"
)
FILTER_NAME = re.compile(
    rf"_*((filter|get|list|limit|restrict|only)_\w*{ACCESS_WORDS}\w*|{ACCESS_WORDS}_\w+"
    r"|\w+_for_(user|principal|caller|subject|tenant|account)|apply_(acl|policy|permissions))"
)
# Generic names (DRF's filter_queryset, get_queryset) count only in access-control classes.
GENERIC_FILTERS = {"filter_queryset", "get_queryset", "filter", "filter_objects"}
ACCESS_CLASS = re.compile(r"(?i)permission|acl|tenant|owner|access|visib|auth|scope|polic")
QUERYSET_NAMES = re.compile(r"(queryset|qs|query)$")


class FilterReturnsEverything(Rule):
    """
    ## What it does
    Flags an access filter — a function that narrows tools, objects, rows or a queryset
    down to what the caller may see (`filter_allowed_tools`, `visible_documents`,
    `filter_queryset`) — that returns its unfiltered input when the filtering fails: an
    `except` handler that returns the input parameter, or swallows the error and falls
    through to returning it.

    ## Why is this bad?
    The filter *is* the permission check for list endpoints and agent tool lists. Handing
    back everything on error shows every row to every user, or every tool to the agent,
    whenever the ACL backend hiccups (CWE-636). The same holds when the deciding value is
    missing (`if tenant is None: return queryset`).

    ## Example
    ```python
    def filter_allowed_tools(user, tools):
        try:
            grants = acl.grants_for(user)
        except AclError:
            return tools
        return [t for t in tools if t.name in grants]
    ```

    ## Use instead
    ```python
        except AclError:
            return []
    ```

    ## Fix safety
    The fix returns an empty result (`[]`, or `queryset.none()` for a queryset), so a
    failure shows nothing instead of everything. Callers that cannot handle an empty
    result were already wrong for users with no grants.
    """

    code = "FC110"
    name = "filter-returns-everything"
    severity = "error"
    summary = "An access filter returns its unfiltered input when filtering fails."
    fix_safety = "Returns an empty result on failure; successful filtering is unchanged."
    trigger = ("except", "is None", "if not ")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not _is_access_filter(fn):
            return
        params = _inputs(fn)
        yield from self._missing_decider(fn, params)
        flow: FunctionFlow | None = None
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                for ret in returns_in(handler):
                    name = _returned_input(ret, params)
                    if name:
                        yield self._hit(fn, node, handler, ret, name, direct=True)
                if swallows(handler):
                    flow = flow or FunctionFlow(fn.node)
                    outcome = flow.after(node)
                    if outcome.kind == "return" and isinstance(outcome.node, ast.Return):
                        name = _returned_input(outcome.node, params) or _carried_input(
                            flow, node, handler, outcome.node, params
                        )
                        if name and name not in outcome.assigned:
                            yield self._hit(fn, node, handler, outcome.node, name, direct=False)

    def _missing_decider(self, fn: FunctionInfo, params: set[str]) -> Iterator[Hit]:
        """`if tenant is None: return queryset`: no deciding value, so everything."""
        for node in fn.statements:
            if not isinstance(node, ast.If) or not node.body:
                continue
            missing = _missing_name(node.test)
            answer = branch_answer(node)
            if missing is None or missing in params or not isinstance(answer, ast.Return):
                continue
            name = _returned_input(answer, params)
            if name is None or answer.value is None:
                continue
            yield Hit(
                node=answer,
                message=(
                    f"Filter `{fn.qualname}` returns its unfiltered `{name}` when `{missing}` "
                    "is missing, so everything is visible to a caller the filter cannot place."
                ),
                edits=[ReplaceExpression(answer.value, _empty_for(name))],
                key_nodes=[node],
            )

    def _hit(
        self,
        fn: FunctionInfo,
        node: ast.Try,
        handler: ast.ExceptHandler,
        ret: ast.Return,
        name: str,
        direct: bool,
    ) -> Hit:
        empty = _empty_for(name)
        if direct and ret.value is not None:
            edit = ReplaceExpression(ret.value, empty)
        else:
            edit = append_to_handler(handler, f"return {empty}")
        return Hit(
            node=ret if direct else handler,
            message=(
                f"Filter `{fn.qualname}` returns its unfiltered `{name}` when "
                f"{failing_call(node)} raises {caught(handler)}, so everything is visible "
                "while the access check fails."
            ),
            edits=[edit],
            key_nodes=[handler, ret],
        )


def _is_access_filter(fn: FunctionInfo) -> bool:
    """`filter_allowed_tools`, `visible_documents`, or `get_queryset` that checks access."""
    name = fn.node.name
    if FILTER_NAME.fullmatch(name):
        return True
    if name not in GENERIC_FILTERS:
        return False
    if fn.class_node is not None and ACCESS_CLASS.search(fn.class_node.name):
        return True
    return any(checks_auth(node) for node in tries(fn))


def _inputs(fn: FunctionInfo) -> set[str]:
    """Parameters, and locals holding the unfiltered set (`qs = super().get_queryset()`)."""
    names = {a.arg for a in (*fn.node.args.posonlyargs, *fn.node.args.args)} - {"self", "cls"}
    for node in fn.statements:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and call_name(node.value) in ("get_queryset", "all")
        ):
            names.add(node.targets[0].id)
    return names


def _missing_name(test: ast.expr) -> str | None:
    """`x is None` or `not x` on a plain name."""
    subject = absent_subject(test)
    return subject[0].id if subject and isinstance(subject[0], ast.Name) else None


def _empty_for(name: str) -> str:
    return f"{name}.none()" if QUERYSET_NAMES.search(name) else "[]"


def _carried_input(
    flow: FunctionFlow, node: ast.Try, handler: ast.ExceptHandler, ret: ast.Return, params: set[str]
) -> str | None:
    """`result = items` before the try, `return result` after it: still the unfiltered input."""
    if not isinstance(ret.value, ast.Name) or ret.value.id in assigned_names(handler):
        return None
    initial = flow.value_before(node, ret.value.id)
    return initial.id if isinstance(initial, ast.Name) and initial.id in params else None


def _returned_input(ret: ast.Return, params: set[str]) -> str | None:
    """`return items`, `return list(items)`, `return queryset.all()` for an input parameter."""
    value = ret.value
    if isinstance(value, ast.Call) and not value.keywords:
        if isinstance(value.func, ast.Name) and value.func.id in ("list", "tuple", "set"):
            value = value.args[0] if len(value.args) == 1 else None
        elif isinstance(value.func, ast.Attribute) and value.func.attr == "all" and not value.args:
            value = value.func.value
    if isinstance(value, ast.Name) and value.id in params:
        return value.id
    return None


FilterReturnsEverything.VALID = [
    # fails closed
    """
def filter_allowed_tools(user, tools):
    try:
        grants = acl.grants_for(user)
    except AclError:
        return []
    return [t for t in tools if t.name in grants]
""",
    # not a filter by name: a cache that falls back to its input is not an ACL
    """
def normalise(items):
    try:
        return sorted(items)
    except TypeError:
        return items
""",
    # re-raises
    """
def filter_queryset(self, request, queryset, view):
    try:
        ids = self.acl.readable_ids(request.user)
    except AclError:
        raise
    return queryset.filter(pk__in=ids)
""",
]

FilterReturnsEverything.INVALID = [
    Invalid(
        """\
def filter_allowed_tools(user, tools):
    try:
        grants = acl.grants_for(user)
    except AclError:
        return tools
    return [t for t in tools if t.name in grants]
""",
        line=5,
        fixed="""\
def filter_allowed_tools(user, tools):
    try:
        grants = acl.grants_for(user)
    except AclError:
        return []
    return [t for t in tools if t.name in grants]
""",
    ),
    # a DRF filter backend that returns the whole queryset
    Invalid(
        """\
class TenantFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        try:
            tenant = self.resolver.tenant_for(request.user)
        except ResolverError:
            logger.exception("tenant lookup failed")
            return queryset
        return queryset.filter(tenant=tenant)
""",
        line=7,
        fixed="""\
class TenantFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        try:
            tenant = self.resolver.tenant_for(request.user)
        except ResolverError:
            logger.exception("tenant lookup failed")
            return queryset.none()
        return queryset.filter(tenant=tenant)
""",
    ),
    # swallowed: the unfiltered list falls out at the end
    Invalid(
        """\
async def visible_documents(user, documents):
    allowed = documents
    try:
        ids = await acl.readable_ids(user)
        allowed = [d for d in documents if d.id in ids]
    except Exception:
        log.warning("acl unavailable")
    return allowed
""",
        line=6,
        fixed="""\
async def visible_documents(user, documents):
    allowed = documents
    try:
        ids = await acl.readable_ids(user)
        allowed = [d for d in documents if d.id in ids]
    except Exception:
        log.warning("acl unavailable")
        return []
    return allowed
""",
    ),
]
