"""Scoring in a separate process: the HTTP process relays, a child process scores.

With ``scoring_process`` on (``COMPLAINT_TRIAGE_SCORING_PROCESS=true``) one server process
uses both cores: its event loop parses requests and renders answers on one, while a child
process started from this module (``python -m complaint_triage.api.remote``) loads the
model and runs every ``score_many`` on the other.  The HTTP process then never imports
numpy, scikit-learn or MeCab (about 100 MB) nor maps the dictionary (about 95 MB), so the
two processes together stay near the memory of one plain worker.

:class:`RemoteTriager` is what the app's :class:`~complaint_triage.api.deps.Scorer` holds in
place of a :class:`~complaint_triage.scoring.Triager`: the same ``version``, ``max_chars``,
``model.manifest`` and ``score_many``.  The scoring thread sends one pickled request over a
pipe and blocks, without the GIL, until the pickled results come back (the records of
:mod:`complaint_triage.results`).  Only this process's own child is unpickled, never a file.

If the child dies, the call in flight fails with :class:`ScoringProcessError` (the API
answers 503) and the next call starts a new child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from complaint_triage.exceptions import ScoringProcessError
from complaint_triage.results import Prediction, ScoringError

__all__ = ["RemoteTriager", "ScoringProcessError"]

#: Seconds to wait for the child to load the model and answer its first message.
START_TIMEOUT = 300.0
#: Seconds a call waits for its answer before giving up (a 256-message batch of long texts
#: takes seconds; this only bounds a wait that would otherwise never end).
ANSWER_TIMEOUT = 300.0


class RemoteTriager:
    """A :class:`~complaint_triage.scoring.Triager` in a child process (see the module docstring).

    Parameters
    ----------
    model_path : Path or None
        Model directory; None means the promoted model, as for ``Triager.load``.
    max_chars : int
        Longer texts get an error record.
    """

    def __init__(self, model_path: Path | str | None, *, max_chars: int) -> None:
        self.model_path = None if model_path is None else str(model_path)
        self.max_chars_requested = max_chars
        self._lock = threading.Lock()  # sending, starting and stopping
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: _PipeConnection | None = None
        self._reader: threading.Thread | None = None
        self._pending: deque[_Reply] = deque()  # sent, not yet answered, in the order sent
        self._closed = False
        self.info: dict[str, Any] = {}
        self._start()

    # -- the Triager interface ---------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.info["version"])

    @property
    def max_chars(self) -> int:
        return int(self.info["max_chars"])

    @property
    def model(self) -> SimpleNamespace:
        """What the API reads of a loaded model: its manifest."""
        return SimpleNamespace(manifest=self.info["manifest"])

    def score_many(self, texts: Sequence[object], *, with_evidence: bool = True) -> list[Prediction | ScoringError]:
        """Score in the child process; the same records as ``Triager.score_many``.

        Several threads may call at once: each request is sent as soon as the pipe is free
        and queued in the child behind the others (answers come back in the order sent), so
        the child starts on the next batch while this process is still handing out the last.
        """
        reply = _Reply()
        with self._lock:
            if self._closed:
                raise ScoringProcessError("the scoring process was stopped (the model is being reloaded); retry")
            if self._conn is None or self._conn.dead:
                self._stop()
                self._start()
            assert self._conn is not None
            self._pending.append(reply)  # before sending: the answer may come back at once
            try:
                self._conn.send(("score", list(texts), bool(with_evidence)))
            except OSError as e:
                self._pending.remove(reply)
                self._conn.dead = True
                raise ScoringProcessError(
                    f"the scoring process exited ({type(e).__name__}); it is restarted on the next request"
                ) from e
        kind, payload = reply.wait(ANSWER_TIMEOUT)
        if kind != "ok":
            raise ScoringProcessError(f"scoring failed in the scoring process: {payload}")
        return list(payload)

    def close(self) -> None:
        """Stop the child after the calls in flight (their answers are still delivered)."""
        with self._lock:
            self._closed = True
            self._stop()

    # -- the child ---------------------------------------------------------------------
    def _start(self) -> None:
        parent_end, child_end = os.pipe(), os.pipe()  # parent -> child, child -> parent
        cmd = [sys.executable, "-m", "complaint_triage.api.remote", str(parent_end[0]), str(child_end[1]),
               self.model_path or "", str(self.max_chars_requested)]
        try:
            proc = subprocess.Popen(cmd, pass_fds=(parent_end[0], child_end[1]), stdin=subprocess.DEVNULL)
        except OSError as e:
            for fd in (*parent_end, *child_end):
                os.close(fd)
            raise ScoringProcessError(f"the scoring process could not be started ({e})") from e
        os.close(parent_end[0])
        os.close(child_end[1])
        conn = _PipeConnection(read_fd=child_end[0], write_fd=parent_end[1])
        try:
            if not conn.poll(START_TIMEOUT):
                raise ScoringProcessError(f"the scoring process did not start within {START_TIMEOUT:.0f} s")
            kind, payload = conn.recv()
        except (EOFError, OSError, ScoringProcessError) as e:
            conn.close()
            proc.kill()
            proc.wait(10)
            raise ScoringProcessError(
                f"the scoring process could not start (exit code {proc.returncode}); see its messages above"
            ) from e
        if kind != "ready":
            conn.close()
            proc.wait(10)
            raise ScoringProcessError(f"the scoring process could not load the model: {payload}")
        self._proc, self._conn, self.info = proc, conn, payload
        self._reader = threading.Thread(target=self._read, args=(conn,), name="complaint-triage-remote-reader",
                                        daemon=True)
        self._reader.start()

    def _read(self, conn: _PipeConnection) -> None:
        """Hand each answer to the oldest waiting call; at EOF fail every call still waiting.

        Takes no lock: only this thread removes from ``_pending`` while the pipe is open.
        """
        while True:
            try:
                answer = conn.recv()
            except (EOFError, OSError) as e:
                conn.dead = True  # the next call starts a new child
                while self._pending:
                    self._pending.popleft().set(("exited", f"the scoring process exited ({type(e).__name__}); "
                                                 "it is restarted on the next request"))
                return
            if self._pending:  # else an answer nobody waits for any more: dropped
                self._pending.popleft().set(answer)

    def _stop(self) -> None:
        """Tell the child to exit after answering what it was sent, and wait for it (lock held)."""
        conn, proc, reader = self._conn, self._proc, self._reader
        self._conn = self._proc = self._reader = None
        if conn is not None and not conn.dead:
            try:
                conn.send(None)
            except OSError:
                pass
        if reader is not None:
            reader.join(60)  # every answer delivered, or failed at EOF, before the pipe closes
        if conn is not None:
            conn.close()
        if proc is not None:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class _Reply:
    """One call's answer, set by the reader thread."""

    __slots__ = ("_event", "value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.value: tuple[str, Any] = ("exited", "no answer")

    def set(self, value: tuple[str, Any]) -> None:
        self.value = value
        self._event.set()

    def wait(self, timeout: float) -> tuple[str, Any]:
        if not self._event.wait(timeout):
            return ("timeout", f"no answer from the scoring process within {timeout:.0f} s")
        return self.value


class _PipeConnection:
    """One :class:`multiprocessing.connection.Connection` per direction of two plain pipes."""

    def __init__(self, *, read_fd: int, write_fd: int) -> None:
        self._r = Connection(read_fd, writable=False)
        self._w = Connection(write_fd, readable=False)
        self.dead = False  # the other end has gone (EOF read or a write failed)

    def send(self, obj: object) -> None:
        self._w.send(obj)

    def recv(self) -> Any:
        return self._r.recv()

    def poll(self, timeout: float) -> bool:
        return self._r.poll(timeout)

    def close(self) -> None:
        self._r.close()
        self._w.close()


def _serve(read_fd: int, write_fd: int, model_path: str, max_chars: int) -> int:
    """The child: load the model, say ready, then score until told to stop."""
    conn = _PipeConnection(read_fd=read_fd, write_fd=write_fd)
    try:
        from complaint_triage.scoring import Triager

        triager = Triager.load(model_path or None, max_chars=max_chars)
        triager.score_many(["粗大ごみの収集日を教えてください。", "ふざけるな、お前ら税金泥棒だ。"])  # build the tables
    except Exception as e:  # reported to the parent, which answers 503 and logs it
        conn.send(("failed", f"{type(e).__name__}: {e}"))
        return 1
    conn.send(("ready", {"version": triager.version, "max_chars": triager.max_chars,
                         "manifest": triager.model.manifest}))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return 0
        if msg is None:
            return 0
        _, texts, with_evidence = msg
        try:
            out: tuple[str, object] = ("ok", triager.score_many(texts, with_evidence=with_evidence))
        except Exception as e:  # score_many turns bad input into records; this is a bug or OOM
            out = ("error", f"{type(e).__name__}: {e}")
        conn.send(out)


if __name__ == "__main__":  # pragma: no cover - run as a child by RemoteTriager
    # Ctrl-C reaches the whole process group: the worker stops this child itself, after the
    # answers in flight (and an orphaned child exits when the pipe closes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As in complaint_triage.api.worker: libraries the scorer never uses stay out.
    for _name in ("pandas", "dask", "pytest"):
        sys.modules.setdefault(_name, None)  # type: ignore[arg-type]
    sys.exit(_serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
