"""POST /v1/feedback stores corrections; POST /v1/admin/reload swaps the model without downtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api import create_app

from .conftest import ADMIN_KEY, AUTH

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture()
def app_client(make_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COMPLAINT_TRIAGE_FEEDBACK_DB", str(tmp_path / "fb.sqlite3"))
    with TestClient(create_app(make_settings())) as c:
        yield c


def test_feedback_is_stored(app_client, tmp_path):
    body = {
        "message_id": "m-1",
        "text": "回答がなければ区議会議員に相談し、情報公開請求も行います。",
        "predicted": {"verdict": "harassment", "categories": ["threat"], "grievance": True},
        "labels": {"verdict": "complaint", "categories": [], "grievance": True},
        "analyst": "analyst-01",
    }
    r = app_client.post("/v1/feedback", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["correction_id"]
    from complaint_triage.feedback import FeedbackStore

    rows = FeedbackStore(tmp_path / "fb.sqlite3").corrections()
    assert len(rows) == 1 and rows[0].verdict == "complaint" and rows[0].corrected_by == "analyst-01"


@pytest.mark.parametrize(
    ("labels", "code"),
    [
        ({"verdict": "complaint", "categories": ["threat"], "grievance": True}, 422),
        ({"verdict": "harassment", "categories": [], "grievance": True}, 422),
        ({"verdict": "spam", "categories": [], "grievance": False}, 422),
    ],
)
def test_invalid_labels_are_refused(app_client, labels, code):
    r = app_client.post("/v1/feedback", json={"text": "テスト", "labels": labels, "analyst": "a"}, headers=AUTH)
    assert r.status_code == code
    # a precise client error, never the internal one (the body holds a random request id, so
    # searching it for "500" failed now and then)
    assert r.json()["error"] in ("invalid_correction", "validation_error")


def test_a_message_id_that_names_another_text_is_refused(app_client, tmp_path):
    """Stored, it would have made training refuse the whole corrections database."""
    labels = {"verdict": "complaint", "categories": [], "grievance": True}
    first = {"message_id": "mail-42", "text": "区民プールの更衣室が不潔です。清掃してください。", "labels": labels,
             "analyst": "a"}
    assert app_client.post("/v1/feedback", json=first, headers=AUTH).status_code == 201
    other = {**first, "text": "図書館の返却ポストがいつも満杯です。"}
    r = app_client.post("/v1/feedback", json=other, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "invalid_correction"
    assert "already names another message" in r.json()["message"] and other["text"] not in r.text
    from complaint_triage.feedback import FeedbackStore

    assert len(FeedbackStore(tmp_path / "fb.sqlite3")) == 1


def test_feedback_needs_a_message(app_client):
    r = app_client.post("/v1/feedback", headers=AUTH,
                        json={"labels": {"verdict": "inquiry", "categories": [], "grievance": False}, "analyst": "a"})
    assert r.status_code == 422 and "message_id" in r.text


@pytest.mark.parametrize("text", ["   ", "\u0000\u200b", "\u200b\u200d\ufeff"])
def test_a_text_of_only_invisible_characters_is_no_text(app_client, tmp_path, text):
    """acc4b finding 10: a NUL and a zero-width space were stored as a training correction, where a
    whitespace-only text was refused."""
    from complaint_triage.feedback import FeedbackStore

    labels = {"verdict": "complaint", "categories": [], "grievance": True}
    r = app_client.post("/v1/feedback", json={"text": text, "labels": labels, "analyst": "a"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "missing_message", r.text
    assert r.json()["message"].startswith("give the message_id or the text of the corrected message")
    assert ("no visible character" in r.json()["message"]) == bool(text.strip())
    assert not (tmp_path / "fb.sqlite3").exists() or len(FeedbackStore(tmp_path / "fb.sqlite3")) == 0
    # with a message id the correction is stored, without the text (as a whitespace-only one is)
    r = app_client.post("/v1/feedback", json={"message_id": "m-9", "text": text, "labels": labels, "analyst": "a"},
                        headers=AUTH)
    assert r.status_code == 201, r.text
    [row] = FeedbackStore(tmp_path / "fb.sqlite3").corrections()
    assert row.message_id == "m-9" and row.text is None


def test_feedback_needs_a_key(app_client):
    r = app_client.post("/v1/feedback", json={})
    assert r.status_code == 401


def test_reload_requires_the_admin_key(app_client):
    assert app_client.post("/v1/admin/reload", headers=AUTH).status_code == 401
    r = app_client.post("/v1/admin/reload", headers=ADMIN)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_version"] == out["previous_version"]
    # still scoring after the swap
    s = app_client.post("/v1/score", json={"text": "図書館の開館時間を教えてください"}, headers=AUTH)
    assert s.status_code == 200 and json.loads(s.text)["verdict"] in ("inquiry", "complaint")


def test_reload_failure_keeps_the_old_model(make_settings, tmp_path):
    settings = make_settings()
    with TestClient(create_app(settings)) as c:
        settings.model_path = tmp_path / "missing"
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 409 and "keeps serving" in r.text
        assert c.post("/v1/score", json={"text": "ゴミの日はいつですか"}, headers=AUTH).status_code == 200


class _Spy:
    """A loaded model whose scoring calls are recorded: on an event loop's thread or not, and
    whether the app was already serving it."""

    def __init__(self, triager, app, fail: bool = False) -> None:
        self._triager, self._app, self._fail = triager, app, fail
        self.calls: list[tuple[bool, bool]] = []

    def __getattr__(self, name):
        return getattr(self._triager, name)

    def score_many(self, texts, **kwargs):
        import asyncio

        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        self.calls.append((on_loop, self._app.state.scorer.triager is self))
        if self._fail:
            raise RuntimeError("cannot score")
        return self._triager.score_many(texts, **kwargs)


def _spy_on_reloads(monkeypatch, app, fail: bool = False) -> list[_Spy]:
    from complaint_triage.api.routes import feedback

    loaded: list[_Spy] = []
    real = feedback.load_triager

    def load(settings):
        loaded.append(_Spy(real(settings), app, fail))
        return loaded[-1]

    monkeypatch.setattr(feedback, "load_triager", load)
    return loaded


def test_reload_warms_the_new_model_up_before_swapping_it_in(make_settings, monkeypatch):
    """acc4b finding 9: the new model was swapped in cold, and the first request after a reload
    waited 0.6-1.4 s while it built its tables."""
    app = create_app(make_settings())
    with TestClient(app) as c:
        loaded = _spy_on_reloads(monkeypatch, app)
        assert c.post("/v1/admin/reload", headers=ADMIN).status_code == 200
        [new] = loaded
        # scored once before the swap, off the event loop; the app serves it now
        assert new.calls == [(False, False)] and app.state.scorer.triager is new
        assert c.post("/v1/score", json={"text": "ゴミの日はいつですか"}, headers=AUTH).status_code == 200
        assert new.calls[1:] == [(False, True)]  # (the first request: on a scoring thread, the new model)


def test_a_model_that_loads_but_cannot_score_is_not_swapped_in(make_settings, monkeypatch):
    app = create_app(make_settings())
    with TestClient(app) as c:
        old = app.state.scorer.triager
        loaded = _spy_on_reloads(monkeypatch, app, fail=True)
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 409 and r.json()["error"] == "reload_failed", r.text
        assert "keeps serving" in r.text and "RuntimeError" in r.text and "cannot score" not in r.text
        assert len(loaded) == 1 and app.state.scorer.triager is old
        assert c.post("/v1/score", json={"text": "ゴミの日はいつですか"}, headers=AUTH).status_code == 200
