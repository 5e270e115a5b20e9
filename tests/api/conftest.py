"""Fixtures for the HTTP API tests: settings on the small test model, clients, log capture."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api import create_app
from complaint_triage.settings import Settings

API_KEY = "ct-test-key-2f9c1a"
ADMIN_KEY = "ct-admin-key-77b0e4"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="session")
def make_settings(small_model_dir: Path) -> Callable[..., Settings]:
    """Build Settings on the small test model; every field that matters is explicit (env-independent)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_path": small_model_dir,
            "api_keys_sha256": [sha256(API_KEY)],
            "admin_keys_sha256": [sha256(ADMIN_KEY)],
            "max_body_bytes": 1 << 20,
            "max_text_chars": 20_000,
            "max_batch_items": 256,
            "max_concurrency": 32,
            "scoring_threads": 1,
            "cors_origins": [],
            "log_level": "info",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="module")
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A started app with the default limits (one per test module)."""
    with TestClient(create_app(make_settings())) as c:
        yield c


@contextmanager
def logged_fields(name: str) -> Iterator[list[dict]]:
    """The ``fields`` of the records the logger ``name`` writes at INFO and above meanwhile."""
    seen: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(dict(record.fields))  # type: ignore[attr-defined]

    log = logging.getLogger(name)
    handler, level = Keep(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@pytest.fixture()
def access_log() -> Iterator[list[logging.LogRecord]]:
    """Records written to the access logger during the test."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Keep(level=logging.DEBUG)
    logger = logging.getLogger("complaint_triage.api")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def wait_until(cond: Callable[[], bool], timeout: float, poll: float = 0.02) -> None:
    """Poll ``cond`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)


async def until(cond: Callable[[], bool], timeout: float, poll: float = 0.01) -> None:
    """:func:`wait_until` inside an event loop (it sleeps with ``asyncio.sleep``)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(poll)
