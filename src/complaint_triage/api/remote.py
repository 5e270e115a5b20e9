"""Scoring in a separate process: the HTTP process relays, a child process scores.

With ``scoring_process`` on (``COMPLAINT_TRIAGE_SCORING_PROCESS=true``) one server process
uses both cores: its event loop parses requests and renders answers on one, while a child
process started from this module (``python -m complaint_triage.api.remote``) loads the
model and runs every ``score_many`` on the other.  The HTTP process then never imports
numpy, scikit-learn or MeCab (about 100 MB) nor maps the dictionary (about 95 MB), so the
two processes together stay near the memory of one plain worker.

:class:`RemoteTriager` is what the app's :class:`~complaint_triage.api.deps.Scorer` holds in
place of a :class:`~complaint_triage.scoring.Triager`: the same ``version``, ``max_chars`` and
``model.manifest``, and :meth:`RemoteTriager.score_async` in place of ``score_many``.  The event
loop relays by itself: it writes each batch to the pipe and reads the answers as they come, so
no thread sits between a request and the child and nothing waits for the GIL on the way.
Waiting requests are coalesced into batches of up to :data:`BATCH_TEXTS` messages, ``pipeline``
batches in flight at once.  Requests and results (the records of
:mod:`complaint_triage.results`) travel as pickles; only this process's own child is unpickled,
never a file.

If the child dies, or stays over ``answer_timeout`` seconds on one batch (it is then killed),
the calls in flight fail with :class:`ScoringProcessError` (the API answers 503) and a new child
is started at once, without waiting for the next call; if that start fails, it is tried again
after 1, 2, 4 … up to 30 s, and calls meanwhile fail at once.  :meth:`RemoteTriager.answering`
tells ``/readyz`` whether the child is up and answering, and :meth:`RemoteTriager.retry_after`
the API's ``Retry-After``.  Deaths, restarts and failed restarts are logged on
``complaint_triage.api.remote`` (exit status, the cause's type and message; never message text).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from complaint_triage.api.backoff import backoff_s
from complaint_triage.exceptions import ScoringProcessError
from complaint_triage.results import Prediction, ScoringError

__all__ = ["RemoteTriager", "ScoringProcessError"]

#: Seconds to wait for the child to load the model and answer its first message.
START_TIMEOUT = 300.0
#: Waiting messages are coalesced into batches of at most this many (asynchronous relay).
BATCH_TEXTS = 32
#: Seconds :meth:`RemoteTriager.answering` waits for an idle child to answer an empty batch.
PROBE_TIMEOUT = 2.0

#: Default seconds the child may spend on one batch (``Settings.scoring_timeout_s``): the slowest
#: batch it can be sent (32 messages of 20,000 characters) took 2.6–3.0 s with the shipped model
#: on the 2-core development machine, up to 4.1 s with both cores busy (docs/api.md).  The
#: settings repeat it (a test checks they agree): importing this module there cost every start.
ANSWER_TIMEOUT_S = 10.0
_LOG = logging.getLogger("complaint_triage.api.remote")


def _say(level: int, event: str, **fields: object) -> None:
    _LOG.log(level, event, extra={"fields": {"event": event, **fields}})


def _exit_fields(code: int | None) -> dict[str, object]:
    """How a child ended, for a log line: ``exit_code``, or ``signal`` when a signal killed it."""
    if code is None:
        return {"exit_code": None}
    if code < 0:
        try:
            return {"signal": signal.Signals(-code).name}
        except ValueError:
            return {"signal": -code}
    return {"exit_code": code}


class _StartFailed(ScoringProcessError):
    """The child could not start; ``cause`` names the type of what went wrong and ``detail`` says
    what (about the model file or the process, never message text), for the log."""

    def __init__(self, message: str, *, cause: str, detail: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.detail = detail


class RemoteTriager:
    """A :class:`~complaint_triage.scoring.Triager` in a child process (see the module docstring).

    Parameters
    ----------
    model_path : Path or None
        Model directory; None means the promoted model, as for ``Triager.load``.
    max_chars : int
        Longer texts get an error record.
    pipeline : int
        Batches in flight to the child at once.
    answer_timeout : float
        Seconds the child may spend on one batch (from the moment it is the oldest in flight);
        then it counts as stuck: the calls waiting for it fail and it is killed and restarted.
    """

    def __init__(self, model_path: Path | str | None, *, max_chars: int, pipeline: int = 4,
                 answer_timeout: float = ANSWER_TIMEOUT_S) -> None:
        self.model_path = None if model_path is None else str(model_path)
        self.max_chars_requested = max_chars
        self.pipeline = max(1, pipeline)
        self.answer_timeout = float(answer_timeout)
        # the relay's state (the event loop's thread only)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the pipe is registered with
        self._waiting: deque[tuple[list[object], bool, asyncio.Future[Any]]] = deque()
        self._sent: deque[list[tuple[asyncio.Future[Any], int]]] = deque()  # the callers of each batch
        self._head_since = 0.0  # (loop time) since when the child has been on the oldest batch in flight
        self._rbuf = bytearray()
        self._wbuf = bytearray()
        self._restart_task: asyncio.Task[None] | None = None  # one restart shared by every caller
        self._restart_began = 0.0  # (loop time) when it began
        self._restart_timer: asyncio.TimerHandle | None = None  # the next attempt after a failed one
        self._idle: asyncio.Event | None = None  # set by aclose's wait when nothing is left
        self._watchdog: asyncio.TimerHandle | None = None
        self._retry_after = 0.0  # (loop time) after a failed restart, calls fail at once until then
        self._failures = 0  # failed restarts in a row
        self._restart_error = ""
        self._start_s = 3.0  # how long the last start took (the Retry-After estimate of a restart)
        self._lock = threading.Lock()  # starting and stopping (restarts run in a thread)
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: _PipeConnection | None = None
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

    def close(self) -> None:
        """Stop the child.  Call it on the event loop's thread with nothing in flight (at
        shutdown), or use :meth:`aclose`, which lets the calls in flight finish first."""
        self._closed = True
        self._cancel_restart_timer()
        if self._loop is not None:
            self._detach("the scoring process was stopped")
        with self._lock:
            self._stop()

    async def aclose(self) -> None:
        """Refuse new calls, let the ones in flight finish (each batch within ``answer_timeout``,
        else the child is stopped as stuck), then stop the child."""
        self._closed = True
        self._cancel_restart_timer()
        try:
            if self._restart_task is not None and not self._restart_task.done():
                await asyncio.wait({self._restart_task}, timeout=START_TIMEOUT)
            if self._loop is not None and not self._nothing_left():
                self._idle = asyncio.Event()
                try:
                    await asyncio.wait_for(self._idle.wait(), self.answer_timeout * (self.pipeline + 1))
                except TimeoutError:
                    pass
        finally:
            self._detach("the scoring process was stopped")
            await asyncio.shield(asyncio.to_thread(self.close))

    # -- health, for /readyz and Retry-After (event loop thread) --------------------------
    async def answering(self) -> bool:
        """True when the child is up and answering: not dead, not being restarted, not over
        ``answer_timeout`` on a batch, and (when idle) answering an empty batch within
        :data:`PROBE_TIMEOUT` seconds."""
        loop = asyncio.get_running_loop()
        if self._closed or self._conn is None or self._conn.dead:
            return False
        if self._restart_task is not None and not self._restart_task.done():
            return False
        if self._sent and self._loop is loop:  # busy: answering unless the oldest batch is overdue
            return loop.time() - self._head_since < self.answer_timeout
        try:  # idle: an empty batch costs the child nothing (a stuck child is then killed by the watchdog)
            await asyncio.wait_for(self.score_async([]), PROBE_TIMEOUT)
        except (TimeoutError, ScoringProcessError):
            return False
        return True

    def retry_after(self) -> int:
        """Seconds until the child can be expected to answer again (at least 1): the rest of a
        restart in progress, or of the wait before the next attempt plus a start."""
        now = asyncio.get_running_loop().time()
        if self._restart_task is not None and not self._restart_task.done():
            left = self._start_s - (now - self._restart_began)
        elif self._conn is None or self._conn.dead:
            left = max(0.0, self._retry_after - now) + self._start_s
        else:
            left = 1.0
        return max(1, math.ceil(left))

    # -- the asynchronous relay (event loop thread) -------------------------------------
    async def score_async(self, texts: Sequence[object], *,
                          with_evidence: bool = True) -> list[Prediction | ScoringError]:
        """Score in the child process, relayed by the running event loop; the same records as
        ``Triager.score_many``.

        The texts wait with the other waiting calls' and go to the child in the next batch
        (at most :data:`BATCH_TEXTS` messages, ``pipeline`` batches in flight).
        """
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            # the pipe may hold another loop's answers or half a message: start afresh
            if (self._sent or self._wbuf or self._rbuf) and self._conn is not None:
                self._conn.dead = True
            self._detach("the scoring process was moved to another event loop")
        while True:
            if self._closed:
                raise ScoringProcessError("the scoring process was stopped (the model is being reloaded); retry")
            if self._conn is not None and not self._conn.dead:
                break
            task = self._restart_task
            if task is None or task.done() or task.get_loop() is not loop:
                if loop.time() < self._retry_after:
                    raise ScoringProcessError(f"the scoring process could not be restarted: {self._restart_error}; "
                                              "retry in a few seconds")
                self._detach("the scoring process exited; it is being restarted")
                task = self._begin_restart(loop)
            await asyncio.shield(task)  # (a caller that goes away leaves it running)
        if self._loop is None:
            self._attach(loop)
        future: asyncio.Future[Any] = loop.create_future()
        entry = (list(texts), bool(with_evidence), future)
        self._waiting.append(entry)
        self._pump()
        try:
            result: list[Prediction | ScoringError] = await future
        except asyncio.CancelledError:
            try:  # not sent yet: its texts need not wait any longer
                self._waiting.remove(entry)
            except ValueError:
                pass
            raise
        return result

    def _begin_restart(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        self._cancel_restart_timer()
        self._restart_began = loop.time()
        task = self._restart_task = loop.create_task(self._restart_once())
        return task

    def _restart_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Restart the child without waiting for a call (so that /readyz recovers without
        traffic): now, or when the wait after a failed attempt is over."""
        self._cancel_restart_timer()  # (this call replaces a scheduled one)
        if self._closed or loop.is_closed() or (self._conn is not None and not self._conn.dead):
            return
        if self._restart_task is not None and not self._restart_task.done():
            return
        delay = self._retry_after - loop.time()
        if delay > 0:
            self._restart_timer = loop.call_later(delay, self._restart_soon, loop)
            return
        self._begin_restart(loop)

    def _cancel_restart_timer(self) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None

    async def _restart_once(self) -> None:
        """Restart the child off the loop.  It never raises: after a failure the next attempt is
        scheduled after 1, 2, 4 … up to :data:`~complaint_triage.api.backoff.MAX_BACKOFF_S` seconds, and calls fail at
        once meanwhile instead of each waiting for another model load."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self._restart)
        except Exception as e:
            self._failures += 1
            delay = backoff_s(self._failures)
            self._retry_after = loop.time() + delay
            if isinstance(e, _StartFailed):
                cause, detail = e.cause, e.detail
            else:
                cause, detail = type(e).__name__, str(e) if isinstance(e, OSError) else ""
            self._restart_error = f"{cause}: {detail}" if detail else cause
            _say(logging.ERROR, "scoring_process_restart_failed", error=cause, detail=detail,
                 failures=self._failures, retry_in_s=delay)
            if not self._closed and not loop.is_closed():
                self._cancel_restart_timer()
                self._restart_timer = loop.call_later(delay, self._restart_soon, loop)
        else:
            self._failures = 0
            self._retry_after = 0.0

    def _restart(self) -> None:
        with self._lock:
            if self._closed:
                return
            old = self._proc
            self._stop()
            if old is not None:
                _say(logging.WARNING, "scoring_process_exited", pid=old.pid, **_exit_fields(old.returncode))
            self._start()
            assert self._proc is not None
            _say(logging.INFO, "scoring_process_restarted", pid=self._proc.pid, model_version=self.info["version"],
                 start_ms=round(self._start_s * 1000))

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._conn is not None
        os.set_blocking(self._conn.read_fd, False)
        os.set_blocking(self._conn.write_fd, False)
        loop.add_reader(self._conn.read_fd, self._on_readable)
        self._loop = loop
        self._rbuf.clear()
        self._wbuf.clear()

    def _detach(self, why: str) -> None:
        """Unregister the pipe from its loop and fail every call still waiting or in flight
        (on the loop's thread)."""
        loop, self._loop = self._loop, None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if loop is not None and self._conn is not None:
            try:
                loop.remove_reader(self._conn.read_fd)
                loop.remove_writer(self._conn.write_fd)
            except (RuntimeError, ValueError, OSError):  # the loop is closed already
                pass
        self._rbuf.clear()
        self._wbuf.clear()
        self._fail_all(why)

    def _nothing_left(self) -> bool:
        return not self._sent and all(f.done() for _, _, f in self._waiting)

    def _check_idle(self) -> None:
        if self._idle is not None and self._nothing_left():
            self._idle.set()

    def _kill(self, why: str) -> None:
        """The child is stuck or speaks nonsense: kill it and start a new one."""
        if self._proc is not None:
            try:
                self._proc.kill()
            except OSError:
                pass
        self._child_gone(why)

    def _child_gone(self, why: str) -> None:
        """The child has exited (or was killed): fail every call waiting for it and restart it."""
        loop = self._loop
        if self._conn is not None:
            self._conn.dead = True
        self._detach(why)
        if loop is not None:
            self._restart_soon(loop)

    def _arm_watchdog(self) -> None:
        if self._watchdog is None and self._sent and self._loop is not None:
            self._watchdog = self._loop.call_at(self._head_since + self.answer_timeout, self._on_watchdog)

    def _on_watchdog(self) -> None:
        self._watchdog = None
        if self._sent and self._loop is not None and self._loop.time() >= self._head_since + self.answer_timeout:
            _say(logging.ERROR, "scoring_process_stuck", pid=self._proc.pid if self._proc is not None else None,
                 timeout_s=self.answer_timeout, batches_in_flight=len(self._sent))
            self._kill(f"no answer from the scoring process within {self.answer_timeout:g} s; it was stopped "
                       "and is being restarted")
            return
        self._arm_watchdog()

    def _fail_all(self, why: str) -> None:
        error = ScoringProcessError(why)
        while self._sent:
            _fail_group(self._sent.popleft(), error)
        self._fail_waiting(why)
        self._check_idle()

    def _pump(self) -> None:
        """Send waiting calls, coalesced, while fewer than ``pipeline`` batches are in flight."""
        while self._waiting and len(self._sent) < self.pipeline and self._conn is not None and not self._conn.dead:
            texts, with_evidence, future = self._waiting.popleft()
            if future.done():  # cancelled: the client went away before it was sent
                continue
            group = [(future, len(texts))]
            batch = list(texts)
            while self._waiting:
                nxt_texts, nxt_evidence, nxt = self._waiting[0]
                if nxt.done():
                    self._waiting.popleft()
                    continue
                if nxt_evidence != with_evidence or len(batch) + len(nxt_texts) > BATCH_TEXTS:
                    break
                self._waiting.popleft()
                group.append((nxt, len(nxt_texts)))
                batch.extend(nxt_texts)
            assert self._loop is not None
            try:
                frame = _frame(("score", batch, with_evidence))
            except Exception as e:  # (texts that cannot be pickled: only these callers fail)
                _fail_group(group, ScoringProcessError(f"the texts could not be sent ({type(e).__name__})"))
                continue
            if not self._sent:
                self._head_since = self._loop.time()
            self._sent.append(group)
            self._write(frame)
        self._arm_watchdog()
        self._check_idle()

    def _write(self, data: bytes) -> None:
        assert self._conn is not None and self._loop is not None
        if not self._wbuf:
            try:
                n = os.write(self._conn.write_fd, data)
            except BlockingIOError:
                n = 0
            except OSError:
                self._write_failed()
                return
            data = data[n:]
            if not data:
                return
            self._loop.add_writer(self._conn.write_fd, self._on_writable)
        self._wbuf += data

    def _write_failed(self) -> None:
        """The child has gone: write nothing more, but read what it answered before it went
        (the reader's end of file then fails the rest; the watchdog bounds the wait)."""
        assert self._conn is not None and self._loop is not None
        self._conn.dead = True
        self._wbuf.clear()
        try:
            self._loop.remove_writer(self._conn.write_fd)
        except (RuntimeError, ValueError, OSError):
            pass
        self._fail_waiting("the scoring process exited; it is being restarted")

    def _fail_waiting(self, why: str) -> None:
        _fail_group([(future, 0) for _, _, future in self._waiting], ScoringProcessError(why))
        self._waiting.clear()

    def _on_writable(self) -> None:
        assert self._conn is not None and self._loop is not None
        try:
            n = os.write(self._conn.write_fd, self._wbuf)
        except BlockingIOError:
            return
        except OSError:
            self._write_failed()
            return
        del self._wbuf[:n]
        if not self._wbuf:
            self._loop.remove_writer(self._conn.write_fd)

    def _on_readable(self) -> None:
        assert self._conn is not None
        try:
            data = os.read(self._conn.read_fd, 1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # EOF: the child exited
            self._child_gone("the scoring process exited; it is being restarted")
            return
        buf = self._rbuf
        buf += data
        while len(buf) >= 4:
            (size,) = struct.unpack_from("!i", buf)
            head = 4
            if size == -1:  # (multiprocessing's header of a message over 2 GiB)
                if len(buf) < 12:
                    break
                (size,) = struct.unpack_from("!Q", buf, 4)
                head = 12
            if len(buf) < head + size:
                break
            try:
                answer = pickle.loads(buf[head : head + size])  # from our own child only
                del buf[: head + size]
                self._deliver(answer)
            except Exception as e:  # a garbled answer: the stream cannot be trusted any more
                self._kill(f"unreadable answer from the scoring process ({type(e).__name__}); it is being "
                           "restarted")
                return
        self._pump()

    def _deliver(self, answer: tuple[str, Any]) -> None:
        if not self._sent:
            return  # (nothing waits for it)
        group = self._sent[0]
        # check the answer while its callers are still in _sent: a bad one fails them (via _kill)
        kind, payload = answer
        if kind == "ok" and (not isinstance(payload, list) or len(payload) != sum(n for _, n in group)):
            raise ValueError("an answer of the wrong shape")
        self._sent.popleft()
        assert self._loop is not None
        self._head_since = self._loop.time()  # the child now works on the next batch
        if self._watchdog is not None:  # re-armed for the next batch by _pump
            self._watchdog.cancel()
            self._watchdog = None
        if kind != "ok":
            _fail_group(group, ScoringProcessError(f"scoring failed in the scoring process: {payload}"))
        else:
            i = 0
            for future, n in group:
                if not future.done():
                    future.set_result(list(payload[i : i + n]))
                i += n

    # -- the child ---------------------------------------------------------------------
    def _start(self) -> None:
        t0 = time.monotonic()
        fds: list[int] = []
        try:
            parent_end = os.pipe()  # parent -> child
            fds.extend(parent_end)
            child_end = os.pipe()  # child -> parent
            fds.extend(child_end)
            cmd = [sys.executable, "-m", "complaint_triage.api.remote", str(parent_end[0]), str(child_end[1]),
                   self.model_path or "", str(self.max_chars_requested)]
            proc = subprocess.Popen(cmd, pass_fds=(parent_end[0], child_end[1]), stdin=subprocess.DEVNULL)
        except OSError as e:
            for fd in fds:
                os.close(fd)
            raise _StartFailed(f"the scoring process could not be started ({e})", cause=type(e).__name__,
                               detail=str(e)) from e
        os.close(parent_end[0])
        os.close(child_end[1])
        conn = _PipeConnection(read_fd=child_end[0], write_fd=parent_end[1])
        try:
            if not conn.poll(START_TIMEOUT):
                raise TimeoutError(f"no answer within {START_TIMEOUT:.0f} s")
            kind, payload = conn.recv()
        except (EOFError, OSError) as e:
            conn.close()
            proc.kill()
            proc.wait(10)
            how = _exit_fields(proc.returncode)
            ended = f"signal {how['signal']}" if "signal" in how else f"exit code {proc.returncode}"
            if isinstance(e, TimeoutError):
                cause, detail = "TimeoutError", f"the scoring process did not start: {e}"
            else:
                cause, detail = "ScoringProcessExited", f"the scoring process ended before it was ready ({ended})"
            raise _StartFailed(f"{detail}; see its messages above", cause=cause, detail=detail) from e
        if kind != "ready":
            conn.close()
            proc.wait(10)
            cause, _, detail = str(payload).partition(": ")
            raise _StartFailed(f"the scoring process could not load the model: {payload}", cause=cause,
                               detail=detail)
        self._proc, self._conn, self.info = proc, conn, payload
        self._start_s = time.monotonic() - t0

    def _stop(self) -> None:
        """Tell the child to exit after answering what it was sent, and wait for it (lock held)."""
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None and not conn.dead:
            try:
                conn.send(None)
            except OSError:
                pass
        if conn is not None:
            conn.close()
        if proc is not None:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _fail_group(group: list[tuple[asyncio.Future[Any], int]], error: BaseException) -> None:
    """Fail the callers of ``group`` (``(future, number of texts)``) that still wait."""
    for future, _ in group:
        if future.done():
            continue
        try:
            future.set_exception(error)
        except RuntimeError:  # its loop is closed: nobody can wait for it any more
            pass


def _frame(obj: object) -> bytes:
    """``obj`` as :class:`multiprocessing.connection.Connection` sends it: a pickle after its
    length (4 bytes, big-endian; over 2 GiB, -1 and then 8 bytes)."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    n = len(data)
    head = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!i", -1) + struct.pack("!Q", n)
    return head + data


class _PipeConnection:
    """One :class:`multiprocessing.connection.Connection` per direction of two plain pipes."""

    def __init__(self, *, read_fd: int, write_fd: int) -> None:
        self._r = Connection(read_fd, writable=False)
        self._w = Connection(write_fd, readable=False)
        self.read_fd = read_fd
        self.write_fd = write_fd
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
        try:
            conn.send(out)
        except OSError:  # the worker has gone or replaced this child: nobody reads the answer
            return 0


if __name__ == "__main__":  # pragma: no cover - run as a child by RemoteTriager
    # Ctrl-C reaches the whole process group: the worker stops this child itself, after the
    # answers in flight (and an orphaned child exits when the pipe closes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Likewise SIGTERM sent to the whole group or cgroup (systemd's default): the worker stops
    # the child after its graceful shutdown, and the child exits when the pipe closes.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # As in complaint_triage.api.worker: libraries the scorer never uses stay out.
    for _name in ("pandas", "dask", "pytest"):
        sys.modules.setdefault(_name, None)  # type: ignore[arg-type]
    sys.exit(_serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
