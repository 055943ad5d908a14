"""FC136: a gate blocks only on the exact "deny" answer; every other answer lets it through."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import unawaited
from failclosed.analyzers.syntax import equals_text

# The word an answer refuses with: `answer == "deny"`, `verdict == "BLOCK"`.
DENY_ANSWER = re.compile(
    r"(?i)^(deny|denied|block|blocked|reject|rejected|refuse|refused|decline|declined|forbid)$"
)
# The word an answer agrees with: a gate that compares with one of these allows explicitly.
ALLOW_ANSWER = re.compile(
    r"(?i)^(allow|allowed|approve|approved|accept|accepted|grant|granted|permit|permitted"
    r"|yes|y|ok|okay|pass|passed|proceed|continue|confirm|confirmed)$"
)
# What a refusal says: `return "Action denied: ..."`.
REFUSAL_TEXT = re.compile(r"(?i)\b(denied|not approved|not allowed|blocked|rejected|refused)\b")
# The usual agreeing word for each refusing word, when the module names none.
OPPOSITE = {
    "deny": "allow",
    "denied": "allowed",
    "block": "allow",
    "blocked": "allowed",
    "reject": "approve",
    "rejected": "approved",
    "refuse": "allow",
    "refused": "allowed",
    "decline": "accept",
    "declined": "accepted",
    "forbid": "allow",
}


class OnlyExplicitDenialBlocks(Rule):
    """
    ## What it does
    Flags a gate that reads an answer — an approval prompt's reply, a hook's or a policy
    service's decision — and refuses only when the answer is exactly the refusing word
    (`if reply.get("answer") == "deny": return refusal`, `"deny" if decision == "block"
    else None`), with no comparison anywhere in the function against an agreeing word.

    ## Why is this bad?
    Everything that is not literally "deny" is read as consent: an empty reply, a
    misspelt or new token (`"denied"`, `"DENY"`, `"timeout"`), an error object, a reply
    from a backend that changed its vocabulary. Only the explicit "yes" may let the action
    through (CWE-636).

    ## Example
    ```python
    reply = backend.ask_user(prompt)
    if reply is None or reply.get("answer") == "deny":
        return "Action denied"
    run(command)
    ```

    ## Use instead
    ```python
    if reply is None or reply.get("answer") != "allow":
        return "Action denied"
    ```

    ## Fix safety
    The fix refuses every answer but the agreeing one. The agreeing word is taken from the
    module when it names one, otherwise it is the usual opposite (`deny` -> `allow`); check
    that it is the word the answering side really sends.
    """

    code = "FC136"
    name = "only-explicit-denial-blocks"
    severity = "warning"
    summary = 'A gate blocks only on the exact "deny" answer; every other answer passes.'
    fix_safety = "Every answer but the agreeing one now refuses."
    trigger = (
        "deny",
        "denied",
        "block",
        "reject",
        "refuse",
        "decline",
        "forbid",
        "DENY",
        "BLOCK",
        "REJECT",
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        nodes = list(fn.nodes)
        from_calls = _names_from_calls(nodes)
        agreed = _compared_with_agreement(nodes)
        for node in nodes:
            if not isinstance(node, ast.If | ast.IfExp):
                continue
            found = _deny_only_test(node, from_calls)
            if found is None or _root_name(found[1]) in agreed:
                continue
            compare, answer, word = found
            agreeing = _agreeing_word(info, word)
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` refuses only when `{ast.unparse(answer)}` is exactly "
                    f"{word!r}: an empty, unexpected or error answer is read as consent."
                ),
                edits=[ReplaceExpression(compare, _negated_agreement(compare, info, agreeing))],
                key_nodes=[compare],
            )


def _compared_with_agreement(nodes: list[ast.AST]) -> set[str | None]:
    """Answers the function compares with a word other than a refusing one ("allow",
    "approve", "ask"): it handles that vocabulary explicitly, not only the refusal."""
    agreed: set[str | None] = set()
    for node in nodes:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_other_word(w) for operand in operands for w in _strings(operand)):
                agreed.update(_root_name(operand) for operand in operands)
        elif isinstance(node, ast.Match):
            values = [c.pattern.value for c in node.cases if isinstance(c.pattern, ast.MatchValue)]
            if any(_other_word(w) for value in values for w in _strings(value)):
                agreed.add(_root_name(node.subject))
    return agreed


def _other_word(word: str) -> bool:
    return word.isidentifier() and not DENY_ANSWER.match(word)


def _strings(expr: ast.expr) -> list[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return [
            e.value for e in expr.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _names_from_calls(nodes: list[ast.AST]) -> set[str]:
    """Names assigned the answer of a call: `reply = backend.ask(...)`, `data = json.loads(s)`,
    `decision = data.get("decision")` (read from such a name)."""
    names: set[str] = set()
    assigns = [n for n in nodes if isinstance(n, ast.Assign) and len(n.targets) == 1]
    assigns.sort(key=lambda n: n.lineno)
    for node in assigns:
        target = node.targets[0]
        if isinstance(target, ast.Name) and _from_call(node.value, names):
            names.add(target.id)
    return names


def _from_call(value: ast.expr, names: set[str]) -> bool:
    value = unawaited(value)
    if isinstance(value, ast.IfExp):
        return _from_call(value.body, names) or _from_call(value.orelse, names)
    if isinstance(value, ast.Call):
        return True
    root = _root_name(value)
    return root is not None and root in names


def _root_name(expr: ast.expr) -> str | None:
    """`reply` for `reply`, `reply.answer`, `reply["answer"]`, `reply.get("answer")`."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        elif (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "get"
        ):
            expr = expr.func.value
        else:
            return None


def _deny_only_test(
    node: ast.AST, from_calls: set[str]
) -> tuple[ast.Compare, ast.expr, str] | None:
    """(the comparison, the answer, the refusing word) of `if answer == "deny": refuse` with
    nothing else to do, or of `"deny" if answer == "block" else None`."""
    if isinstance(node, ast.If) and not node.orelse and _refuses(node.body):
        tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
        if isinstance(node.test, ast.BoolOp) and not isinstance(node.test.op, ast.Or):
            return None
    elif isinstance(node, ast.IfExp) and _is_refusal_word(node.body) and _no_verdict(node.orelse):
        tests = [node.test]
    else:
        return None
    for test in tests:
        found = _equals_deny(test)
        if found is not None and _root_name(found[1]) in from_calls:
            return found
    return None


def _equals_deny(test: ast.expr) -> tuple[ast.Compare, ast.expr, str] | None:
    text = equals_text(test)
    if isinstance(test, ast.Compare) and text is not None and DENY_ANSWER.match(text):
        return test, test.left, text
    return None


def _refuses(body: list[ast.stmt]) -> bool:
    """The branch ends the action: it raises, or returns False, a refusing word or a
    refusal message."""
    last = body[-1]
    if isinstance(last, ast.Raise):
        return True
    if not isinstance(last, ast.Return) or last.value is None:
        return False
    value = last.value
    if isinstance(value, ast.Constant) and value.value is False:
        return True
    return _is_refusal_word(value) or _says_refused(value)


def _is_refusal_word(expr: ast.expr) -> bool:
    return (
        isinstance(expr, ast.Constant)
        and isinstance(expr.value, str)
        and DENY_ANSWER.match(expr.value) is not None
    )


def _says_refused(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return REFUSAL_TEXT.search(expr.value) is not None
    if isinstance(expr, ast.JoinedStr):
        return any(_says_refused(part) for part in expr.values if isinstance(part, ast.Constant))
    return False


def _no_verdict(expr: ast.expr) -> bool:
    """`None`, `""` or an agreeing word: what the other answers become."""
    if isinstance(expr, ast.Constant) and expr.value in (None, ""):
        return True
    return (
        isinstance(expr, ast.Constant)
        and isinstance(expr.value, str)
        and bool(ALLOW_ANSWER.match(expr.value))
    )


def _agreeing_word(info: ModuleInfo, word: str) -> str:
    """The module's own agreeing word of the same case ("allow", "APPROVE"), else the usual
    opposite of `word`."""
    key = "fc136:agreeing"
    if key not in info.memo:
        info.memo[key] = [
            n.value
            for n in ast.walk(info.tree)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, str)
            and ALLOW_ANSWER.match(n.value)
            and len(n.value) > 2
        ]
    found: list[str] = info.memo[key]  # type: ignore[assignment]
    same_case = [w for w in found if w.isupper() == word.isupper()]
    if same_case:
        return max(set(same_case), key=same_case.count)
    opposite = OPPOSITE.get(word.lower(), "allow")
    return opposite.upper() if word.isupper() else opposite


def _negated_agreement(compare: ast.Compare, info: ModuleInfo, agreeing: str) -> str:
    answer = ast.get_source_segment(info.source, compare.left) or ast.unparse(compare.left)
    quoted = ast.get_source_segment(info.source, compare.comparators[0]) or '"'
    quote = quoted[0] if quoted[:1] in ("'", '"') else '"'
    return f"{answer} != {quote}{agreeing}{quote}"


OnlyExplicitDenialBlocks.VALID = [
    # the gate compares with the agreeing word: anything else refuses
    """
def run_shell(backend, command):
    reply = backend.ask_user(command)
    if reply is None or reply.get("answer") != "allow":
        return "Action denied"
    return execute(command)
""",
    # both words are handled: the rest is decided elsewhere in the function
    """
def consent(request):
    action = request.form.get("action")
    if action == "approve":
        return grant(request)
    if action == "deny":
        return refuse(request)
    raise ValueError(action)
""",
    # the answer is not read from anything the function asked
    """
def describe(mode):
    if mode == "deny":
        return "blocked by policy"
    return "open"
""",
    # the branch does not refuse: it only records the answer
    """
def record(backend, command):
    reply = backend.ask_user(command)
    if reply.get("answer") == "deny":
        audit.append(command)
    return execute(command)
""",
]

OnlyExplicitDenialBlocks.INVALID = [
    Invalid(
        """\
def run_shell(backend, command):
    reply = backend.ask_user(command) if backend else None
    if reply is None or reply.get("answer") == "deny":
        return f"Action denied: {command} not approved"
    return execute(command)
""",
        line=3,
        fixed="""\
def run_shell(backend, command):
    reply = backend.ask_user(command) if backend else None
    if reply is None or reply.get("answer") != "allow":
        return f"Action denied: {command} not approved"
    return execute(command)
""",
        expected_message=(
            "`run_shell` refuses only when `reply.get('answer')` is exactly 'deny': an empty, "
            "unexpected or error answer is read as consent."
        ),
    ),
    Invalid(
        """\
def parse_reply(stdout):
    data = json.loads(stdout)
    decision = data.get("decision")
    return ("deny" if decision == 'block' else None), data.get("reason", "")
""",
        line=4,
        fixed="""\
def parse_reply(stdout):
    data = json.loads(stdout)
    decision = data.get("decision")
    return ("deny" if decision != 'allow' else None), data.get("reason", "")
""",
        expected_message=(
            "`parse_reply` refuses only when `decision` is exactly 'block': an empty, "
            "unexpected or error answer is read as consent."
        ),
    ),
    Invalid(
        """\
async def guard(client, tool):
    verdict = await client.evaluate(tool)
    if verdict.action == "DENY":
        raise PermissionError(tool)
    return await tool.run()
""",
        line=3,
        fixed="""\
async def guard(client, tool):
    verdict = await client.evaluate(tool)
    if verdict.action != "ALLOW":
        raise PermissionError(tool)
    return await tool.run()
""",
        expected_message=(
            "`guard` refuses only when `verdict.action` is exactly 'DENY': an empty, "
            "unexpected or error answer is read as consent."
        ),
    ),
]
