"""FC121: a parser of a yes/no answer treats an answer it does not recognise as "yes"."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import blocks_of, if_chain, is_chain_head, reword_edits
from failclosed.analyzers.syntax import words_in

# Tokens an answer uses to say yes or no: "PASS", "approved", "POLICY_ACTION_ALLOW", "y".
YES = {
    "allow", "allowed", "approve", "approved", "permit", "permitted", "grant", "granted",
    "accept", "accepted", "pass", "passed", "yes", "y", "ok", "safe", "valid", "success",
}  # fmt: skip
NO = {
    "deny", "denied", "block", "blocked", "reject", "rejected", "fail", "failed", "no", "n",
    "unsafe", "invalid", "forbid", "forbidden", "refuse", "refused", "disallow", "disallowed",
    "halt",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z]+")
# What a go-ahead is called when the chain only ever reads refusals.
GO_AHEAD = {"proceed", "allow", "allowed", "approve", "approved", "accept", "accepted", "permit"}


class UnrecognisedAnswerAllows(Rule):
    """
    ## What it does
    Flags an `if`/`elif` chain that reads an answer — a verdict from a model, a policy
    engine, a hook, a user prompt — by testing it for a *yes* token (`"PASS"`, `"allow"`,
    `"approved"`) and a *no* token (`"FAIL"`, `"deny"`, `"rejected"`), and whose final `else`
    gives the same answer as the *yes* branch.

    ## Why is this bad?
    The `else` runs exactly when the answer is neither: a truncated reply, an error text, a
    new verdict a later version added, a model that rambles. Reading "I could not understand
    the answer" as "yes" lets every malformed or failed answer through (CWE-636). If you
    can't verify it's safe, it isn't.

    ## Example
    ```python
    def validate(output):
        answer = llm.ask(prompt(output)).strip().upper()
        if answer.startswith("PASS"):
            return True, output
        elif answer.startswith("FAIL"):
            return False, answer[5:]
        else:
            logger.warning("unclear answer %s", answer)
            return True, output
    ```

    ## Use instead
    ```python
        else:
            logger.warning("unclear answer %s", answer)
            return False, answer[5:]
    ```

    ## Fix safety
    The fix makes the `else` give the *no* branch's answer (its `return` or `raise`, copied
    as written) and rewords a log line that says the answer passes. Unrecognised answers
    are then denied; recognised ones keep their behaviour. When the copied denial refers to
    names only its own branch sets, adjust it by hand.
    """

    code = "FC121"
    name = "unrecognised-answer-allows"
    severity = "error"
    summary = "An answer that is neither the yes nor the no token is treated as yes."
    fix_safety = "The else denies as the no branch does; recognised answers are unchanged."
    trigger = ("elif", "startswith(", '== "', "== '", 'in ("', "in ('")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for chain, else_answer, last in _chains(fn):
            yes = [b for b in chain if _tested_tokens(b.test) & YES]
            no = [b for b in chain if _tested_tokens(b.test) & NO]
            if not yes and no:
                hit = _only_no_is_read(fn, info, chain, no, else_answer, last)
                if hit is not None:
                    yield hit
                continue
            if not yes or not no or set(map(id, yes)) & set(map(id, no)):
                continue
            yes_answer, no_answer = _answer(yes[0].body), _answer(no[0].body)
            if yes_answer is None or no_answer is None:
                continue
            if not _same(yes_answer, else_answer) or _same(no_answer, else_answer):
                continue
            yield Hit(
                node=else_answer,
                message=(
                    f"`{fn.qualname}` reads an answer as yes ({_shown(yes[0].test)}) or no "
                    f"({_shown(no[0].test)}), and any other answer (an error text, a "
                    "truncated or malformed reply) gets the yes branch's answer: a failure "
                    "to answer grants access."
                ),
                edits=[
                    ReplaceStatements(else_answer, else_answer, (_source(info, no_answer),)),
                    *reword_edits(info, last),
                ],
                key_nodes=[yes[0].test, no[0].test, else_answer],
            )


def _only_no_is_read(
    fn: FunctionInfo,
    info: ModuleInfo,
    chain: list[ast.If],
    no: list[ast.If],
    fallback: ast.Return | ast.Raise,
    last: ast.stmt,
) -> Hit | None:
    """The chain tests only for refusals (`HALT`, `deny`) and what is left over is a
    go-ahead that says so (`return Verdict.proceed()`): anything unread proceeds."""
    if not isinstance(fallback, ast.Return) or not _says_yes(fallback.value):
        return None
    no_answer = _answer(no[0].body)
    if no_answer is None or _same(no_answer, fallback):
        return None
    copied = _copyable(no_answer, no[0])
    return Hit(
        node=fallback,
        message=(
            f"`{fn.qualname}` reads an answer only for a refusal ({_shown(no[0].test)}), and "
            "any other answer (an error text, a truncated or malformed reply) goes ahead: a "
            "failure to answer grants access."
        ),
        edits=[ReplaceStatements(fallback, fallback, (_source(info, no_answer),))]
        if copied
        else [],
        key_nodes=[no[0].test, fallback],
        severity="warning",  # the go-ahead is read from its name, not from a tested "yes"
    )


def _says_yes(value: ast.expr | None) -> bool:
    """`Verdict.proceed()`, `Decision.ALLOW`, `"approved"`: a go-ahead named as such."""
    if value is None:
        return False
    return any(w.lower() in GO_AHEAD for w in words_in(value))


def _copyable(answer: ast.Return | ast.Raise, branch: ast.If) -> bool:
    """The refusal uses no name the branch itself assigns (a `reason` found by a match)."""
    assigned = {
        t.id
        for stmt in branch.body
        for n in ast.walk(stmt)
        if isinstance(n, ast.Assign | ast.AnnAssign | ast.NamedExpr)
        for t in ([n.target] if not isinstance(n, ast.Assign) else n.targets)
        if isinstance(t, ast.Name)
    }
    used = {n.id for n in ast.walk(answer) if isinstance(n, ast.Name)}
    return not assigned & used


def _chains(fn: FunctionInfo) -> Iterator[tuple[list[ast.If], ast.Return | ast.Raise, ast.stmt]]:
    """Tests of one answer in turn, each leaving with its answer, and what is left over:
    an `if`/`elif` chain and its `else`, or `if ...: return` statements in a row and the
    `return` after them. Yields (tests, fallback answer, the node holding the fallback)."""
    for stmt in fn.statements:
        if isinstance(stmt, ast.If) and is_chain_head(stmt, fn):
            chain = if_chain(stmt)
            fallback = _answer(chain[-1].orelse)
            if fallback is not None and len(chain) >= 2:
                yield chain, fallback, chain[-1]
    for block in blocks_of(fn.node):
        run: list[ast.If] = []
        for stmt in block:
            if isinstance(stmt, ast.If) and not stmt.orelse and _answer(stmt.body) is not None:
                run.append(stmt)
                continue
            if len(run) >= 2 and isinstance(stmt, ast.Return | ast.Raise) and _answer([stmt]):
                yield run, stmt, stmt
            run = []


def _tested_tokens(test: ast.expr) -> set[str]:
    """The lower-cased word tokens of the strings a test compares an answer with:
    `answer == "allow"`, `answer in ("y", "yes")`, `answer.startswith("PASS")`, and
    either of `a.startswith("fail") or a.startswith("revert")`."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return {w for value in test.values for w in _tested_tokens(value)}
    texts: list[str] = []
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        if isinstance(test.ops[0], ast.Eq | ast.Is | ast.In):
            texts = _strings(test.comparators[0])
    elif (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr in ("startswith", "endswith", "__eq__")
        and test.args
    ):
        texts = _strings(test.args[0])
    return {w.lower() for text in texts for w in WORD.findall(text) if len(text) <= 40}


def _strings(expr: ast.expr) -> list[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return [s for e in expr.elts for s in _strings(e)]
    return []


def _answer(body: list[ast.stmt]) -> ast.Return | ast.Raise | None:
    """The branch's own last statement, when it answers."""
    last = body[-1] if body else None
    if isinstance(last, ast.Raise) or (isinstance(last, ast.Return) and last.value is not None):
        return last
    return None


def _same(a: ast.stmt, b: ast.stmt) -> bool:
    return type(a) is type(b) and ast.dump(a) == ast.dump(b)


def _source(info: ModuleInfo, stmt: ast.stmt) -> str:
    """The statement as written (quotes and all), for the fix to copy."""
    return ast.get_source_segment(info.source, stmt) or ast.unparse(stmt)


def _shown(test: ast.expr) -> str:
    text = ast.unparse(test)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


UnrecognisedAnswerAllows.VALID = [
    # only refusals are read, and what is left over is not named a go-ahead
    """
def parse_gate(output):
    text = output.strip().upper()
    if text.startswith("HALT"):
        return Verdict.halt("halted")
    if text.startswith("RELOOP"):
        return Verdict.reloop("again")
    return Verdict.unknown(text)
""",
    # an unknown answer is denied
    """
def validate(output):
    answer = llm.ask(output).strip().upper()
    if answer.startswith("PASS"):
        return True, output
    elif answer.startswith("FAIL"):
        return False, answer
    else:
        return False, "unclear answer"
""",
    # the else raises
    """
def decide(verdict):
    if verdict == "allow":
        return True
    elif verdict == "deny":
        return False
    raise ValueError(verdict)
""",
    # a chain over other values than yes and no
    """
def label(kind):
    if kind == "admin":
        return "A"
    elif kind == "guest":
        return "G"
    else:
        return "A"
""",
    # the no branch answers like the else: nothing unrecognised is read as yes
    """
def parse(reply):
    if reply in ("y", "yes"):
        return True
    elif reply in ("n", "no"):
        return False
    else:
        return False
""",
]

UnrecognisedAnswerAllows.VALID += [
    # tests in a row: what is left over is refused
    """
def parse_gate(output):
    first = output.strip().lower()
    if first.startswith("pass"):
        return Verdict.proceed()
    if first.startswith("fail"):
        return Verdict.halt(reason=first)
    return Verdict.halt(reason="unreadable gate output")
""",
]

UnrecognisedAnswerAllows.INVALID = [
    Invalid(
        """\
def parse_gate(output):
    text = output.strip().upper()
    if text.startswith("HALT"):
        return Verdict.halt("the gate halted")
    if text.startswith("RELOOP"):
        return Verdict.reloop("needs another pass")
    return Verdict.proceed()
""",
        line=7,
        fixed="""\
def parse_gate(output):
    text = output.strip().upper()
    if text.startswith("HALT"):
        return Verdict.halt("the gate halted")
    if text.startswith("RELOOP"):
        return Verdict.reloop("needs another pass")
    return Verdict.halt("the gate halted")
""",
        expected_message=(
            "`parse_gate` reads an answer only for a refusal (`text.startswith('HALT')`), and "
            "any other answer (an error text, a truncated or malformed reply) goes ahead: a "
            "failure to answer grants access."
        ),
    ),
    Invalid(
        """\
def validate(output):
    answer = llm.ask(output).strip().upper()
    if answer.startswith("PASS"):
        return True, output
    elif answer.startswith("FAIL"):
        return False, answer[5:]
    else:
        logger.warning("unclear answer %s, letting it pass", answer)
        return True, output
""",
        line=9,
        fixed="""\
def validate(output):
    answer = llm.ask(output).strip().upper()
    if answer.startswith("PASS"):
        return True, output
    elif answer.startswith("FAIL"):
        return False, answer[5:]
    else:
        logger.warning("unclear answer %s, denying", answer)
        return False, answer[5:]
""",
        expected_message=(
            "`validate` reads an answer as yes (`answer.startswith('PASS')`) or no "
            "(`answer.startswith('FAIL')`), and any other answer (an error text, a truncated "
            "or malformed reply) gets the yes branch's answer: a failure to answer grants "
            "access."
        ),
    ),
    # a policy engine's verdict string
    Invalid(
        """\
def is_permitted(request):
    verdict = engine.evaluate(request)["decision"]
    if verdict == "POLICY_ACTION_DENY":
        return False
    elif verdict == "POLICY_ACTION_ALLOW":
        return True
    else:
        return True
""",
        line=8,
        fixed="""\
def is_permitted(request):
    verdict = engine.evaluate(request)["decision"]
    if verdict == "POLICY_ACTION_DENY":
        return False
    elif verdict == "POLICY_ACTION_ALLOW":
        return True
    else:
        return False
""",
        expected_message=(
            "`is_permitted` reads an answer as yes (`verdict == 'POLICY_ACTION_ALLOW'`) or no "
            "(`verdict == 'POLICY_ACTION_DENY'`), and any other answer (an error text, a "
            "truncated or malformed reply) gets the yes branch's answer: a failure to answer "
            "grants access."
        ),
    ),
    # tests in a row, each leaving, and a last `return` for whatever is left
    Invalid(
        """\
def parse_gate(output):
    first = output.strip().split("\\n")[0].lower()
    if first.startswith("pass"):
        return Verdict.proceed()
    if first.startswith("fail") or first.startswith("revert"):
        return Verdict.halt(reason=first)
    return Verdict.proceed()
""",
        line=7,
        fixed="""\
def parse_gate(output):
    first = output.strip().split("\\n")[0].lower()
    if first.startswith("pass"):
        return Verdict.proceed()
    if first.startswith("fail") or first.startswith("revert"):
        return Verdict.halt(reason=first)
    return Verdict.halt(reason=first)
""",
        expected_message=(
            "`parse_gate` reads an answer as yes (`first.startswith('pass')`) or no "
            "(`first.startswith('fail') or first.startswith('revert')`), and any other answer "
            "(an error text, a truncated or malformed reply) gets the yes branch's answer: a "
            "failure to answer grants access."
        ),
    ),
]
