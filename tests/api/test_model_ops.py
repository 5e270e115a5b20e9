"""GET /v1/model, health and readiness, Prometheus metrics, the access log and start-up."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api import create_app
from complaint_triage.api.app import ACCESS_LOGGER
from complaint_triage.api.logs import JsonLineFormatter
from complaint_triage.api.schemas import ModelInfo
from complaint_triage.exceptions import ModelNotFoundError
from complaint_triage.labels import ACTIONS, CATEGORIES, VERDICTS
from complaint_triage.settings import Settings

from .conftest import AUTH


def test_model_info(client: TestClient, small_triager) -> None:
    r = client.get("/v1/model", headers=AUTH)
    assert r.status_code == 200
    info = ModelInfo.model_validate(r.json())
    manifest = small_triager.model.manifest
    assert info.model_version == manifest["model_version"] == small_triager.version
    assert info.verdicts == list(VERDICTS) and info.categories == list(CATEGORIES) and info.actions == list(ACTIONS)
    assert info.thresholds == manifest["thresholds"]
    assert info.metrics == manifest["metrics"] and "test" in info.metrics
    assert info.limits.max_text_chars == 20_000 and info.limits.max_batch_items == 256
    assert str(small_triager.model.path) not in r.text  # no server paths


def test_health_and_readiness(client: TestClient, small_triager) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model_version": small_triager.version}
    # load balancers check with HEAD: the same status, no body
    for path in ("/healthz", "/readyz"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""


def test_not_ready_before_the_lifespan_runs(make_settings: Callable[..., Settings]) -> None:
    c = TestClient(create_app(make_settings()))  # not entered: the model is never loaded
    assert c.get("/healthz").status_code == 200
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    r = c.post("/v1/score", json={"text": "a"}, headers=AUTH)
    assert r.status_code == 503 and r.json()["error"] == "not_ready" and "retry-after" in r.headers


def test_start_up_fails_fast_without_a_model(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    app = create_app(make_settings(model_path=tmp_path))  # exists, but holds no model
    with pytest.raises(ModelNotFoundError, match="no model at"), TestClient(app):
        pass


def test_metrics_count_requests_latency_and_verdicts(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings())) as c:
        verdict = c.post("/v1/score", json={"text": "ゴミの収集日を教えてください。"}, headers=AUTH).json()["verdict"]
        c.post("/v1/score", json={"text": " "}, headers=AUTH)
        c.post("/v1/score", json={"text": "a"})
        items = [{"text": "ゴミの収集日を教えてください。"}, {"text": ""}]
        c.post("/v1/score/batch", json={"items": items}, headers=AUTH)
        text = c.get("/metrics").text
    assert 'complaint_triage_http_requests_total{method="POST",route="/v1/score",status="200"} 1.0' in text
    assert 'complaint_triage_http_requests_total{method="POST",route="/v1/score",status="422"} 1.0' in text
    assert 'complaint_triage_http_requests_total{method="POST",route="/v1/score",status="401"} 1.0' in text
    assert re.search(r'complaint_triage_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",'
                     r'route="/v1/score",status="200"\} 1\.0', text)
    assert ('complaint_triage_http_request_duration_seconds_count{method="POST",route="/v1/score",status="422"} 1.0'
            in text)
    assert f'complaint_triage_verdicts_total{{verdict="{verdict}"}} 2.0' in text
    assert "complaint_triage_item_errors_total 1.0" in text


def test_each_app_has_its_own_metrics(make_settings: Callable[..., Settings]) -> None:
    a, b = create_app(make_settings()), create_app(make_settings())
    assert a.state.metrics.registry is not b.state.metrics.registry


def test_one_json_log_line_per_request_without_content(client: TestClient, access_log: list[logging.LogRecord]) -> None:
    secret = "山田太郎 taro@example.jp 090-1111-2222 世田谷区北沢1-2-3 ふざけるな税金泥棒"
    client.post("/v1/score", json={"text": secret, "id": "id-山田"}, headers={**AUTH, "X-Request-ID": "gw-42"})
    client.post("/v1/score/batch", json={"items": [{"text": secret}, {"text": 1}]}, headers=AUTH)
    client.post("/v1/score/form", json={"body": secret, "name": "山田太郎", "email": "taro@example.jp"}, headers=AUTH)
    client.post("/v1/score", json={"text": 1, "id": secret}, headers=AUTH)
    client.post("/v1/score", content=("{" + secret).encode(), headers={**AUTH, "Content-Type": "application/json"})
    access = [r for r in access_log if r.name == ACCESS_LOGGER]
    assert len(access) == 5
    lines = [JsonLineFormatter().format(r) for r in access_log]
    for line in lines:
        for needle in ("山田", "taro", "090-1111", "北沢", "税金泥棒"):
            assert needle not in line
    first, batch, form, bad, bad_json = (json.loads(JsonLineFormatter().format(r)) for r in access)
    assert first["request_id"] == "gw-42" and first["route"] == "/v1/score" and first["status"] == 200
    assert first["verdict"] in VERDICTS and first["model_version"] and first["latency_ms"] > 0
    assert batch["route"] == "/v1/score/batch" and batch["item_errors"] == 1 and sum(batch["verdicts"].values()) == 1
    assert form["route"] == "/v1/score/form" and "verdict" in form
    assert bad["status"] == 422 and bad["error"] == "validation_error"
    assert bad_json["status"] == 400 and bad_json["error"] == "invalid_json"


def test_request_ids(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces and 日本語".encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert client.get("/healthz").headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]


def test_openapi_documents_limits_security_and_japanese_examples(make_settings: Callable[..., Settings]) -> None:
    doc = create_app(make_settings(max_text_chars=5000, max_batch_items=10)).openapi()
    comps = doc["components"]["schemas"]
    assert comps["ScoreRequest"]["properties"]["text"]["maxLength"] == 5000
    assert comps["FormRequest"]["properties"]["body"]["maxLength"] == 5000
    assert comps["BatchRequest"]["properties"]["items"]["maxItems"] == 10
    assert comps["BatchRequest"]["properties"]["items"]["items"]["properties"]["text"]["maxLength"] == 5000
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer",
        "description": "An API key issued by the office: `Authorization: Bearer <key>`."}
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            blob = json.dumps(op, ensure_ascii=False)
            assert japanese.search(blob), f"{method.upper()} {path} has no Japanese example"
            if path.startswith("/v1/"):
                assert op["security"] == [{"ApiKey": []}], path
            else:
                assert "security" not in op, path


def test_a_client_that_leaves_mid_upload_is_499_not_500(client: TestClient,
                                                         access_log: list[logging.LogRecord]) -> None:
    """A gateway that gives up half-way through sending a body was logged and counted as a
    server error (500), which would page whoever watches 5xx rates."""
    import asyncio

    app = client.app
    sent: list[dict] = []
    scope = {"type": "http", "method": "POST", "path": "/v1/score", "raw_path": b"/v1/score", "root_path": "",
             "scheme": "http", "query_string": b"", "http_version": "1.1", "server": ("testserver", 80),
             "client": ("127.0.0.1", 1), "headers": [(b"content-type", b"application/json"),
                                                      (b"content-length", b"1000"),
                                                      (b"authorization", AUTH["Authorization"].encode())]}
    messages = iter([{"type": "http.request", "body": b'{"text": "', "more_body": True},
                     {"type": "http.disconnect"}])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert not sent  # nobody to answer
    [line] = [json.loads(JsonLineFormatter().format(r)) for r in access_log if r.name == ACCESS_LOGGER]
    assert line["status"] == 499 and line["route"] == "/v1/score"
    metrics = client.get("/metrics").text
    assert 'route="/v1/score",status="499"' in metrics
    assert 'route="/v1/score",status="500"' not in metrics


def test_an_unexpected_error_is_a_500_with_the_request_id_and_no_traceback(
    client: TestClient, access_log: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 500 had no X-Request-ID, and uvicorn logged the exception with its traceback and
    message (an sqlite3 error may quote the statement, and so the message)."""
    import sqlite3

    from complaint_triage.api.routes import feedback

    def broken(*args: object) -> None:
        raise sqlite3.OperationalError("unable to open database file near '山田太郎 ふざけるな'")

    monkeypatch.setattr(feedback, "_store_one", broken)
    body = {"text": "テスト", "labels": {"verdict": "complaint", "categories": [], "grievance": True},
            "analyst": "ops"}
    # (the TestClient raises whatever reaches the server, as uvicorn would log it)
    r = client.post("/v1/feedback", json=body, headers={**AUTH, "X-Request-ID": "ops-trace-42"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "ops-trace-42"
    assert r.json() == {"error": "internal_error", "request_id": "ops-trace-42",
                        "message": "an unexpected error occurred; quote the request id when reporting it"}
    [line] = [r.fields for r in access_log if r.name == ACCESS_LOGGER]  # type: ignore[attr-defined]
    assert (line["status"], line["error"], line["route"]) == (500, "OperationalError", "/v1/feedback")
    [event] = [r for r in access_log if getattr(r, "fields", {}).get("event") == "unexpected_error"]
    assert event.fields["error"] == "OperationalError" and event.fields["route"] == "/v1/feedback"  # type: ignore[attr-defined]
    text = "\n".join(JsonLineFormatter().format(r) for r in access_log)
    assert not any(r.exc_info for r in access_log)
    for needle in ("山田", "unable to open", "Traceback"):
        assert needle not in text


def test_answers_before_routing_are_labelled_with_their_route(make_settings: Callable[..., Settings]) -> None:
    """413s (and 499s) on /v1/feedback and /v1/admin/reload were counted under route="unmatched"."""
    with TestClient(create_app(make_settings(max_body_bytes=1024))) as c:
        big = {**AUTH, "Content-Type": "application/json"}
        for path in ("/v1/feedback", "/v1/admin/reload", "/v1/score/email", "/nowhere"):
            assert c.post(path, content=b"x" * 2000, headers=big).status_code == 413
        text = c.get("/metrics").text
    for route in ("/v1/feedback", "/v1/admin/reload", "/v1/score/email"):
        assert f'complaint_triage_http_requests_total{{method="POST",route="{route}",status="413"}} 1.0' in text
    assert 'complaint_triage_http_requests_total{method="POST",route="unmatched",status="413"} 1.0' in text
    # every route of the app is known, not a hand-kept list
    assert {"/v1/feedback", "/v1/admin/reload", "/v1/model", "/readyz", "/openapi.json"} <= c.app.state.route_paths


class _DownScoringProcess:
    """Stands in for api.remote.RemoteTriager whose child is down (being restarted)."""

    def __init__(self, real: object) -> None:
        self.version, self.max_chars = real.version, real.max_chars  # type: ignore[attr-defined]

    async def score_async(self, texts: list, *, with_evidence: bool = True) -> list:
        from complaint_triage.exceptions import ScoringProcessError

        raise ScoringProcessError("the scoring process exited; it is being restarted")

    async def answering(self) -> bool:
        return False

    def retry_after(self) -> int:
        return 4


def test_model_unavailable_says_when_to_retry_and_readiness_follows_the_scoring_process(
    client: TestClient, access_log: list[logging.LogRecord]
) -> None:
    """Retry-After was a constant 30 s (recovery takes about 3-5 s) and /readyz said ready while
    the scoring process was dead."""
    scorer = client.app.state.scorer
    real = scorer.triager
    scorer.triager = _DownScoringProcess(real)
    try:
        r = client.post("/v1/score", json={"text": "ゴミ"}, headers=AUTH)
        assert r.status_code == 503 and r.json()["error"] == "model_unavailable"
        assert r.headers["retry-after"] == "4"  # the scoring process's own estimate
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "not_ready", "model_version": None}
    finally:
        scorer.triager = real
    assert client.get("/readyz").status_code == 200
    [line] = [r.fields for r in access_log if r.name == ACCESS_LOGGER and r.fields["route"] == "/v1/score"]  # type: ignore[attr-defined]
    assert line["error"] == "model_unavailable"
