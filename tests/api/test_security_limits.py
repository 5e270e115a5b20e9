"""API keys, CORS, request-body limit and the concurrency bound (503 + Retry-After)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api import create_app
from complaint_triage.api.security import AdminRoute, KeyedRoute, bearer_key, key_digest, key_matches
from complaint_triage.settings import Settings

from .conftest import ADMIN_KEY, API_KEY, AUTH, sha256

SCORING = [
    ("post", "/v1/score", {"json": {"text": "ゴミが回収されていません。"}}),
    ("post", "/v1/score/batch", {"json": {"items": [{"text": "ゴミが回収されていません。"}]}}),
    ("post", "/v1/score/form", {"json": {"body": "ゴミが回収されていません。"}}),
    ("post", "/v1/score/email", {"content": b"From: a@example.jp\r\n\r\nhello\r\n",
                                 "headers": {"Content-Type": "message/rfc822"}}),
    ("get", "/v1/model", {}),
]

#: the ASGI scope of an authorised POST /v1/score, for driving the app by hand
_SCORE_SCOPE = {"type": "http", "method": "POST", "path": "/v1/score", "raw_path": b"/v1/score", "root_path": "",
                "scheme": "http", "query_string": b"", "http_version": "1.1", "server": ("testserver", 80),
                "client": ("127.0.0.1", 1), "headers": [(b"content-type", b"application/json"),
                                                         (b"authorization", AUTH["Authorization"].encode())]}


class TestApiKeys:
    @pytest.mark.parametrize(("method", "path", "kw"), SCORING)
    @pytest.mark.parametrize(
        "authorization",
        [None, "", "Bearer", "Bearer ", f"Basic {API_KEY}", f"Bearer {API_KEY}x", f"Bearer {API_KEY[:-1]}",
         f"Token {API_KEY}", f"Bearer {sha256(API_KEY)}"],
    )
    def test_every_v1_route_needs_a_valid_key(self, client: TestClient, method: str, path: str, kw: dict,
                                              authorization: str | None) -> None:
        headers = dict(kw.get("headers", {}))
        if authorization is not None:
            headers["Authorization"] = authorization
        r = getattr(client, method)(path, **{**kw, "headers": headers})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["message"] == "missing or invalid API key"
        assert r.json()["error"] == "unauthorized"

    @pytest.mark.parametrize(("method", "path", "kw"), SCORING)
    def test_valid_and_admin_keys_are_accepted(self, client: TestClient, method: str, path: str, kw: dict) -> None:
        for key in (API_KEY, ADMIN_KEY):
            headers = {**kw.get("headers", {}), "Authorization": f"bearer {key}"}
            r = getattr(client, method)(path, **{**kw, "headers": headers})
            assert r.status_code == 200, (path, r.text)

    def test_the_key_is_checked_before_the_content_type_and_the_body(self, client: TestClient) -> None:
        for path in ("/v1/score", "/v1/feedback", "/v1/score/batch"):
            r = client.post(path, content=b"not json", headers={"Content-Type": "text/plain"})
            assert r.status_code == 401, path
            r = client.post(path, content=b"not json", headers={**AUTH, "Content-Type": "text/plain"})
            assert r.status_code == 415, path

    def test_every_v1_route_is_keyed(self, make_settings: Callable[..., Settings]) -> None:
        """A route added to the API under /v1 cannot be left without the key check."""
        from fastapi.routing import APIRoute

        def walk(routes: list) -> Iterator:
            for r in routes:  # FastAPI 0.165 keeps included routers whole (``original_router``)
                inner = getattr(r, "original_router", None)
                yield from walk(inner.routes) if inner is not None else [r]

        routes = [r for r in walk(create_app(make_settings()).routes) if isinstance(r, APIRoute)]
        v1 = [r for r in routes if r.path.startswith("/v1/")]
        assert len(v1) >= 7
        for r in v1:
            assert isinstance(r, KeyedRoute), r.path
            assert isinstance(r, AdminRoute) == r.path.startswith("/v1/admin/"), r.path
        assert not any(isinstance(r, KeyedRoute) for r in routes if not r.path.startswith("/v1/"))

    @pytest.mark.parametrize(("header", "key"), [
        (None, None), ("", None), ("Bearer", None), ("Bearer ", None), ("Bearer    ", None),
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), ("Basic abc", None),
        ("Bearerabc", None), ("Bearer 鍵 です", "鍵 です"),
    ])
    def test_bearer_key(self, header: str | None, key: str | None) -> None:
        assert bearer_key(header) == key

    def test_health_routes_are_open(self, client: TestClient) -> None:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            assert client.get(path).status_code == 200, path

    def test_no_configured_keys_refuses_everyone(self, make_settings: Callable[..., Settings]) -> None:
        with TestClient(create_app(make_settings(api_keys_sha256=[], admin_keys_sha256=[]))) as c:
            r = c.post("/v1/score", json={"text": "a"}, headers=AUTH)
            assert r.status_code == 401
            assert c.get("/healthz").status_code == 200

    def test_key_matching(self) -> None:
        digests = [sha256("one"), sha256("two")]
        assert key_matches("two", digests) and not key_matches("three", digests) and not key_matches("one", [])
        assert key_digest("one") == sha256("one")


@pytest.fixture(scope="module")
def tight(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    s = make_settings(max_body_bytes=4096, max_concurrency=1, cors_origins=["https://form.example.lg.jp"])
    with TestClient(create_app(s)) as c:
        yield c


class TestBodyLimit:
    def test_declared_length_over_the_limit(self, tight: TestClient) -> None:
        r = tight.post("/v1/score", content=b"{" + b" " * 5000 + b"}",
                       headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"] == "body_too_large"
        assert "4,096 bytes (max_body_bytes)" in r.json()["message"] and "5,002 bytes" in r.json()["message"]

    def test_streamed_body_over_the_limit(self, tight: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"text": "'
            for _ in range(10):
                yield "あ".encode() * 200

        r = tight.post("/v1/score", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413
        assert "over the limit of 4,096 bytes" in r.json()["message"]

    def test_limit_is_checked_before_auth_and_parsing(self, tight: TestClient) -> None:
        r = tight.post("/v1/score", content=b"x" * 5000, headers={"Content-Type": "application/json"})
        assert r.status_code == 413

    def test_bodies_under_the_limit_pass(self, tight: TestClient) -> None:
        r = tight.post("/v1/score", json={"text": "あ" * 1000}, headers=AUTH)  # 3,000+ bytes
        assert r.status_code == 200

    def test_bad_content_length(self, tight: TestClient) -> None:
        r = tight.post("/v1/score", content=b"{}", headers={**AUTH, "Content-Type": "application/json",
                                                            "Content-Length": "abc"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_content_length"


class TestConcurrency:
    def test_requests_beyond_the_bound_get_503_with_retry_after(self, tight: TestClient) -> None:
        scorer = tight.app.state.scorer
        release = threading.Event()
        original = scorer.triager.score_many

        def slow(*args, **kwargs):
            release.wait(10)
            return original(*args, **kwargs)

        scorer.triager.score_many = slow
        try:
            first: dict[str, int] = {}
            t = threading.Thread(target=lambda: first.setdefault(
                "status", tight.post("/v1/score", json={"text": "ゴミ"}, headers=AUTH).status_code))
            t.start()
            deadline = time.monotonic() + 10
            while scorer.in_flight < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert scorer.in_flight == 1
            r = tight.post("/v1/score", json={"text": "ゴミ"}, headers=AUTH)
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.json()["error"] == "overloaded" and "max_concurrency" in r.json()["message"]
            assert tight.get("/healthz").status_code == 200  # the event loop is not blocked
            b = tight.post("/v1/score/batch", json={"items": [{"text": "a"}]}, headers=AUTH)
            assert b.status_code == 503
        finally:
            release.set()
            t.join(10)
            del scorer.triager.score_many
        assert first["status"] == 200
        assert scorer.in_flight == 0
        assert tight.post("/v1/score", json={"text": "ゴミ"}, headers=AUTH).status_code == 200
        assert "complaint_triage_scoring_rejected_total 2.0" in tight.get("/metrics").text

    def test_a_request_whose_client_has_gone_gives_its_place_back(self, tight: TestClient,
                                                                  access_log: list[logging.LogRecord]) -> None:
        """With a scoring process that does not answer, requests whose clients had gone kept
        their admission places until the answer came (the acceptance test: 1,525 refused with
        503 overloaded behind them)."""
        import asyncio

        scorer = tight.app.state.scorer
        waiting: list[list] = []
        sent: list[dict] = []
        scope = dict(_SCORE_SCOPE)

        async def main() -> None:
            gone = asyncio.Event()
            messages = [{"type": "http.request", "body": '{"text": "ゴミ"}'.encode(), "more_body": False}]

            async def receive() -> dict:
                if messages:
                    return messages.pop()
                await gone.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                sent.append(message)

            call = asyncio.ensure_future(tight.app(scope, receive, send))
            while not waiting:
                await asyncio.sleep(0.01)
            assert scorer.in_flight == 1
            gone.set()  # the client goes away while its text waits to be scored
            await asyncio.wait_for(call, 5)

        with _stuck(scorer, waiting):
            asyncio.run(main())
        assert scorer.in_flight == 0 and not waiting and not sent  # place given back, call cancelled
        [line] = [r.fields for r in access_log if r.name.endswith(".access")]  # type: ignore[attr-defined]
        assert line["status"] == 499 and line["route"] == "/v1/score"


    def test_a_request_cancelled_at_shutdown_is_answered_503_not_logged_as_a_crash(
        self, tight: TestClient, access_log: list[logging.LogRecord]
    ) -> None:
        """uvicorn cancels what still runs when its graceful shutdown times out: that was logged
        as status 500, and uvicorn wrote the CancelledError's traceback."""
        import asyncio

        scorer = tight.app.state.scorer
        sent: list[dict] = []
        scope = dict(_SCORE_SCOPE)

        async def main() -> None:
            body = [{"type": "http.request", "body": '{"text": "ゴミ"}'.encode(), "more_body": False}]

            async def receive() -> dict:
                if body:
                    return body.pop()
                await asyncio.Event().wait()  # a client that stays
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                sent.append(message)

            call = asyncio.ensure_future(tight.app(scope, receive, send))
            while scorer.in_flight < 1:
                await asyncio.sleep(0.01)
            call.cancel()  # as uvicorn does after timeout_graceful_shutdown
            await asyncio.wait_for(call, 5)  # returns: nothing reaches the server

        with _stuck(scorer, []):
            asyncio.run(main())
        assert sent[0]["status"] == 503 and b'"error":"shutting_down"' in sent[1]["body"]
        assert scorer.in_flight == 0
        [line] = [r.fields for r in access_log if r.name.endswith(".access")]  # type: ignore[attr-defined]
        assert (line["status"], line["error"]) == (503, "shutting_down")


@contextlib.contextmanager
def _stuck(scorer: Any, waiting: list[list]) -> Iterator[None]:
    """``scorer.triager`` replaced by a scoring process that never answers (api.remote's interface);
    the texts waiting for it are in ``waiting`` until their call is cancelled."""
    import asyncio

    real = scorer.triager

    class Stuck:
        version, max_chars = real.version, real.max_chars

        async def score_async(self, texts: list, *, with_evidence: bool = True) -> list:
            waiting.append(texts)
            try:
                await asyncio.Event().wait()
            finally:
                waiting.remove(texts)
            return []

    scorer.triager = Stuck()
    try:
        yield
    finally:
        scorer.triager = real


class TestCors:
    def test_no_cors_headers_unless_configured(self, client: TestClient) -> None:
        pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        r = client.options("/v1/score", headers=pre)
        assert "access-control-allow-origin" not in r.headers
        r = client.post("/v1/score", json={"text": "a"}, headers={**AUTH, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers

    def test_configured_origin_only(self, tight: TestClient) -> None:
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
        r = tight.options("/v1/score", headers={"Origin": "https://form.example.lg.jp", **pre})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://form.example.lg.jp"
        r = tight.options("/v1/score", headers={"Origin": "https://evil.example", **pre})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"
