"""uvicorn's httptools protocol with a time limit on request headers.

uvicorn closes an idle keep-alive connection ``timeout_keep_alive`` seconds after a response,
but a fresh connection that sends nothing, or a client that stops in the middle of its request
headers, is kept open for ever (the operations acceptance test found both still open after
20 s).  :class:`HeaderTimeoutProtocol` closes such a connection, without an answer, when the
headers are not complete within ``Settings.header_timeout_s`` (``COMPLAINT_TRIAGE_HEADER_TIMEOUT_S``)
of the connection being made or of the first byte of the next request on it.  A client that
stalls in the body is answered 408 by the app (:class:`complaint_triage.api.app.BodyLimitMiddleware`).

``complaint-triage serve`` runs uvicorn with ``--http complaint_triage.api.protocol:HeaderTimeoutProtocol``
(:data:`complaint_triage.api.supervisor.HTTP_PROTOCOL`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from complaint_triage.settings import get_settings

__all__ = ["HeaderTimeoutProtocol"]


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`~uvicorn.protocols.http.httptools_impl.HttpToolsProtocol` that closes a connection
    whose request headers do not arrive in time (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()  # (the first request keeps the deadline counted from the connection)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
