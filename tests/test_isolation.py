"""analyzers.isolation: one file's analysis in a child process that is killed past its budget.

The slow file is made slow in the child by a hook (tests/isolation_hooks.py) that holds the
GIL in C code for ever, as the quadratic name pattern of issue 11 did: no test waits for
more than its budget (0.5 s) and a child's start.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import multiprocessing
import os
import signal
import sys
import types
from pathlib import Path

import isolation_hooks
import pytest
from support import ticking

from failclosed.analyzers.compare import base_findings
from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.isolation import (
    ChildPool,
    ChildProcess,
    Hook,
    IsolatedAnalyzer,
    OverBudget,
    main_modules,
    over_budget_message,
    preloaded_modules,
)
from failclosed.analyzers.settings import Config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "examples" / "agent_permissions.py").read_bytes()
BUDGET = 0.5


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_file_that_never_finishes_is_cut_at_its_budget_and_the_process_stays_live() -> None:
    with IsolatedAnalyzer(BUDGET, before=isolation_hooks.hang_on_slow) as analyzer:
        pid = analyzer.child.call(isolation_hooks.child_pid, ("",), 10)
        with ticking() as ticks:
            report = analyzer.analyze_source(EXAMPLE, "app/slow.py", Config())
        assert [e.message for e in report.errors] == [over_budget_message(BUDGET)]
        assert report.errors[0].message == "could not be verified: analysis ran past 0.5 s"
        assert report.findings == []
        # This process was not frozen while the child held its own GIL (in-process, the
        # same hook lets the ticker run at most once in those 0.5 s).
        assert ticks[0] >= 5
        assert pid_gone(pid)  # killed, not abandoned: it burns no CPU behind our back

        # The next file gets a new child and a full analysis.
        again = analyzer.analyze_source(EXAMPLE, "app/perms.py", Config())
        assert again == analyze_source(EXAMPLE, "app/perms.py", Config())
        assert analyzer.child.started == 2


def test_one_child_serves_every_file_of_an_analyzer() -> None:
    with IsolatedAnalyzer(BUDGET) as analyzer:
        for name in ("a.py", "b.py", "c.py"):
            assert analyzer.analyze_source(EXAMPLE, name, Config()).findings
        assert analyzer.child.started == 1


def test_no_child_is_started_until_a_file_is_analysed_and_none_outlives_the_analyzer() -> None:
    with IsolatedAnalyzer(BUDGET) as analyzer:
        assert analyzer.child.started == 0
        pid = analyzer.child.call(isolation_hooks.child_pid, ("",), 10)
        assert pid != os.getpid()
    assert pid_gone(pid)
    assert all(child.pid != pid for child in multiprocessing.active_children())


@pytest.mark.parametrize(
    ("hook", "name", "message"),
    [
        (isolation_hooks.die_on_crash, "crash.py", "the analysis process was killed by SIGKILL"),
        (isolation_hooks.exit_on_exit, "exit.py", "the analysis process exited (status 3)"),
    ],
)
def test_a_child_that_dies_fails_its_file_closed_and_is_replaced(
    hook: Hook, name: str, message: str
) -> None:
    with IsolatedAnalyzer(BUDGET * 10, before=hook) as analyzer:
        report = analyzer.analyze_source(EXAMPLE, name, Config())
        assert [e.message for e in report.errors] == [f"could not be verified: {message}"]
        assert analyzer.analyze_source(EXAMPLE, "fine.py", Config()).findings
        assert analyzer.child.started == 2


def test_an_error_that_escapes_the_analyzer_fails_the_file_and_keeps_the_child() -> None:
    with IsolatedAnalyzer(BUDGET * 10, before=isolation_hooks.raise_on_raise) as analyzer:
        report = analyzer.analyze_source(EXAMPLE, "raise.py", Config())
        assert [e.message for e in report.errors] == [
            "internal error while analysing: RuntimeError: a bug in the analyzer"
        ]
        assert analyzer.analyze_source(EXAMPLE, "fine.py", Config()).findings
        assert analyzer.child.started == 1


def test_a_change_is_analysed_in_the_child_as_failclosed_diff_does() -> None:
    old = EXAMPLE.replace(b"return True", b"return False")
    with IsolatedAnalyzer(BUDGET * 10) as analyzer:
        result = analyzer.analyze_change(EXAMPLE, "app/p.py", old, "app/p.py", Config())
    assert result.report == analyze_source(EXAMPLE, "app/p.py", Config(), with_fixes=True)
    assert result.base == base_findings(old, "app/p.py", "app/p.py", Config())


def test_a_change_past_its_budget_is_one_unverified_file_with_nothing_to_compare() -> None:
    with IsolatedAnalyzer(BUDGET, before=isolation_hooks.hang_on_slow) as analyzer:
        result = analyzer.analyze_change(EXAMPLE, "slow.py", EXAMPLE, "slow.py", Config())
    assert [e.message for e in result.report.errors] == [over_budget_message(BUDGET)]
    assert (result.report.findings, result.base) == ([], [])


def test_the_child_process_machinery_runs_any_picklable_call() -> None:
    with ChildProcess() as child:
        assert child.call(divmod, (7, 2), timeout=10) == (3, 1)
        with pytest.raises(OverBudget, match=r"ran past 0\.2 s"):
            child.call(isolation_hooks.hang_on_slow, ("slow",), timeout=0.2)
        assert child.call(divmod, (9, 4), timeout=10) == (2, 1)
        assert child.started == 2


def test_a_child_left_alone_ends_itself_once_it_has_used_its_budget_of_cpu() -> None:
    """If the service dies mid-file, nobody is left to kill the child: the kernel does
    (RLIMIT_CPU, the budget and one second), and its fork server then exits too."""
    child = ChildProcess()
    conn = child._ensure_child()
    process = child._process
    assert process is not None
    conn.send((isolation_hooks.hang_on_slow, ("slow",), 0.1))  # as `call` does, not waiting
    process.join(timeout=20)
    assert process.exitcode == -signal.SIGXCPU
    child.close()


def test_a_pool_hands_the_same_warm_child_to_one_user_after_another() -> None:
    with ChildPool() as pool:
        pids = []
        for name in ("a.py", "b.py"):
            with IsolatedAnalyzer(BUDGET, pool=pool) as analyzer:
                assert analyzer.analyze_source(EXAMPLE, name, Config()).findings
                pids.append(analyzer.child.call(isolation_hooks.child_pid, ("",), 10))
        assert pids[0] == pids[1]
    assert pid_gone(pids[0])  # closing the pool ends its idle children


def test_a_pool_never_hands_out_a_child_that_was_killed_or_has_served_enough() -> None:
    with ChildPool(max_calls=3) as pool:
        with IsolatedAnalyzer(BUDGET, pool=pool, before=isolation_hooks.hang_on_slow) as first:
            first.analyze_source(EXAMPLE, "slow.py", Config())  # killed past its budget
        with IsolatedAnalyzer(BUDGET, pool=pool) as second:
            assert second.child is not first.child  # a new one, not the dead one
            pid = second.child.call(isolation_hooks.child_pid, ("",), 10)
            second.analyze_source(EXAMPLE, "a.py", Config())
            second.analyze_source(EXAMPLE, "b.py", Config())  # its third answer
        assert pid_gone(pid)  # recycled: the analyzer's caches do not grow for ever
        with IsolatedAnalyzer(BUDGET, pool=pool) as third:
            assert third.child is not second.child


def test_a_pool_keeps_at_most_max_idle_children() -> None:
    with ChildPool(max_idle=1) as pool:
        one, two = pool.take(), pool.take()
        pids = [child.call(isolation_hooks.child_pid, ("",), 10) for child in (one, two)]
        pool.give_back(one)
        pool.give_back(two)
        assert pool.take() is one
        assert pid_gone(pids[1])
        one.close()


def test_the_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        IsolatedAnalyzer(0)


def test_the_fork_server_imports_every_rule_once_for_all_children() -> None:
    preloaded = preloaded_modules()
    assert "failclosed.analyzers.isolation" in preloaded
    assert "failclosed.analyzers.rules.fc101_except_returns_allow" in preloaded


@pytest.mark.parametrize(
    ("spec", "script", "expected"),
    [
        (
            "failclosed.app.commands.serve",
            None,
            ["failclosed.app.commands.serve"],
        ),  # python -m failclosed.app.commands.serve: run again per child
        ("pytest.__main__", None, []),  # python -m pytest: not run again
        (
            None,
            "import re, sys\n"
            "from failclosed.app.commands.cli import main\n"
            "if x:\n    import nope\n",
            None,
        ),
    ],
)
def test_what_the_main_module_imports_is_preloaded(
    spec: str | None,
    script: str | None,
    expected: list[str] | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = importlib.machinery.ModuleSpec(spec, None) if spec else None
    if script is not None:
        (tmp_path / "failclosed").write_text(script)
        main.__file__ = str(tmp_path / "failclosed")
    # the console script's parent has it imported
    importlib.import_module("failclosed.app.commands.cli")
    monkeypatch.setitem(sys.modules, "__main__", main)
    # A console script: its top-level imports that this process has (never `nope`).
    assert main_modules() == (
        expected if expected is not None else ["re", "sys", "failclosed.app.commands.cli"]
    )
