"""The five implementations of `GitHubPort` conform to the Protocol.

mypy checks this module (`[tool.mypy]` in pyproject.toml): each class below must be a
structural `GitHubPort`, every method with the Protocol's signature. `AttemptPort` hands
out most methods through `__getattr__`, so for it mypy checks `create_check_run` only; the
test below checks at run time that the others have every method.
"""

from __future__ import annotations

import inspect

from crash_worker import FileBackedGitHub
from support import FakeGitHub

from failclosed.app.github.client import GitHubClient
from failclosed.app.github.port import GitHubPort
from failclosed.app.review.analyze import CountingPort
from failclosed.app.run.execute import AttemptPort


def port(cls: type[GitHubPort]) -> type[GitHubPort]:
    """`cls`, which mypy checks is a `GitHubPort` (naming what it lacks, if anything)."""
    return cls


IMPLEMENTATIONS = (
    port(GitHubClient),  # the githubkit client
    port(CountingPort),  # counts the calls of a job
    port(AttemptPort),  # the lease fence of one attempt
    port(FakeGitHub),  # the test fake (tests/support.py)
    port(FileBackedGitHub),  # the crash tests' fake (tests/crash_worker.py)
)

PORT_METHODS = sorted(
    name
    for name, _ in inspect.getmembers(GitHubPort, inspect.isfunction)
    if not name.startswith("_")
)


def test_every_implementation_has_every_method_of_the_port() -> None:
    assert "create_check_run" in PORT_METHODS and len(PORT_METHODS) >= 12
    for cls in IMPLEMENTATIONS:
        if cls is AttemptPort:
            continue  # forwards through __getattr__ (tests/test_app_execute.py)
        missing = [name for name in PORT_METHODS if not callable(getattr(cls, name, None))]
        assert missing == [], f"{cls.__name__} lacks {missing}"
