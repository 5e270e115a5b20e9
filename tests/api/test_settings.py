"""Settings from COMPLAINT_TRIAGE_* environment variables, and the cached accessor."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from complaint_triage.settings import Settings, get_settings

from .conftest import sha256

A, B = sha256("a"), sha256("b")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("COMPLAINT_TRIAGE_"):
            monkeypatch.delenv(k)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    s = Settings()
    assert s.model_path is None and s.api_keys_sha256 == [] and s.cors_origins == []
    assert (s.max_body_bytes, s.max_text_chars, s.max_batch_items) == (1 << 20, 20_000, 256)
    assert s.max_concurrency >= 1 and s.log_level == "info"
    # every wait has a bound (docs/api.md): a stuck scoring process, a shutdown, a stalled client
    assert (s.scoring_timeout_s, s.graceful_shutdown_s, s.header_timeout_s, s.body_timeout_s) == (10, 20, 10, 30)
    from complaint_triage.api.remote import ANSWER_TIMEOUT_S

    assert s.scoring_timeout_s == ANSWER_TIMEOUT_S  # (the remote triager's own default repeats it)


@pytest.mark.parametrize("value", [f"{A},{B}", f" {A} , {B.upper()} ,", f'["{A}", "{B}"]'])
def test_key_digests_from_env(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_API_KEYS_SHA256", value)
    assert Settings().api_keys_sha256 == [A, B]


@pytest.mark.parametrize("value", ["my-secret-key", A[:-1], f"{A},not-hex", "[1, 2]", "[oops"])
def test_clear_text_or_malformed_keys_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_API_KEYS_SHA256", value)
    with pytest.raises(ValidationError):
        Settings()


def test_other_fields_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_MODEL_PATH", str(tmp_path))
    monkeypatch.setenv("COMPLAINT_TRIAGE_MAX_CONCURRENCY", "8")
    monkeypatch.setenv("COMPLAINT_TRIAGE_CORS_ORIGINS", "https://a.example.lg.jp, https://b.example.lg.jp")
    monkeypatch.setenv("COMPLAINT_TRIAGE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("COMPLAINT_TRIAGE_ADMIN_KEYS_SHA256", A)
    s = Settings()
    assert s.model_path == tmp_path and s.max_concurrency == 8 and s.log_level == "warning"
    assert s.cors_origins == ["https://a.example.lg.jp", "https://b.example.lg.jp"] and s.admin_keys_sha256 == [A]


@pytest.mark.parametrize(("name", "value"), [("MODEL_PATH", "/does/not/exist"), ("MAX_CONCURRENCY", "0"),
                                             ("MAX_BODY_BYTES", "10"), ("LOG_LEVEL", "loud"),
                                             ("SCORING_TIMEOUT_S", "0"), ("SCORING_TIMEOUT_S", "3600"),
                                             ("GRACEFUL_SHUTDOWN_S", "0"), ("HEADER_TIMEOUT_S", "0"),
                                             ("BODY_TIMEOUT_S", "never")])
def test_invalid_values_fail_fast(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"COMPLAINT_TRIAGE_{name}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_cached_and_can_be_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_MAX_BATCH_ITEMS", "10")
    first = get_settings()
    monkeypatch.setenv("COMPLAINT_TRIAGE_MAX_BATCH_ITEMS", "20")
    assert get_settings() is first and first.max_batch_items == 10
    get_settings.cache_clear()
    assert get_settings().max_batch_items == 20
