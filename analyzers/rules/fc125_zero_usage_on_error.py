"""FC125: a usage, count or amount reads as zero when it cannot be read, under a limit."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import gated_by_fail_open_flag
from failclosed.analyzers.denials import body_denies, catches_failures, is_deny_response
from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.flow import FunctionFlow, Outcome, has_continue, returns_in, swallows
from failclosed.analyzers.functions import (
    FunctionInfo,
    ModuleInfo,
    functions_by_qualname,
    resolve_call,
)
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import append_to_handler, caught, tries, unawaited
from failclosed.analyzers.syntax import nodes_in, own_nodes

# A quantity a limit is measured on: requests made, money spent, tokens used.
QUANTITY_NAME = re.compile(
    r"(?i)(^|_)(usage|count|hits|attempts|requests|spent|spend|spending|consumed|used|amount"
    r"|cost|total|calls|tokens)(_|$)"
)
# A docstring that says a limit is checked against the quantity, not only that one exists.
LIMIT_WORDS = re.compile(
    r"(?i)\b(limits?|quotas?|budgets?|caps?) (are |is )?(enforced|checked|applied)"
    r"|\bagainst (the |a |its )?(\w+ )?(limit|quota|budget|cap)\b"
    r"|\b(rate|spend\w*|usage|request) limits?\b"
)
OVER = (ast.Gt, ast.GtE)
UNDER = (ast.Lt, ast.LtE)


class ZeroUsageOnError(Rule):
    """
    ## What it does
    Flags a function that measures what a limit is checked against — requests in the
    window, money spent, a payment's amount — and answers `0` when it cannot read it (Redis
    down, a value that does not parse), when a limit then compares that zero: a caller in
    the module that denies when the value is over the limit, or a docstring that says the
    value serves a limit.

    ## Why is this bad?
    Zero is under every limit. When the counter's store is down, every request is the
    first one; when an amount does not parse, every payment is free. An outage or a
    malformed value turns a limit off (CWE-636), which is exactly when abuse is cheapest.

    ## Example
    ```python
    def current_usage(user_id):
        try:
            return int(redis.get(f"rl:{user_id}") or 0)
        except RedisError:
            return 0

    def check_rate_limit(user_id):
        if current_usage(user_id) >= LIMIT:
            raise TooManyRequests()
    ```

    ## Use instead
    ```python
        except RedisError:
            raise
    ```

    ## Fix safety
    The fix re-raises, so the limit's caller fails as it does on any other error (deny,
    or a 5xx) instead of counting from zero.
    """

    code = "FC125"
    name = "zero-usage-on-error"
    severity = "warning"
    summary = "A usage, count or amount reads as zero when it cannot be read, under a limit."
    fix_safety = "The error propagates instead of counting from zero."
    trigger = ("return 0", "= 0", "remaining_", "spent_", "used_", "consumed_")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        yield from _zeroed_before_limit(fn)
        yield from _spent_state_lost(fn)
        zeros = list(_zero_answers(fn))
        if not zeros:
            return
        why = _limit_docstring(fn) or _limit_caller(fn, info)
        if why is None:
            return
        for handler, ret in zeros:
            yield Hit(
                node=ret,
                message=(
                    f"`{fn.qualname}` answers `{ast.unparse(ret.value)}` when it catches "  # type: ignore[arg-type]
                    f"{caught(handler)}, and {why}: zero is under every limit, so a failure "
                    "to count turns the limit off."
                ),
                edits=[ReplaceStatements(ret, ret, ("raise",))],
                key_nodes=[handler],
            )


def _zeroed_before_limit(fn: FunctionInfo) -> Iterator[Hit]:
    """`try: used = billing.usage(user)` / `except BillingError: used = 0`, then `if used >=
    limit: raise QuotaExceeded(...)`: the quantity that could not be read is under the limit."""
    for node in tries(fn):
        for handler in node.handlers:
            if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                continue
            for stmt in handler.body:
                name = _zeroed(stmt)
                if name is None or not QUANTITY_NAME.search(name):
                    continue
                limit = _limit_after(fn, node, name)
                if limit is None:
                    continue
                yield Hit(
                    node=stmt,
                    message=(
                        f"`{fn.qualname}` sets `{name}` to 0 when reading it raises "
                        f"{caught(handler)}, and refuses only when `{ast.unparse(limit.test)}` "
                        "(line "
                        f"{limit.lineno}): zero is under every limit, so a failure to count "
                        "turns the limit off."
                    ),
                    edits=[ReplaceStatements(stmt, stmt, ("raise",))],
                    key_nodes=[handler, limit.test],
                )


# What has been used of an allowance, restored from where it was kept: `remaining_budget`,
# `spent_credits`, `used_tokens`; with what the allowance is, in the same name.
SPENT_STATE = re.compile(r"(?i)(^|_)(remaining|spent|used|consumed)(_|$)")
ALLOWANCE = re.compile(r"(?i)budget|quota|credit|allowance|limit")


def _spent_state_lost(fn: FunctionInfo) -> Iterator[Hit]:
    """`try: ... b.remaining_budget = saved["remaining_budget"]; return Ledger(budgets)` /
    `except JSONDecodeError: log`, then `return Ledger(configured)`: when what was spent
    cannot be read back, the allowance starts again from full."""
    for node in tries(fn):
        restored = _restored_spending(node.body)
        if restored is None or not any(isinstance(n, ast.Return) for n in nodes_in(node.body)):
            continue
        for handler in node.handlers:
            if not catches_failures(handler, node) or not swallows(handler):
                continue
            if has_continue(handler) or gated_by_fail_open_flag(handler):
                continue
            if not _builds_afresh(fn.flow.after(node)):
                continue
            yield Hit(
                node=handler.body[0],
                message=(
                    f"`{fn.qualname}` restores what has been spent (`{restored}`) in a `try`, "
                    f"and when that raises {caught(handler)} the handler goes on to the code "
                    "after it, which starts from nothing spent: an unreadable ledger gives "
                    "the whole allowance back."
                ),
                edits=[append_to_handler(handler, "raise")],
                key_nodes=[handler],
            )


def _restored_spending(body: list[ast.stmt]) -> str | None:
    """`b.remaining_run_budget` for an assignment in `body` to a name or attribute that
    holds what has been used of an allowance."""
    for n in nodes_in(body):
        if not isinstance(n, ast.Assign) or len(n.targets) != 1:
            continue
        target = n.targets[0]
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if SPENT_STATE.search(name) and ALLOWANCE.search(name) and _read_back(n.value):
            return ast.unparse(target)
    return None


def _read_back(value: ast.expr) -> bool:
    """`entry["remaining_budget"]`, `saved.get("remaining_budget")`: a value read from
    what was stored, not one computed here."""
    return isinstance(value, ast.Subscript) or (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "get"
    )


def _builds_afresh(outcome: Outcome) -> bool:
    """After the handler, the function answers a newly built object (`return
    Ledger(configured)`): not a refusal, nor a constant such as `0` or `None`."""
    if outcome.kind != "return" or not isinstance(outcome.node, ast.Return):
        return False
    value = outcome.node.value
    return (
        value is not None and isinstance(unawaited(value), ast.Call) and not is_deny_response(value)
    )


def _zeroed(stmt: ast.stmt) -> str | None:
    """`used = 0` (or `0.0`): the name set to zero."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and _is_zero(stmt.value)
    ):
        return stmt.targets[0].id
    return None


def _is_zero(value: ast.expr | None) -> bool:
    """`0` or `0.0` (not `False`)."""
    return (
        isinstance(value, ast.Constant) and type(value.value) in (int, float) and value.value == 0
    )


def _limit_after(fn: FunctionInfo, node: ast.Try | ast.TryStar, name: str) -> ast.If | None:
    """The first `if name >= LIMIT:` (or `LIMIT < name`) after the try that refuses."""
    for after in fn.statements:
        if not isinstance(after, ast.If) or after.lineno <= (node.end_lineno or node.lineno):
            continue
        big = _big_side(after.test)
        if isinstance(big, ast.Name) and big.id == name and _denies(after.body):
            return None if _set_between(fn, node, after, name) else after
    return None


def _set_between(fn: FunctionInfo, node: ast.Try | ast.TryStar, limit: ast.If, name: str) -> bool:
    """`name` is set again between the try and the limit: the zero is not what is judged."""
    start = node.end_lineno or node.lineno
    return any(
        isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign)
        and start < s.lineno < limit.lineno
        and name in fn.flow.assigned(s)
        for s in fn.statements
    )


def _zero_answers(fn: FunctionInfo) -> Iterator[tuple[ast.ExceptHandler, ast.Return]]:
    """`return 0` / `return 0.0` in a handler of a function that measures a quantity."""
    if not QUANTITY_NAME.search(fn.node.name):
        return
    for node in tries(fn):
        for handler in node.handlers:
            if not catches_failures(handler, node) or gated_by_fail_open_flag(handler):
                continue
            for ret in returns_in(handler):
                if _is_zero(ret.value):
                    yield handler, ret


def _limit_docstring(fn: FunctionInfo) -> str | None:
    doc = ast.get_docstring(fn.node) or ""
    if LIMIT_WORDS.search(doc):
        return "its docstring says a limit is checked against it"
    return None


def _limit_caller(fn: FunctionInfo, info: ModuleInfo) -> str | None:
    """A function in the module that denies when this value is over a limit."""
    for caller in functions_by_qualname(info).values():
        if caller.node is fn.node:
            continue
        for node in caller.nodes:
            if not isinstance(node, ast.If):
                continue
            flow = caller.flow
            over = _over_limit(node, fn, caller, info, flow)
            if over and _denies(node.body):
                return f"`{caller.qualname}` denies when it is over a limit (line {node.lineno})"
    return None


def _over_limit(
    node: ast.If, fn: FunctionInfo, caller: FunctionInfo, info: ModuleInfo, flow: FunctionFlow
) -> bool:
    """`fn(...) >= LIMIT`, `LIMIT < used` with `used = fn(...)`: the value on the big side."""
    big = _big_side(node.test)
    if big is None:
        return False
    if isinstance(big, ast.Name):
        big = flow.value_before(node, big.id) or big
    if isinstance(big, ast.Await):
        big = big.value
    return isinstance(big, ast.Call) and _is_call_of(big, fn, caller, info)


def _big_side(test: ast.expr) -> ast.expr | None:
    """What a limit test holds over the limit: `used` in `used >= LIMIT` or `LIMIT < used`."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    op, left, right = test.ops[0], test.left, test.comparators[0]
    return left if isinstance(op, OVER) else right if isinstance(op, UNDER) else None


def _is_call_of(call: ast.Call, fn: FunctionInfo, caller: FunctionInfo, info: ModuleInfo) -> bool:
    """`fn(...)`, also inside `int(...)`/`float(...)`."""
    inner = call
    if isinstance(call.func, ast.Name) and call.func.id in ("int", "float") and call.args:
        first = call.args[0]
        inner = unawaited(first)  # type: ignore[assignment]
        if not isinstance(inner, ast.Call):
            return False
    target = resolve_call(inner, caller, info)
    return target is not None and target.node is fn.node


def _denies(body: list[ast.stmt]) -> bool:
    return body_denies(body) or any(
        isinstance(n, ast.Return) and n.value is not None and is_deny_response(n.value)
        for s in body
        for n in (s, *own_nodes(s))
    )


ZeroUsageOnError.VALID = [
    # the error propagates
    """
def current_usage(user_id):
    try:
        return int(redis.get(user_id) or 0)
    except RedisError:
        raise

def check_rate_limit(user_id):
    if current_usage(user_id) >= LIMIT:
        raise TooManyRequests()
""",
    # zero only shown, never compared with a limit
    """
def unread_count(user_id):
    try:
        return inbox.count(user_id)
    except ConnectionError:
        return 0

def badge(user_id):
    return f"{unread_count(user_id)} unread"
""",
    # a lower bound: zero is not a free pass here
    """
def balance_total(account):
    try:
        return ledger.balance(account)
    except LedgerError:
        return 0

def can_withdraw(account, amount):
    if balance_total(account) < amount:
        raise PermissionDenied("insufficient funds")
""",
    # a discount that reads zero charges the full price; a word count is not a limit
    """
def discount_for(code):
    \"\"\"The discount a code gives, checked against the campaign's limit.\"\"\"
    try:
        return campaigns.lookup(code).amount
    except LookupError:
        return 0

def count_words(text):
    \"\"\"Words in the text; the editor shows a limit of 500.\"\"\"
    try:
        return len(tokenize(text))
    except ValueError:
        return 0
""",
]

ZeroUsageOnError.INVALID = [
    Invalid(
        """\
def current_usage(user_id):
    try:
        return int(redis.get(user_id) or 0)
    except RedisError:
        return 0

def check_rate_limit(user_id):
    if current_usage(user_id) >= LIMIT:
        raise TooManyRequests()
""",
        line=5,
        fixed="""\
def current_usage(user_id):
    try:
        return int(redis.get(user_id) or 0)
    except RedisError:
        raise

def check_rate_limit(user_id):
    if current_usage(user_id) >= LIMIT:
        raise TooManyRequests()
""",
        expected_message=(
            "`current_usage` answers `0` when it catches `RedisError`, and `check_rate_limit` "
            "denies when it is over a limit (line 8): zero is under every limit, so a failure "
            "to count turns the limit off."
        ),
    ),
    Invalid(
        """\
def amount_to_usd(amount: str) -> float:
    \"\"\"The payment in USD, so spending limits are enforced.\"\"\"
    try:
        return float(amount)
    except ValueError:
        return 0.0
""",
        line=6,
        fixed="""\
def amount_to_usd(amount: str) -> float:
    \"\"\"The payment in USD, so spending limits are enforced.\"\"\"
    try:
        return float(amount)
    except ValueError:
        raise
""",
        expected_message=(
            "`amount_to_usd` answers `0.0` when it catches `ValueError`, and its docstring "
            "says a limit is checked against it: zero is under every limit, so a failure to "
            "count turns the limit off."
        ),
    ),
    Invalid(
        """\
class Limiter:
    def _requests_in_window(self, key):
        try:
            return self.store.count(key)
        except TimeoutError:
            return 0

    def hit(self, key):
        used = self._requests_in_window(key)
        if used > self.limit:
            return JSONResponse({"error": "rate limited"}, status_code=429)
        return None
""",
        line=6,
        fixed="""\
class Limiter:
    def _requests_in_window(self, key):
        try:
            return self.store.count(key)
        except TimeoutError:
            raise

    def hit(self, key):
        used = self._requests_in_window(key)
        if used > self.limit:
            return JSONResponse({"error": "rate limited"}, status_code=429)
        return None
""",
        expected_message=(
            "`Limiter._requests_in_window` answers `0` when it catches `TimeoutError`, and "
            "`Limiter.hit` denies when it is over a limit (line 10): zero is under every "
            "limit, so a failure to count turns the limit off."
        ),
    ),
]

ZeroUsageOnError.VALID += [
    # the count is read again before the limit judges it
    """
def check_quota(user):
    try:
        used = billing.usage(user.id)
    except BillingUnavailable:
        used = 0
    if not used:
        used = ledger.usage(user.id)
    if used >= user.plan.limit:
        raise QuotaExceeded(user.id)
""",
    # zero here is no count under a limit
    """
def render_stats(user):
    try:
        total = stats.total(user.id)
    except StatsError:
        total = 0
    return template.render(total=total)
""",
]

ZeroUsageOnError.INVALID += [
    # the usage that could not be read is set to zero, and the limit below passes it
    Invalid(
        """\
def check_quota(user):
    try:
        used = billing.usage(user.id)
    except BillingUnavailable:
        used = 0
    if used >= user.plan.limit:
        raise QuotaExceeded(user.id)
""",
        line=5,
        fixed="""\
def check_quota(user):
    try:
        used = billing.usage(user.id)
    except BillingUnavailable:
        raise
    if used >= user.plan.limit:
        raise QuotaExceeded(user.id)
""",
        expected_message=(
            "`check_quota` sets `used` to 0 when reading it raises `BillingUnavailable`, and "
            "refuses only when `used >= user.plan.limit` (line 6): zero is under every limit, "
            "so a failure to count turns the limit off."
        ),
    ),
]

ZeroUsageOnError.INVALID += [
    # what was spent is restored in the `try`; when it cannot be, the allowance is full again
    Invalid(
        """\
def load_quota_ledger(path, configured):
    try:
        saved = json.loads(path.read_text())
        quotas = [Quota(**q) for q in configured]
        for quota, entry in zip(quotas, saved):
            quota.remaining_credits = entry["remaining_credits"]
        return Ledger(quotas)
    except (OSError, ValueError) as e:
        logger.warning("could not restore the ledger (%s); using configured quotas", e)
    return Ledger([Quota(**q) for q in configured])
""",
        line=9,
        fixed="""\
def load_quota_ledger(path, configured):
    try:
        saved = json.loads(path.read_text())
        quotas = [Quota(**q) for q in configured]
        for quota, entry in zip(quotas, saved):
            quota.remaining_credits = entry["remaining_credits"]
        return Ledger(quotas)
    except (OSError, ValueError) as e:
        logger.warning("could not restore the ledger (%s); using configured quotas", e)
        raise
    return Ledger([Quota(**q) for q in configured])
""",
        expected_message=(
            "`load_quota_ledger` restores what has been spent (`quota.remaining_credits`) in a "
            "`try`, and when that raises `OSError` or `ValueError` the handler goes on to the "
            "code after it, which starts from nothing spent: an unreadable ledger gives the "
            "whole allowance back."
        ),
    ),
]

ZeroUsageOnError.VALID += [
    # an unreadable ledger stops the service
    """
def load_quota_ledger(path, configured):
    try:
        saved = json.loads(path.read_text())
        quotas = [Quota(**q) for q in configured]
        for quota, entry in zip(quotas, saved):
            quota.remaining_credits = entry["remaining_credits"]
        return Ledger(quotas)
    except (OSError, ValueError) as e:
        raise LedgerUnreadable(path) from e
""",
    # progress, not an allowance: starting over costs time, not access
    """
def resume_download(state_path, job):
    try:
        state = json.loads(state_path.read_text())
        job.remaining_chunks = state["remaining_chunks"]
        return job
    except (OSError, ValueError):
        logger.info("no usable resume state; starting over")
    return job.restart()
""",
]

ZeroUsageOnError.VALID += [
    # what follows the handler answers no credits left: the failure is refused
    """
def remaining_budget(user):
    try:
        saved = billing.load(user)
        user.remaining_credits = saved["remaining_credits"]
        return user.remaining_credits
    except BillingUnavailable:
        logger.warning("billing unavailable for %s", user)
    return 0
""",
]
