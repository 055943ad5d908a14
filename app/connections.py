"""A time limit on request headers, which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle, but once a client has sent one
byte of a request it waits for the rest of the headers for ever: a thousand clients
sending a byte every few seconds hold a thousand sockets (and the file descriptors that
`/healthz` and GitHub's deliveries need). The body has `app.bodies`' time limit; this is
the headers'. `failclosed serve` runs uvicorn with this protocol: it is uvicorn's own
httptools protocol, with a timer that closes the connection when a request's headers
are not complete `header_seconds` after the connection was made or after the previous
response. The timer is never armed while a request is being answered.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0  # GitHub sends its headers at once, and gives up after 10 s anyway


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers come too slowly."""

    header_seconds: float = HEADER_SECONDS
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

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        """Close the connection, unless a request is being answered on it after all."""
        self._header_timer = None
        if (self.cycle is None or self.cycle.response_complete) and not self.pipeline:
            self.transport.close()
