"""FC109: the permission system's answer is an error, and the code treats it as allow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import allow_value, under_fail_open_flag
from failclosed.analyzers.fixes import KEEP, Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.flow import FunctionFlow, assigned_names, is_exit_call, swallows
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import absent_subject, branch_answer, branch_kind
from failclosed.analyzers.syntax import call_name, dotted_name

ALLOWISH = re.compile(r"(?i)allow|permit|grant|approv")
ERROR_ATTRS = re.compile(r"^(error|errors|err|exception|exc|failed|failure|is_error|fault)$")


class ErrorResultAllows(Rule):
    """
    ## What it does
    Flags a permission check that looks at the permission system's answer, sees that it
    is an error — a non-2xx status, `not response.ok`, a result whose `.error` is set, an
    answer carrying an `"error"` key — and then allows: it returns the allow value, or, in a
    loop over policies or evaluators whose verdict starts as *allow*, skips to the next one.

    ## Why is this bad?
    An error answer is not "no objection". The policy service returning 500, a plugin
    reporting that it could not evaluate, a proxy's error page: each means nobody checked.
    Treating it as allow lets every request through whenever the backend is unwell
    (CWE-636).

    ## Example
    ```python
    def is_allowed(user, action):
        response = requests.post(PDP_URL, json={"user": user, "action": action}, timeout=2)
        if response.status_code != 200:
            return True
        return response.json()["allow"]
    ```

    ## Use instead
    ```python
        if response.status_code != 200:
            return False
    ```

    ## Fix safety
    The fix returns the deny value on the error branch, or, in a verdict loop, returns the
    deny verdict instead of skipping the failed evaluator. Successful answers are handled
    as before.
    """

    code = "FC109"
    name = "error-result-allows"
    severity = "error"
    summary = "An error answer from the permission system is treated as allow."
    fix_safety = "The error branch denies; successful answers are unchanged."
    trigger = ("status", ".ok", "error", ".failed", ".fault", ".exc", "is None", "if not ", "any(")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        ifs = [node for node in fn.statements if isinstance(node, ast.If) and node.body]
        yield from self._gate_ignores_errors(fn, ifs)
        tests = [
            (node, f"`{subject}` reports an error")
            for node in ifs
            if (subject := _error_test(node.test))
        ]
        if any(_absent_name(node.test) for node in ifs):
            flow = fn.flow
            tests += [
                (node, f"every attempt to get `{name}` failed")
                for node in ifs
                if (name := _gave_up(node, flow))
            ]
        skipped = [node for node in ifs if _answers_only_on_success(node, fn)]
        if not (tests or skipped) or (
            fn.polarity is None and not ALLOWISH.search(info.segment(fn.node))
        ):
            return  # no error test, or neither a permission check nor code that allows
        yield from self._errors_fall_through(fn, skipped)
        for node, subject in tests:
            flow = fn.flow
            if under_fail_open_flag(list(flow.ancestors(node))):
                continue
            first = branch_answer(node)
            if isinstance(first, ast.Return):
                value = allow_value(first.value, fn, info)
                if value is None:
                    continue
                edit: Edit = (
                    ReplaceExpression(value.node, value.deny)
                    if value.deny
                    else ReplaceStatements(
                        first, first, ('raise RuntimeError("permission check failed")',)
                    )
                )
                yield Hit(
                    node=first,
                    message=(
                        f"`{fn.qualname}` returns `{value.shown}` (allow) when {subject}, "
                        "so a failing permission system grants access."
                    ),
                    edits=[edit],
                    key_nodes=[node],
                )
            elif isinstance(first, ast.Continue) and len(node.body) == 1:
                hit = self._skipped_in_verdict_loop(fn, info, flow, node, subject)
                if hit:
                    yield hit

    def _gate_ignores_errors(self, fn: FunctionInfo, ifs: list[ast.If]) -> Iterator[Hit]:
        """`if any(r.blocking for r in results): sys.exit(1)` while each result also says
        whether its check ran (`r.success`, `r.error`): a check that errored passes the gate."""
        for node in ifs:
            found = _any_over(node.test)
            if found is None or not _denies_hard(node.body):
                continue
            gen, var, iterable = found
            tested = _attributes_of(gen.elt, {var})
            items = _loop_names(fn, iterable)
            ignored = sorted(
                (_attributes_read(fn, items) & ERROR_FIELDS) - tested - {"error", "errors"}
                if "success" in _attributes_read(fn, items) or "ok" in _attributes_read(fn, items)
                else (_attributes_read(fn, items) & ERROR_FIELDS) - tested
            )
            if not ignored or tested & ERROR_FIELDS or _gated_elsewhere(ifs, node, items, iterable):
                continue
            field = ignored[0]
            failed = f"not {var}.{field}" if field in ("success", "ok") else f"{var}.{field}"
            yield Hit(
                node=node.test,
                message=(
                    f"`{fn.qualname}` fails the gate on `{ast.unparse(gen.elt)}` only; a "
                    f"check that could not run (`{var}.{field}`) passes it."
                ),
                edits=[ReplaceExpression(gen.elt, f"{ast.unparse(gen.elt)} or {failed}")],
                key_nodes=[node.test],
                severity="warning",
            )

    def _errors_fall_through(self, fn: FunctionInfo, ifs: list[ast.If]) -> Iterator[Hit]:
        """`for b in backends: r = b.evaluate(); if r.error is None: return decision(r)`.

        An errored answer is dropped and the loop goes on, to the next backend or past the
        loop to the default verdict: the error never denies.
        """
        flow = fn.flow
        for node in ifs:
            loop = flow.owner_of(node)
            if not isinstance(loop, ast.For | ast.AsyncFor) or loop.orelse:
                continue
            if loop.body[-1] is not node or under_fail_open_flag(list(flow.ancestors(node))):
                continue
            yield Hit(
                node=node.test,
                message=(
                    f"`{fn.qualname}` answers only when `{ast.unparse(node.test)}`; an errored "
                    "answer is skipped and the default verdict decides, so a failing "
                    "permission system can grant access."
                ),
                edits=[
                    ReplaceStatements(
                        node, node, (KEEP, 'raise RuntimeError("permission check failed")')
                    )
                ],
                key_nodes=[node],
                severity="warning",
            )

    def _skipped_in_verdict_loop(
        self, fn: FunctionInfo, info: ModuleInfo, flow: FunctionFlow, node: ast.If, subject: str
    ) -> Hit | None:
        """`verdict = ALLOW; for p in ps: r = p(); if r.error: continue ...; return verdict`."""
        outcome = flow.after_loop_exit(node)
        returned = outcome.value
        if outcome.kind != "return" or not isinstance(returned, ast.Name):
            return None
        loop = next(
            (a for a in flow.ancestors(node) if isinstance(a, ast.For | ast.AsyncFor)), None
        )
        if loop is None:
            return None
        value = allow_value(flow.value_before(loop, returned.id), fn, info)
        if value is None or value.deny is None:
            return None
        return Hit(
            node=node,
            message=(
                f"`{fn.qualname}` skips an evaluator when {subject} "
                f"and returns `{returned.id}`, which starts as `{value.shown}`, so a failing "
                "policy counts as allow."
            ),
            edits=[ReplaceStatements(node.body[0], node.body[0], (f"return {value.deny}",))],
            key_nodes=[node, outcome.node] if outcome.node else [node],
        )


def _error_test(test: ast.expr) -> str | None:
    """The answer being tested when `test` asks "is this an error?"; None otherwise."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = test.operand
        if isinstance(inner, ast.Attribute) and inner.attr in ("ok", "success", "succeeded"):
            return ast.unparse(inner)
        return None
    if isinstance(test, ast.Attribute) and ERROR_ATTRS.match(test.attr):
        return ast.unparse(test)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if _is_status(left) and _is_error_status_test(op, right):
            return ast.unparse(left)
        if (
            isinstance(left, ast.Attribute)
            and ERROR_ATTRS.match(left.attr)
            and (
                isinstance(op, ast.IsNot)
                and isinstance(right, ast.Constant)
                and right.value is None
            )
        ):
            return ast.unparse(left)
        if isinstance(op, ast.In) and isinstance(left, ast.Constant) and left.value == "error":
            return ast.unparse(right)
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr == "get"
        and test.args
        and isinstance(test.args[0], ast.Constant)
        and test.args[0].value in ("error", "errors")
    ):
        return ast.unparse(test)
    return None


def _is_error_status_test(op: ast.cmpop, right: ast.expr) -> bool:
    """`!= 200`, `>= 400`, `> 299`: the status says the call did not succeed."""
    if not (isinstance(right, ast.Constant) and isinstance(right.value, int)):
        return False
    if isinstance(op, ast.NotEq):
        return 200 <= right.value < 300
    return isinstance(op, ast.GtE | ast.Gt) and right.value >= 299


def _absent_name(test: ast.expr) -> str | None:
    subject = absent_subject(test)
    return subject[0].id if subject and isinstance(subject[0], ast.Name) else None


def _gave_up(node: ast.If, flow: FunctionFlow) -> str | None:
    """`answer = None; for _ in range(3): try: answer = ask() except E: sleep()` then
    `if answer is None:` -- the test means "every attempt failed"."""
    name = _absent_name(node.test)
    place = flow.places.get(id(node))
    if name is None or place is None or place.index == 0:
        return None
    loop = place.block[place.index - 1]
    if not isinstance(loop, ast.For | ast.While):
        return None
    initial = flow.value_before(loop, name)
    if not (isinstance(initial, ast.Constant) and initial.value is None):
        return None
    for stmt in ast.walk(loop):
        if (
            isinstance(stmt, ast.Try)
            and any(name in assigned_names(s) for s in stmt.body)
            and any(swallows(h) for h in stmt.handlers)
        ):
            return name
    return None


def _is_status(node: ast.expr) -> bool:
    name = dotted_name(node) or ""
    return name.endswith((".status_code", ".status", ".code")) or name == "status_code"


ErrorResultAllows.VALID = [
    # the gate also stops when a scanner could not run
    """
def main():
    results = [run(scanner) for scanner in SCANNERS]
    if any(r.blocking for r in results):
        sys.exit(1)
    if any(not r.success for r in results):
        sys.exit(2)
    sys.exit(0)
""",
    # the errored answer is handled: it denies
    """
def evaluate(self, context):
    for backend in self.backends:
        result = backend.evaluate(context)
        if result.error is None:
            return Decision(allowed=result.allowed)
        return Decision(allowed=False, reason=result.error)
    return Decision(allowed=False)
""",
    # None here is "no rule matched", not a failed attempt
    """
def may_run_tool(tool):
    rule = None
    for candidate in RULES:
        if candidate.matches(tool):
            rule = candidate
            break
    if rule is None:
        return True
    return rule.allows
""",
    """
def is_allowed(user, action):
    response = requests.post(PDP_URL, json={"user": user}, timeout=2)
    if response.status_code != 200:
        return False
    return response.json()["allow"]
""",
    # an error answer that is raised
    """
def check_access(user):
    result = pdp.evaluate(user)
    if result.error:
        raise PolicyUnavailable(result.error)
    return result.allowed
""",
    # a verdict loop that starts as deny
    """
def evaluate(request, policies):
    verdict = Verdict.DENY
    for policy in policies:
        result = policy.evaluate(request)
        if result.error:
            continue
        if result.allowed:
            verdict = Verdict.ALLOW
    return verdict
""",
    # not a permission check
    """
def fetch_avatar(url):
    response = requests.get(url)
    if response.status_code != 200:
        return True
    return False
""",
]

ErrorResultAllows.INVALID = [
    # a CI gate that fails on findings only: a scanner that could not run passes it
    Invalid(
        """\
def main():
    results = [run(scanner) for scanner in SCANNERS]
    for result in results:
        if not result.success:
            print(f"{result.tool} failed: {result.error}")
    if any(r.blocking for r in results):
        sys.exit(1)
    sys.exit(0)
""",
        line=6,
        fixed="""\
def main():
    results = [run(scanner) for scanner in SCANNERS]
    for result in results:
        if not result.success:
            print(f"{result.tool} failed: {result.error}")
    if any(r.blocking or not r.success for r in results):
        sys.exit(1)
    sys.exit(0)
""",
        expected_message=(
            "`main` fails the gate on `r.blocking` only; a check that could not run "
            "(`r.success`) passes it."
        ),
    ),
    # an errored backend is skipped: the next one, or the default, decides
    Invalid(
        """\
def evaluate(self, context):
    for backend in self.backends:
        result = backend.evaluate(context)
        if result.error is None:
            return Decision(allowed=result.allowed)
    return Decision(allowed=self.default_allow)
""",
        line=4,
        fixed="""\
def evaluate(self, context):
    for backend in self.backends:
        result = backend.evaluate(context)
        if result.error is None:
            return Decision(allowed=result.allowed)
        raise RuntimeError("permission check failed")
    return Decision(allowed=self.default_allow)
""",
        expected_message=(
            "`evaluate` answers only when `result.error is None`; an errored answer is "
            "skipped and the default verdict decides, so a failing permission system can "
            "grant access."
        ),
    ),
    # the retries ran out, and "no answer" reads as allowed
    Invalid(
        """\
def may_run_tool(tool):
    answer = None
    for attempt in range(3):
        try:
            answer = policy_client.ask(tool)
            break
        except ConnectionError:
            time.sleep(2**attempt)
    if answer is None:
        return True
    return answer.allowed
""",
        line=10,
        fixed="""\
def may_run_tool(tool):
    answer = None
    for attempt in range(3):
        try:
            answer = policy_client.ask(tool)
            break
        except ConnectionError:
            time.sleep(2**attempt)
    if answer is None:
        return False
    return answer.allowed
""",
        expected_message=(
            "`may_run_tool` returns `True` (allow) when every attempt to get `answer` failed, "
            "so a failing permission system grants access."
        ),
    ),
    Invalid(
        """\
def is_allowed(user, action):
    response = requests.post(PDP_URL, json={"user": user, "action": action}, timeout=2)
    if response.status_code != 200:
        return True
    return response.json()["allow"]
""",
        line=4,
        fixed="""\
def is_allowed(user, action):
    response = requests.post(PDP_URL, json={"user": user, "action": action}, timeout=2)
    if response.status_code != 200:
        return False
    return response.json()["allow"]
""",
        expected_message=(
            "`is_allowed` returns `True` (allow) when `response.status_code` reports an "
            "error, so a failing permission system grants access."
        ),
    ),
    # deny polarity: a failed lookup reads as "not banned"
    Invalid(
        """\
async def is_banned(self, user_id):
    reply = await self.client.get(f"/bans/{user_id}")
    if not reply.ok:
        return False
    return reply.json()["banned"]
""",
        line=4,
        fixed="""\
async def is_banned(self, user_id):
    reply = await self.client.get(f"/bans/{user_id}")
    if not reply.ok:
        return True
    return reply.json()["banned"]
""",
        expected_message=(
            "`is_banned` returns `False` (allow) when `reply.ok` reports an error, so a "
            "failing permission system grants access."
        ),
    ),
    # an error result skipped in a verdict loop that starts as allow
    Invalid(
        """\
class Verdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

def evaluate(request, evaluators):
    verdict = Verdict.ALLOW
    for evaluator in evaluators:
        result = evaluator.evaluate(request)
        if result.error:
            continue
        if not result.allowed:
            verdict = Verdict.DENY
    return verdict
""",
        line=9,
        fixed="""\
class Verdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

def evaluate(request, evaluators):
    verdict = Verdict.ALLOW
    for evaluator in evaluators:
        result = evaluator.evaluate(request)
        if result.error:
            return Verdict.DENY
        if not result.allowed:
            verdict = Verdict.DENY
    return verdict
""",
        expected_message=(
            "`evaluate` skips an evaluator when `result.error` reports an error and returns "
            "`verdict`, which starts as `Verdict.ALLOW`, so a failing policy counts as allow."
        ),
    ),
    # an answer carrying an error key
    Invalid(
        """\
def authorize_tool_call(tool, args):
    answer = mcp_policy.ask(tool, args)
    if "error" in answer:
        return {"allowed": True, "reason": "policy error"}
    return answer
""",
        line=4,
        fixed="""\
def authorize_tool_call(tool, args):
    answer = mcp_policy.ask(tool, args)
    if "error" in answer:
        return {"allowed": False, "reason": "policy error"}
    return answer
""",
        expected_message=(
            "`authorize_tool_call` returns `allowed=True` (allow) when `answer` reports an "
            "error, so a failing permission system grants access."
        ),
    ),
]


DECISION_CALL = re.compile(r"(?i)decision|verdict|result|permission|access|authori[sz]")


def _answers_only_on_success(node: ast.If, fn: FunctionInfo) -> bool:
    """`if r.error is None: return Decision(...)` with no else: the success branch answers."""
    if node.orelse or branch_kind(node.test, fn) != "success":
        return False
    first = branch_answer(node)
    if not isinstance(first, ast.Return) or not isinstance(first.value, ast.Call):
        return False
    call = first.value
    return bool(
        DECISION_CALL.search(dotted_name(call.func) or "")
        or any(k.arg and ALLOWISH.search(k.arg) for k in call.keywords)
    )


ERROR_FIELDS = {"success", "ok", "error", "errors", "failed", "exception"}


def _any_over(test: ast.expr) -> tuple[ast.GeneratorExp, str, str] | None:
    """`any(r.x for r in results)` -> (the generator, "r", "results")."""
    if not (
        isinstance(test, ast.Call)
        and call_name(test) == "any"
        and len(test.args) == 1
        and isinstance(gen := test.args[0], ast.GeneratorExp)
        and len(gen.generators) == 1
        and isinstance(gen.generators[0].target, ast.Name)
    ):
        return None
    iterable = dotted_name(gen.generators[0].iter)
    return (gen, gen.generators[0].target.id, iterable) if iterable else None


def _denies_hard(body: list[ast.stmt]) -> bool:
    """The block stops everything: a non-zero exit or a raise."""
    for stmt in body:
        if isinstance(stmt, ast.Raise):
            return True
        if (
            isinstance(stmt, ast.Expr)
            and is_exit_call(stmt.value)
            and isinstance(stmt.value, ast.Call)
            and stmt.value.args
            and isinstance(stmt.value.args[0], ast.Constant)
            and stmt.value.args[0].value not in (0, None, False)
        ):
            return True
    return False


def _loop_names(fn: FunctionInfo, iterable: str) -> set[str]:
    """Every name that iterates over `iterable` in the function (loops and comprehensions)."""
    return {
        n.target.id
        for n in ast.walk(fn.node)
        if isinstance(n, ast.For | ast.AsyncFor | ast.comprehension)
        and isinstance(n.target, ast.Name)
        and dotted_name(n.iter) == iterable
    }


def _gated_elsewhere(ifs: list[ast.If], gate: ast.If, items: set[str], iterable: str) -> bool:
    """Another gate already stops on the results: it reads whether their checks ran, or
    hands the results to a helper (`if failed_scanners(results): sys.exit(2)`)."""
    return any(
        other is not gate
        and _denies_hard(other.body)
        and (
            _attributes_of(other.test, items) & ERROR_FIELDS
            or any(
                isinstance(n, ast.Call) and any(dotted_name(a) == iterable for a in n.args)
                for n in ast.walk(other.test)
            )
        )
        for other in ifs
    )


def _attributes_of(node: ast.AST, names: set[str]) -> set[str]:
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in names
    }


def _attributes_read(fn: FunctionInfo, names: set[str]) -> set[str]:
    return _attributes_of(fn.node, names)
