"""Scoring in a child process (``scoring_process``): same answers, a lean HTTP process, recovery."""

from __future__ import annotations

import functools
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from complaint_triage.api import create_app
from complaint_triage.api.remote import RemoteTriager
from complaint_triage.exceptions import ScoringProcessError
from complaint_triage.scoring import Triager
from complaint_triage.settings import Settings

from .conftest import ADMIN_KEY, AUTH, logged_fields, until


@pytest.fixture()
def remote_events() -> Iterator[list[dict]]:
    """The relay's events (deaths, restarts): the ``fields`` of its log records."""
    with logged_fields("complaint_triage.api.remote") as seen:
        yield seen


_until = functools.partial(until, timeout=30, poll=0.05)


def _restart_done(remote: RemoteTriager) -> bool:
    """The restart task has ended: the thread logs ``scoring_process_restarted`` before the task
    returns, and until then ``answering()`` says no (a CI run under load lost that race once)."""
    task = remote._restart_task
    return task is None or task.done()

TEXTS = [
    "粗大ごみの収集日を教えてください。",
    "昨日窓口で男性が「殺すぞ」と叫んでいて怖かったです。職員の方は大丈夫でしたか。",
    "お前の家は知ってるぞ。覚えとけよ",
    "世田谷区役所まじで氏ね。窓口のババア無能すぎ",
    "保育園の入園結果、説明が二転三転して納得できません。文書で回答してください。",
]


@pytest.fixture(scope="module")
def remote_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(scoring_process=True, scoring_pipeline=2))) as c:
        yield c


def _child(client: TestClient) -> subprocess.Popen[bytes]:
    triager = client.app.state.scorer.triager
    assert isinstance(triager, RemoteTriager)
    assert triager._proc is not None
    return triager._proc


def test_answers_equal_scoring_in_process(remote_client: TestClient, client: TestClient) -> None:
    for text in TEXTS:
        remote = remote_client.post("/v1/score", json={"text": text, "id": "x"}, headers=AUTH)
        local = client.post("/v1/score", json={"text": text, "id": "x"}, headers=AUTH)
        assert remote.status_code == local.status_code == 200
        assert remote.json() == local.json()
    items = [{"text": t} for t in TEXTS] + [{"text": "   "}]
    remote = remote_client.post("/v1/score/batch", json={"items": items}, headers=AUTH).json()
    local = client.post("/v1/score/batch", json={"items": items}, headers=AUTH).json()
    assert remote == local and remote["n_errors"] == 1


def test_model_info_and_readiness_come_from_the_child(remote_client: TestClient, client: TestClient) -> None:
    assert remote_client.get("/readyz").json() == client.get("/readyz").json()
    assert remote_client.get("/v1/model", headers=AUTH).json() == client.get("/v1/model", headers=AUTH).json()


def test_a_dead_child_costs_one_answer_and_is_restarted(remote_client: TestClient) -> None:
    old = _child(remote_client)
    os.kill(old.pid, signal.SIGKILL)
    old.wait(10)
    first = remote_client.post("/v1/score", json={"text": TEXTS[0]}, headers=AUTH)
    # the reader may not have seen the end of the pipe yet: then this one answer is a 503
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.json()["error"]["code"] == "model_unavailable"
        first = remote_client.post("/v1/score", json={"text": TEXTS[0]}, headers=AUTH)
    assert first.status_code == 200 and first.json()["verdict"] == "inquiry"
    assert _child(remote_client).pid != old.pid


def test_reload_starts_a_new_child_and_stops_the_old(remote_client: TestClient) -> None:
    old = _child(remote_client)
    r = remote_client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == r.json()["previous_version"]
    assert old.poll() is not None  # exited
    new = _child(remote_client)
    assert new.pid != old.pid and new.poll() is None
    assert remote_client.post("/v1/score", json={"text": TEXTS[2]}, headers=AUTH).json()["verdict"] == "harassment"


def test_a_model_that_cannot_load_fails_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ScoringProcessError, match="ModelNotFoundError"):
        RemoteTriager(tmp_path / "no-model", max_chars=100)


def test_the_http_process_never_imports_the_model_libraries(small_model_dir: Path) -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from complaint_triage.api.worker import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    r = client.post('/v1/score', json={'text': 'ゴミの日は？'},\n"
        "                    headers={'Authorization': 'Bearer k'})\n"
        "    assert r.status_code == 200, r.text\n"
        "heavy = [m for m in ('numpy', 'scipy', 'sklearn', 'fugashi', 'skops') if sys.modules.get(m) is not None]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    import hashlib

    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_TRIAGE_")}
    env.update({"COMPLAINT_TRIAGE_MODEL_PATH": str(small_model_dir), "COMPLAINT_TRIAGE_SCORING_PROCESS": "true",
                "COMPLAINT_TRIAGE_API_KEYS_SHA256": hashlib.sha256(b"k").hexdigest()})
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "none", (out.stdout, time.monotonic() - t0)


# -- the relay itself -----------------------------------------------------------------------

def test_async_callers_get_their_own_answers_coalesced(small_model_dir: Path) -> None:
    import asyncio

    local = Triager.load(small_model_dir)
    want = {t: p.verdict for t, p in zip(TEXTS, local.score_many(TEXTS), strict=True)}
    remote = RemoteTriager(small_model_dir, max_chars=20_000, pipeline=2)
    jobs = [[TEXTS[i % len(TEXTS)], TEXTS[(i * 3) % len(TEXTS)]][: 1 + i % 2] for i in range(80)]
    sent: list[tuple[int, bool]] = []  # (texts, with evidence) of each batch sent
    real_frame = __import__("complaint_triage.api.remote", fromlist=["x"])._frame

    async def main() -> list[list[str]]:
        import complaint_triage.api.remote as r

        def counting(obj: object) -> bytes:
            sent.append((len(obj[1]), obj[2]))  # type: ignore[index]
            return real_frame(obj)

        r._frame = counting
        try:
            results = await asyncio.gather(*(remote.score_async(j, with_evidence=i < 50)
                                             for i, j in enumerate(jobs)))
        finally:
            r._frame = real_frame
        await remote.aclose()
        return [[p.verdict for p in preds] for preds in results]

    try:
        got = asyncio.run(main())
    finally:
        remote.close()
    assert got == [[want[t] for t in j] for j in jobs]
    # 80 calls went out in far fewer batches, none over the limit, the two evidence settings never mixed
    sizes = [n for n, _ in sent]
    assert sum(sizes) == sum(len(j) for j in jobs) and len(sent) < 12 and max(sizes) <= 32
    assert sum(n for n, evidence in sent if evidence) == sum(len(j) for j in jobs[:50])
    assert remote._proc is None


def test_async_relay_skips_cancelled_callers(small_model_dir: Path) -> None:
    import asyncio

    remote = RemoteTriager(small_model_dir, max_chars=20_000, pipeline=1)
    sent: list[int] = []
    real_frame = __import__("complaint_triage.api.remote", fromlist=["x"])._frame

    def counting(obj: object) -> bytes:
        sent.append(len(obj[1]))  # type: ignore[index]
        return real_frame(obj)

    async def main() -> None:
        import complaint_triage.api.remote as r

        r._frame = counting
        big = ["区役所の窓口対応について長い苦情です。" * 50] * 64  # a frame larger than a pipe's buffer
        first = asyncio.ensure_future(remote.score_async(big))
        doomed = asyncio.ensure_future(remote.score_async([TEXTS[2]]))
        kept = asyncio.ensure_future(remote.score_async([TEXTS[0]]))
        await asyncio.sleep(0)
        doomed.cancel()  # still waiting behind the first batch: never sent
        assert len(await first) == 64
        assert [p.verdict for p in await kept] == ["inquiry"]
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await remote.aclose()
        with pytest.raises(ScoringProcessError, match="stopped"):
            await remote.score_async(["a"])

    import complaint_triage.api.remote as r

    try:
        asyncio.run(main())
    finally:
        r._frame = real_frame
        remote.close()
    assert sum(sent) == 64 + 1  # the cancelled caller's text was never sent


def test_async_relay_fails_calls_in_flight_when_the_child_dies_and_restarts(small_model_dir: Path) -> None:
    import asyncio

    remote = RemoteTriager(small_model_dir, max_chars=20_000)

    async def main() -> None:
        assert [p.verdict for p in await remote.score_async([TEXTS[0]])] == ["inquiry"]
        old = remote._proc
        assert old is not None
        pending = asyncio.ensure_future(remote.score_async(["区役所の窓口対応について長い苦情です。" * 400] * 64))
        await asyncio.sleep(0)  # sent: the task ran up to its wait
        os.kill(old.pid, signal.SIGKILL)
        with pytest.raises(ScoringProcessError, match="exited"):
            await pending
        assert [p.verdict for p in await remote.score_async([TEXTS[2]])] == ["harassment"]
        assert remote._proc is not None and remote._proc.pid != old.pid
        await remote.aclose()

    try:
        asyncio.run(main())
    finally:
        remote.close()


def test_async_close_waits_for_the_batch_in_flight_not_for_a_cancelled_caller(small_model_dir: Path) -> None:
    import asyncio

    remote = RemoteTriager(small_model_dir, max_chars=20_000, pipeline=1)

    async def main() -> None:
        first = asyncio.ensure_future(remote.score_async(["区役所の窓口対応について長い苦情です。" * 50] * 32))
        queued = asyncio.ensure_future(remote.score_async([TEXTS[0]]))
        await asyncio.sleep(0)
        queued.cancel()
        await asyncio.wait_for(remote.aclose(), 60)  # returns once the first batch is answered
        assert len(await first) == 32

    try:
        asyncio.run(main())
    finally:
        remote.close()
    assert remote._proc is None


def test_async_relay_gives_up_on_a_child_that_stops_answering(small_model_dir: Path,
                                                             remote_events: list[dict]) -> None:
    """A stuck child held requests for up to 300 s and /readyz said ready meanwhile."""
    import asyncio

    remote = RemoteTriager(small_model_dir, max_chars=20_000, answer_timeout=1.0)

    async def main() -> None:
        await remote.score_async([TEXTS[0]])
        assert await remote.answering()
        stuck = remote._proc
        assert stuck is not None
        os.kill(stuck.pid, signal.SIGSTOP)  # alive, but never answers
        t0 = time.monotonic()
        assert not await remote.answering()  # idle: the empty batch it is sent gets no answer...
        assert time.monotonic() - t0 < 3
        assert stuck.wait(10) is not None  # ...and after answer_timeout it was killed
        assert not await remote.answering()  # (being restarted)
        # replaced without waiting for a request
        await _until(lambda: any(e["event"] == "scoring_process_restarted" for e in remote_events))
        await _until(lambda: _restart_done(remote))  # (the event is logged before the restart task ends)
        assert await remote.answering()
        assert [p.verdict for p in await remote.score_async([TEXTS[2]])] == ["harassment"]
        assert remote._proc is not None and remote._proc.pid != stuck.pid
        os.kill(remote._proc.pid, signal.SIGSTOP)  # stuck again, with a request waiting for it
        t0 = time.monotonic()
        with pytest.raises(ScoringProcessError, match="no answer"):
            await remote.score_async([TEXTS[1]])
        assert time.monotonic() - t0 < 3

    try:
        asyncio.run(main())
    finally:
        remote.close()
    names = [e["event"] for e in remote_events]  # (then perhaps the second restart, before close)
    assert names[:4] == ["scoring_process_stuck", "scoring_process_exited", "scoring_process_restarted",
                         "scoring_process_stuck"]
    assert remote_events[0]["timeout_s"] == 1.0 and remote_events[1]["signal"] == "SIGKILL"


def test_a_failed_restart_is_logged_with_its_cause_retried_and_not_ready(small_model_dir: Path, tmp_path: Path,
                                                                          remote_events: list[dict]) -> None:
    """A child that could not be restarted (a model file that no longer matched its checksum)
    left every request at 503 for ever, /readyz at 200 and nothing in the log but the error's type."""
    import asyncio
    import shutil

    model = tmp_path / small_model_dir.name
    shutil.copytree(small_model_dir, model)
    good = (model / "model.skops").read_bytes()
    remote = RemoteTriager(model, max_chars=20_000)
    killed: list[int] = []

    async def main() -> None:
        await remote.score_async([TEXTS[0]])
        old = remote._proc
        assert old is not None
        killed.append(old.pid)
        (model / "model.skops").write_bytes(good[: len(good) // 2])  # damaged on disk
        os.kill(old.pid, signal.SIGKILL)  # as the OOM killer would
        # the restart is attempted (and fails) with no request asking for it
        await _until(lambda: any(e["event"] == "scoring_process_restart_failed" for e in remote_events))
        assert not await remote.answering()
        assert 1 <= remote.retry_after() <= 1 + math.ceil(remote._start_s) + 1  # the wait, then a start
        t0 = time.monotonic()
        with pytest.raises(ScoringProcessError, match="checksum"):
            await remote.score_async([TEXTS[0]])  # at once (not another model load), saying why
        assert time.monotonic() - t0 < 0.5
        (model / "model.skops").write_bytes(good)  # repaired: the next attempt succeeds by itself
        await _until(lambda: any(e["event"] == "scoring_process_restarted" for e in remote_events))
        await _until(lambda: _restart_done(remote))
        assert await remote.answering()
        assert [p.verdict for p in await remote.score_async([TEXTS[0]])] == ["inquiry"]
        await remote.aclose()

    try:
        asyncio.run(main())
    finally:
        remote.close()
    exited, failed = remote_events[0], remote_events[1]
    assert exited["event"] == "scoring_process_exited" and exited["signal"] == "SIGKILL" and exited["pid"] == killed[0]
    assert failed["event"] == "scoring_process_restart_failed" and failed["error"] == "ModelLoadError"
    assert "checksum" in failed["detail"] and failed["retry_in_s"] == 1.0
    assert remote_events[-1]["event"] == "scoring_process_restarted"
