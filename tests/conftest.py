"""Every test runs with the network cut off, except loopback (redis-server, uvicorn);
only the opt-in `slow` tests (real packages from PyPI) may reach out.

GitHub traffic is replayed from cassettes; a request that escaped vcrpy, or any other
connection leaving the machine, fails the test at once instead of reaching out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkBlocked(RuntimeError):
    """A test tried to connect somewhere other than 127.0.0.1 / ::1 / a Unix socket."""


def _check(address: Any) -> None:
    if isinstance(address, str | bytes):  # AF_UNIX
        return
    host = address[0]
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise NetworkBlocked(f"tests may only connect to loopback, not {address!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("slow"):  # `-m slow` downloads packages from PyPI
        yield
        return
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


def make_read_only(path: Path) -> Callable[[], None]:
    """Make a file unwritable for this process, and return how to undo it. Root ignores
    file modes, so for root the file is made immutable (`chattr +i`), where it can be."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return lambda: path.chmod(0o644)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not allowed: no read-only file")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def read_only_queue_file(tmp_path: Path) -> Iterator[Path]:
    """An existing queue file this process cannot write (its folder stays writable, as
    a volume's would: SQLite then opens the file read-only without a word)."""
    path = tmp_path / "jobs.sqlite3"
    from failclosed.app.run.queue import SqliteJobQueue

    SqliteJobQueue(path).close()
    undo = make_read_only(path)
    try:
        yield path
    finally:
        undo()
