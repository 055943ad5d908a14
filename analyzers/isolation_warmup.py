"""Imported only by the fork server of `analyzers.isolation`: one analysis, with its fix, so
that every child forked from it starts with the analyzer's lazy state built (libcst's
parser, the engine's caches) instead of building it again for its first file (about
30 ms a job). Then the collector is told to leave the server's objects alone, so that
children do not copy their memory pages by merely scanning them.
"""

from __future__ import annotations

import gc

from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.model import Report
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.settings import Config


def warm_up() -> Report:
    """Analyse the first rule example that has a fix, fix included."""
    example = next(case for rule in all_rules() for case in rule.INVALID if case.fixed)
    return analyze_source(example.code, "app/example.py", Config(), with_fixes=True)


WARMED = warm_up()
gc.freeze()
