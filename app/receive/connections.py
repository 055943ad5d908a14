"""Time and room for request headers, which uvicorn does not bound.

uvicorn closes a keep-alive connection that stays idle, but once a client has sent one
byte of a request it waits for the rest of the headers for ever: a thousand clients
sending a byte every few seconds hold a thousand sockets (and the file descriptors that
`/healthz` and GitHub's deliveries need). The body has `app.receive.bodies`' limits; these are
the headers'. `failclosed serve` runs uvicorn with this protocol: uvicorn's own httptools
protocol, plus

- a timer that closes the connection when a request's headers are not complete
  `header_seconds` after the connection was made or after the previous response (never
  armed while a request is being answered);
- a cap on the connections waiting for headers: one more closes the *oldest* waiting.
  GitHub sends its headers at once, so the connections still waiting after many newer
  ones are not GitHub's; refusing the newcomer instead would let a few hundred trickling
  clients shut every delivery out for `header_seconds`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0  # GitHub sends its headers at once, and gives up after 10 s anyway
MAX_AWAITING_HEADERS = 256  # far above GitHub's concurrency, far below the usual fd limit


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers come too slowly,
    or that have waited longest when too many are waiting."""

    header_seconds: float = HEADER_SECONDS
    max_awaiting_headers: int = MAX_AWAITING_HEADERS
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next request's headers are due from now, unless one is already queued
        (pipelined: its headers are complete and it starts now)."""
        next_is_queued = bool(self.pipeline)
        super().on_response_complete()
        if not next_is_queued and not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> dict[HeaderDeadlineProtocol, None]:
        """This server's connections waiting for headers, oldest first. Kept on uvicorn's
        per-server state, which every connection of the server shares."""
        state = self.server_state
        awaiting = getattr(state, "failclosed_awaiting_headers", None)
        if awaiting is None:
            awaiting = state.failclosed_awaiting_headers = {}  # type: ignore[attr-defined]
        return awaiting

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)
        awaiting = self._awaiting_headers()
        awaiting[self] = None
        if len(awaiting) > self.max_awaiting_headers:
            next(iter(awaiting))._headers_too_slow()

    def _disarm_header_deadline(self) -> None:
        self._awaiting_headers().pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        """Close the connection, unless a request is being answered on it after all."""
        self._disarm_header_deadline()
        if (self.cycle is None or self.cycle.response_complete) and not self.pipeline:
            self.transport.close()
