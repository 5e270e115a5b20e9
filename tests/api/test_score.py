"""POST /v1/score and /v1/score/batch: results, per-item errors and precise 4xx answers."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api.schemas import BatchResponse, ErrorResponse, ScoreResult
from complaint_triage.labels import ACTIONS, CATEGORIES, VERDICTS
from complaint_triage.scoring import OUTPUT_FIELDS

from .conftest import AUTH

HARASSMENT = "ふざけるな。お前ら税金泥棒だ。今日中に返事しないなら区役所まで行って責任者を殴ってやるからな。"
COMPLAINT = "粗大ごみの収集が予定日に来ませんでした。これで3回目です。いつ回収していただけるのか回答してください。"
INQUIRY = "住民票の写しをコンビニで取得したいのですが、マイナンバーカードの暗証番号を忘れた場合はどうすればよいですか。"


def error_of(response) -> ErrorResponse:
    body = ErrorResponse.model_validate(response.json())
    assert body.request_id == response.headers["x-request-id"]
    return body


class TestScore:
    def test_scores_one_message_with_the_cli_output_schema(self, client: TestClient, small_triager) -> None:
        r = client.post("/v1/score", json={"text": HARASSMENT, "channel": "email", "id": "msg-1"}, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        ScoreResult.model_validate(body)
        assert set(body) == {"id", *OUTPUT_FIELDS}
        assert body["id"] == "msg-1"
        expected = small_triager.score(HARASSMENT).to_dict()
        assert {k: body[k] for k in OUTPUT_FIELDS} == expected
        assert body["verdict"] in VERDICTS and body["action"] in ACTIONS
        assert set(body["categories"]) <= set(CATEGORIES)
        for ev in body["evidence"]:
            assert HARASSMENT[ev["start"] : ev["end"]] == ev["text"]

    @pytest.mark.parametrize("text", [COMPLAINT, INQUIRY, "a", "〒154-0017 世田谷区", "😀" * 10])
    def test_any_non_empty_text_is_scored(self, client: TestClient, text: str) -> None:
        r = client.post("/v1/score", json={"text": text}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["id"] is None

    def test_metadata_is_accepted_but_not_echoed(self, client: TestClient) -> None:
        r = client.post("/v1/score", json={"text": COMPLAINT, "metadata": {"受付番号": "2026-000123", "n": 3}},
                        headers=AUTH)
        assert r.status_code == 200
        assert "metadata" not in r.json() and "2026-000123" not in r.text

    @pytest.mark.parametrize(
        ("payload", "code", "needle"),
        [
            ({"text": "   \n\u3000"}, "invalid_text", "empty or whitespace"),
            ({"text": ""}, "validation_error", "body.text"),
            ({}, "validation_error", "body.text: Field required"),
            ({"text": None}, "validation_error", "body.text"),
            ({"text": 123}, "validation_error", "body.text: Input should be a valid string"),
            ({"text": ["a"]}, "validation_error", "body.text"),
            ({"text": "a", "channel": "fax"}, "validation_error", "body.channel"),
            ({"text": "a", "id": ""}, "validation_error", "body.id"),
            ({"text": "a", "txt": "typo"}, "validation_error",
             "body: an unexpected field (its name is not repeated; accepted: text, channel, id, metadata)"),
            ({"text": "a", "metadata": {"k": {"nested": 1}}}, "validation_error", "body.metadata"),
            ({"text": "a", "metadata": {str(i): i for i in range(33)}}, "validation_error", "body.metadata"),
            ([{"text": "a"}], "validation_error", "body"),
            ("text", "validation_error", "body"),
        ],
    )
    def test_bad_payloads_get_a_precise_4xx(self, client: TestClient, payload, code: str, needle: str) -> None:
        r = client.post("/v1/score", json=payload, headers=AUTH)
        assert r.status_code == 422, r.text
        err = error_of(r)
        assert err.error == code
        assert needle in err.message

    def test_validation_errors_do_not_echo_the_input(self, client: TestClient) -> None:
        r = client.post("/v1/score", json={"text": 42, "id": "秘密のID", "channel": "電話番号 090-1111-2222"},
                        headers=AUTH)
        assert r.status_code == 422
        assert "090-1111-2222" not in r.text and "秘密のID" not in r.text

    def test_text_over_the_limit_says_which_limit(self, client: TestClient) -> None:
        r = client.post("/v1/score", json={"text": "あ" * 20_001}, headers=AUTH)
        assert r.status_code == 422
        err = error_of(r)
        assert err.error == "text_too_long"
        assert "20,001" in err.message and "20,000" in err.message
        assert client.post("/v1/score", json={"text": "あ" * 20_000}, headers=AUTH).status_code == 200

    @pytest.mark.parametrize(
        ("raw", "code", "needle"),
        [
            (b'{"text": ', "invalid_json", "not valid JSON"),
            (b'{"text": "a",}', "invalid_json", "not valid JSON"),
            (b"", "validation_error", "body"),
            (b"null", "validation_error", "body"),
            (b'{"text": "\xff\xfe\xfa"}', "invalid_utf8", "not valid UTF-8"),
            ('{"text": "粗大ごみ"}'.encode("shift_jis"), "invalid_utf8", "not valid UTF-8"),
            (b'{"text": "\\ud800"}', "validation_error", "body.text"),
            (b'{"text": NaN}', "invalid_json", "NaN is not a JSON value"),
            ('{"text": "ごみ", "metadata": {"点数": Infinity}}'.encode(), "invalid_json", "Infinity is not"),
            ('{"text": "ごみ", "metadata": {"点数": 1e400}}'.encode(), "invalid_json", "too large for a 64-bit float"),
            # Python keeps the last of two; the first text would go unscored without a word
            ('{"text": "お前の家は知ってるぞ", "text": "ごみの日を教えて"}'.encode(), "invalid_json",
             "the field 'text' appears twice"),
            # too deep for the JSON reader, and an integer too long for Python to convert
            (b'{"text": "a", "metadata": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "invalid_json",
             "nests arrays or objects too deeply"),
            (b'{"text": "a", "metadata": {"x": ' + b"1" * 5000 + b"}}", "invalid_json", "a number too long to read"),
        ],
    )
    def test_malformed_bodies_get_a_precise_4xx(self, client: TestClient, raw: bytes, code: str, needle: str) -> None:
        r = client.post("/v1/score", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code in (400, 422), r.text
        err = error_of(r)
        assert err.error == code, err
        assert needle in err.message

    @pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
    def test_non_json_content_types_get_415(self, client: TestClient, ctype: str | None) -> None:
        headers = dict(AUTH)
        if ctype:
            headers["Content-Type"] = ctype
        r = client.post("/v1/score", content=json.dumps({"text": "a"}).encode(), headers=headers)
        assert r.status_code == 415
        assert "application/json" in error_of(r).message

    def test_json_with_charset_and_vendor_suffix_is_accepted(self, client: TestClient) -> None:
        for ctype in ("application/json; charset=utf-8", "application/problem+json"):
            r = client.post("/v1/score", content=json.dumps({"text": COMPLAINT}).encode(),
                            headers={**AUTH, "Content-Type": ctype})
            assert r.status_code == 200, (ctype, r.text)

    def test_unknown_route_and_method(self, client: TestClient) -> None:
        assert error_of(client.post("/v1/nope", json={}, headers=AUTH)).error == "not_found"
        r = client.get("/v1/score", headers=AUTH)
        assert r.status_code == 405 and error_of(r).error == "method_not_allowed"


class TestBatch:
    def test_results_in_order_with_per_item_errors(self, client: TestClient, small_triager) -> None:
        items = [
            {"text": COMPLAINT, "id": "a"},
            {"text": "   ", "id": "b"},
            {"text": HARASSMENT, "id": "c", "channel": "web_form"},
            {"text": 5, "id": "d"},
            "not an object",
            {"id": "f"},
            {"text": "x" * 20_001, "id": "g"},
            {"text": INQUIRY},
        ]
        r = client.post("/v1/score/batch", json={"items": items}, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        BatchResponse.model_validate(body)
        res = body["results"]
        assert [e["index"] for e in res] == list(range(len(items)))
        assert [e.get("id") for e in res] == ["a", "b", "c", "d", None, "f", "g", None]
        ok = [e["index"] for e in res if "verdict" in e]
        assert ok == [0, 2, 7]
        assert body["n_errors"] == 5
        assert "empty or whitespace" in res[1]["error"]
        assert "text: Input should be a valid string" in res[3]["error"]
        assert "must be an object" in res[4]["error"]
        assert "text: Field required" in res[5]["error"]
        assert "over the limit of 20,000" in res[6]["error"]
        assert res[0]["verdict"] == small_triager.score(COMPLAINT).verdict
        assert res[2]["verdict"] == small_triager.score(HARASSMENT).verdict

    def test_batch_size_limit(self, client: TestClient) -> None:
        ok = client.post("/v1/score/batch", json={"items": [{"text": INQUIRY}] * 256, "evidence": False}, headers=AUTH)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 256
        r = client.post("/v1/score/batch", json={"items": [{"text": "a"}] * 257}, headers=AUTH)
        assert r.status_code == 422
        err = error_of(r)
        assert err.error == "batch_too_large" and "257" in err.message and "max_batch_items" in err.message

    @pytest.mark.parametrize(
        "payload", [{"items": []}, {"items": {"text": "a"}}, {"items": None}, {}, {"items": [], "x": 1}])
    def test_bad_batch_envelopes(self, client: TestClient, payload) -> None:
        r = client.post("/v1/score/batch", json=payload, headers=AUTH)
        assert r.status_code == 422
        assert error_of(r).error == "validation_error"

    def test_evidence_can_be_switched_off(self, client: TestClient) -> None:
        r = client.post("/v1/score/batch", json={"items": [{"text": HARASSMENT}], "evidence": False}, headers=AUTH)
        assert r.status_code == 200
        assert r.json()["results"][0]["evidence"] == []
