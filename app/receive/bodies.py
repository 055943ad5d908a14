"""Reading unauthenticated request bodies without letting them take the service down.

A webhook's signature covers its raw body, so the body has to be read before anyone knows
who sent it. Read naively, that lets anybody hold memory (100 connections streaming 24 MB
each took the process to 3.5 GB) and sockets and handlers (1,000 connections sending a
byte every 5 s, for ever). So every body is read through one `BodyGate` per app, which
bounds what unauthenticated bodies may hold at once:

- **How many**: at most `max_bodies` are being received at once. One more drops the
  *oldest* (503): GitHub sends a delivery's body right behind its headers, so a body
  still arriving after many newer ones is not GitHub's, and dropping the newcomer instead
  would let a few stalled connections refuse every real delivery.
- **How many bytes**: at most `max_bytes_in_flight` received and not yet handed on. Over
  it, the body holding the *most* is dropped (503): a real delivery is ~25 KB.
- **How long**: a body must be complete `body_seconds` after its headers (408).
- **How big**: one body at most GitHub's 25 MB cap (413), refused from its
  Content-Length before reading when it says so.

Dropped bodies are answered with `Connection: close`, so their sockets are freed too.
Requests without a body (`/healthz`, `/metrics`) never pass through the gate. Everything
here runs on the event loop's thread (asyncio: uvicorn's): no locks.

The time to send the *headers* is `app.receive.connections`' to bound; the number of connections
a reverse proxy's (README, "In front of it").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status
from starlette.types import Message

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
HTTP_408_TIMEOUT = 408  # literal codes: the constants' names changed across Starlette versions
HTTP_413_TOO_LARGE = 413
HTTP_503 = 503
# Answers that end the connection: the rest of that body is never read.
CLOSE = {"Connection": "close"}
RETRY_SOON = {**CLOSE, "Retry-After": "1"}


@dataclass(frozen=True)
class BodyLimits:
    """What unauthenticated bodies may hold at once (see the module docstring)."""

    max_bodies: int = 64  # far above GitHub's own concurrency; each costs a task, a socket
    max_body_bytes: int = MAX_PAYLOAD_BYTES
    max_bytes_in_flight: int = 4 * MAX_PAYLOAD_BYTES  # four payloads at GitHub's cap
    body_seconds: float = 10.0  # GitHub gives up on a delivery after 10 s anyway

    def __post_init__(self) -> None:
        if self.max_bytes_in_flight < self.max_body_bytes:
            raise ValueError(
                f"max_bytes_in_flight ({self.max_bytes_in_flight}) must hold one body at"
                f" max_body_bytes ({self.max_body_bytes}), or that body could never be read"
            )
        if self.max_bodies < 1 or self.body_seconds <= 0:
            raise ValueError("max_bodies and body_seconds must be positive")


@dataclass(eq=False)
class _Body:
    """One body being received, by the task reading it."""

    task: asyncio.Task[Any]
    deadline: float  # loop time
    received: int = 0
    # Why the gate stopped it: the answer's status and detail. Not the exception itself,
    # which would hold the reading frames (and their buffers) in a reference cycle until
    # the garbage collector came by: 100 dropped 24 MB bodies kept 400 MB alive.
    stopped: tuple[int, str] | None = None

    def stop(self, status_code: int, detail: str) -> None:
        """End this body with that answer. Its task is waiting for the next chunk (the
        gate runs only between awaits), so that wait is cancelled; the reading task
        itself just raises."""
        self.stopped = (status_code, detail)
        if self.task is not asyncio.current_task():
            self.task.cancel()


class BodyGate:
    """Admits bodies to be read within `BodyLimits`; one per app, used on the event loop.

    Cheap per request (a few microseconds): no timer per body, but one per gate, for
    the oldest body's deadline. Bodies are kept in admission order, which is deadline
    order too, so expiring them looks at the oldest only. A stopped body's wait is
    cancelled the way `asyncio.timeout` does it, and told apart from any other
    cancellation (a shutdown) the same way."""

    def __init__(self, limits: BodyLimits | None = None) -> None:
        self.limits = limits or BodyLimits()
        self._bodies: dict[_Body, None] = {}  # in admission order: the oldest first
        self._bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def bytes_in_flight(self) -> int:
        return self._bytes

    @property
    def bodies_in_flight(self) -> int:
        return len(self._bodies)

    async def read(self, request: Request) -> bytes:
        """The request's whole body, or an HTTPException: 400 (bad Content-Length or the
        client left), 408 (too slow), 413 (too big), 503 (dropped to make room)."""
        refuse_declared_length(request, self.limits.max_body_bytes)
        body = self._admit()
        try:
            return await self._receive(request.receive, body)
        except asyncio.CancelledError:
            if body.stopped is None or body.task.uncancel() > 0:
                raise  # not the gate's doing (or not only): shutting down, say
            raise stopped_error(*body.stopped) from None
        finally:
            self._remove(body)

    def _admit(self) -> _Body:
        """Take a new body in, dropping the oldest when the gate is full."""
        if len(self._bodies) >= self.limits.max_bodies:
            oldest = next(iter(self._bodies))
            self._remove(oldest)
            oldest.stop(HTTP_503, f"more than {self.limits.max_bodies} bodies arriving at once")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # a body is read by a request's task; `stop` cancels that task
            raise RuntimeError("a body can only be read inside a task")
        body = _Body(task, loop.time() + self.limits.body_seconds)
        self._bodies[body] = None
        if self._timer is None or self._timer_loop is not loop:  # (tests run many loops)
            self._timer, self._timer_loop = loop.call_at(body.deadline, self._expire), loop
        return body

    def _expire(self) -> None:
        """Stop the bodies whose time ran out (408), then wait for the next deadline."""
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._bodies:
            oldest = next(iter(self._bodies))
            if oldest.deadline > loop.time():
                self._timer = loop.call_at(oldest.deadline, self._expire)
                return
            self._remove(oldest)
            too_slow = f"body not received within {self.limits.body_seconds:g} s"
            oldest.stop(HTTP_408_TIMEOUT, too_slow)

    async def _receive(self, receive: Callable[[], Awaitable[Message]], body: _Body) -> bytes:
        """Collect the chunks, counting each against the body's and the gate's limits."""
        data = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # Routine on the internet, so one line, no traceback: nobody is left to answer.
                logger.info(
                    "webhook body abandoned: client disconnected after %d bytes", body.received
                )
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "client disconnected")
            chunk = message.get("body", b"")
            self._count(body, len(chunk))
            data.extend(chunk)
            if not message.get("more_body", False):
                return bytes(data)

    def _count(self, body: _Body, size: int) -> None:
        """Add a chunk to the body and the gate; over a limit, refuse or make room."""
        body.received += size
        self._bytes += size
        if body.received > self.limits.max_body_bytes:
            raise HTTPException(
                HTTP_413_TOO_LARGE, payload_too_large(self.limits.max_body_bytes), headers=CLOSE
            )
        while self._bytes > self.limits.max_bytes_in_flight:
            largest = max(self._bodies, key=lambda held: held.received)
            self._remove(largest)
            largest.stop(HTTP_503, f"more than {self.limits.max_bytes_in_flight} bytes arriving")
        if body.stopped is not None:
            raise stopped_error(*body.stopped)

    def _remove(self, body: _Body) -> None:
        """Stop counting a body (done with, or stopped); once only."""
        if body in self._bodies:
            del self._bodies[body]
            self._bytes -= body.received


def stopped_error(status_code: int, detail: str) -> HTTPException:
    """The answer to a body the gate stopped, always closing the connection: 503 (dropped
    to make room: GitHub shows the delivery failed, to redeliver) says when to retry."""
    if status_code == HTTP_503:
        return HTTPException(
            status_code, f"too busy to read this body ({detail}); redeliver later", RETRY_SOON
        )
    return HTTPException(status_code, detail, CLOSE)


def refuse_declared_length(request: Request, limit: int) -> None:
    """400 for a Content-Length that is not a number, 413 for one over `limit`: neither
    needs a byte of the body read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "invalid Content-Length header", headers=CLOSE
        )
    if int(declared) > limit:
        raise HTTPException(HTTP_413_TOO_LARGE, payload_too_large(limit), headers=CLOSE)


def payload_too_large(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"payload is larger than GitHub's {limit // (1024 * 1024)} MB webhook cap"
    return f"payload is larger than the {limit} byte cap"
