"""FC110: an access filter hands back the unfiltered input when it fails."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag
from failclosed.analyzers.denials import catches_failures, checks_auth
from failclosed.analyzers.fixes import Edit, ReplaceExpression
from failclosed.analyzers.flow import FunctionFlow, assigned_names, returns_in, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import (
    absent_subject,
    append_to_handler,
    branch_answer,
    caught,
    failing_call,
    present_name,
    tries,
)
from failclosed.analyzers.syntax import call_name, dotted_name

ACCESS_WORDS = (
    r"(allowed|permitted|visible|accessible|authori[sz]ed|readable|writable|viewable|owned"
    r"|acl|permission|permissions|tenant|scoped)"
)
# What a multi-tenant filter scopes by: `filter_queryset_by_organization`, `scope_to_workspace`.
SCOPE_WORDS = r"(tenants?|orgs?|organi[sz]ations?|workspaces?)"
FILTER_NAME = re.compile(
    rf"_*((filter|get|list|limit|restrict|only)_\w*{ACCESS_WORDS}\w*|{ACCESS_WORDS}_\w+"
    rf"|(filter|limit|restrict|scope)_(\w+_)?(by|to|for)_{SCOPE_WORDS}(_\w+)?"
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
    # ... or a narrowing that only runs when the deciding value is there
    trigger = ("except", "is None", "if not ", ".filter(", ".exclude(", ".where(", ".filter_by(")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if not _is_access_filter(fn):
            return
        params = _inputs(fn)
        yield from self._missing_decider(fn, params)
        yield from self._falls_through_unfiltered(fn, params)
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                    continue
                for ret in returns_in(handler):
                    name = _returned_input(ret, params)
                    if name:
                        yield self._hit(fn, node, handler, ret, name, direct=True)
                if swallows(handler):
                    flow = fn.flow
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
                edits=[ReplaceExpression(answer.value, _empty_for(name, fn))],
                key_nodes=[node],
                severity="warning",  # "missing" may mean a lookup failed, or no filter applies
            )

    def _falls_through_unfiltered(self, fn: FunctionInfo, params: set[str]) -> Iterator[Hit]:
        """`if tenant: return qs.filter(tenant=tenant)` then `return qs`: the filter only
        runs when its deciding value is there; without it, everything falls out."""
        for node in fn.statements:
            if not isinstance(node, ast.If):
                continue
            decider = present_name(node.test)
            if decider is None or decider in params or not _always_returns(node.body):
                continue
            narrowed = _narrowed_input(node.body, params)
            if narrowed is None:
                continue
            answer = node.orelse[0] if len(node.orelse) == 1 else _next_statement(fn, node)
            if not isinstance(answer, ast.Return) or answer.value is None:
                continue
            if _returned_input(answer, params) != narrowed:
                continue
            yield Hit(
                node=answer,
                message=(
                    f"Filter `{fn.qualname}` narrows `{narrowed}` only when `{decider}` is set "
                    f"and otherwise returns it unfiltered, so everything is visible to a "
                    "caller the filter cannot place."
                ),
                edits=[ReplaceExpression(answer.value, _empty_for(narrowed, fn))],
                key_nodes=[node],
                severity="warning",
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
        empty = _empty_for(name, fn)
        edit: Edit
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
    if _in_queryset_class(fn):
        names.add("self")  # the queryset's own method: `self` is every row
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


def _empty_for(name: str, fn: FunctionInfo) -> str:
    if QUERYSET_NAMES.search(name) or (name == "self" and _in_queryset_class(fn)):
        return f"{name}.none()"
    return "[]"


def _in_queryset_class(fn: FunctionInfo) -> bool:
    """A method of a `QuerySet` subclass: `self` is the unfiltered rows."""
    return fn.class_node is not None and any(
        (dotted_name(base) or "").rsplit(".", 1)[-1].endswith("QuerySet")
        for base in fn.class_node.bases
    )


def _always_returns(body: list[ast.stmt]) -> bool:
    """Every path through the statements ends in `return` or `raise`."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


# Calls on the input that narrow it: `qs.filter(...)`, `rows.where(...)`.
NARROWING = {"filter", "exclude", "where", "filter_by"}


def _narrowed_input(body: list[ast.stmt], params: set[str]) -> str | None:
    """The input a `return` in the branch narrows: `return qs.filter(org=org)`."""
    for stmt in body:
        for ret in returns_in(stmt) if not isinstance(stmt, ast.Return) else [stmt]:
            value = ret.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr in NARROWING
                and isinstance(value.func.value, ast.Name)
                and value.func.value.id in params
            ):
                return value.func.value.id
            if isinstance(value, ast.ListComp | ast.GeneratorExp) and any(
                g.ifs and isinstance(g.iter, ast.Name) and g.iter.id in params
                for g in value.generators
            ):
                return next(
                    g.iter.id
                    for g in value.generators
                    if isinstance(g.iter, ast.Name) and g.iter.id in params
                )
    return None


def _next_statement(fn: FunctionInfo, node: ast.If) -> ast.stmt | None:
    """The statement right after `node` in the same block."""
    for block in _blocks_of(fn.node):
        for i, stmt in enumerate(block):
            if stmt is node:
                return block[i + 1] if i + 1 < len(block) else None
    return None


def _blocks_of(root: ast.AST) -> Iterator[list[ast.stmt]]:
    for child in ast.walk(root):
        if child is not root and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(child, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block


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
    # no tenant: nothing
    """
def filter_queryset_by_organization(queryset, request):
    org_id = getattr(request, "organization_id", None)
    if org_id:
        return queryset.filter(organization_id=org_id)
    return queryset.none()
""",
    # the optional narrowing is the caller's own argument: no filter asked, none applied
    """
def filter_by_tenant(queryset, tenant=None):
    if tenant:
        return queryset.filter(tenant=tenant)
    return queryset
""",
]

FilterReturnsEverything.INVALID = [
    # the deciding value is missing: the filter never runs
    Invalid(
        """\
def filter_queryset_by_organization(queryset, request):
    org_id = getattr(request, "organization_id", None)
    if org_id:
        org = resolve_organization(org_id)
        if org:
            return queryset.filter(organization=org)
        return queryset.none()
    return queryset
""",
        line=8,
        fixed="""\
def filter_queryset_by_organization(queryset, request):
    org_id = getattr(request, "organization_id", None)
    if org_id:
        org = resolve_organization(org_id)
        if org:
            return queryset.filter(organization=org)
        return queryset.none()
    return queryset.none()
""",
        expected_message=(
            "Filter `filter_queryset_by_organization` narrows `queryset` only when `org_id` "
            "is set and otherwise returns it unfiltered, so everything is visible to a caller "
            "the filter cannot place."
        ),
    ),
    # a QuerySet method: `self` is every tenant's rows
    Invalid(
        """\
class TenantQuerySet(models.QuerySet):
    def _filter_by_tenant(self):
        tenant = get_current_tenant()
        if tenant:
            return self.filter(tenant=tenant)
        return self
""",
        line=6,
        fixed="""\
class TenantQuerySet(models.QuerySet):
    def _filter_by_tenant(self):
        tenant = get_current_tenant()
        if tenant:
            return self.filter(tenant=tenant)
        return self.none()
""",
        expected_message=(
            "Filter `TenantQuerySet._filter_by_tenant` narrows `self` only when `tenant` is "
            "set and otherwise returns it unfiltered, so everything is visible to a caller "
            "the filter cannot place."
        ),
    ),
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
        expected_message=(
            "Filter `filter_allowed_tools` returns its unfiltered `tools` when "
            "`acl.grants_for()` raises `AclError`, so everything is visible while the access "
            "check fails."
        ),
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
        expected_message=(
            "Filter `TenantFilterBackend.filter_queryset` returns its unfiltered `queryset` "
            "when `self.resolver.tenant_for()` raises `ResolverError`, so everything is "
            "visible while the access check fails."
        ),
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
        expected_message=(
            "Filter `visible_documents` returns its unfiltered `documents` when "
            "`acl.readable_ids()` raises any error, so everything is visible while the access "
            "check fails."
        ),
    ),
]
