"""Run the rules over source files: parse, find candidates, report, fix, verify.

Speed comes from doing little: every file is parsed with the stdlib `ast` (needed anyway
to report files that do not parse), rules run only on functions whose text can hold a
fail-open shape, and libcst parses a file only when a finding needs a fix.
"""

from __future__ import annotations

import ast
import gc
import hashlib
import io
import os
import re
import stat
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from itertools import accumulate
from pathlib import Path, PurePosixPath

from failclosed.analyzers.fixes import Edit, build_fix
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo, iter_functions, module_info
from failclosed.analyzers.model import AnalysisError, Finding, Fix, Report, apply_fixes, split_lines
from failclosed.analyzers.rules import Hit, Rule, all_rules
from failclosed.analyzers.settings import Config
from failclosed.analyzers.vocabulary import MAX_NAME, is_test_path
from failclosed.analyzers.wordfinder import Occurrences, WordFinder

SUPPRESSION = re.compile(r"#\s*failclosed:\s*ignore\[([^\]]*)\](.*)")
SKIP_DIRS = {
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".eggs",
}  # fmt: skip


def is_python_path(path: str) -> bool:
    """A `.py` file outside the folders `failclosed scan` does not walk."""
    parts = PurePosixPath(path).parts
    return path.endswith(".py") and not any(
        part in SKIP_DIRS or part.endswith(".egg-info") for part in parts[:-1]
    )


PARALLEL_THRESHOLD = 64  # files; below this a process pool costs more than it saves
UNREASONED = "FC900"


def analyze_source(
    data: bytes | str,
    path: str,
    config: Config | None = None,
    with_fixes: bool = True,
    test_path: str | None = None,
) -> Report:
    """Analyse one file's source. Never raises: what cannot be analysed goes into errors.

    `test_path` (default: `path`) decides whether the file is test code, which is skipped.
    """
    config = config or Config()
    try:
        return _analyze(data, path, config, with_fixes, test_path or path)
    except (RecursionError, MemoryError) as exc:
        return _error(path, f"too deeply nested or too large to analyse ({type(exc).__name__})")
    except Exception as exc:  # an analyzer bug must not pass a file silently
        return _error(path, f"internal error while analysing: {type(exc).__name__}: {exc}")


LONG_IDENTIFIER = re.compile(rf"\w{{{MAX_NAME + 1}}}")


def _has_long_identifier(text: str) -> bool:
    """Whether a word longer than MAX_NAME is in `text`. Only a line longer than that can
    hold one, and the pattern is tried on those lines alone: searching the whole file cost
    a twentieth of a Django scan."""
    return any(len(line) > MAX_NAME and LONG_IDENTIFIER.search(line) for line in text.splitlines())


def _bound_identifiers(tree: ast.Module) -> None:
    """Cut identifiers longer than MAX_NAME, so every pattern that reads a name runs in
    bounded time, whatever a pull request contains (an 80,000-character function name).
    Fixes are built from the source text, so they are unaffected."""
    for node in ast.walk(tree):
        for field in ("name", "id", "attr", "arg"):
            value = getattr(node, field, None)
            if isinstance(value, str) and len(value) > MAX_NAME:
                setattr(node, field, value[:MAX_NAME])


def _error(path: str, message: str) -> Report:
    return Report(errors=[AnalysisError(path, message)])


def decode(data: bytes | str) -> str:
    """Source text honouring a PEP 263 coding cookie or BOM; raises SyntaxError/LookupError."""
    if isinstance(data, str):
        return data
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)  # "utf-8-sig" when there is a BOM: it drops that one BOM


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector while a tree is built.

    An ast tree holds no cycles (refcounting frees it), but building one allocates many
    objects, which triggers collections that walk everything alive: a quarter of the
    parse time on big trees, for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(text: str, path: str) -> ast.Module:
    """`ast.parse`, with errors that say what to do about them."""
    try:
        with warnings.catch_warnings(), _no_cyclic_gc():
            warnings.simplefilter("ignore")  # the scanned code's SyntaxWarnings are not ours
            return ast.parse(text, filename=path)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        message = f"does not parse as Python 3.{sys.version_info.minor} ({where}): {exc.msg}"
        raise _Unparsable(message + _syntax_hint(exc)) from exc
    except ValueError as exc:  # null bytes
        raise _Unparsable(f"not Python source: {exc}") from exc


# The syntax older interpreters reject: PEP 695 (`type X = ...`, `def f[T]()`, `class C[T]`)
# and PEP 701 f-strings (quotes, backslashes, comments inside the braces).
NEWER_SYNTAX = re.compile(
    r"^\s*(type\s+\w+\s*[\[=]|(async\s+)?def\s+\w+\s*\[|class\s+\w+\s*\[)|\b[rR]?[fF][rR]?['\"]"
)


def _syntax_hint(exc: SyntaxError) -> str:
    """What to do about a file that does not parse: it may be Python 2, or newer Python
    than the interpreter failclosed runs on (`ast` parses that version's syntax only)."""
    msg = exc.msg or ""
    if "print" in msg or "Missing parentheses" in msg:
        return " (Python 2 code?)"
    if msg.startswith("f-string") or NEWER_SYNTAX.search(exc.text or ""):
        newer = f"3.{sys.version_info.minor + 1}"
        return f" (Python {newer}+ syntax? run failclosed on Python {newer} or later)"
    return ""


class _Unparsable(Exception):
    pass


def _analyze(
    data: bytes | str, path: str, config: Config, with_fixes: bool, test_path: str
) -> Report:
    try:
        text = decode(data)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        return _error(path, f"cannot decode source: {exc}")
    try:
        tree = parse(text, path)
    except _Unparsable as exc:
        return _error(path, str(exc))
    found = _word_finder().find(text)
    if not found.any_of(_trigger_words()):
        return Report()
    if _has_long_identifier(text):
        _bound_identifiers(tree)
    if is_test_path(test_path):
        return Report()
    info = module_info(tree, text, path, config)
    rules = [r for r in all_rules() if r.wanted_in(text, found)]
    pairs = _apply_suppressions(list(_run_rules(info, rules, found)), text, path)
    embedded = _embedded_script_findings(tree, text, path, config) if SHEBANG in text else []
    if with_fixes:
        return Report(findings=_attach_fixes(pairs, text, tree, path, config) + embedded)
    return Report(findings=[finding for finding, _ in pairs] + embedded)


SHEBANG = "#!/usr/bin/"
EMBEDDED_SCRIPT = re.compile(r"#!/usr/bin/(env )?python")


def _embedded_script_findings(
    tree: ast.Module, text: str, path: str, config: Config
) -> list[Finding]:
    """Findings in a Python script held in a string (`HOOK_SCRIPT = '''#!/usr/bin/env
    python3 ...`): the hook an installer writes out runs as code, so it is read as code.

    Reported on the file's lines (the string's lines are the file's when, as in such a
    template, no escape spans a line end) and without a fix: a fix built on the string's
    value could not be written back into the literal reliably.
    """
    found: list[Finding] = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign) else None
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            continue
        script = value.value
        if not EMBEDDED_SCRIPT.match(script) or script.count("\n") != _source_lines(value) - 1:
            continue
        report = analyze_source(script, path, config, with_fixes=False)
        offset = value.lineno - 1
        found.extend(
            replace(
                f,
                line=f.line + offset,
                end_line=f.end_line + offset,
                message=_shift_line_refs(f.message, offset),
                fix=None,
            )
            for f in report.findings
        )
    return found


LINE_REF = re.compile(r"\bline (\d+)")


def _shift_line_refs(message: str, offset: int) -> str:
    """`the denial at line 79` of the script -> the same line of the file."""
    return LINE_REF.sub(lambda m: f"line {int(m.group(1)) + offset}", message)


def _source_lines(node: ast.expr) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


Pending = tuple[Finding, Sequence[Edit]]  # a finding and the edits that would fix it


@cache
def _trigger_words() -> tuple[str, ...]:
    """Every rule's trigger words: a file containing none holds no finding."""
    return tuple(dict.fromkeys(word for rule in all_rules() for word in rule.trigger))


@cache
def _word_finder() -> WordFinder:
    """The trigger words and the file words of every rule, found in one pass over a file."""
    file_words = (
        word for rule in all_rules() for word in (*rule.file_words, *rule.file_trigger_at)
    )
    return WordFinder((*_trigger_words(), *file_words))


def _run_rules(
    info: ModuleInfo, rules: Sequence[type[Rule]], found: Occurrences
) -> Iterable[Pending]:
    instances = sorted((rule() for rule in rules), key=lambda r: r.fallback)
    seen: set[tuple[str, int, str]] = set()
    file_words = [word for word in _trigger_words() if word in found]
    line_starts = list(accumulate(map(len, info.lines), initial=0))
    for fn in iter_functions(info):
        if fn.test_double:
            continue
        start, end = fn.node.lineno, fn.node.end_lineno or fn.node.lineno
        present = found.within(file_words, line_starts[start - 1], line_starts[end])
        reported: list[Finding] = []
        for rule in instances:
            if present.isdisjoint(rule.trigger):
                continue
            for hit in rule.check(fn, info):
                finding = _finding(rule, hit, fn, info)
                where = (finding.rule, finding.line, finding.function)
                if rule.fallback and _already_reported(finding, hit, reported):
                    continue
                if where not in seen:  # a helper reached from two callers is reported once
                    seen.add(where)
                    reported.append(finding)
                    yield finding, hit.edits


def _already_reported(finding: Finding, hit: Hit, reported: Sequence[Finding]) -> bool:
    """Another rule already reported this path (a line inside it, or right next to it)."""
    lo, hi = hit.region or (finding.line - 2, finding.end_line + 2)
    return any(
        f.function == finding.function and f.rule != finding.rule and lo <= f.line <= hi
        for f in reported
    )


def _finding(rule: Rule, hit: Hit, fn: FunctionInfo, info: ModuleInfo) -> Finding:
    severity = hit.severity or rule.severity
    if severity == "error" and fn.polarity_from_callers:
        severity = "warning"  # inferred from how callers use the answer, not from the function
    severity = info.config.severity.get(rule.code, severity)
    key_nodes = list(hit.key_nodes) or [hit.node]
    digest = hashlib.sha1(
        "|".join(
            [rule.code, hit.function or fn.qualname, *(ast.dump(n) for n in key_nodes)]
        ).encode()
    ).hexdigest()[:16]
    return Finding(
        rule=rule.code,
        path=info.path,
        line=hit.node.lineno,
        end_line=hit.node.end_lineno or hit.node.lineno,
        severity=severity,
        message=hit.message,
        function=hit.function or fn.qualname,
        key=digest,
    )


def _suppressions(text: str) -> dict[int, tuple[set[str], str]]:
    """Line -> (rule codes, reason) for `# failclosed: ignore[CODE] reason` comments."""
    found: dict[int, tuple[set[str], str]] = {}
    if "failclosed:" not in text:
        return found
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return found
    for tok in tokens:
        if tok.type == tokenize.COMMENT and (m := SUPPRESSION.search(tok.string)):
            codes = {c.strip().upper() for c in m.group(1).split(",") if c.strip()}
            reason = m.group(2).strip().lstrip("-:—").strip()
            found[tok.start[0]] = (codes, reason)
    return found


def _apply_suppressions(pairs: list[Pending], text: str, path: str) -> list[Pending]:
    """Drop findings suppressed with a reason; report suppressions that give none."""
    marks = _suppressions(text)
    if not marks:
        return pairs
    kept: list[Pending] = []
    for finding, edits in pairs:
        # only a suppression on the finding's own reported line counts: one inside a
        # multi-line finding belongs to whatever is reported there (issue 11, item 5)
        codes, reason = marks.get(finding.line, (set(), ""))
        if not (finding.rule in codes and reason):
            kept.append((finding, edits))
    source_lines = split_lines(text)
    for line, (codes, reason) in sorted(marks.items()):
        if not reason:
            kept.append((_unreasoned(path, line, codes, source_lines[line - 1]), ()))
    return kept


def _unreasoned(path: str, line: int, codes: set[str], source_line: str) -> Finding:
    """The FC900 finding for a suppression without a reason."""
    shown = ", ".join(sorted(codes)) or "nothing"
    identity = f"{UNREASONED}|{sorted(codes)}|{source_line.strip()}"  # the code, not the line no.
    return Finding(
        rule=UNREASONED,
        path=path,
        line=line,
        end_line=line,
        severity="warning",
        message=(
            f"Suppression of {shown} gives no reason, so it is not honoured: "
            "add why this path may fail open."
        ),
        function="",
        key=hashlib.sha1(identity.encode()).hexdigest()[:16],
    )


def _attach_fixes(
    pairs: list[Pending], text: str, tree: ast.Module, path: str, config: Config
) -> list[Finding]:
    """Build each finding's fix and keep it only if it verifies.

    All fixes are first verified together with one re-analysis of the file patched with
    every one of them; the functions where that fails are verified by halves of their
    fixes, and what is left fix by fix. So a file with many findings costs a few analyses,
    not one per finding.
    """
    findings = [finding for finding, _ in pairs]
    lines = split_lines(text)
    fixes = [_built_fix(edits, text, tree, lines) for _, edits in pairs]
    before = _counts(findings)
    verified: dict[int, Fix] = {}
    built = {i: fix for i, fix in enumerate(fixes) if fix is not None}
    batch = _non_overlapping(built)
    if batch:
        after = _reanalysed(_apply_all(text, [built[i] for i in batch]), path, config)
        for function, members in _by_function(batch, findings).items():
            removed = Counter(findings[i].rule for i in members)
            if after is not None and _closes(function, removed, before, after):
                verified.update((i, built[i]) for i in members)

    def verifies(members: list[int]) -> bool:
        """One function's fixes, applied together, close their findings and add none."""
        after = _reanalysed(_apply_all(text, [built[i] for i in members]), path, config)
        removed = Counter(findings[i].rule for i in members)
        return after is not None and _closes(findings[members[0]].function, removed, before, after)

    for i in _verified_by_halves(built, verified, findings, verifies):
        verified[i] = built[i]
    for i in built:
        if i not in verified and verifies([i]):
            verified[i] = built[i]
    return [replace(f, fix=verified[i]) if i in verified else f for i, f in enumerate(findings)]


def _verified_by_halves(
    built: Mapping[int, Fix],
    verified: Mapping[int, Fix],
    findings: Sequence[Finding],
    verifies: Callable[[list[int]], bool],
) -> list[int]:
    """Fixes the first batch left unverified, function by function, half a group at a
    time: a group that `verifies` together is kept, one that does not is split again, and
    a single fix is left for the one-by-one pass. One bad fix among a function's 18 costs
    about 9 re-analyses of the file instead of 18 (an 8,000-line hook's `main`)."""
    pending = {i: built[i] for i in built if i not in verified}
    groups: dict[str, list[int]] = {}
    for i in _non_overlapping(pending):
        groups.setdefault(findings[i].function, []).append(i)

    def halves(members: list[int]) -> list[int]:
        kept: list[int] = []
        middle = len(members) // 2
        for part in (members[:middle], members[middle:]):
            if len(part) >= 2:
                kept.extend(part if verifies(part) else halves(part))
        return kept

    return [i for members in groups.values() if len(members) > 1 for i in halves(members)]


Counts = Counter[tuple[str, str, bool]]  # (rule, function, blocking) -> findings


def _counts(findings: Sequence[Finding]) -> Counts:
    return Counter((f.rule, f.function, f.severity != "note") for f in findings)


def _closes(function: str, removed: Counter[str], before: Counts, after: Counts) -> bool:
    """The patch removes these findings and adds no blocking finding to the function."""
    for rule, count in removed.items():
        had = before[(rule, function, True)] + before[(rule, function, False)]
        left = after[(rule, function, True)] + after[(rule, function, False)]
        if left > had - count:
            return False
    return all(
        count <= before[key]
        for key, count in after.items()
        if key[1] == function and key[2] and key[0] not in removed
    )


def _built_fix(edits: Sequence[Edit], text: str, tree: ast.Module, lines: list[str]) -> Fix | None:
    if not edits:
        return None
    try:
        return build_fix(text, edits, tree, lines)
    except Exception:  # a fix that cannot be built is not offered; the finding stands
        return None


def _non_overlapping(fixes: Mapping[int, Fix]) -> list[int]:
    """Fixes that can be applied together: no two touch the same line."""
    taken: set[int] = set()
    chosen = []
    for i, fix in fixes.items():
        lines = set(range(fix.line, fix.end_line + 1))
        if not lines & taken:
            taken |= lines
            chosen.append(i)
    return chosen


def _apply_all(text: str, fixes: Sequence[Fix]) -> str:
    """Apply whole-line fixes that do not overlap, bottom-up, in one pass over the file."""
    return apply_fixes(text, list(fixes))


def _by_function(indexes: list[int], findings: Sequence[Finding]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indexes:
        groups.setdefault(findings[i].function, []).append(i)
    return groups


def _reanalysed(patched: str, path: str, config: Config) -> Counts | None:
    """Finding counts of the patched file; None when it does not analyse cleanly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(patched, path, "exec", dont_inherit=True)  # errors ast.parse lets pass
    except (SyntaxError, ValueError):
        return None
    report = analyze_source(patched, path, config, with_fixes=False)
    return None if report.errors else _counts(report.findings)


# -- many files -------------------------------------------------------------------------


def collect_files(
    paths: Sequence[str], config: Config
) -> tuple[list[tuple[str, str]], list[AnalysisError]]:
    """Python files under `paths`, minus excluded ones, as (display path, role path) pairs.

    The role path decides what counts as test code: it is relative to the folder that was
    scanned, so a checkout that happens to live under `/tmp/tests/` is not all "tests".
    """
    files: list[tuple[str, str]] = []
    errors: list[AnalysisError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            shown = display_path(path)
            if not config.is_excluded(shown):
                files.append((shown, shown if not shown.startswith(("/", "..")) else path.name))
        elif path.is_dir():
            found, unwalked = _walk(path, config)
            files.extend(found)
            errors.extend(unwalked)
        else:
            errors.append(AnalysisError(raw, "no such file or directory"))
    return files, errors


def _walk(root: Path, config: Config) -> tuple[list[tuple[str, str]], list[AnalysisError]]:
    """Python files under `root`, and the folders that could not be walked (named errors:
    what was not read was not checked, so it must not look like a clean scan)."""
    found: list[tuple[str, str]] = []
    errors: list[AnalysisError] = []

    def unreadable(exc: OSError) -> None:
        where = display_path(Path(exc.filename)) if exc.filename else display_path(root)
        errors.append(AnalysisError(where, f"cannot read this folder: {exc.strerror or exc}"))

    real_root = root.resolve()
    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIP_DIRS and not d.endswith(".egg-info")
            and not _excluded_folder(os.path.join(folder, d), config)
        )  # fmt: skip
        for d in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            dirs.remove(d)  # never followed: a link could loop, or leave the tree
            error = _linked_folder_error(Path(folder, d), real_root)
            if error is not None:
                errors.append(error)
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                shown = display_path(path)
                if not config.is_excluded(shown):
                    found.append((shown, Path(os.path.relpath(path, root)).as_posix()))
    return found, errors


def _excluded_folder(folder: str, config: Config) -> bool:
    """A folder an exclude glob names (none are without a configuration: the walk of a
    big tree then spends nothing on the question)."""
    return bool(config.exclude) and config.is_excluded(display_path(folder))


def _linked_folder_error(link: Path, real_root: Path) -> AnalysisError | None:
    """A linked folder is analysed where it really is when that is inside the scanned tree;
    one pointing elsewhere (or nowhere) is named, since its code is not checked."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        return AnalysisError(display_path(link), f"a broken folder link: not analysed ({exc})")
    if target == real_root or real_root in target.parents:
        return None  # its files are walked at their real path
    return AnalysisError(
        display_path(link),
        f"a link to a folder outside the scanned tree ({target}): not analysed; scan that "
        "folder itself",
    )


def excluded_files(paths: Sequence[str]) -> list[str]:
    """The Python files under `paths` that the configuration left out (asked for only when
    none was analysed, so a run that read nothing never looks like a clean one)."""
    everything, _ = collect_files(paths, Config())
    return [shown for shown, _ in everything]


def display_path(path: str | os.PathLike[str]) -> str:
    """POSIX path relative to the current directory when inside it, else as given."""
    text = os.fspath(path)
    if os.path.isabs(text):
        relative = os.path.relpath(text)
        if relative.startswith(".."):
            return Path(text).as_posix()
        text = relative
    return Path(os.path.normpath(text)).as_posix()


def analyze_file(path: str, config: Config, role: str | None = None) -> Report:
    """Read and analyse one file; `role` is its path for deciding whether it is test code."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read for ever
            return _error(path, "not a regular file (a pipe, socket or device): not analysed")
        data = Path(path).read_bytes()
    except OSError as exc:
        return _error(path, f"cannot read: {exc.strerror or exc}")
    return analyze_source(data, path, config, test_path=role)


def _analyze_chunk(args: tuple[list[tuple[str, str]], Config]) -> Report:
    files, config = args
    report = Report()
    for path, role in files:
        report.extend(analyze_file(path, config, role))
    return report


CHUNKS_PER_JOB = 16


def balanced_chunks(files: Sequence[tuple[str, str]], count: int) -> list[list[tuple[str, str]]]:
    """`files` in about `count` chunks of similar size, the biggest files first.

    A worker that takes the last chunk while the others have nothing left is the time a
    parallel scan loses: with the big files done first the last chunks are small ones.
    """
    sizes = {path: _size(path) for path, _ in files}
    ordered = sorted(files, key=lambda pair: -sizes[pair[0]])
    target = sum(sizes.values()) / max(count, 1)
    chunks: list[list[tuple[str, str]]] = [[]]
    filled = 0
    for pair in ordered:
        if chunks[-1] and filled >= target:
            chunks.append([])
            filled = 0
        chunks[-1].append(pair)
        filled += sizes[pair[0]]
    return [chunk for chunk in chunks if chunk]


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # analyze_file names the error


def analyze_paths(paths: Sequence[str], config: Config | None = None, jobs: int = 0) -> Report:
    """Analyse files and folders; `jobs` processes (0: one per core) for big trees."""
    config = config or Config()
    files, errors = collect_files(paths, config)
    report = Report(errors=list(errors))
    if not files and not errors:
        report.excluded = excluded_files(paths)  # say that nothing was read, and why
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(files) >= PARALLEL_THRESHOLD:
        chunks = balanced_chunks(files, jobs * CHUNKS_PER_JOB)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for part in pool.map(_analyze_chunk, [(c, config) for c in chunks]):
                report.extend(part)
    else:
        report.extend(_analyze_chunk((files, config)))
    report.sort()
    return report
