"""Hooks the analysis child calls before each file (`IsolatedAnalyzer(before=...)`).

They run in the child process, so they live in a module of their own that the child can
import by name, with nothing heavy in it.
"""

from __future__ import annotations

import os
import re
import signal

# Backtracking without end: `re` runs it in C, holding the GIL the whole time, as the
# quadratic name pattern of issue 11 did (an 80,000-character function name).
_CATASTROPHIC = re.compile(r"(a+)+b")


def hang_on_slow(path: str) -> None:
    """Never return for a file named `*slow*`: its analysis holds the GIL for ever."""
    if "slow" in path:
        _CATASTROPHIC.fullmatch("a" * 64)


def die_on_crash(path: str) -> None:
    """Kill the child for a file named `*crash*`, as the kernel's OOM killer would."""
    if "crash" in path:
        os.kill(os.getpid(), signal.SIGKILL)


def exit_on_exit(path: str) -> None:
    """End the child with status 3 for a file named `*exit*` (a crash in C code, say)."""
    if "exit" in path:
        os._exit(3)


def raise_on_raise(path: str) -> None:
    """Raise for a file named `*raise*`: an analyzer bug that escaped `analyze_source`."""
    if "raise" in path:
        raise RuntimeError("a bug in the analyzer")


def child_pid(path: str) -> int:
    """Not a hook: `ChildProcess.call(child_pid, ...)` answers which process it ran in."""
    return os.getpid()
