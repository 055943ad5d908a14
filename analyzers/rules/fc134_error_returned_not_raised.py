"""FC134: a yes/no check returns an exception object where it meant to raise it."""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.syntax import dotted_name, own_statements

# `RuntimeError`, `errors.PolicyError`, `AccessDeniedException`: a class named as an error.
ERROR_CLASS = re.compile(r"^_*[A-Z]\w*(Error|Exception)$")
BUILTIN_ERRORS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


def article(word: str) -> str:
    """ "an" before a vowel sound (`an OwnershipError`), else "a"."""
    return "an" if word[:1].lower() in "aeiou" else "a"


class ErrorReturnedNotRaised(Rule):
    """
    ## What it does
    Flags `return SomeError(...)` in a function that otherwise answers `True` or `False`:
    the error is handed back as the answer instead of being raised.

    ## Why is this bad?
    An exception object is truthy. A caller that asks `if has_role(user, "admin"):` gets
    "yes" exactly when the check could not be made (a malformed call, a missing entry), so
    a broken permission lookup grants (CWE-636, OWASP A10:2025).

    ## Example
    ```python
    def has_link(self, name1, name2, *domain):
        if len(domain) > 1:
            return RuntimeError("error: domain should be 1 parameter")
        return self._linked(name1, name2)
    ```

    ## Use instead
    ```python
    def has_link(self, name1, name2, *domain):
        if len(domain) > 1:
            raise RuntimeError("error: domain should be 1 parameter")
        return self._linked(name1, name2)
    ```

    ## Fix safety
    The fix raises the error the function built: callers that relied on getting it back
    as a value now see it raised, which is what its construction announced.
    """

    code = "FC134"
    name = "error-returned-not-raised"
    severity = "error"
    summary = "A yes/no check returns an exception object (truthy) instead of raising it."
    fix_safety = "Raises the error the function returned."
    trigger = ("return",)
    file_words = ("Error(", "Exception(")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        returns = [s for s in own_statements(fn.node) if isinstance(s, ast.Return)]
        errors = [(r, name) for r in returns if (name := _returned_error(r)) is not None]
        if not errors or not _answers_yes_or_no(fn, returns):
            return
        for ret, name in errors:
            yield Hit(
                node=ret,
                message=(
                    f"`{fn.qualname}` returns {article(name)} `{name}` instead of raising it; "
                    "an exception object is truthy, so a caller reading the answer as yes/no "
                    "gets yes when the check could not be made."
                ),
                edits=_raise_instead(ret, info),
                key_nodes=[ret],
            )


def _raise_instead(ret: ast.Return, info: ModuleInfo) -> list[ReplaceStatements]:
    """`raise X(...)` for a one-line `return X(...)`, in the author's own spelling."""
    text = ast.get_source_segment(info.source, ret) or ""
    if "\n" in text or not text.startswith("return "):
        return []  # a call over several lines: reported, the fix is left to the author
    return [ReplaceStatements(ret, ret, ("raise " + text[len("return ") :],))]


def _returned_error(ret: ast.Return) -> str | None:
    """`RuntimeError` for `return RuntimeError("...")`: an error built to be returned."""
    value = ret.value
    if not isinstance(value, ast.Call):
        return None
    name = dotted_name(value.func) or ""
    last = name.rsplit(".", 1)[-1]
    if last in BUILTIN_ERRORS or ERROR_CLASS.match(last):
        return last
    return None


def _answers_yes_or_no(fn: FunctionInfo, returns: list[ast.Return]) -> bool:
    """Some other return hands back `True` or `False`, or the name asks a question — unless
    the function is annotated to return an error, or returns nothing but errors: a factory
    of errors (`def limit_exceeded_error(...) -> RejectedError`)."""
    if _annotated_error(fn) or all(_returned_error(r) for r in returns):
        return False
    if any(isinstance(r.value, ast.Constant) and isinstance(r.value.value, bool) for r in returns):
        return True
    return fn.polarity is not None


def _annotated_error(fn: FunctionInfo) -> bool:
    returns = getattr(fn.node, "returns", None)
    name = (dotted_name(returns) or "").rsplit(".", 1)[-1] if returns is not None else ""
    return name in BUILTIN_ERRORS or bool(ERROR_CLASS.match(name))


ErrorReturnedNotRaised.VALID = [
    # a factory of one error, named like a check: it is raised by its callers
    """
def limit_exceeded_error(exceeded, model_name) -> RequestRejectedError:
    return RequestRejectedError(model_name, f"over the limits: {exceeded}")
""",
    # a factory of errors: it answers errors, never yes or no
    """
def error_for(status, body):
    if status == 404:
        return NotFoundError(body)
    return ApiError(status, body)
""",
    # the error is raised
    """
def has_role(self, user, role):
    if role not in self.roles:
        raise ValueError(f"unknown role {role}")
    return role in self.assigned.get(user, ())
""",
    # a validator that collects its errors as values, and never answers yes or no
    """
def first_problem(self, value):
    if not isinstance(value, str):
        return TypeError("expected text")
    return None
""",
]

ErrorReturnedNotRaised.INVALID = [
    Invalid(
        """\
def has_link(self, name1, name2, *domain):
    if len(domain) > 1:
        return RuntimeError("error: domain should be 1 parameter")
    if name1 == name2:
        return True
    return self._linked(name1, name2)
""",
        line=3,
        fixed="""\
def has_link(self, name1, name2, *domain):
    if len(domain) > 1:
        raise RuntimeError("error: domain should be 1 parameter")
    if name1 == name2:
        return True
    return self._linked(name1, name2)
""",
        expected_message=(
            "`has_link` returns a `RuntimeError` instead of raising it; an exception object "
            "is truthy, so a caller reading the answer as yes/no gets yes when the check "
            "could not be made."
        ),
    ),
    # a predicate by name: `can_*` asks a question
    Invalid(
        """\
def can_publish(user, project):
    if project.owner is None:
        return errors.OwnershipError("project has no owner")
    return project.owner == user or user.is_admin
""",
        line=3,
        fixed="""\
def can_publish(user, project):
    if project.owner is None:
        raise errors.OwnershipError("project has no owner")
    return project.owner == user or user.is_admin
""",
        expected_message=(
            "`can_publish` returns an `OwnershipError` instead of raising it; an exception "
            "object is truthy, so a caller reading the answer as yes/no gets yes when the "
            "check could not be made."
        ),
    ),
]
