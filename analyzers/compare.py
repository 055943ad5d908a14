"""Which findings of a file's new version are new or changed, given its old version's findings.

Pure (no I/O, no git): used by `failclosed diff` and by anything else that holds two
versions of a file, such as a pull-request bot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from failclosed.analyzers.engine import analyze_source, is_python_path
from failclosed.analyzers.model import Finding
from failclosed.analyzers.settings import Config
from failclosed.analyzers.vocabulary import is_test_path


def identity(finding: Finding) -> tuple[str, str, str]:
    """What makes two findings the same fail-open path, wherever it sits in the file."""
    return (finding.rule, finding.function, finding.key)


def new_or_changed(base: Sequence[Finding], head: Sequence[Finding]) -> list[Finding]:
    """Head findings with no identical finding in base, in head's order.

    Compares by key, not by line: lines move whenever code is added above, so a line match
    would report old paths as new, and a path whose handler, guard or allow value was
    edited on the same line would look untouched. Keys hold the rule, the function and
    the normalised code, so moved code matches and edited code does not. It is a multiset
    comparison: each base finding absorbs one identical head finding, so a second copy of
    an old path is still reported. Call it once per file (keys do not hold the path, so a
    renamed file is compared with its old version).
    """
    unmatched = Counter(identity(f) for f in base)
    absorbed: set[int] = set()
    for i in sorted(range(len(head)), key=lambda i: (head[i].line, head[i].end_line)):
        ident = identity(head[i])
        if unmatched[ident] > 0:  # identical paths pair up in file order, first with first
            unmatched[ident] -= 1
            absorbed.add(i)
    return [f for i, f in enumerate(head) if i not in absorbed]


def analysed_in_place(old_path: str | None, config: Config) -> bool:
    """Was the previous version analysed as Python where it was? Only then may its findings
    be subtracted: code moved in from an excluded or tooling folder, from test code or from
    a non-Python file was never checked, so all of it counts as new."""
    return (
        old_path is not None
        and is_python_path(old_path)
        and not config.is_excluded(old_path)
        and not is_test_path(old_path)
    )


def base_findings(
    old: bytes | None, old_path: str | None, new_path: str, config: Config
) -> list[Finding]:
    """The previous version's findings to compare with (one rule for `failclosed diff` and
    the App). It is analysed under the new path, since the comparison is about the code,
    not where it lives; [] when there is none or it was never analysed in its old place."""
    if old is None or not analysed_in_place(old_path, config):
        return []
    return analyze_source(old, new_path, config, with_fixes=False).findings
