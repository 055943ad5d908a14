"""FC149: a library reports a failed check in its answer, and the code reads it as success."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from failclosed.analyzers.fixes import KEEP, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.syntax import call_name, dotted_name


class FailureInTheAnswer(Rule):
    """
    ## What it does
    Flags the answer of a library call that reports a failed check by what it returns,
    not by raising, when the code reads that answer as success. The contracts it knows:

    - django-tastypie's `Authentication.is_authenticated(request)` answers `True`, or an
      `HttpUnauthorized` response on failure: a response object is truthy, so `if
      authorized:` lets a bad API key in.
    - pygpgme's `Context.verify(...)` answers the signatures with a failure in each one's
      `status`: returned or used without reading `status` (or `summary`), a bad signature
      passes as verified.
    - django-filter's `FilterSet.qs` drops every filter whose value does not validate: read
      without `is_valid()`, a malformed filter matches every row.

    ## Why is this bad?
    The check ran and said no, and the code heard yes. Nothing raises, nothing is logged:
    a forged key, a bad signature or a filter that does not parse simply passes (CWE-636).

    ## Example
    ```python
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized:
        return handle(request)
    ```

    ## Use instead
    ```python
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized is True:
        return handle(request)
    ```

    ## Fix safety
    For tastypie the fix tests `is True`; for pygpgme it raises when any signature's
    `status` holds a failure; for django-filter it raises with the filter's errors when
    `is_valid()` is false. Callers that answered a partial result must now handle the error.
    """

    code = "FC149"
    name = "failure-in-the-answer"
    severity = "warning"
    summary = "A library reports a failed check in its answer, and the code reads it as success."
    fix_safety = "Only a verified answer counts; a failed one raises or is not `True`."
    trigger = ("is_authenticated", ".verify(", ".qs")
    file_words = ("tastypie", "gpgme", "django_filters")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        imported = _imported(info)
        if "tastypie" in imported:
            yield from _truthy_unauthorized(fn)
        if "gpgme" in imported:
            yield from _unchecked_signatures(fn, info)
        if "django_filters" in imported:
            yield from _unvalidated_filterset(fn)


def _imported(info: ModuleInfo) -> set[str]:
    """Top packages the module imports (`import gpgme`, `from tastypie.x import y`): the
    library whose contract applies, not a mention in a comment."""
    key = "fc149:imported"
    if key not in info.memo:
        found: set[str] = set()
        for node in ast.walk(info.tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        info.memo[key] = found
    return info.memo[key]  # type: ignore[return-value]


def _truthy_unauthorized(fn: FunctionInfo) -> Iterator[Hit]:
    """`authorized = auth.is_authenticated(request)` then `if authorized:`."""
    authenticators = _assigned_from(fn, lambda call: call_name(call).endswith("Authentication"))
    answers = _assigned_from(fn, lambda call: _asks_an_authentication(call, authenticators))
    for node in fn.nodes:
        if not isinstance(node, ast.If):
            continue
        test = node.test
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        name = test.operand if negated else test  # type: ignore[attr-defined]
        if not (isinstance(name, ast.Name) and name.id in answers) or _told_apart(fn, name.id):
            continue
        fixed = f"{name.id} is {'not ' if negated else ''}True"
        yield Hit(
            node=node.test,
            message=(
                f"`{fn.qualname}` tests `{name.id}`, the answer of tastypie's "
                "`is_authenticated()`, by its truth: on a failure it answers an "
                "`HttpUnauthorized` response, which is truthy, so a rejected key passes. "
                "Test `is True`."
            ),
            edits=[ReplaceExpression(node.test, fixed)],
        )


def _asks_an_authentication(call: ast.Call, authenticators: set[str]) -> bool:
    """`ApiKeyAuthentication().is_authenticated(request)`, `auth.is_authenticated(request)`
    with `auth = ApiKeyAuthentication()`, `self._meta.authentication.is_authenticated(...)`:
    tastypie's authentication class, not Django's `request.user.is_authenticated()` nor
    the class's own method."""
    if call_name(call) != "is_authenticated" or not isinstance(call.func, ast.Attribute):
        return False
    receiver = call.func.value
    if isinstance(receiver, ast.Call):
        return call_name(receiver).endswith("Authentication")
    if isinstance(receiver, ast.Name) and receiver.id in authenticators:
        return True
    shown = dotted_name(receiver) or ""
    return "authentication" in shown.lower() or shown.endswith("Authentication")


def _told_apart(fn: FunctionInfo, name: str) -> bool:
    """`isinstance(check, HttpUnauthorized)` or `check is True` somewhere in the function:
    the failure answer is told apart from `True`."""
    for node in fn.nodes:
        if (
            isinstance(node, ast.Call)
            and call_name(node) == "isinstance"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == name
        ):
            return True
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id == name
            and any(isinstance(c, ast.Constant) and c.value is True for c in node.comparators)
        ):
            return True
    return False


def _unchecked_signatures(fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
    """`return ctx.verify(sig, data, None)` on a `gpgme.Context()` with no `status` read."""
    contexts = _assigned_from(fn, lambda call: (dotted_name(call.func) or "").endswith("Context"))
    reads_status = any(
        isinstance(n, ast.Attribute) and n.attr in ("status", "summary", "validity")
        for n in fn.nodes
    )
    if not contexts or reads_status:
        return
    for stmt in fn.statements:
        call = getattr(stmt, "value", None)
        if not (
            isinstance(stmt, ast.Return | ast.Assign)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "verify"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in contexts
        ) or (isinstance(stmt, ast.Assign) and not isinstance(stmt.targets[0], ast.Name)):
            continue
        yield Hit(
            node=stmt,
            message=(
                f"`{fn.qualname}` takes the signatures `{ast.unparse(call.func)}()` "
                "answers without reading their `status`: pygpgme reports a bad or "
                "unverifiable signature there instead of raising, so it passes as verified."
            ),
            edits=[_status_checked(stmt, call)] if _starts_its_line(stmt, info) else [],
        )


def _starts_its_line(stmt: ast.stmt, info: ModuleInfo) -> bool:
    """Not the body of a one-line `if strict: return ...`: a fix that rewrites the line
    would drop the condition."""
    return not info.lines[stmt.lineno - 1][: stmt.col_offset].strip()


def _status_checked(stmt: ast.Return | ast.Assign, call: ast.Call) -> ReplaceStatements:
    """Refuse when any signature carries a failure, then answer or keep them as before."""
    answer: tuple[str, ...] = ()
    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
        name = stmt.targets[0].id
    else:
        name, answer = "signatures", ("return signatures",)
    lines = (
        *((f"{name} = {ast.unparse(call)}",) if isinstance(stmt, ast.Return) else (KEEP,)),
        f"if any(sig.status is not None for sig in {name}):\n"
        '    raise ValueError("signature not verified")\n',
        *answer,
    )
    return ReplaceStatements(stmt, stmt, lines)


def _unvalidated_filterset(fn: FunctionInfo) -> Iterator[Hit]:
    """`filterset = self.filterset_class(data, qs)` then `filterset.qs`, no `is_valid()`."""
    filtersets = _assigned_from(fn, _stored_filter)
    validated = {
        n.value.id
        for n in fn.nodes
        if isinstance(n, ast.Attribute)
        and n.attr in ("is_valid", "errors")
        and isinstance(n.value, ast.Name)
    }
    for stmt in fn.statements:
        if not isinstance(stmt, ast.Return | ast.Assign | ast.Expr | ast.AnnAssign):
            continue
        read = next(
            (
                n
                for n in ast.walk(stmt)
                if isinstance(n, ast.Attribute)
                and n.attr == "qs"
                and isinstance(n.value, ast.Name)
                and n.value.id in filtersets
                and n.value.id not in validated
            ),
            None,
        )
        if read is None:
            continue
        name = read.value.id  # type: ignore[attr-defined]
        yield Hit(
            node=stmt,
            message=(
                f"`{fn.qualname}` reads `{name}.qs` without `{name}.is_valid()`: "
                "django-filter drops every filter whose value does not validate, so a "
                "malformed filter matches every row."
            ),
            edits=[
                ReplaceStatements(
                    stmt,
                    stmt,
                    (f"if not {name}.is_valid():\n    raise ValueError({name}.errors)\n", KEEP),
                )
            ],
        )


def _stored_filter(call: ast.Call) -> bool:
    """`self.filterset_class(self.filter, queryset)`: a filterset built from a filter the
    system keeps (a saved group's definition), not from the request's search parameters,
    where a dropped filter only shows more of what the user may already see."""
    if "filterset" not in call_name(call).lower() or not call.args:
        return False
    return not any(
        (isinstance(n, ast.Name) and n.id == "request")
        or (isinstance(n, ast.Attribute) and n.attr in ("request", "GET", "query_params"))
        for n in ast.walk(call.args[0])
    )


def _assigned_from(fn: FunctionInfo, wanted: Callable[[ast.Call], bool]) -> set[str]:
    """Names the function assigns from a call that `wanted(call)` accepts."""
    names: set[str] = set()
    for node in fn.nodes:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and wanted(node.value)
        ):
            names.add(node.targets[0].id)
    return names


FailureInTheAnswer.VALID = [
    # only `True` authenticates
    """
from tastypie.authentication import ApiKeyAuthentication

def authenticate(request):
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized is True:
        return None
    return forbidden()
""",
    # every signature's status is read
    """
import gpgme

def verify_detached(message, signature):
    ctx = gpgme.Context()
    signatures = ctx.verify(signature, message, None)
    for sig in signatures:
        if sig.status is not None:
            raise BadSignature(sig.status)
    return signatures
""",
    # the filterset is validated first
    """
import django_filters

def members(group):
    filterset = group.filterset_class(group.filter, group.model.objects.all())
    if not filterset.is_valid():
        return group.model.objects.none()
    return filterset.qs
""",
    # not the library: a module with no tastypie in it
    """
def authenticate(request, backend):
    authorized = backend.is_authenticated(request)
    if authorized:
        return None
    return forbidden()
""",
]

FailureInTheAnswer.INVALID = [
    Invalid(
        """\
from tastypie.authentication import ApiKeyAuthentication

def authenticate(request):
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized:
        return None
    return forbidden()
""",
        line=5,
        fixed="""\
from tastypie.authentication import ApiKeyAuthentication

def authenticate(request):
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized is True:
        return None
    return forbidden()
""",
        expected_message=(
            "`authenticate` tests `authorized`, the answer of tastypie's `is_authenticated()`, "
            "by its truth: on a failure it answers an `HttpUnauthorized` response, which is "
            "truthy, so a rejected key passes. Test `is True`."
        ),
    ),
    Invalid(
        """\
import gpgme

def verify_detached(message, signature):
    ctx = gpgme.Context()
    try:
        return ctx.verify(signature, message, None)
    except gpgme.GpgmeError as e:
        raise BadSignature(e.message)
""",
        line=6,
        fixed="""\
import gpgme

def verify_detached(message, signature):
    ctx = gpgme.Context()
    try:
        signatures = ctx.verify(signature, message, None)
        if any(sig.status is not None for sig in signatures):
            raise ValueError("signature not verified")
        return signatures
    except gpgme.GpgmeError as e:
        raise BadSignature(e.message)
""",
        expected_message=(
            "`verify_detached` takes the signatures `ctx.verify()` answers without reading "
            "their `status`: pygpgme reports a bad or unverifiable signature there instead of "
            "raising, so it passes as verified."
        ),
    ),
    Invalid(
        """\
import django_filters

def members(group):
    filterset = group.filterset_class(group.filter, group.model.objects.all())
    return filterset.qs.exclude(pk=group.pk)
""",
        line=5,
        fixed="""\
import django_filters

def members(group):
    filterset = group.filterset_class(group.filter, group.model.objects.all())
    if not filterset.is_valid():
        raise ValueError(filterset.errors)
    return filterset.qs.exclude(pk=group.pk)
""",
        expected_message=(
            "`members` reads `filterset.qs` without `filterset.is_valid()`: django-filter drops "
            "every filter whose value does not validate, so a malformed filter matches every "
            "row."
        ),
    ),
]

FailureInTheAnswer.VALID += [
    # Django's own user check in a tastypie module: a plain bool
    """
from tastypie.authentication import Authentication

class SessionAuthentication(Authentication):
    def is_authenticated(self, request, **kwargs):
        authed = request.user.is_authenticated()
        if authed:
            return True
        return False
""",
    # the official `gpg` bindings raise on a bad signature; a comment naming gpgme is no import
    """
# Verify release signatures with the gpg module (the official gpgme bindings).
import gpg

def verify_release(blob):
    ctx = gpg.Context()
    return ctx.verify(blob)
""",
    # the user's own search: a dropped filter shows more of what they may already see
    """
import django_filters

def product_list(self):
    queryset = Product.objects.filter(owner=self.request.user)
    filterset = self.filterset_class(self.request.GET, queryset=queryset)
    return filterset.qs
""",
]
