"""Unauthenticated bodies against a real uvicorn on 127.0.0.1: how many, how many bytes and
how slow they may be before the signature can be checked, and how slow the headers before
them (issue 11 item 9).

Junk is sent over raw sockets (headers, then part of a body, then nothing); `/healthz` and
signed deliveries go through httpx meanwhile. Limits are made small so every test takes
about a second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import select
import socket
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException
from starlette.requests import Request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from load import Served as Uvicorn  # bench/load.py's: uvicorn on a thread, a free port
from support import github_headers, load_payload, make_settings, wait_for

from failclosed.app.receive import bodies
from failclosed.app.receive.bodies import BodyGate, BodyLimits
from failclosed.app.receive.connections import HeaderDeadlineProtocol
from failclosed.app.receive.server import create_app
from failclosed.app.receive.webhooks import InMemoryJobSink


class Served(Uvicorn):
    """`create_app` with these body limits and an in-memory sink, under a real uvicorn
    (httptools, as `failclosed serve` picks) on a free port of 127.0.0.1."""

    def __init__(self, limits: BodyLimits, http: type[HeaderDeadlineProtocol] | None = None):
        self.sink = InMemoryJobSink()
        self.app = create_app(make_settings(), self.sink, body_limits=limits)
        super().__init__(self.app)
        if http is not None:  # as `failclosed serve` runs uvicorn
            self.server.config.http = http

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=2.0)

    def junk(self, declared: int, sent: bytes) -> socket.socket:
        """An unsigned POST that declares `declared` bytes, sends `sent`, then stalls."""
        conn = socket.create_connection(("127.0.0.1", self.port))
        head = (
            "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nContent-Length: {declared}\r\n\r\n"
        )
        conn.sendall(head.encode() + sent)
        return conn


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with Served(request.param) as served:
        yield served


def answers(conns: list[socket.socket], within: float) -> dict[socket.socket, bytes]:
    """What each connection received, up to the server closing it or `within` seconds."""
    got: dict[socket.socket, bytes] = {conn: b"" for conn in conns}
    open_ = set(conns)
    deadline = time.monotonic() + within
    while open_ and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(list(open_), [], [], left)
        for conn in readable:
            try:
                data = conn.recv(65536)
            except ConnectionError:
                data = b""
            if data:
                got[conn] += data
            else:  # closed by the server
                open_.discard(conn)
    for conn in conns:
        if conn in open_:
            got[conn] += b"<still open>"
    return got


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def signed_delivery(client: httpx.Client) -> httpx.Response:
    body = json.dumps(load_payload("pull_request.opened")).encode()
    return client.post("/webhook", content=body, headers=github_headers("pull_request", body))


SLOW = BodyLimits(max_body_bytes=1 << 20, max_bytes_in_flight=4 << 20, body_seconds=0.5)


@pytest.mark.parametrize("served", [SLOW], indirect=True)
def test_a_slow_body_is_cut_off_with_408_and_its_socket_closed(served: Served) -> None:
    """1 byte, then nothing: before, the connection and its handler were held for ever."""
    conn = served.junk(declared=1000, sent=b"{")

    (answer,) = answers([conn], within=3.0).values()

    assert status_of(answer) == 408
    assert answer.endswith(b"}")  # then closed: the socket is free again
    assert b"connection: close" in answer.lower()


@pytest.mark.parametrize("served", [SLOW], indirect=True)
def test_a_client_that_leaves_mid_body_is_one_short_log_line(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11: each one logged a full traceback (starlette's ClientDisconnect)."""
    with caplog.at_level(logging.INFO):
        conn = served.junk(declared=1000, sent=b'{"action": "opened"')
        wait_for(lambda: served.app.state.body_gate.bytes_in_flight == 19)
        conn.close()
        wait_for(lambda: any(r.name == "failclosed.app.receive.bodies" for r in caplog.records))
        assert signed_delivery(served.client()).status_code == 202  # and it still serves

    (line,) = [r.getMessage() for r in caplog.records if r.name == "failclosed.app.receive.bodies"]
    assert line == "webhook body abandoned: client disconnected after 19 bytes"
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []


FEW = BodyLimits(max_bodies=8, max_body_bytes=1 << 20, max_bytes_in_flight=4 << 20)


@pytest.mark.parametrize("served", [FEW], indirect=True)
def test_held_bodies_beyond_the_cap_are_dropped_oldest_first_and_the_service_answers(
    served: Served,
) -> None:
    """200 stalled bodies against a cap of 8: the oldest are answered 503 and closed, so
    sockets and memory stay bounded, and /healthz and a signed delivery still get through
    while the newest 8 are held (for up to the 10 s body time-out, far past the test)."""
    junk = [served.junk(declared=1000, sent=b"{") for _ in range(200)]
    first = answers(junk, within=1.5)
    dropped = [conn for conn in junk if status_of(first[conn]) == 503]
    held = [conn for conn in junk if first[conn] == b"<still open>"]

    with served.client() as client:
        health = client.get("/healthz")
        delivery = signed_delivery(client)
    then = answers(held, within=0.5)

    assert len(dropped) == 192 and len(held) == 8
    assert all(first[conn].endswith(b"}") for conn in dropped)  # answered, then closed
    assert set(held) <= set(junk[-50:])  # the newest are held (order on the wire aside)
    assert health.status_code == 200
    assert delivery.status_code == 202
    assert len(served.sink.jobs) == 1
    # The delivery took the oldest held body's place; the other 7 are still held.
    assert sorted(status_of(answer) or 0 for answer in then.values()) == [0] * 7 + [503]
    for conn in junk:
        conn.close()


BYTES = BodyLimits(max_body_bytes=1 << 20, max_bytes_in_flight=1 << 20)


@pytest.mark.parametrize("served", [BYTES], indirect=True)
def test_bytes_in_flight_are_capped_by_dropping_the_largest_body(served: Served) -> None:
    """Two bodies streaming toward the cap (GitHub's 25 MB; 1 MB here) fill the budget of
    bytes in flight: the one holding the most is dropped (503), and a signed delivery
    still fits."""
    gate = served.app.state.body_gate
    largest = served.junk(declared=1 << 20, sent=b"x" * (700 << 10))
    wait_for(lambda: gate.bytes_in_flight == 700 << 10)
    second = served.junk(declared=1 << 20, sent=b"x" * (500 << 10))
    got = answers([largest], within=1.0)
    wait_for(lambda: gate.bytes_in_flight == 500 << 10)

    with served.client() as client:
        delivery = signed_delivery(client)

    assert status_of(got[largest]) == 503
    assert answers([second], within=0.2)[second] == b"<still open>"
    assert delivery.status_code == 202
    for conn in (largest, second):
        conn.close()


def test_limits_must_leave_room_for_one_whole_payload() -> None:
    with pytest.raises(ValueError, match="must hold one body"):
        BodyLimits(max_bytes_in_flight=1 << 20)  # less than one body at GitHub's cap


def test_a_cancellation_that_is_not_the_gates_stays_a_cancellation() -> None:
    """A shutdown cancels the tasks reading bodies: that must not be turned into an answer,
    and the body must not stay counted."""
    gate = BodyGate()

    async def cancelled_mid_body() -> None:
        never = asyncio.Event()

        async def receive() -> dict[str, object]:
            await never.wait()
            return {}

        scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": []}
        reading = asyncio.create_task(gate.read(Request(scope, receive)))
        await asyncio.sleep(0.01)
        assert gate.bodies_in_flight == 1
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(cancelled_mid_body())
    assert gate.bodies_in_flight == 0 and gate.bytes_in_flight == 0


class QuickHeaders(HeaderDeadlineProtocol):
    header_seconds = 0.5


def test_headers_sent_too_slowly_are_cut_off_while_the_service_answers() -> None:
    """uvicorn waits for the rest of a request's headers for ever; `failclosed serve`'s
    protocol closes such connections (and silent ones) after `header_seconds`."""
    with Served(BodyLimits(), http=QuickHeaders) as served:
        trickling = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(50)]
        for conn in trickling:
            conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        silent = socket.create_connection(("127.0.0.1", served.port))
        with served.client() as client:
            health = client.get("/healthz")
            delivery = signed_delivery(client)
        got = answers([*trickling, silent], within=2.0)

    assert health.status_code == 200
    assert delivery.status_code == 202
    assert set(got.values()) == {b""}  # every one closed by the server, nothing said
    for conn in [*trickling, silent]:
        conn.close()


def test_serve_runs_uvicorn_with_the_header_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from failclosed.app.commands import serve

    ran: dict[str, object] = {}
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **options: ran.update(options))

    serve.run_uvicorn(object(), "127.0.0.1", 0)

    assert ran["http"] is HeaderDeadlineProtocol


def test_a_dropped_body_is_freed_at_once_not_by_the_garbage_collector() -> None:
    """The answer to a dropped body must not hold its reading frames (and their buffer) in
    a reference cycle: 100 dropped 24 MB bodies kept 400 MB alive until a collection."""
    gate = BodyGate(BodyLimits(max_bodies=1))
    scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": []}

    async def stalled() -> dict[str, object]:
        await asyncio.Event().wait()
        return {}

    async def whole() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def answer(receive: Callable[[], Awaitable[dict[str, object]]]) -> int:
        """As Starlette answers it: the exception is caught in the request's own task."""
        try:
            await gate.read(Request(scope, receive))
        except HTTPException as exc:
            return exc.status_code
        return 200

    async def first_dropped_by_second() -> list[int]:
        first = asyncio.create_task(answer(stalled))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(answer(whole))
        return [await first, await second]

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        statuses = asyncio.run(first_dropped_by_second())
        gc.collect()
        in_cycles = [
            found.f_code.co_name
            for found in gc.garbage
            if isinstance(found, types.FrameType) and found.f_code.co_filename == bodies.__file__
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert statuses == [503, 200]
    assert in_cycles == []


class FewAwaiting(HeaderDeadlineProtocol):
    max_awaiting_headers = 20


def test_connections_waiting_for_headers_beyond_the_cap_are_closed_oldest_first() -> None:
    """Within the header time limit, trickling clients could still hold every socket; past
    the cap the oldest waiting is closed, so the newest (GitHub's) get in."""
    with Served(BodyLimits(), http=FewAwaiting) as served:
        trickling = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(50)]
        for conn in trickling:
            conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        first = answers(trickling, within=1.0)
        with served.client() as client:
            health = client.get("/healthz")
            delivery = signed_delivery(client)

    closed = [conn for conn in trickling if first[conn] == b""]
    assert len(closed) == 30
    assert set(trickling[:25]) <= set(closed)  # the oldest first (order on the wire aside)
    assert health.status_code == 200
    assert delivery.status_code == 202
    for conn in trickling:
        conn.close()
