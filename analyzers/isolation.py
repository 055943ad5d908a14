"""One file's analysis in a child process that can be killed, under a time budget.

Why a process: the analysis is CPU-bound Python and C code (regular expressions) that holds
the GIL. In a thread of a service, one pathological file freezes everything that shares
the interpreter (its web endpoint, the heartbeat that renews its job leases, its other
jobs), and no thread can be stopped from outside. A child process can: the parent waits
on a pipe without the GIL, and a child that runs past its budget is killed (SIGKILL),
not abandoned, so it frees its CPU and memory too.

Cost: one child per `IsolatedAnalyzer`, started at its first file and reused for the
next ones, or taken from a `ChildPool` of idle children that earlier users gave back
(the App's jobs share one). Children are forked from multiprocessing's fork server, which
has the analyzer imported already, so starting one is a fork, not a fresh interpreter. A
child that was killed, or that died (a crash, the kernel's OOM killer), is replaced at
the next file.
If the service itself dies while a child works, nobody is left to kill it: the child has
its own CPU limit (RLIMIT_CPU: the call's budget and one second), and the fork server
exits once its children have.

Nothing here knows where the files come from: the GitHub App (`app.review.analyze`) uses one
`IsolatedAnalyzer` per job; the CLI does not need it (Ctrl-C stops a scan).
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import math
import multiprocessing
import pkgutil
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from failclosed.analyzers import rules
from failclosed.analyzers.compare import base_findings
from failclosed.analyzers.engine import analyze_source
from failclosed.analyzers.model import AnalysisError, Finding, Report
from failclosed.analyzers.settings import Config

try:
    import resource
except ImportError:  # not POSIX: no CPU limit backstop
    resource = None  # type: ignore[assignment]

T = TypeVar("T")
DEFAULT_FILE_BUDGET_SECONDS = 60.0
CLOSE_SECONDS = 1.0  # an idle child asked to exit gets this long before it is killed
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


# -- a reusable child process ----------------------------------------------------------------


class ChildError(Exception):
    """A call in the child did not give an answer; the message says why."""


class OverBudget(ChildError):
    """The call ran past its time limit; the child was killed."""


class ChildDied(ChildError):
    """The child exited during the call (a crash, or killed by a signal such as the OOM
    killer's)."""


class ChildRaised(ChildError):
    """The call raised in the child (`Type: message`), or its answer could not be sent."""


class Closing:
    """Closed when its `with` block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ChildProcess(Closing):
    """One child process that runs picklable calls one at a time, each under a time limit.

    Not thread-safe: one owner at a time (the App has one per job). A call that runs past
    its limit kills the child; a dead child is replaced at the next call. `close` (or
    leaving the `with` block) ends it.
    """

    def __init__(self, context: BaseContext | None = None) -> None:
        self._context = context
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.started = 0  # children started so far (a killed one is replaced)
        self.calls = 0  # calls the current child answered

    @property
    def alive(self) -> bool:
        """A child is running and idle (a call past its limit kills it)."""
        return self._process is not None and self._process.is_alive()

    def call(self, fn: Callable[..., T], args: tuple[Any, ...], timeout: float) -> T:
        """`fn(*args)` in the child; raises `OverBudget`, `ChildDied` or `ChildRaised`."""
        conn = self._ensure_child()
        try:
            conn.send((fn, args, timeout))
            if not conn.poll(timeout):  # waits without the GIL
                self._kill()
                raise OverBudget(f"ran past {timeout:g} s")
            ok, answer = conn.recv()
        except (EOFError, OSError) as exc:  # the pipe broke: the child is gone
            code = self._reap()
            if code == -signal.SIGXCPU:  # its own CPU limit (`_limit_cpu`) came first
                raise OverBudget(f"ran past {timeout:g} s") from exc
            raise ChildDied(death_message(code)) from exc
        self.calls += 1
        if not ok:
            raise ChildRaised(answer)
        return answer

    def close(self) -> None:
        """Ask the child to exit; kill it if it does not within `CLOSE_SECONDS`."""
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
        process.join(CLOSE_SECONDS)
        self._kill()

    def _ensure_child(self) -> Connection:
        """The live child's end of the pipe, starting a child when there is none."""
        if self._process is not None and self._conn is not None and self._process.is_alive():
            return self._conn
        self._kill()
        context = self._context or default_context()
        parent_end, child_end = context.Pipe()
        process = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(child_end,), name="failclosed-analysis", daemon=True
        )
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        self.started += 1
        self.calls = 0
        return parent_end

    def _kill(self) -> None:
        """SIGKILL the child (if any) and reap it: nothing it was doing goes on."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join()
            process.close()

    def _reap(self) -> int | None:
        """The exit code of a child that went away (-N: killed by signal N); it is
        reaped and forgotten."""
        process = self._process
        code = None
        if process is not None:
            process.join(CLOSE_SECONDS)
            code = process.exitcode
        self._kill()
        return code


class ChildPool(Closing):
    """Idle children kept between users: a job takes one (started and warmed by an earlier
    job) instead of starting its own, and gives it back when it is done.

    Starting a child costs more than analysing a small file: a fork, multiprocessing
    running the main module again in it, and colder caches for its first file. A child
    goes back only alive (one killed past its budget is not) and before `max_calls`
    answers, so that what the analyzer's caches hold stays bounded; at most `max_idle`
    are kept. Thread-safe.
    """

    def __init__(
        self, context: BaseContext | None = None, max_idle: int = 8, max_calls: int = 1_000
    ) -> None:
        self._context = context
        self._max_idle = max_idle
        self._max_calls = max_calls
        self._idle: list[ChildProcess] = []
        self._lock = threading.Lock()

    def take(self) -> ChildProcess:
        """An idle child, or a new one (started at its first call)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ChildProcess(self._context)

    def give_back(self, child: ChildProcess) -> None:
        """Keep the child for the next user, or end it."""
        if child.alive and child.calls < self._max_calls:
            with self._lock:
                if len(self._idle) < self._max_idle:
                    self._idle.append(child)
                    return
        child.close()

    def close(self) -> None:
        """End every idle child."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()


def death_message(code: int | None) -> str:
    """How the child ended, from its exit code."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
        return f"the analysis process was killed by {name}"
    return f"the analysis process exited (status {code})"


@cache
def default_context() -> BaseContext:
    """Fork server where there is one (Linux, macOS): children are forked from a small
    process that has the analyzer imported, never from the service itself, whose threads
    make a plain fork unsafe. Elsewhere a fresh interpreter per child ("spawn")."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preloaded_modules())  # no effect once it has started
    return context


def preloaded_modules() -> list[str]:
    """What the fork server imports once, so that no child imports it again: this module,
    every rule (`all_rules` imports them at the first analysis: 0.2 s a child), and what
    the main module stands on (see `main_modules`)."""
    found = pkgutil.iter_modules(rules.__path__, prefix=f"{rules.__name__}.")
    rule_modules = sorted(module.name for module in found)
    return [*main_modules(), __name__, *rule_modules, "failclosed.analyzers.isolation_warmup"]


def main_modules() -> list[str]:
    """The modules multiprocessing imports again in each child, before our code runs.

    It runs the main module again in every child (as `__mp_main__`):
    `python -m failclosed.app.commands.serve` would import uvicorn and FastAPI per child (1.5 s), a
    console script what its top level imports. Imported once in the fork server, they are
    only looked up. A module run as `python -m pkg` (`pkg.__main__`) is not run again, and
    needs nothing. (The fork server of Python 3.11 ignores `__main__` in its preload list,
    and the parent's `sys.path`: a module found only through a path the parent added is
    imported per child.)
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return [] if spec.name.endswith("__main__") else [spec.name]
    path = getattr(main, "__file__", None)
    return [name for name in _top_level_imports(path) if name in sys.modules] if path else []


def _top_level_imports(path: str) -> list[str]:
    """The modules a script imports at its top level (what running it again imports)."""
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _serve(conn: Connection) -> None:
    """The child: answer calls until told to stop (None) or the parent is gone."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        fn, args, timeout = request
        _limit_cpu(timeout)
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            data = ForkingPickler.dumps(reply)
        except Exception as exc:  # the answer does not pickle: say so instead
            data = ForkingPickler.dumps((False, f"the answer cannot be sent: {exc!r}"[:300]))
        try:
            conn.send_bytes(data)
        except OSError:  # the parent is gone
            return


def _limit_cpu(seconds: float) -> None:
    """A backstop the kernel enforces: this child is ended (SIGXCPU) once the call has used
    `seconds` of CPU and one more, even if its parent died and nobody is left to kill it
    (the parent's own limit, on wall time, comes first)."""
    if resource is None:
        return
    with contextlib.suppress(ValueError, OSError):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file when it fires


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this child when its parent (the fork server) dies:
    a child stuck in a pathological file holds the GIL and could not notice by itself.
    (The fork server outlives the service while a child runs: `_limit_cpu` ends those.)"""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# -- the analysis of one file, in the child --------------------------------------------------


@dataclass(frozen=True)
class FileAnalysis:
    """Both versions of one changed file as `failclosed diff` analyses them: the new one
    with its verified fixes (or why it could not be analysed), and the old one's findings
    to compare with."""

    report: Report
    base: list[Finding] = field(default_factory=list)


Hook = Callable[[str], object]  # called in the child with each file's path, first


def _change(
    before: Hook | None,
    head: bytes,
    path: str,
    old: bytes | None,
    old_path: str | None,
    config: Config,
) -> FileAnalysis:
    if before is not None:
        before(path)
    report = analyze_source(head, path, config, with_fixes=True)
    return FileAnalysis(report, base_findings(old, old_path, path, config))


def _source(
    before: Hook | None, data: bytes, path: str, config: Config, with_fixes: bool
) -> Report:
    if before is not None:
        before(path)
    return analyze_source(data, path, config, with_fixes=with_fixes)


class IsolatedAnalyzer(Closing):
    """`analyze_source` of one file at a time in a `ChildProcess`, each file under
    `budget_seconds`. Never raises for a file: one that runs past its budget, kills its
    child or makes the analyzer raise is an `AnalysisError` (fail closed: it was not
    verified), and the next file gets a new child.

    With a `pool`, its child comes from the pool and goes back to it on `close`; without
    one, the analyzer has a child of its own, ended on `close`.

    `before` is called in the child with each file's path before it is analysed: tests
    make a file slow or crash the child with it. It must be picklable (a module-level
    function).
    """

    def __init__(
        self,
        budget_seconds: float = DEFAULT_FILE_BUDGET_SECONDS,
        *,
        before: Hook | None = None,
        context: BaseContext | None = None,
        pool: ChildPool | None = None,
    ) -> None:
        if budget_seconds <= 0:
            raise ValueError("the per-file budget must be positive")
        self.budget_seconds = budget_seconds
        self._before = before
        self._pool = pool
        self.child = pool.take() if pool is not None else ChildProcess(context)

    def analyze_change(
        self, head: bytes, path: str, old: bytes | None, old_path: str | None, config: Config
    ) -> FileAnalysis:
        """The head version (with fixes) and the base version's findings (see
        `compare.base_findings`) of one changed file, under one budget."""
        args = (self._before, head, path, old, old_path, config)
        answer = self._call(_change, args, path)
        return answer if isinstance(answer, FileAnalysis) else FileAnalysis(Report([], [answer]))

    def analyze_source(
        self, data: bytes, path: str, config: Config, with_fixes: bool = True
    ) -> Report:
        """`engine.analyze_source` of one file, under the budget."""
        answer = self._call(_source, (self._before, data, path, config, with_fixes), path)
        return answer if isinstance(answer, Report) else Report([], [answer])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.give_back(self.child)
        else:
            self.child.close()

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], path: str) -> T | AnalysisError:
        try:
            return self.child.call(fn, args, self.budget_seconds)
        except OverBudget:
            return AnalysisError(path, over_budget_message(self.budget_seconds))
        except ChildDied as exc:
            return AnalysisError(path, f"could not be verified: {exc}")
        except ChildRaised as exc:
            return AnalysisError(path, f"internal error while analysing: {exc}")


def over_budget_message(budget_seconds: float) -> str:
    return f"could not be verified: analysis ran past {budget_seconds:g} s"
