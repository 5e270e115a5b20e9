"""The supervisor's logic with stand-in workers: readiness, restarts, start-up failure, SIGHUP.

Each stand-in is a few lines of Python (started in place of a real worker through the
``worker_command`` seam): it says it is ready on the pipe the supervisor hands it, as a real
worker does once its model is loaded, and records the SIGHUPs it gets.  The supervisor runs in
the test's main thread (it installs signal handlers); a helper thread watches its events and
stops it with SIGTERM, as an operator would.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from complaint_triage.api import supervisor

from .conftest import logged_fields, wait_until

# argv: ready_fd, folder, mode.  Modes: "ready" (ready at once, then stays), "die" (ready, then
# exits 1 after 0.3 s), "early-exit" (exits 1 before it is ready), "wait-go" (ready once the file
# go exists in the folder).  SIGHUPs are written to hup-<pid>: "early" before ready, "ready" after.
STAND_IN = r"""
import os, signal, sys, time
ready_fd, folder, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def note(what):
    with open(os.path.join(folder, f"hup-{os.getpid()}"), "a") as f:
        f.write(what + "\n")
signal.signal(signal.SIGHUP, lambda *_: note("early"))
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # (the supervisor starts it blocked)
if mode == "early-exit":
    sys.exit(1)
while mode == "wait-go" and not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.02)
signal.signal(signal.SIGHUP, lambda *_: note("ready"))
os.write(ready_fd, b"r")
os.close(ready_fd)
if mode == "die":
    time.sleep(0.3)
    sys.exit(1)
while True:
    time.sleep(0.05)
"""


@pytest.fixture()
def events() -> Iterator[list[dict]]:
    """The supervisor's events: the ``fields`` of its log records."""
    with logged_fields("complaint_triage.api.supervisor") as seen:
        yield seen


def stand_ins(monkeypatch: pytest.MonkeyPatch, folder: Path, modes: Callable[[int], str]) -> None:
    """Start stand-ins instead of workers; the n-th one started (from 0) runs ``modes(n)``."""
    started = iter(range(1000))

    def command(fd: int, ready_fd: int, log_level: str, graceful: int) -> list[str]:
        return [sys.executable, "-c", STAND_IN, str(ready_fd), str(folder), modes(next(started))]

    monkeypatch.setattr(supervisor, "worker_command", command)


def run(events: list[dict], script: Callable[[], None], workers: int = 2) -> int:
    """Supervise ``workers`` stand-ins while ``script`` runs in a thread; SIGTERM when it ends."""
    failed: list[BaseException] = []

    def drive() -> None:
        try:
            script()
        except BaseException as e:  # reported by the test, after the supervisor has stopped
            failed.append(e)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    socks = supervisor.bind_sockets("127.0.0.1", 0, workers)
    driver = threading.Thread(target=drive, daemon=True)
    # a SIGTERM that comes after the supervisor has stopped by itself must not end the test run
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        driver.start()
        status = supervisor._supervise(socks, "127.0.0.1", "info", graceful=1)
        driver.join(30)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise failed[0]
    return status


wait_for = functools.partial(wait_until, timeout=20, poll=0.02)


def count(events: list[dict], name: str) -> int:
    return sum(e["event"] == name for e in events)


def test_a_worker_that_dies_after_it_was_ready_is_restarted(events: list[dict], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """It was a start-up failure (stopping the whole server, exit 3) for 60 s after its start,
    however long it had been serving."""
    stand_ins(monkeypatch, tmp_path, lambda n: "die" if n == 0 else "ready")

    def script() -> None:
        wait_for(lambda: count(events, "worker_started") == 3)  # the dead one was replaced
        wait_for(lambda: count(events, "worker_ready") == 3)

    assert run(events, script) == 0
    [died] = [e for e in events if e["event"] == "worker_died"]
    assert died["exit_status"] == 1 and died["uptime_s"] < 5
    assert count(events, "worker_failed_at_startup") == 0
    assert events[-1] == {"event": "supervisor_stopped", "exit_status": 0}


def test_a_worker_that_dies_before_it_was_ever_ready_stops_the_server(events: list[dict], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    stand_ins(monkeypatch, tmp_path, lambda n: "early-exit" if n == 0 else "ready")
    assert run(events, lambda: wait_for(lambda: count(events, "supervisor_stopped") == 1)) == supervisor.STARTUP_FAILURE
    assert count(events, "worker_failed_at_startup") == 1 and count(events, "worker_died") == 0


def test_sighup_waits_until_a_worker_is_ready(events: list[dict], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP was passed on to workers still loading their model, which it killed."""
    stand_ins(monkeypatch, tmp_path, lambda n: "wait-go")

    def script() -> None:
        wait_for(lambda: count(events, "worker_started") == 2)
        os.kill(os.getpid(), signal.SIGHUP)
        wait_for(lambda: count(events, "reload_requested") == 1)
        time.sleep(0.3)
        assert not list(tmp_path.glob("hup-*"))  # nothing was passed on yet
        (tmp_path / "go").touch()  # the workers finish loading
        wait_for(lambda: count(events, "reload_forwarded") == 2)
        wait_for(lambda: len(list(tmp_path.glob("hup-*"))) == 2)
        os.kill(os.getpid(), signal.SIGHUP)  # once ready, passed on at once
        wait_for(lambda: count(events, "reload_requested") == 2)

    assert run(events, script) == 0
    requested = [e for e in events if e["event"] == "reload_requested"]
    assert [(e["workers"], e["deferred_until_ready"]) for e in requested] == [(0, 2), (2, 0)]
    wait_for(lambda: all(p.read_text() == "ready\nready\n" for p in tmp_path.glob("hup-*")), timeout=5)


def test_the_worker_config_bounds_shutdown_and_headers() -> None:
    config = supervisor.worker_config("warning", 7)
    assert config.timeout_graceful_shutdown == 7
    assert config.http == supervisor.HTTP_PROTOCOL == "complaint_triage.api.protocol:HeaderTimeoutProtocol"
    assert (config.loop, config.lifespan, config.access_log) == ("uvloop", "on", False)
