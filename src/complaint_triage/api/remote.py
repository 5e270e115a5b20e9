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

If the child dies, the calls in flight fail with :class:`ScoringProcessError` (the API
answers 503) and the next call starts a new child.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import struct
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
#: Waiting messages are coalesced into batches of at most this many (asynchronous relay).
BATCH_TEXTS = 32
#: Seconds during which calls fail at once after a restart of the child failed (asynchronous relay).
RESTART_BACKOFF = 5.0


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
    """

    def __init__(self, model_path: Path | str | None, *, max_chars: int, pipeline: int = 4) -> None:
        self.model_path = None if model_path is None else str(model_path)
        self.max_chars_requested = max_chars
        self.pipeline = max(1, pipeline)
        # the relay's state (the event loop's thread only)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the pipe is registered with
        self._waiting: deque[tuple[list[object], bool, asyncio.Future[Any]]] = deque()
        self._sent: deque[tuple[list[tuple[asyncio.Future[Any], int]], float]] = deque()  # (callers, sent at)
        self._rbuf = bytearray()
        self._wbuf = bytearray()
        self._restart_task: asyncio.Task[None] | None = None  # one restart shared by every caller
        self._idle: asyncio.Event | None = None  # set by aclose's wait when nothing is left
        self._watchdog: asyncio.TimerHandle | None = None
        self._retry_after = 0.0  # (loop time) after a failed restart, calls fail at once until then
        self._restart_error = ""
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
        if self._loop is not None:
            self._detach("the scoring process was stopped")
        with self._lock:
            self._closed = True
            self._stop()

    async def aclose(self) -> None:
        """Refuse new calls, let the ones in flight finish (for at most
        :data:`ANSWER_TIMEOUT`), then stop the child."""
        self._closed = True
        try:
            if self._restart_task is not None and not self._restart_task.done():
                await asyncio.wait({self._restart_task}, timeout=START_TIMEOUT)
            if self._loop is not None and not self._nothing_left():
                self._idle = asyncio.Event()
                try:
                    await asyncio.wait_for(self._idle.wait(), ANSWER_TIMEOUT)
                except TimeoutError:
                    pass
        finally:
            self._detach("the scoring process was stopped")
            await asyncio.shield(asyncio.to_thread(self.close))

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
                self._detach("the scoring process exited; it is restarted on the next request")
                task = self._restart_task = loop.create_task(self._restart_once())
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

    async def _restart_once(self) -> None:
        """Restart the child off the loop; after a failure, calls fail at once for
        :data:`RESTART_BACKOFF` seconds instead of each waiting for another model load."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self._restart)
        except Exception as e:
            self._retry_after = loop.time() + RESTART_BACKOFF
            self._restart_error = str(e) if isinstance(e, ScoringProcessError) else type(e).__name__
            if isinstance(e, ScoringProcessError):
                raise
            raise ScoringProcessError(f"the scoring process could not be restarted ({type(e).__name__})") from e

    def _restart(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._stop()
            self._start()

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
        """The child is stuck or speaks nonsense: kill it; the next call starts a new one."""
        if self._proc is not None:
            try:
                self._proc.kill()
            except OSError:
                pass
        if self._conn is not None:
            self._conn.dead = True
        self._detach(why)

    def _arm_watchdog(self) -> None:
        if self._watchdog is None and self._sent and self._loop is not None:
            due = self._sent[0][1] + ANSWER_TIMEOUT
            self._watchdog = self._loop.call_at(due, self._on_watchdog)

    def _on_watchdog(self) -> None:
        self._watchdog = None
        if self._sent and self._loop is not None and self._loop.time() >= self._sent[0][1] + ANSWER_TIMEOUT:
            self._kill(f"no answer from the scoring process within {ANSWER_TIMEOUT:.0f} s; it was stopped "
                       "and is restarted on the next request")
            return
        self._arm_watchdog()

    def _fail_all(self, why: str) -> None:
        error = ScoringProcessError(why)
        while self._sent:
            _fail_group(self._sent.popleft()[0], error)
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
            self._sent.append((group, self._loop.time()))
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
        self._fail_waiting("the scoring process exited; it is restarted on the next request")

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
            self._conn.dead = True
            self._detach("the scoring process exited; it is restarted on the next request")
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
                self._kill(f"unreadable answer from the scoring process ({type(e).__name__}); it is restarted "
                           "on the next request")
                return
        self._pump()

    def _deliver(self, answer: tuple[str, Any]) -> None:
        if not self._sent:
            return  # (nothing waits for it)
        group = self._sent[0][0]
        # check the answer while its callers are still in _sent: a bad one fails them (via _kill)
        kind, payload = answer
        if kind == "ok" and (not isinstance(payload, list) or len(payload) != sum(n for _, n in group)):
            raise ValueError("an answer of the wrong shape")
        self._sent.popleft()
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
