"""Fuzz the analyzer: any Python input gives a Report, never an exception or a silent skip.

Three layers:

* arbitrary bytes (and Python-looking text): `analyze_source` returns a Report, and input
  that `ast.parse` rejects gives exactly one error for that path;
* mutations of realistic fail-open code (the rules' own examples included): no internal
  error, findings and fixes stay inside the file, and every fix, applied as the
  whole-line replacement it claims to be, leaves code that parses and no longer has
  that finding;
* explicit hard cases: Python 2, deep nesting, 100k lines, odd encodings and line ends.

Line numbers here are what `ast`, editors and GitHub count: lines end at `\\r\\n`, `\\r`
or `\\n`, nothing else (`str.splitlines` also splits at form feeds and U+2028).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import FAIL_OPEN

from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.model import Finding, Fix, Report
from failclosed.analyzers.rules import all_rules

PATH = "pkg/perm.py"
MORE_SHAPES = """\
class ProjectPermission(BasePermission):
    def has_object_permission(self, request, view, obj):
        try:
            allowed = policy.evaluate(request.user, obj)
        except PolicyError:
            pass  # fail open, the policy service is flaky
        return True


def is_rate_limited(key):
    try:
        return limiter.hit(key)
    except ConnectionError:
        return False


def can_use_tool(tool, ctx):
    try:
        return {"permissionDecision": decide(tool, ctx)}
    finally:
        return {"permissionDecision": "allow"}


def check_access(response):
    return response.json().get("allowed", True)
"""
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# ast.parse warns about fuzzed code such as "\\@" or `1if`; that is noise here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid escape sequence:DeprecationWarning", "ignore::SyntaxWarning"
)
# CPython 3.11 accepts some input the engine may refuse, as an error: invalid UTF-8 inside
# a comment (b"#\\x80"), and trees too deep for the analyzer's own recursion.
LENIENT_CPYTHON = ("cannot decode source", "too deeply nested")
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


# -- helpers ------------------------------------------------------------------------------


def physical_lines(text: str) -> list[str]:
    """Lines as `ast` and editors count them, each with its line end."""
    return LINE.findall(text)


def parses(source: bytes | str) -> bool:
    """Whether CPython accepts `source` (a too-deep tree counts as not accepted)."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def apply_fix(text: str, fix: Fix) -> str:
    """`text` with lines `fix.line`..`fix.end_line` replaced, as a suggestion block would."""
    lines = physical_lines(text)
    return "".join([*lines[: fix.line - 1], fix.replacement, *lines[fix.end_line :]])


def analyze(source: bytes | str, with_fixes: bool = True) -> Report:
    """The engine on `source`; it must never raise or hide an analyzer bug as an error."""
    report = analyze_source(source, PATH, with_fixes=with_fixes)
    assert isinstance(report, Report)
    internal = [e.message for e in report.errors if "internal error" in e.message]
    assert not internal, internal
    return report


def assert_accounted_for(source: bytes, report: Report) -> None:
    """Unparsable input is exactly one error for its path; parsable input is analysed."""
    if parses(source):
        assert not [e for e in report.errors if not e.message.startswith(LENIENT_CPYTHON)]
    else:
        assert [e.path for e in report.errors] == [PATH], report.errors
        assert report.findings == []
        assert report.errors[0].message.strip()


def assert_well_formed(text: str, report: Report) -> None:
    """Findings and fixes lie inside the file; fixes apply cleanly and close the finding."""
    count = len(physical_lines(text))
    for finding in report.findings:
        assert 1 <= finding.line <= finding.end_line <= count, finding
        if finding.fix is None:
            continue
        fix = finding.fix
        assert 1 <= fix.line <= fix.end_line <= count, fix
        if fix.end_line < count or text.endswith(("\n", "\r")):  # a whole line ends in one
            assert fix.replacement == "" or fix.replacement.endswith(("\n", "\r")), fix
        patched = apply_fix(text, fix)
        assert parses(patched), (fix, patched)
        after = analyze(patched, with_fixes=False).findings
        assert _count(after, finding) < _count(report.findings, finding), (fix, after)


def _count(findings: list[Finding], like: Finding) -> int:
    """How many of `findings` have the rule and function of `like`."""
    return sum((f.rule, f.function) == (like.rule, like.function) for f in findings)


Shape = tuple[str, int, int, int, int]


def shape(report: Report, offset: int = 0) -> list[Shape]:
    """What was found, where, and which lines its fix replaces (0, 0: none).

    Lines move down by `offset`; for comparing two spellings of the same code.
    """
    return sorted(
        (
            f.rule,
            f.line + offset,
            f.end_line + offset,
            f.fix.line + offset if f.fix else 0,
            f.fix.end_line + offset if f.fix else 0,
        )
        for f in report.findings
    )


def rule_examples(flagged: bool) -> list[str]:
    """The rules' own INVALID (flagged) or VALID examples, as further seeds for mutation."""
    if flagged:
        return [example.code for rule in all_rules() for example in rule.INVALID]
    return [code for rule in all_rules() for code in rule.VALID]


FLAGGED_SEEDS = [FAIL_OPEN, MORE_SHAPES, *rule_examples(flagged=True)]
SEEDS = [*FLAGGED_SEEDS, *rule_examples(flagged=False)]


# -- (a) arbitrary input ------------------------------------------------------------------

PYTHON_TOKENS = [
    *"abcxyz_019 ()[]{}:.,=+-*/%<>!'\"#\\@\t\n",
    *("\r", "\r\n", "\x0c", "\x00", "é", "\u2028", "\ufeff"),
    *("def ", "class ", "return ", "try:", "except ", "finally:", "True", "False"),
    *("if ", "else:", "lambda", "async ", "await ", "yield ", "print ", "    "),
    "# coding: latin-1",
]
PYTHONISH = st.lists(st.sampled_from(PYTHON_TOKENS), max_size=200).map("".join)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any bytes at all: a Report, and an error whenever CPython rejects them."""
    assert_accounted_for(data, analyze(data))


@FUZZ
@given(PYTHONISH)
def test_python_looking_text_never_crashes(text: str) -> None:
    """Text built from Python tokens: a Report, and an error whenever CPython rejects it."""
    data = text.encode("utf-8")
    assert_accounted_for(data, analyze(data))


# -- (b) mutations of realistic fail-open code -------------------------------------------

Lines = list[str]
Mutation = Callable[[st.DrawFn, Lines], Lines]
# \f, U+2028 and U+0085 are line ends to str.splitlines() but not to ast or editors.
NOISE_TOKENS = [
    *"()[]{}:;,.'\"#\\=@ \tx0",
    *("\n", "\r", "\x0c", "\u2028", "\x85", "é", "try:", "except:", "return True", "    "),
]
NOISE = st.lists(st.sampled_from(NOISE_TOKENS), min_size=1, max_size=6).map("".join)


def _index(draw: st.DrawFn, lines: Lines) -> int:
    return draw(st.integers(0, len(lines) - 1))


def delete_line(draw: st.DrawFn, lines: Lines) -> Lines:
    """Drop one line."""
    i = _index(draw, lines)
    return lines[:i] + lines[i + 1 :]


def duplicate_line(draw: st.DrawFn, lines: Lines) -> Lines:
    """Repeat one line."""
    i = _index(draw, lines)
    return lines[: i + 1] + lines[i:]


def swap_lines(draw: st.DrawFn, lines: Lines) -> Lines:
    """Exchange two lines."""
    i, j = _index(draw, lines), _index(draw, lines)
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def insert_characters(draw: st.DrawFn, lines: Lines) -> Lines:
    """Put a few random characters somewhere in one line."""
    i = _index(draw, lines)
    at = draw(st.integers(0, len(lines[i])))
    out = list(lines)
    out[i] = lines[i][:at] + draw(NOISE) + lines[i][at:]
    return out


def reindent_line(draw: st.DrawFn, lines: Lines) -> Lines:
    """Indent or dedent one line by a few spaces."""
    i = _index(draw, lines)
    shift = draw(st.integers(-8, 8))
    out = list(lines)
    stripped = lines[i].lstrip(" ")
    out[i] = " " * max(len(lines[i]) - len(stripped) + shift, 0) + stripped
    return out


EXTRA_LINES = [
    "\n",
    "# a comment\n",
    "    pass\n",
    "        x = 1\n",
    '        logger.info("allowing anyway")\n',
    "    return True\n",
    "    except Exception:\n",
    "    finally:\n",
    "@decorator\n",
    "def has_permission(user):\n",
]


def insert_line(draw: st.DrawFn, lines: Lines) -> Lines:
    """Add a plausible line (blank, comment, statement, handler) somewhere."""
    i = draw(st.integers(0, len(lines)))
    return [*lines[:i], draw(st.sampled_from(EXTRA_LINES)), *lines[i:]]


def nest_in_class(draw: st.DrawFn, lines: Lines) -> Lines:
    """Move the whole module into a permission class body (or a nested function)."""
    header = draw(st.sampled_from(["class Guard(BasePermission):\n", "def outer():\n"]))
    return [header, *("    " + line if line.strip() else line for line in lines)]


# Edits that usually keep the code parsable come first, so shrinking prefers them.
MUTATIONS: list[Mutation] = [
    insert_line,
    nest_in_class,
    duplicate_line,
    reindent_line,
    delete_line,
    swap_lines,
    insert_characters,
]
LINE_ENDS = {"lf": "\n", "crlf": "\r\n"}


@st.composite
def mutants(draw: st.DrawFn) -> str:
    """A realistic source after a few random edits, line-end and tab conversions."""
    seeds = draw(st.sampled_from([FLAGGED_SEEDS, FLAGGED_SEEDS, SEEDS]))
    lines = draw(st.sampled_from(seeds)).splitlines(keepends=True)
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        if lines:
            lines = mutation(draw, lines)
    text = "".join(lines)
    if draw(st.booleans()):
        text = re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)
    return text.replace("\n", LINE_ENDS[draw(st.sampled_from(sorted(LINE_ENDS)))])


@FUZZ
@given(mutants())
def test_mutated_fail_open_code(text: str) -> None:
    """No internal error; when the mutant parses, findings and fixes are well formed."""
    data = text.encode("utf-8")
    report = analyze(data)
    assert_accounted_for(data, report)
    event(f"parses: {parses(data)}, findings: {bool(report.findings)}")
    event(f"fixes: {sum(f.fix is not None for f in report.findings)}")
    if parses(data):
        assert_well_formed(text, report)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{i}" for i in range(len(SEEDS))])
def test_seeds_are_well_formed(seed: str) -> None:
    """The unmutated seeds themselves: every fix applies and closes its finding."""
    assert_well_formed(seed, analyze(seed.encode("utf-8")))


# -- (c) explicit hard cases -------------------------------------------------------------


def nested_blocks(depth: int) -> str:
    """`has_permission` whose fail-open handler sits `depth` blocks deep.

    Its deepest line is indented `depth + 1` levels; CPython allows 99, so 98 parses.
    """
    lines = ["def has_permission(user, action):\n"]
    for level in range(1, depth):
        lines.append("    " * level + f"if user.flag_{level}:\n")
    inner = "    " * depth
    body = ["try:", "    return client.check(user, action)", "except Exception:", "    return True"]
    lines += [f"{inner}{line}\n" for line in body]
    return "".join(lines)


def nested_expression(depth: int) -> str:
    """A fail-open check whose try body holds `depth` parentheses inside a call's own.

    CPython allows 200 levels of brackets in all, so 199 parses and 200 does not.
    """
    deep = "(" * depth + "user" + ")" * depth
    return FAIL_OPEN.replace("client.check(user, action)", f"client.check({deep}, action)")


HARD_CASES: dict[str, bytes] = {
    "python2-print": b'def has_permission(user):\n    print "checking", user\n    return True\n',
    "python2-except": b"try:\n    check()\nexcept Exception, e:\n    allow = True\n",
    "nested-expression-200-levels": nested_expression(199).encode(),
    "nested-expression-201-levels": nested_expression(200).encode(),
    "long-operator-chain-300": f"x = {' + '.join(['a'] * 300)}\n".encode() + FAIL_OPEN.encode(),
    "long-operator-chain-20000": f"x = {' + '.join(['a'] * 20000)}\n".encode(),
    "nested-blocks-98": nested_blocks(98).encode(),
    "nested-blocks-99": nested_blocks(99).encode(),
    "nul-byte": b"x = 1\x00\n" + FAIL_OPEN.encode(),
    "utf16-no-cookie": FAIL_OPEN.encode("utf-16"),
    "utf16-with-cookie": ("# -*- coding: utf-16 -*-\n" + FAIL_OPEN).encode("utf-16"),
    "unknown-codec-cookie": b"# -*- coding: klingon -*-\n" + FAIL_OPEN.encode(),
    "latin1-without-cookie": b"s = '\xe9'\n" + FAIL_OPEN.encode(),
    "bom-and-conflicting-cookie": b"\xef\xbb\xbf# coding: latin-1\n" + FAIL_OPEN.encode(),
    "empty": b"",
    "only-whitespace": b"   \n\n\t\n",
    "only-comments": b"# a comment\n# has_permission: except Exception: return True\n",
    "one-megabyte-line": b"s = '" + b"x" * 1_000_000 + b"'\n" + FAIL_OPEN.encode(),
    "no-final-newline": FAIL_OPEN.rstrip("\n").encode(),
    "tabs": FAIL_OPEN.replace("    ", "\t").encode(),
    "mixed-tabs-spaces": FAIL_OPEN.replace("        return True", "\t    return True").encode(),
}


@pytest.mark.parametrize("name", sorted(HARD_CASES))
def test_hard_case_is_analysed_or_reported(name: str) -> None:
    """Each hard case gives a Report; rejected input gives exactly one error."""
    data = HARD_CASES[name]
    report = analyze(data)
    assert_accounted_for(data, report)
    if parses(data) and not report.errors:
        assert_well_formed(data.decode("utf-8-sig"), report)


def test_python2_error_says_python2() -> None:
    """A Python 2 file's error tells the user why it does not parse."""
    report = analyze(HARD_CASES["python2-print"])
    assert len(report.errors) == 1
    assert "Python 2" in report.errors[0].message


def test_form_feed_before_def_fix_stays_in_file() -> None:
    """A form feed at the start of a line (legal indentation) does not skew fix lines."""
    text = "\x0c" + FAIL_OPEN.split("\n\n\n")[1]
    assert_well_formed(text, analyze(text.encode()))


def test_double_bom_is_an_error() -> None:
    """Two BOMs: CPython rejects the second one, so must the analyzer."""
    data = b"\xef\xbb\xbf\xef\xbb\xbf" + FAIL_OPEN.encode()
    assert not parses(data)
    assert_accounted_for(data, analyze(data))


def test_deep_nesting_parsable_by_cpython_is_analysed() -> None:
    """Nesting CPython accepts is analysed like the flat code, not turned into an error."""
    flat = analyze(nested_blocks(1).encode())
    deep = analyze(nested_blocks(98).encode())
    assert not deep.errors
    assert [f.rule for f in deep.findings] == [f.rule for f in flat.findings]
    expr = analyze(nested_expression(199).encode())
    assert not expr.errors
    assert [f.rule for f in expr.findings] == [f.rule for f in analyze(FAIL_OPEN).findings]


def test_long_expression_elsewhere_keeps_fixes() -> None:
    """A long `+` chain in another statement does not cost the fail-open code its fix."""
    data = FAIL_OPEN + "\n\nQUERY = (" + " + ".join(["'x'"] * 400) + ")\n"
    assert shape(analyze(data)) == shape(analyze(FAIL_OPEN))


LONG_CHAIN_PROBE = """
import sys
from failclosed.analyzers.engine import analyze_source
source = sys.stdin.read()
report = analyze_source(source, "chain.py")
print(len(report.findings), len(report.errors), sum(f.fix is not None for f in report.findings))
"""


LONG_CHAIN = " {op} ".join(["x"] * 8000)


@pytest.mark.parametrize("op", ["and", "or"])
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # the chain sits in another statement: the fix is built from the function alone
        ("beside", "1 0 1"),
        # the chain sits in the function itself: reported, but without a fix
        ("inside", "1 0 0"),
    ],
)
def test_long_boolean_chain_does_not_kill_the_process(op: str, where: str, expected: str) -> None:
    """An 8000-operand `and`/`or` chain near fail-open code: analysed, no crash.

    libcst's native parser overflows the C stack on such a chain (SIGSEGV), so the engine
    must never hand it one. Run in a child process, since a crash would take pytest down.
    """
    chain = LONG_CHAIN.format(op=op)
    if where == "beside":
        source = FAIL_OPEN + "\n\nQ = " + chain + "\n"
    else:
        source = FAIL_OPEN.replace(
            "        return client.check(user, action)",
            f"        q = {chain}\n        return client.check(user, action)",
        )
    child = subprocess.run(
        [sys.executable, "-c", LONG_CHAIN_PROBE],
        input=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, (child.returncode, child.stderr[-500:])
    assert child.stdout.split() == expected.split()


def test_hundred_thousand_lines() -> None:
    """A 100k-line file is analysed and the fail-open function at its end is found and fixed.

    The fix is built from the function alone, not from the whole file (which libcst would
    take tens of seconds to parse at this size).
    """
    filler = "".join(
        f"def helper_{i}(a):\n    b = a + {i}\n    return b\n\n" for i in range(25_000)
    )
    report = analyze(filler + FAIL_OPEN)
    small = analyze(FAIL_OPEN)
    assert not report.errors
    assert shape(report) == shape(small, offset=filler.count("\n"))


SAME_CODE: dict[str, bytes] = {
    "latin1-cookie": ("# -*- coding: latin-1 -*-\ns = '\xe9'\n" + FAIL_OPEN).encode("latin-1"),
    "utf8-bom": b"\xef\xbb\xbf" + FAIL_OPEN.encode(),
    "crlf": FAIL_OPEN.replace("\n", "\r\n").encode(),
    "cr": FAIL_OPEN.replace("\n", "\r").encode(),
    "form-feed-indent": FAIL_OPEN.replace("\n\n\ndef", "\n\n\n\x0cdef").encode(),
    "form-feed-line": FAIL_OPEN.replace("\n\n\ndef", "\n\n\x0c\ndef").encode(),
    "form-feed-lines": FAIL_OPEN.replace("\n\n\ndef", "\x0c\n\x0c\n\x0c\ndef").encode(),
    "u2028-in-comment": FAIL_OPEN.replace("\n\n\ndef", "\n\n# a\u2028b\ndef").encode(),
    "x85-in-string": FAIL_OPEN.replace("\n\n\ndef", "\n\nS = 'a\x85b'\ndef").encode(),
}
# Known engine bugs, kept visible here until fixed (strict: these fail once the bug is gone).
KNOWN_BUGS = {
    "cr": "libcst drops the final \\r, so the fix spans to the end of the file, no line end",
    "form-feed-indent": "libcst drops a form feed before `def`: the fix rewrites the whole "
    "function (and loses the \\f) instead of the two handler lines",
}


def _reference_shape(name: str) -> list[Shape]:
    """Findings of the plain UTF-8 spelling, moved by the lines the variant adds."""
    return shape(analyze(FAIL_OPEN), offset={"latin1-cookie": 2}.get(name, 0))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n]))
        if n in KNOWN_BUGS
        else n
        for n in sorted(SAME_CODE)
    ],
)
def test_same_code_spelled_differently(name: str) -> None:
    """Encodings and line ends do not change what is found, where, or how it is fixed."""
    data = SAME_CODE[name]
    report = analyze(data)
    assert not report.errors
    assert shape(report) == _reference_shape(name)
    text = data.decode("latin-1" if name.startswith("latin1") else "utf-8-sig")
    assert_well_formed(text, report)
