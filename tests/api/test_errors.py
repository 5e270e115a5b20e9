"""Error bodies name the schema's fields, never a name the request made up (acc4b finding 8).

An unexpected field, a metadata key or a field named twice can be an address, a phone number or a
person's name; error bodies are what gateways log.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from complaint_triage.api.errors import A_NAME, UNEXPECTED_FIELD, safe_loc, schema_names, validation_summary
from complaint_triage.api.routes.feedback import FeedbackRequest
from complaint_triage.api.schemas import FormRequest, ScoreRequest

from .conftest import AUTH

#: Personal data put where a name goes; none of it may come back.
ADDRESS, PERSON, PHONE = "hanako.yamada@example.jp", "山田花子", "090-1234-5678"
PERSONAL = (ADDRESS, PERSON, PHONE, "hanako", "yamada")  # (not digits alone: the request id is hex)
LABELS = {"verdict": "complaint", "categories": [], "grievance": True}


def _errors(model, data) -> list[dict]:
    with pytest.raises(ValidationError) as e:
        model.model_validate(data)
    return e.value.errors(include_url=False, include_input=False)


@pytest.mark.parametrize(("model", "data", "locs"), [
    (ScoreRequest, {"text": "a", ADDRESS: 1}, [[UNEXPECTED_FIELD]]),
    (ScoreRequest, {"text": "a", "metadata": {f"{PERSON} {PHONE} " + "x" * 60: 1}},
     [["metadata", "(a metadata key)", "[key]"]]),
    (ScoreRequest, {"text": "a", "metadata": {PERSON: {"a": 1}}},
     [["metadata", "(a metadata key)", t] for t in ("constrained-str", "int", "float", "bool")]),
    (ScoreRequest, {"text": 1, "channel": "fax"}, [["text"], ["channel"]]),
    (FormRequest, {"body": "a", "phone": "0" * 40, PHONE: "x"}, [["phone"], [UNEXPECTED_FIELD]]),
    (FeedbackRequest, {"text": "a", "labels": {**LABELS, "categories": [1], PERSON: 1}, "analyst": "a"},
     [["labels", "categories", 0], ["labels", UNEXPECTED_FIELD]]),
])
def test_locations_keep_the_schema_names_and_positions_only(model, data, locs) -> None:
    errors = _errors(model, data)
    assert [safe_loc(e["loc"], e["type"], model) for e in errors] == locs
    assert [safe_loc(("body", *e["loc"]), e["type"], model)[1:] for e in errors] == locs  # (FastAPI's prefix)


def test_where_the_schema_is_unknown_every_name_is_replaced() -> None:
    assert safe_loc(("body", PERSON, 3, "text"), "string_type", None) == ["body", A_NAME, 3, A_NAME]
    assert safe_loc(("body", "text", PERSON), "string_type", ScoreRequest) == ["body", "text", A_NAME]


def test_the_summary_counts_unexpected_fields_and_names_the_accepted_ones() -> None:
    errors = _errors(ScoreRequest, {"txt": "a", ADDRESS: 1, PHONE: 2})
    assert validation_summary(errors, ScoreRequest) == (
        "text: Field required; 3 unexpected fields (their names are not repeated; accepted: text, channel, id, "
        "metadata)")
    keys = {f"{PERSON}{i}" + "x" * 64: 1 for i in range(3)}
    assert validation_summary(_errors(ScoreRequest, {"text": "a", "metadata": keys}), ScoreRequest) == (
        "metadata.(a metadata key).[key]: String should have at most 64 characters (3 times)")


def test_schema_names_reach_into_nested_models() -> None:
    assert {"labels", "verdict", "categories", "predicted", "model_version"} <= schema_names(FeedbackRequest)


def _post(client: TestClient, path: str, body: object | bytes):
    if isinstance(body, bytes):
        return client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    return client.post(path, json=body, headers=AUTH)


@pytest.mark.parametrize(("path", "body", "status", "says"), [
    pytest.param("/v1/score", {"text": "a", ADDRESS: 1}, 422,
                 "body: an unexpected field (its name is not repeated; accepted: text, channel, id, metadata)",
                 id="unexpected-field"),
    pytest.param("/v1/score", {"text": "a", "metadata": {f"{PERSON} {PHONE} " + "x" * 60: 1}}, 422,
                 "body.metadata.(a metadata key).[key]: String should have at most 64 characters",
                 id="metadata-key-too-long"),
    pytest.param("/v1/score", {"text": "a", "metadata": {f"{PERSON} {PHONE}": [1]}}, 422,
                 "body.metadata.(a metadata key).int: Input should be a valid integer", id="metadata-value"),
    pytest.param("/v1/score", f'{{"text": "a", "metadata": {{"{PHONE}": 1, "{PHONE}": 2}}}}'.encode(), 400,
                 "a field or key that is not one of the schema's fields (its name is not repeated) appears twice",
                 id="key-named-twice"),
    pytest.param("/v1/score/form", {"body": "道路の穴", PERSON: ADDRESS, PHONE: 1}, 422,
                 "body: 2 unexpected fields (their names are not repeated; accepted: body, subject, category, name, "
                 "email, phone, id)", id="form"),
    pytest.param("/v1/feedback", {"text": "a", "labels": {**LABELS, ADDRESS: 1}, "analyst": "a"}, 422,
                 "body.labels: an unexpected field (its name is not repeated; accepted: verdict, categories, "
                 "grievance)", id="feedback-nested"),
])
def test_error_bodies_never_repeat_a_name_the_request_made_up(client: TestClient, path, body, status, says) -> None:
    r = _post(client, path, body)
    assert r.status_code == status, r.text
    assert says in r.json()["message"]
    assert not any(p in r.text for p in PERSONAL), r.text


def test_a_batch_item_error_names_no_field_of_the_item(client: TestClient) -> None:
    items = [{"text": "a", ADDRESS: 1}, {"text": "a", "metadata": {PERSON * 20: PHONE}}, {"text": "道路の穴"}]
    r = _post(client, "/v1/score/batch", {"items": items})
    assert r.status_code == 200 and r.json()["n_errors"] == 2
    first, second, _ = r.json()["results"]
    assert first["error"] == ("invalid item: an unexpected field (its name is not repeated; accepted: text, "
                              "channel, id, metadata)")
    assert second["error"] == "invalid item: metadata.(a metadata key).[key]: String should have at most 64 characters"
    assert not any(p in r.text for p in PERSONAL), r.text


def test_a_schema_field_named_twice_is_still_named(client: TestClient) -> None:
    r = _post(client, "/v1/score", b'{"text": "a", "metadata": {"id": 1, "id": 2}}')
    assert r.status_code == 400 and "the field 'id' appears twice in one object" in r.json()["message"]
    details = _post(client, "/v1/score", {"text": "a", ADDRESS: 1}).json()["details"]
    assert json.loads(json.dumps(details)) == [{"loc": ["body", UNEXPECTED_FIELD], "msg": "Extra inputs are not "
                                                "permitted", "type": "extra_forbidden"}]
