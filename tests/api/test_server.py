"""The real server: `serve()` runs uvicorn (uvloop + httptools) in a subprocess, driven with httpx."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from complaint_triage.api.schemas import EXAMPLE_EMAIL, ScoreResult

from .conftest import API_KEY, AUTH, sha256, wait_until

pytestmark = pytest.mark.slow

SECRET = "世田谷太郎 090-9999-0000 ふざけるな税金泥棒"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    proc: subprocess.Popen
    log: Path


def start_server(model_dir: Path, log: Path, *, wait: bool = True) -> Server | subprocess.Popen:
    """Start `serve()` on a free port and wait until it is ready (or, with ``wait=False``, return the process)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_TRIAGE_")}
    env.update({"COMPLAINT_TRIAGE_API_KEYS_SHA256": sha256(API_KEY), "COMPLAINT_TRIAGE_MAX_BODY_BYTES": "65536"})
    code = textwrap.dedent(f"""
        from pathlib import Path
        from complaint_triage.api.command import serve
        serve(host="127.0.0.1", port={port}, workers=1, model=Path({str(model_dir)!r}), log_level="info")
    """)
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=log.parent, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    if not wait:
        return proc
    srv = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(srv.base + "/readyz", timeout=2, trust_env=False).status_code == 200:
                return srv
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"server on port {port} not ready (exit status {proc.returncode}):\n{tail}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def server(small_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "stderr.log"
    errors = []
    for _attempt in range(3):  # the free port may be taken by another process in between
        try:
            srv = start_server(small_model_dir, log)
            break
        except RuntimeError as e:
            errors.append(str(e))
    else:
        pytest.fail("\n\n".join(errors))
    try:
        yield srv
    finally:
        stop(srv.proc)


def test_real_server_end_to_end(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=10, trust_env=False) as c:  # one keep-alive connection
        assert c.get("/healthz").json() == {"status": "ok"}
        r = c.post("/v1/score", json={"text": SECRET, "id": "e2e-1"}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert ScoreResult.model_validate(r.json()).id == "e2e-1"
        assert r.headers["x-request-id"] and "server" not in r.headers
        r = c.post("/v1/score/batch", json={"items": [{"text": SECRET}, {"text": ""}, {"text": "ゴミ"}]}, headers=AUTH)
        assert [("error" in e) for e in r.json()["results"]] == [False, True, False]
        rfc822 = {**AUTH, "Content-Type": "message/rfc822"}
        r = c.post("/v1/score/email", content=EXAMPLE_EMAIL.encode(), headers=rfc822)
        assert r.status_code == 200 and r.json()["email"]["subject"] == "粗大ごみの収集について"
        assert c.post("/v1/score", json={"text": "a"}).status_code == 401
        r = c.post("/v1/score", content=b'{"text": "\xff"}', headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_utf8"
        assert c.get("/v1/model", headers=AUTH).json()["limits"]["max_body_bytes"] == 65536
    with httpx.Client(base_url=server.base, timeout=10, trust_env=False) as c:
        r = c.post("/v1/score", content=b"x" * 70_000, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    with httpx.Client(base_url=server.base, timeout=10, trust_env=False) as c:
        def chunks() -> Iterator[bytes]:
            for _ in range(100):
                yield b"x" * 1000

        r = c.post("/v1/score", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 413
    metrics = httpx.get(server.base + "/metrics", trust_env=False).text
    assert 'route="/v1/score",status="200"' in metrics and "complaint_triage_verdicts_total" in metrics


def test_a_sighup_while_the_model_loads_is_acted_on_once_loaded(small_model_dir: Path, tmp_path: Path) -> None:
    """SIGHUP killed a server still loading its model (exit status 129: its default action)."""
    log = tmp_path / "stderr.log"
    proc = start_server(small_model_dir, log, wait=False)
    try:
        deadline = time.monotonic() + 60
        while b"Waiting for application startup" not in log.read_bytes():  # uvicorn is up, the model loading
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.02)
        proc.send_signal(signal.SIGHUP)

        def reloaded() -> bool:
            return any(x.get("event") == "sighup_reload" for x in _events(log))

        _wait_for(lambda: reloaded() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        events = [x.get("event") for x in _events(log)]
        assert events.index("startup") < events.index("sighup_deferred") < events.index("sighup_reload")
    finally:
        stop(proc)


def test_graceful_shutdown_and_clean_logs(server: Server) -> None:
    assert httpx.get(server.base + "/healthz", trust_env=False).status_code == 200
    server.proc.terminate()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit status -15)
    assert server.proc.wait(20) in (0, -15)
    text = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Application shutdown complete" in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [x for x in lines if x.get("event") == "request"]
    fields = {"request_id", "route", "status", "latency_ms", "model_version"}
    assert requests and all(fields <= set(x) for x in requests)
    assert any(x.get("verdict") for x in requests)
    for needle in ("世田谷太郎", "090-9999", "税金泥棒"):
        assert needle not in text


# -- several workers: one listening socket each (complaint_triage.api.supervisor) ----------


def _supervisor(model_dir: Path, log: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_TRIAGE_")}
    env.update({"COMPLAINT_TRIAGE_API_KEYS_SHA256": sha256(API_KEY), "COMPLAINT_TRIAGE_MODEL_PATH": str(model_dir)})
    with log.open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "complaint_triage.api.supervisor", "--port", str(port),
                                 "--workers", "2", *extra], cwd=log.parent, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)


def _events(log: Path) -> list[dict]:
    text = log.read_text(encoding="utf-8", errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


_wait_for = functools.partial(wait_until, timeout=120, poll=0.2)


def test_two_workers_share_the_port_restart_and_stop_cleanly(small_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "supervisor.log"
    proc = _supervisor(small_model_dir, log, port)
    try:
        _wait_for(lambda: sum(e.get("event") == "startup" for e in _events(log)) == 2)
        pids = {e["pid"] for e in _events(log) if e.get("event") == "worker_started"}
        assert len(pids) == 2
        # a port in use is refused at once, with a message saying what to do
        second = subprocess.run([sys.executable, "-m", "complaint_triage.api.supervisor", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "choose another one with --port" in second.stderr
        # sixteen keep-alive connections, all answered
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20, trust_env=False) for _ in range(16)]
        try:
            for c in clients:
                r = c.post("/v1/score", json={"text": SECRET}, headers=AUTH)
                assert r.status_code == 200, r.text
        finally:
            for c in clients:
                c.close()
        # SIGHUP reloads the model in every worker and the server keeps running
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: sum(e.get("event") == "sighup_reload" for e in _events(log)) == 2)
        assert proc.poll() is None
        # a worker that dies after start-up (seconds after it was ready) is replaced, and the
        # port keeps answering
        victim = sorted(pids)[0]
        os.kill(victim, 9)
        _wait_for(lambda: any(e.get("event") == "worker_died" and e["pid"] == victim for e in _events(log)))
        _wait_for(lambda: sum(e.get("event") == "startup" for e in _events(log)) == 3)
        for _ in range(8):  # new connections, spread over both sockets, all answered
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False, timeout=10).status_code == 200
        proc.terminate()
        assert proc.wait(40) == 0
    finally:
        stop(proc)
    events = _events(log)
    assert events[-1]["event"] == "supervisor_stopped" and events[-1]["exit_status"] == 0
    assert log.read_text(encoding="utf-8").count("Application shutdown complete") == 2
    assert SECRET[:5] not in log.read_text(encoding="utf-8")


def test_a_worker_failing_at_startup_stops_the_server(tmp_path: Path) -> None:
    bad_model = tmp_path / "no-model"
    bad_model.mkdir()
    log = tmp_path / "supervisor.log"
    proc = _supervisor(bad_model, log, free_port())
    try:
        assert proc.wait(120) == 3
    finally:
        stop(proc)
    assert any(e.get("event") == "worker_failed_at_startup" for e in _events(log))


def test_workers_stop_when_the_supervisor_is_killed(small_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "supervisor.log"
    proc = _supervisor(small_model_dir, log, port)
    try:
        _wait_for(lambda: sum(e.get("event") == "startup" for e in _events(log)) == 2)
        pids = [e["pid"] for e in _events(log) if e.get("event") == "worker_started"]
        proc.kill()  # no chance to stop the workers
        proc.wait(10)

        def gone() -> bool:
            for pid in pids:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    continue
                if Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
                    return False
            return True

        _wait_for(gone, timeout=60)
    finally:
        stop(proc)
