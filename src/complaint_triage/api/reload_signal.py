"""SIGHUP while a server is starting: held back until its model is loaded, then acted on.

SIGHUP reloads the promoted model; the app installs that handler once its model is loaded
(:func:`complaint_triage.api.app.lifespan`).  Until then SIGHUP would take its default action and
kill the process, in the middle of loading the model.  So:

* ``complaint-triage serve`` and the supervisor start servers with SIGHUP blocked (a blocked
  signal waits, pending, and the mask is inherited across fork and exec): :func:`blocked`;
* the server process calls :func:`hold` when it imports the app's entry point
  (:mod:`complaint_triage.api.worker`, the first of this package's code to run there): from then
  on a SIGHUP is only recorded, and SIGHUP is unblocked, so one that waited is recorded now;
* the app, once its reload handler is installed, calls :func:`take_pending` and reloads if a
  SIGHUP came in the meantime.

Standard library only: the supervisor imports it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["blocked", "block", "hold", "take_pending"]

_SIGHUP = getattr(signal, "SIGHUP", None)
_pending = False


def _can_mask() -> bool:
    return _SIGHUP is not None and hasattr(signal, "pthread_sigmask")


def block() -> None:
    """Block SIGHUP in the calling thread; a process started from it (fork, exec) starts blocked."""
    if _can_mask():
        signal.pthread_sigmask(signal.SIG_BLOCK, {_SIGHUP})


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """SIGHUP blocked for the duration (a SIGHUP meanwhile is delivered afterwards)."""
    if not _can_mask():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {_SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _record(signum: int, frame: object) -> None:
    global _pending
    _pending = True


def hold() -> None:
    """From now on, record SIGHUP (see :func:`take_pending`) instead of dying of it, and unblock it.

    Only in the main thread (where Python runs signal handlers); elsewhere it does nothing.
    """
    if _SIGHUP is None or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(_SIGHUP, _record)
    unblock()


def unblock() -> None:
    """Let SIGHUP through to this thread again (``serve`` starts the server with it blocked)."""
    if _can_mask():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {_SIGHUP})


def take_pending() -> bool:
    """Whether a SIGHUP was recorded since the last call (and forget it)."""
    global _pending
    pending, _pending = _pending, False
    return pending
