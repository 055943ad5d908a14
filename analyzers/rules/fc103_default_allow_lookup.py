"""FC103: a missing answer defaults to "allowed" in a lookup on the decision."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.allowing import AllowValue, keyed_allow
from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.model import Severity
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import defaulted_lookups
from failclosed.analyzers.syntax import conjuncts
from failclosed.analyzers.vocabulary import (
    ALLOW_KEYS,
    ALLOW_STRINGS,
    DENY_KEYS,
    VERDICT_KEYS,
    WEAK_ALLOW_KEYS,
    WEAK_DENY_KEYS,
)

# A field whose True means "found something bad, stop it": `threatDetected`, `flagged`,
# `is_malicious`, `policy_violation`. A False default reads a missing field as "safe".
THREAT_STATES = {
    "detected", "flagged", "blocked", "unsafe", "malicious", "harmful", "toxic", "infected",
    "suspicious", "compromised", "tampered", "quarantined", "violated", "breached",
    "dangerous", "jailbroken", "phishing", "spam",
}  # fmt: skip
THREAT_NOUNS = {"attack", "attacks", "violation", "violations", "injection", "jailbreak",
                "malware", "threat", "threats", "exploit"}  # fmt: skip
# Words that make the field a setting, a count, a negation or a detail, not a verdict:
# `detect_attacks`, `allow_unsafe`, `max_violations`, `not_flagged`, `attack_score`.
NOT_A_VERDICT = {
    "allow", "allowed", "enable", "enabled", "disable", "disabled", "skip", "ignore", "ignored",
    "detect", "block", "check", "scan", "filter", "log", "report", "notify", "alert", "warn",
    "show", "hide", "raise", "fail", "treat", "strict", "mode", "should", "must", "can", "use",
    "max", "min", "count", "num", "threshold", "score", "level", "limit", "rate", "ratio",
    "not", "no", "non", "without", "false", "safe", "test", "demo", "simulate", "simulated",
    # a property of an operation or a detail, not a verdict: `unsafe_to_replay`, `flagged_at`
    "to", "for", "until", "since", "at", "by", "reason", "reasons", "message", "type",
    "category", "categories",
}  # fmt: skip
KEY_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Calls through which a flag still decides: `any(d.get("flagged", False) for d in scans)`.
AGGREGATES = {"any", "all", "bool"}


class DefaultAllowLookup(Rule):
    """
    ## What it does
    Flags lookups on a permission answer whose default, used when the answer lacks the
    field, is *allowed*: `decision.get("allowed", True)`, `getattr(result, "permitted", True)`,
    `reply.get("blocked", False)`, `hook_output.get("permission", "allow")`.

    ## Why is this bad?
    A missing field means the permission system did not answer: a malformed reply, an error
    body, a proxy's HTML page, a new API version. Defaulting to *allowed* turns every one of
    those into access (CWE-636).

    ## Example
    ```python
    def may_run(tool, reply):
        return reply.json().get("allowed", True)
    ```

    ## Use instead
    ```python
    def may_run(tool, reply):
        return reply.json().get("allowed", False)
    ```

    ## Fix safety
    The fix flips the default to the deny value. Answers that carry the field behave as
    before; only answers without it change, from allowed to denied.
    """

    code = "FC103"
    name = "default-allow-lookup"
    severity = "error"
    summary = "A lookup on a permission answer defaults to allowed when the field is missing."
    fix_safety = "Only answers that lack the field change: they are now denied."
    trigger = (".get(", "getattr(", " or ")
    # `.get("allowed", True)`, `getattr(d, "permitted", True)`, `.get("permission", "allow")`,
    # `.get("result", "VERDICT_ALLOW")`, `.get("threatDetected", False)`
    file_trigger_at = (".get(", "getattr(")
    file_trigger = re.compile(
        r"(?-i:\.get|getattr)\((?:[^()\n,]*,\s*)?[\"'](?:(?:"
        + "|".join(sorted(ALLOW_KEYS | DENY_KEYS | VERDICT_KEYS | WEAK_ALLOW_KEYS | WEAK_DENY_KEYS))
        + r")[\"']\s*,\s*(?:True|False|[\"'][\w.:-]*(?:"
        + "|".join(sorted(ALLOW_STRINGS))
        + r")[\w.:-]*[\"'])|[\w-]*(?:"
        + "|".join(sorted(THREAT_STATES | THREAT_NOUNS))
        + r")[\w-]*[\"']\s*,\s*False)",
        re.IGNORECASE,
    )
    # `decision = parse(out) or "pass"`: plain substrings, so the file test stays one pass
    file_words = tuple(
        f" or {q}{word}"
        for q in "\"'"
        for word in ("pass", "PASS", "Pass", "allow", "ALLOW", "Allow", "approv", "APPROV",
                     "Approv", "permit", "PERMIT", "grant", "GRANT", "accept", "ACCEPT")
    )  # fmt: skip

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        yield from self._or_defaults(fn, info)
        parents: dict[int, ast.AST] | None = None
        for node, key, default in defaulted_lookups(fn, info, self.file_trigger):
            value = keyed_allow(key, default, fn, info)
            severity: Severity | None = None
            if value is None and _threat_key(key) and _is_false(default):
                parents = parents if parents is not None else _parents(fn.node)
                if _decides(node, fn, parents):
                    value = AllowValue(default, "True", f"{key}=False")
                    severity = "warning"
            if value is None or value.deny is None or _default_is_flagged(node, default, fn):
                continue
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` reads `{key}` with default `{ast.unparse(default)}`, so "
                    "an answer missing that field (an error or malformed reply) is taken as "
                    "allowed."
                ),
                edits=[ReplaceExpression(default, value.deny)],
                key_nodes=[node],
                severity=severity,
            )

    def _or_defaults(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        """`decision = parse(reply) or "pass"`: the verdict that did not come back is allowed."""
        if not OR_DEFAULT.search(info.segment(fn.node)):
            return
        for key, default in _or_defaulted_verdicts(fn):
            value = keyed_allow(key, default, fn, info)
            if value is None or value.deny is None:
                continue
            yield Hit(
                node=default,
                message=(
                    f"`{fn.qualname}` sets `{key}` to `{ast.unparse(default)}` when the answer "
                    "it read is missing, so an error or malformed reply is taken as allowed."
                ),
                edits=[ReplaceExpression(default, value.deny)],
                key_nodes=[default],
            )


# What a check answers when it finds something wrong: `CheckResult.FAILED`, "deny", a raise.
FLAGGED = re.compile(r"(?i)fail|den(y|ied)|reject|block|violat|forbid|unsafe|insecure")


def _default_is_flagged(lookup: ast.expr, default: ast.expr, fn: FunctionInfo) -> bool:
    """The default is what the check looks for to refuse: `effect = statement.get("Effect",
    "Allow")` then `if effect == "Allow" and "*" in action: return CheckResult.FAILED` in a
    scanner of policy documents. A missing field then makes it flag more, not let through."""
    if not isinstance(default, ast.Constant):
        return False
    names = {
        node.targets[0].id
        for node in fn.nodes
        if isinstance(node, ast.Assign)
        and node.value is lookup
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    }
    for node in fn.nodes:
        if not isinstance(node, ast.If) or not any(
            _equals(part, names, lookup, default.value) for part in conjuncts(node.test)
        ):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.Raise):
                return True
            if isinstance(stmt, ast.Return) and stmt.value is not None:
                return bool(FLAGGED.search(ast.unparse(stmt.value)))
    return False


def _equals(test: ast.expr, names: set[str], lookup: ast.expr, value: object) -> bool:
    """`name == value` or `value == name`, `name` the lookup's variable or the lookup."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = (test.left, test.comparators[0])
    read = any(a is lookup or (isinstance(a, ast.Name) and a.id in names) for a in sides)
    return read and any(isinstance(b, ast.Constant) and b.value == value for b in sides)


def _or_defaulted_verdicts(fn: FunctionInfo) -> Iterator[tuple[str, ast.Constant]]:
    """(key, default) for `key = answer or "literal"` and `key=answer or "literal"`."""
    for node in fn.nodes:
        pairs: list[tuple[str | None, ast.expr | None]] = []
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            pairs.append((_target_name(node.targets[0]), node.value))
        elif isinstance(node, ast.AnnAssign):
            pairs.append((_target_name(node.target), node.value))
        elif isinstance(node, ast.Call):
            pairs.extend((kw.arg, kw.value) for kw in node.keywords)
        for key, value in pairs:
            if (
                key is not None
                and isinstance(value, ast.BoolOp)
                and isinstance(value.op, ast.Or)
                and isinstance(default := value.values[-1], ast.Constant)
            ):
                yield key, default


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    return target.attr if isinstance(target, ast.Attribute) else None


# The text a verdict defaulted with `or` needs: `... or "pass"`, `or 'ALLOW'`.
OR_DEFAULT = re.compile(r"\bor\s+[\"'][\w.:-]*[\"']")


def _threat_key(key: str) -> bool:
    tokens = [t.lower() for t in KEY_TOKEN.findall(key)]
    if not tokens or any(t in NOT_A_VERDICT for t in tokens):
        return False
    if any(t in THREAT_STATES for t in tokens):
        return True
    # a bare threat noun decides as a verdict (`violation`) or after is_/has_ (`has_attack`)
    return tokens[-1] in THREAT_NOUNS and (len(tokens) == 1 or tokens[0] in ("is", "has"))


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _parents(root: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(root) for child in ast.iter_child_nodes(node)}


def _decides(node: ast.expr, fn: FunctionInfo, parents: dict[int, ast.AST]) -> bool:
    """The looked-up flag decides: it is tested, returned, or held in a name that is."""
    use = _use(node, parents)
    if use is None:
        return False
    if not isinstance(use, ast.Assign):
        return True
    if len(use.targets) != 1 or not isinstance(use.targets[0], ast.Name):
        return False
    name = use.targets[0].id
    return any(
        isinstance(n, ast.Name)
        and n.id == name
        and isinstance(n.ctx, ast.Load)
        and not isinstance(_use(n, parents), ast.Assign | type(None))
        for n in fn.nodes
    )


def _use(node: ast.expr, parents: dict[int, ast.AST]) -> ast.AST | None:
    """Where a value ends up: a test (`if`, `while`, `assert`), a `return`, an assignment;
    climbing through `not`, `and`/`or`, comparisons, `any(...)` and the result it builds."""
    child: ast.AST = node
    parent = parents.get(id(child))
    while parent is not None:
        if isinstance(parent, ast.If | ast.While | ast.IfExp | ast.Assert):
            return parent if getattr(parent, "test", None) is child else None
        if isinstance(parent, ast.comprehension):
            return parent if child in parent.ifs else None
        if isinstance(parent, ast.Return | ast.Yield):
            return parent
        if isinstance(parent, ast.Assign | ast.AnnAssign):
            return parent if parent.value is child else None
        if isinstance(parent, ast.Call):
            if not (isinstance(parent.func, ast.Name) and parent.func.id in AGGREGATES):
                return None
        elif isinstance(parent, ast.GeneratorExp | ast.ListComp):
            if parent.elt is not child:
                return None
        elif isinstance(parent, ast.Dict):
            if child not in parent.values:
                return None
        elif not isinstance(parent, ast.UnaryOp | ast.BoolOp | ast.Compare | ast.Tuple):
            return None
        child, parent = parent, parents.get(id(parent))
    return None


DefaultAllowLookup.VALID = [
    # a missing verdict that defaults to "no"
    """
def run_hook(self, payload):
    proc = subprocess.run(["bash", self.hook], input=payload, capture_output=True)
    decision = self._extract_decision(proc.stdout) or "block"
    return HookResult(decision=decision)
""",
    # "pass" as a test's status is not a gate's verdict
    """
def summarise(run):
    result = run.status or "pass"
    outcome = run.outcome or "passed"
    return result, outcome
""",
    # `is_authenticated` outside a permission check is session state (Django's logout)
    """
def logout(request):
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", True):
        user = None
    user_logged_out.send(sender=user.__class__, request=request, user=user)
""",
    """
def may_run(tool, reply):
    return reply.json().get("allowed", False)
""",
    # a deny-polarity field that defaults to "blocked"
    """
def is_blocked(reply):
    return reply.get("blocked", True)
""",
    # not a permission field
    """
def feature_enabled(flags):
    return flags.get("dark_mode", True)
""",
    # no default: a KeyError is raised instead
    """
def may_run(reply):
    return reply["allowed"]
""",
    # verification options that default to "verify"
    """
def decode(token, options):
    return jwt.decode(token, KEY, options={"verify_signature": options.get("verify", True)})
""",
    # a setting, not a verdict: "should we look for attacks?"
    """
def scan(text, config):
    if config.get("detect_attacks", False):
        return classifier.run(text)
    return None
""",
    # a verdict field read only for a log line decides nothing
    # whether an operation may be repeated, not a verdict on the content
    """
def retry_advice(error):
    if getattr(error, "unsafe_to_replay", False):
        return Advice(retry=False)
    return Advice(retry=True)
""",
    """
def record(reply):
    logger.info("flagged=%s", reply.get("flagged", False))
""",
    # a deny-polarity field that defaults to "found"
    """
def analyse(reply):
    data = reply.json()
    return {"attack": data.get("threatDetected", True)}
""",
    # a verdict string that is not an allow
    """
def outcome(result):
    return result.get("result", "VERDICT_UNSPECIFIED")
""",
]

DefaultAllowLookup.INVALID = [
    # a hook's verdict that did not parse defaults to "pass"
    Invalid(
        """\
def run_hook(self, payload):
    proc = subprocess.run(["bash", self.hook], input=payload, capture_output=True, text=True)
    decision = self._extract_decision(proc.stdout) or "pass"
    return HookResult(decision=decision, output=proc.stdout)
""",
        line=3,
        fixed="""\
def run_hook(self, payload):
    proc = subprocess.run(["bash", self.hook], input=payload, capture_output=True, text=True)
    decision = self._extract_decision(proc.stdout) or "block"
    return HookResult(decision=decision, output=proc.stdout)
""",
        expected_message=(
            "`run_hook` sets `decision` to `'pass'` when the answer it read is missing, so an "
            "error or malformed reply is taken as allowed."
        ),
    ),
    Invalid(
        """\
def review(client, call):
    reply = client.post("/review", json=call).json()
    return Review(verdict=reply.get("verdict") or "APPROVED")
""",
        line=3,
        fixed="""\
def review(client, call):
    reply = client.post("/review", json=call).json()
    return Review(verdict=reply.get("verdict") or "BLOCKED")
""",
        expected_message=(
            "`review` sets `verdict` to `'APPROVED'` when the answer it read is missing, so "
            "an error or malformed reply is taken as allowed."
        ),
    ),
    # a classifier's "attack found" field: a missing field reads as "no attack"
    Invalid(
        """\
def analyse_prompt(response):
    data = response.json()
    scans = data.get("scanResults", [])
    threat_found = any(d.get("threatDetected", False) for d in scans)
    return {"threat_found": threat_found}
""",
        line=4,
        fixed="""\
def analyse_prompt(response):
    data = response.json()
    scans = data.get("scanResults", [])
    threat_found = any(d.get("threatDetected", True) for d in scans)
    return {"threat_found": threat_found}
""",
        expected_message=(
            "`analyse_prompt` reads `threatDetected` with default `False`, so an answer "
            "missing that field (an error or malformed reply) is taken as allowed."
        ),
    ),
    Invalid(
        """\
def moderate(result):
    if result.get("is_malicious", False):
        raise Blocked()
""",
        line=2,
        fixed="""\
def moderate(result):
    if result.get("is_malicious", True):
        raise Blocked()
""",
        expected_message=(
            "`moderate` reads `is_malicious` with default `False`, so an answer missing that "
            "field (an error or malformed reply) is taken as allowed."
        ),
    ),
    # a verdict enum spelt as a string
    Invalid(
        """\
async def evaluate(client, event):
    verdict = "VERDICT_DENY"
    reply = await client.post("/evaluate", json=event)
    if reply.status_code == 200:
        verdict = reply.json().get("result", "VERDICT_ALLOW")
    return verdict
""",
        line=5,
        fixed="""\
async def evaluate(client, event):
    verdict = "VERDICT_DENY"
    reply = await client.post("/evaluate", json=event)
    if reply.status_code == 200:
        verdict = reply.json().get("result", "VERDICT_DENY")
    return verdict
""",
        expected_message=(
            "`evaluate` reads `result` with default `'VERDICT_ALLOW'`, so an answer missing "
            "that field (an error or malformed reply) is taken as allowed."
        ),
    ),
    Invalid(
        """\
def may_run(tool, reply):
    return reply.json().get("allowed", True)
""",
        line=2,
        fixed="""\
def may_run(tool, reply):
    return reply.json().get("allowed", False)
""",
        expected_message=(
            "`may_run` reads `allowed` with default `True`, so an answer missing that field "
            "(an error or malformed reply) is taken as allowed."
        ),
    ),
    Invalid(
        """\
def has_permission(self, request, view):
    decision = self.pdp.decide(request)
    return getattr(decision, "permitted", True)
""",
        line=3,
        fixed="""\
def has_permission(self, request, view):
    decision = self.pdp.decide(request)
    return getattr(decision, "permitted", False)
""",
        expected_message=(
            "`has_permission` reads `permitted` with default `True`, so an answer missing "
            "that field (an error or malformed reply) is taken as allowed."
        ),
    ),
    # deny polarity key
    Invalid(
        """\
def check_request(ip, verdicts):
    if verdicts.get("blocked", False):
        raise Forbidden()
""",
        line=2,
        fixed="""\
def check_request(ip, verdicts):
    if verdicts.get("blocked", True):
        raise Forbidden()
""",
        expected_message=(
            "`check_request` reads `blocked` with default `False`, so an answer missing that "
            "field (an error or malformed reply) is taken as allowed."
        ),
    ),
    # an agent hook's answer
    Invalid(
        """\
def before_tool_call(event):
    answer = ask_policy(event)
    if answer.get("permission", "allow") == "deny":
        sys.exit(2)
""",
        line=3,
        fixed="""\
def before_tool_call(event):
    answer = ask_policy(event)
    if answer.get("permission", "deny") == "deny":
        sys.exit(2)
""",
        expected_message=(
            "`before_tool_call` reads `permission` with default `'allow'`, so an answer "
            "missing that field (an error or malformed reply) is taken as allowed."
        ),
    ),
]

DefaultAllowLookup.VALID += [
    # a scanner of policy documents: a statement without an Effect is read as the grant it
    # looks for, so a missing field makes it flag more, not let anything through
    """
def admin_policy_check(policy):
    for statement in policy.get("Statement", []):
        effect = statement.get("Effect", "Allow")
        if effect == "Allow" and "*" in statement.get("Action", []):
            return CheckResult.FAILED
    return CheckResult.PASSED
""",
]
