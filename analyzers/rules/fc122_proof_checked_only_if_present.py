"""FC122: a token, signature or state is compared only when the request carries one."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import is_deny_response
from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import present_subject
from failclosed.analyzers.syntax import call_name

# What a caller presents as proof: the OAuth `state`, a CSRF token, an HMAC signature, a nonce.
PROOF = re.compile(
    r"(?i)(^|_)(state|csrf\w*|xsrf\w*|nonce|signature|sig|hmac|digest|mac|otp|token"
    r"|code_verifier|challenge)$"
)
# Names of the value the server holds (configured or stored): "not configured" is FC107's.
HELD = re.compile(r"(?i)^_*(expected|configured|stored|saved|server|app|settings|secret|our)_")
# Calls that compare or verify a proof: `hmac.compare_digest`, `verify_signature`.
VERIFY_CALL = re.compile(r"(?i)(compare_digest|verify\w*|validate\w*|check\w*|\w*match\w*)$")


class ProofCheckedOnlyIfPresent(Rule):
    """
    ## What it does
    Flags `if proof and proof != expected: <deny>`: a check of an OAuth `state`, a CSRF
    token, a webhook signature or a nonce that only runs when the request carries one.

    ## Why is this bad?
    The attacker decides whether the check runs: leaving the parameter or header out
    skips the comparison and the request goes through as verified. A missing proof is the
    commonest malformed input, and it must fail like a wrong one (CWE-636, CWE-352 for
    CSRF and OAuth state).

    ## Example
    ```python
    returned_state = params.get("state")
    if returned_state and returned_state != state:
        raise AuthError("state mismatch")
    ```

    ## Use instead
    ```python
    if not returned_state or returned_state != state:
        raise AuthError("state mismatch")
    ```

    ## Fix safety
    The fix turns the presence test around (`not proof or ...`), so a missing proof is
    denied like a wrong one. Clients that legitimately send no proof (an optional
    signature during a migration) will now be refused; decide that on purpose, and then
    test for the configuration, not for what the request carries.
    """

    code = "FC122"
    name = "proof-checked-only-if-present"
    severity = "error"
    summary = "A token, signature or state is compared only when the request carries one."
    fix_safety = "A missing proof is denied like a wrong one."
    trigger = (" and ",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in fn.statements:
            if not isinstance(node, ast.If) or not _denies(node.body):
                continue
            test = node.test
            if not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And)):
                continue
            proof = _presence_tested(test.values[0])
            if proof is None or not any(_checks(v, proof) for v in test.values[1:]):
                continue
            if not _presented(fn, proof, node):
                continue  # a parameter may be the value we hold: "no state was sent" is not ours
            yield Hit(
                node=node.test,
                message=(
                    f"`{fn.qualname}` checks `{proof}` only when it is present: a request "
                    "that leaves it out skips the check and goes through as verified."
                ),
                edits=[ReplaceExpression(test, _fixed_test(test, info))],
                key_nodes=[test],
            )


def _presence_tested(expr: ast.expr) -> str | None:
    """`proof` for `proof` or `proof is not None`, when it names a presented proof."""
    expr = present_subject(expr)
    if not isinstance(expr, ast.Name):
        return None  # `self.token`, `settings.SECRET`: the held value, configured or not
    name = expr.id
    if not PROOF.search(name) or HELD.match(name) or name.isupper():
        return None
    return name


# Where a presented value comes from: a header, a query parameter, a parsed callback URL.
INPUT_SOURCE = re.compile(
    r"(?i)(\.get\(|headers|params|query|args\b|form\b|cookies|request|payload|parse_qs|META)"
)


def _presented(fn: FunctionInfo, name: str, node: ast.If) -> bool:
    """The function read `name` from the request or the callback it handles."""
    return any(
        isinstance(stmt, ast.Assign)
        and stmt.lineno < node.lineno
        and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
        and INPUT_SOURCE.search(ast.unparse(stmt.value)) is not None
        for stmt in fn.statements
    )


def _checks(expr: ast.expr, proof: str) -> bool:
    """`proof != x`, `proof not in allowed`, `not compare_digest(proof, x)`."""
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1:
        sides = [expr.left, expr.comparators[0]]
        return isinstance(expr.ops[0], ast.NotEq | ast.IsNot | ast.NotIn) and any(
            isinstance(s, ast.Name) and s.id == proof for s in sides
        )
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        call = expr.operand
        return (
            isinstance(call, ast.Call)
            and VERIFY_CALL.search(call_name(call)) is not None
            and any(isinstance(a, ast.Name) and a.id == proof for a in call.args)
        )
    return False


def _denies(body: list[ast.stmt]) -> bool:
    """The branch refuses: it raises, or answers False or a 4xx response."""
    last = body[-1] if body else None
    if isinstance(last, ast.Raise):
        return True
    if isinstance(last, ast.Return) and last.value is not None:
        value = last.value
        return (isinstance(value, ast.Constant) and value.value is False) or is_deny_response(value)
    return False


def _fixed_test(test: ast.BoolOp, info: ModuleInfo) -> str:
    """`not proof or rest`: a missing proof takes the deny branch."""
    first, rest = test.values[0], test.values[1:]
    if isinstance(first, ast.Compare):
        missing = f"{ast.unparse(first.left)} is None"
    else:
        missing = f"not {ast.unparse(first)}"
    parts = [ast.get_source_segment(info.source, v) or ast.unparse(v) for v in rest]
    checked = parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"
    return f"{missing} or {checked}"


ProofCheckedOnlyIfPresent.VALID = [
    # the missing proof is denied first
    """
def callback(params, state):
    returned_state = params.get("state")
    if not returned_state or returned_state != state:
        raise AuthError("state mismatch")
""",
    # the configured secret is optional: that is a deliberate "not configured" (FC107's)
    """
def verify(request, settings):
    if settings.WEBHOOK_SECRET and request.headers["X-Sig"] != sign(settings.WEBHOOK_SECRET):
        return False
    return True
""",
    # the value compared against is ours (the state we sent), and it is optional
    """
def parse_response(uri, state=None):
    params = dict(parse_qsl(urlparse(uri).query))
    if state and params.get("state") != state:
        raise MismatchingStateError()
    return params
""",
    # a held value named as such
    """
def check(provided):
    expected_token = os.environ.get("TOKEN")
    if expected_token and provided != expected_token:
        raise PermissionError("bad token")
""",
    # not a proof
    """
def update(etag, current):
    if etag and etag != current:
        raise Conflict("stale")
""",
]

ProofCheckedOnlyIfPresent.INVALID = [
    Invalid(
        """\
def finish_login(params, state):
    returned_state = params.get("state", [None])[0]
    if returned_state and returned_state != state:
        raise LoginError("State parameter mismatch")
    return exchange(params["code"])
""",
        line=3,
        fixed="""\
def finish_login(params, state):
    returned_state = params.get("state", [None])[0]
    if not returned_state or returned_state != state:
        raise LoginError("State parameter mismatch")
    return exchange(params["code"])
""",
        expected_message=(
            "`finish_login` checks `returned_state` only when it is present: a request that "
            "leaves it out skips the check and goes through as verified."
        ),
    ),
    # a webhook signature verified only when the header is sent
    Invalid(
        """\
def receive(request):
    signature = request.headers.get("X-Hub-Signature-256")
    if signature is not None and not hmac.compare_digest(signature, sign(request.body)):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    return handle(request)
""",
        line=3,
        fixed="""\
def receive(request):
    signature = request.headers.get("X-Hub-Signature-256")
    if signature is None or not hmac.compare_digest(signature, sign(request.body)):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    return handle(request)
""",
        expected_message=(
            "`receive` checks `signature` only when it is present: a request that leaves it "
            "out skips the check and goes through as verified."
        ),
    ),
]
