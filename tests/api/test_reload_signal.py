"""SIGHUP while a server starts: held back until the app can reload, then acted on."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from complaint_triage.api import app as app_module
from complaint_triage.api import reload_signal


@pytest.fixture()
def sighup_restored() -> Iterator[None]:
    handler = signal.getsignal(signal.SIGHUP)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    reload_signal.take_pending()
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        reload_signal.take_pending()


def test_a_sighup_before_the_app_can_reload_is_recorded_not_fatal(sighup_restored: None) -> None:
    """A SIGHUP while a worker was loading its model killed it (default action)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a fresh process
    reload_signal.block()  # as `serve` and the supervisor start the server
    # waits, pending: the process lives.  (Sent to this thread: a blocked signal sent to the process
    # would go to another of the test run's threads, which do not block it. A server process has
    # none: `serve` blocks it just before exec, and the threads it starts later inherit the mask.)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)  # type: ignore[arg-type]
    assert not reload_signal.take_pending()
    reload_signal.hold()  # the worker entry point: unblocks, and the pending SIGHUP is recorded
    assert reload_signal.take_pending() and not reload_signal.take_pending()
    os.kill(os.getpid(), signal.SIGHUP)  # later ones too, until the app installs its handler
    assert reload_signal.take_pending()


def test_the_app_reloads_once_started_when_a_sighup_came_while_loading(
    sighup_restored: None, monkeypatch: pytest.MonkeyPatch, access_log: list
) -> None:
    reloads: list[object] = []

    async def reload_model(scorer: object, settings: object) -> dict[str, str]:
        reloads.append(scorer)
        return {"previous_version": "m-old", "model_version": "m-new"}

    monkeypatch.setattr(app_module.feedback, "reload_model", reload_model)
    app_module._configure_logging("info")  # (as create_app does)
    scorer = SimpleNamespace()
    reload_signal.hold()
    os.kill(os.getpid(), signal.SIGHUP)  # while "loading"

    async def main() -> None:
        app_module._install_sighup(scorer, SimpleNamespace())  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert reloads == [scorer]
        os.kill(os.getpid(), signal.SIGHUP)  # now handled by the app's own handler
        await asyncio.sleep(0.05)
        assert reloads == [scorer, scorer]
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    asyncio.run(main())
    events = [getattr(r, "fields", {}).get("event") for r in access_log]
    assert events.count("sighup_deferred") == 1 and events.count("sighup_reload") == 2
