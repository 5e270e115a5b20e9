"""Clients that stall: headers (HeaderTimeoutProtocol) and body (408), through a real uvicorn.

uvicorn runs in a thread of the test process on the app with its lifespan off (no model), with
half-second limits, so the test takes about two seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from complaint_triage.api import create_app
from complaint_triage.api.protocol import HeaderTimeoutProtocol
from complaint_triage.settings import Settings, get_settings

from .conftest import API_KEY


@pytest.fixture()
def server(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("COMPLAINT_TRIAGE_HEADER_TIMEOUT_S", "0.5")  # read by the protocol, as in a worker
    get_settings.cache_clear()
    app = create_app(make_settings(body_timeout_s=0.5))
    config = uvicorn.Config(app, http=HeaderTimeoutProtocol, loop="asyncio", lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1)
    srv = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()
        get_settings.cache_clear()


def _until_closed(s: socket.socket, limit: float = 5.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    t0 = time.monotonic()
    s.settimeout(limit)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data, time.monotonic() - t0


def test_stalled_clients_are_cut_off(server: int) -> None:
    idle = socket.create_connection(("127.0.0.1", server))
    headers = socket.create_connection(("127.0.0.1", server))
    headers.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    body = socket.create_connection(("127.0.0.1", server))
    body.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"text\": \"")
    with idle, headers, body:
        # a connection that sends nothing, or stops in its headers, is closed without an answer
        assert _until_closed(idle)[0] == b""
        assert _until_closed(headers)[0] == b""
        # one that stops in its body gets 408 and is closed
        answer, took = _until_closed(body)
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"error":"request_timeout"' in answer
        assert b"x-request-id" in answer.lower() and took < 3
    # a client that sends its request in time is served as usual, on a kept-alive connection
    with socket.create_connection(("127.0.0.1", server)) as ok:
        ok.settimeout(5)
        for _ in range(2):
            ok.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += ok.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
