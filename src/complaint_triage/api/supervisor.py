"""Several uvicorn workers, each accepting on its own listening socket (``SO_REUSEPORT``).

uvicorn's own ``--workers N`` shares one listening socket between the workers; whichever
worker wakes first accepts every connection waiting in the backlog.  A client that opens
its keep-alive connections together (a mail gateway's pool, the load benchmark) then lands
mostly on one worker while the other idles: 13 of 16 connections on one worker was
measured here, with that worker's median latency four times the other's.  With one socket
per worker, all bound to the same port with ``SO_REUSEPORT``, the kernel spreads incoming
connections across the workers by a hash of each connection's addresses.

``complaint-triage serve --workers N`` (N > 1) replaces itself with this module's
supervisor, which

* checks first that the port is free (a bind without ``SO_REUSEPORT`` fails when anything
  listens there), so a second server never silently shares the port with a running one;
* binds the N sockets itself, so that a bad host or port fails once, with a clear message,
  before any worker starts;
* starts the N workers (``python -m complaint_triage.api.supervisor --fd K``), each handed
  its socket and running uvicorn (uvloop + httptools) on the lean worker factory, and the
  write end of a pipe on which it writes one byte once it is ready (its model loaded, serving);
* restarts a worker that dies after it was ready, on a fresh socket (the dead worker's socket
  is closed at once: the kernel would keep handing it connections nobody accepts), waiting 1,
  2, 4 … up to 30 s if it keeps dying; stops everything when a worker dies before it was ever
  ready or exits with uvicorn's start-up failure status (a model that does not load would
  otherwise be restarted forever);
* on SIGHUP, passes SIGHUP on to the ready workers: each reloads the promoted model (as
  ``POST /v1/admin/reload`` does for the one worker that receives it); a worker still starting
  gets it once it is ready (until then SIGHUP would kill it: see
  :mod:`complaint_triage.api.reload_signal`);
* on SIGINT or SIGTERM, passes one SIGTERM on (uvicorn then finishes the requests in flight for
  at most ``--graceful`` seconds and cancels the rest), closes its copies of the sockets and
  waits for the workers, killing any still running :data:`KILL_MARGIN_S` seconds later.  The
  workers run in their own process group, so a Ctrl-C reaches only the supervisor; a worker
  whose supervisor died without stopping it (SIGKILL) stops by itself.

A new worker's socket listens before its model is loaded (a few seconds): connections that
arrive meanwhile wait in its backlog and are served once it is ready.  ``SO_REUSEPORT`` spreads
connections on Linux, where ``serve`` uses this supervisor; elsewhere ``serve`` runs uvicorn's
own workers.
Linux allows ``SO_REUSEPORT`` only among sockets of the same user, so another user's
process cannot join the port either.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from complaint_triage.api import reload_signal
from complaint_triage.api.backoff import backoff_s
from complaint_triage.api.logs import JsonLineFormatter

if TYPE_CHECKING:  # (imported by the workers only: the supervisor stays lean)
    import uvicorn

__all__ = ["bind_sockets", "main", "PortInUseError"]

APP_FACTORY = "complaint_triage.api.worker:create_app"
#: uvicorn's ``--http``: httptools with a time limit on request headers (:mod:`complaint_triage.api.protocol`).
HTTP_PROTOCOL = "complaint_triage.api.protocol:HeaderTimeoutProtocol"
#: Seconds a worker may take to finish its requests after SIGTERM when ``--graceful`` is not given
#: (``serve`` always passes ``Settings.graceful_shutdown_s``, whose default this repeats: the
#: supervisor imports neither pydantic nor the settings).
GRACEFUL_S = 20
#: A worker still running this many seconds after its graceful shutdown should have ended is
#: killed (time for the app's own shutdown: the scoring threads, a scoring process).
KILL_MARGIN_S = 10.0
#: A worker that has been ready this long counts as healthy again: its restart wait starts at 1 s.
HEALTHY_AFTER_S = 30.0
_POLL_S = 0.2


class PortInUseError(OSError):
    """The address cannot be bound (in use, or not an address of this machine)."""


_LOG = logging.getLogger("complaint_triage.api.supervisor")


def _say(event: str, **fields: object) -> None:
    """One JSON line on stderr, in the workers' format (:class:`~complaint_triage.api.logs.JsonLineFormatter`)."""
    if not _LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        _LOG.addHandler(handler)
        _LOG.setLevel(logging.INFO)
        _LOG.propagate = False
    _LOG.info(event, extra={"fields": {"event": event, **fields}})


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_sockets(host: str, port: int, n: int, backlog: int = 2048, *, probe: bool = True) -> list[socket.socket]:
    """``n`` listening sockets on ``host:port``, all with ``SO_REUSEPORT``.

    Raises :class:`PortInUseError` when the port is taken (by anything, even a socket that
    would allow sharing it) or the address cannot be bound.  With ``port=0`` the first
    socket picks a free port and the others join it.
    """
    family = _family(host)
    if port and probe:
        check = socket.socket(family, socket.SOCK_STREAM)
        try:
            check.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
            check.bind((host, port))
        except OSError as e:
            raise PortInUseError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}; stop the process "
                                 "using the port or choose another one with --port") from e
        finally:
            check.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((host, port))
            port = s.getsockname()[1]
            s.listen(backlog)
            s.set_inheritable(True)
    except OSError as e:
        for s in socks:
            s.close()
        raise PortInUseError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}") from e
    return socks


# -- the worker ----------------------------------------------------------------------


def _exit_with_parent(parent: int) -> None:
    """Stop this worker (gracefully, with SIGTERM) once ``parent``, the supervisor, is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="complaint-triage-parent-watch", daemon=True).start()


def _run_worker(fd: int, parent: int, log_level: str, ready_fd: int | None, graceful: int) -> None:
    """Serve on the inherited listening socket ``fd`` until SIGTERM (this process's whole life).

    Once the app has started (model loaded) and the socket is served, one byte is written to
    ``ready_fd``, which is then closed: the supervisor's sign that this worker is ready.
    """
    # the supervisor's pid comes on the command line: a supervisor killed before this line ran
    # is noticed too (os.getppid() would already name whoever adopted this process)
    _exit_with_parent(parent)
    import uvicorn

    class ReadyServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)  # (exits with STARTUP_FAILURE if the app does not start)
            if self.started and ready_fd is not None:
                try:
                    os.write(ready_fd, b"r")
                    os.close(ready_fd)
                except OSError:  # the supervisor is gone: _exit_with_parent stops this worker
                    pass

    sock = socket.socket(fileno=fd)
    ReadyServer(worker_config(log_level, graceful)).run(sockets=[sock])


def worker_config(log_level: str, graceful: int) -> uvicorn.Config:
    """The uvicorn ``Config`` of a worker: uvloop, httptools with a header time limit, a bounded
    graceful shutdown, no access log (the app writes its own) and no ``server`` header."""
    import uvicorn

    return uvicorn.Config(APP_FACTORY, factory=True, http=HTTP_PROTOCOL, loop="uvloop", lifespan="on",
                          log_level=log_level, access_log=False, server_header=False,
                          timeout_graceful_shutdown=graceful)


# -- the supervisor ------------------------------------------------------------------

#: uvicorn's exit status when the application fails to start (the model does not load).
STARTUP_FAILURE = 3


def worker_command(fd: int, ready_fd: int, log_level: str, graceful: int) -> list[str]:
    """The command line of a worker serving on socket ``fd`` (a seam for tests)."""
    return [sys.executable, "-m", "complaint_triage.api.supervisor", "--fd", str(fd), "--ready-fd", str(ready_fd),
            "--parent", str(os.getpid()), "--log-level", log_level, "--graceful", str(graceful)]


class _Worker:
    """One worker process, its listening socket and the pipe on which it says it is ready."""

    def __init__(self, host: str, port: int, log_level: str, graceful: int) -> None:
        self.host, self.port, self.log_level, self.graceful = host, port, log_level, graceful
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ready = False  # this process said it is ready
        self.ready_at = 0.0
        self.ever_up = False  # a process in this slot was ready at least once
        self.hup_pending = False  # a SIGHUP came while it was starting: passed on once it is ready
        self.failures = 0  # deaths in a row, for the restart backoff
        self.restart_at = 0.0
        self._ready_r: int | None = None  # read end of the ready pipe

    def start(self, sock: socket.socket | None = None) -> None:
        # a fresh socket for each process: while a dead worker's socket stayed open, the kernel
        # would keep handing it connections that nobody accepts
        self.sock = sock if sock is not None else bind_sockets(self.host, self.port, 1, probe=False)[0]
        fd = self.sock.fileno()
        self.ready = self.hup_pending = False
        ready_r, ready_w = os.pipe()
        try:
            argv = worker_command(fd, ready_w, self.log_level, self.graceful)
            # its own process group: a Ctrl-C in the terminal reaches the supervisor only, which
            # then sends one SIGTERM (a second signal would make uvicorn drop requests in flight).
            # It starts with SIGHUP blocked, so that a SIGHUP cannot kill it while it loads its
            # model (the worker unblocks it once it can hold one back: reload_signal.hold)
            with reload_signal.blocked():
                self.proc = subprocess.Popen(argv, pass_fds=(fd, ready_w), process_group=0)
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)  # the worker's copy is the only one: its exit is seen as end of file
        os.set_blocking(ready_r, False)
        self._ready_r = ready_r
        self.started = time.monotonic()
        _say("worker_started", pid=self.proc.pid)

    def check_ready(self) -> bool:
        """Whether the process has said it is ready (reads its pipe when it has not yet)."""
        if self.ready or self._ready_r is None:
            return self.ready
        try:
            byte = os.read(self._ready_r, 1)
        except BlockingIOError:
            return False
        self._close_ready()  # the byte came, or end of file: the worker exited before it was ready
        if byte:
            self.ready, self.ready_at, self.ever_up = True, time.monotonic(), True
        return self.ready

    def running(self) -> bool:
        """Started and not (yet) exited."""
        return self.proc is not None and self.proc.poll() is None

    def _close_ready(self) -> None:
        if self._ready_r is not None:
            os.close(self._ready_r)
            self._ready_r = None

    def close_socket(self) -> None:
        self._close_ready()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _supervise(socks: Sequence[socket.socket], host: str, log_level: str, graceful: int) -> int:
    stop = threading.Event()
    port = socks[0].getsockname()[1]
    workers = [_Worker(host, port, log_level, graceful) for _ in socks]

    def on_stop(signum: int, frame: object) -> None:
        stop.set()

    def on_hup(signum: int, frame: object) -> None:
        # SIGHUP reloads the promoted model in every worker (see the app's lifespan); a worker
        # still starting gets it once it is ready (it is loading the model: SIGHUP would kill it)
        # (only flags here: the loop reads the ready pipes, and this may run in the middle of it)
        live = [w for w in workers if w.running()]
        ready = [w for w in live if w.ready]
        for w in ready:
            w.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        for w in live:
            w.hup_pending = not w.ready
        _say("reload_requested", workers=len(ready), deferred_until_ready=len(live) - len(ready))

    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    reload_signal.unblock()  # (`serve` starts this process with SIGHUP blocked)
    status = 0
    try:
        for w, sock in zip(workers, socks, strict=True):
            w.start(sock)
        while not stop.wait(_POLL_S):
            now = time.monotonic()
            for w in workers:
                if stop.is_set():
                    break
                if w.proc is None:  # waiting to be restarted
                    if now >= w.restart_at:
                        try:
                            w.start()
                        except OSError as e:  # cannot bind or fork now: try again later
                            w.close_socket()
                            w.failures += 1
                            w.restart_at = now + backoff_s(w.failures + 1)
                            _say("worker_restart_failed", error=type(e).__name__, retry_in_s=w.restart_at - now)
                    continue
                was_ready = w.ready
                if w.check_ready() and not was_ready:
                    _say("worker_ready", pid=w.proc.pid, startup_s=round(w.ready_at - w.started, 1))
                    if w.hup_pending:
                        w.hup_pending = False
                        w.proc.send_signal(signal.SIGHUP)
                        _say("reload_forwarded", pid=w.proc.pid, reason="a SIGHUP came while it was starting")
                code = w.proc.poll()
                if code is None:
                    if w.failures and w.ready and now - w.ready_at >= HEALTHY_AFTER_S:
                        w.failures = 0
                    continue
                w.check_ready()  # (a byte written just before it exited still counts)
                up = now - w.started
                w.close_socket()
                if code == STARTUP_FAILURE or not w.ever_up:
                    _say("worker_failed_at_startup", pid=w.proc.pid, exit_status=code,
                         hint="see the worker's log lines above; the server stops")
                    status = STARTUP_FAILURE
                    stop.set()
                    break
                w.failures += 1
                delay = backoff_s(w.failures)
                _say("worker_died", pid=w.proc.pid, exit_status=code, uptime_s=round(up, 1),
                     restart_in_s=delay)
                w.proc, w.restart_at = None, now + delay
    finally:
        live = [w.proc for w in workers if w.running() and w.proc is not None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        for w in workers:  # the workers keep their own copies while they finish
            w.close_socket()
        deadline = time.monotonic() + graceful + KILL_MARGIN_S
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say("worker_killed", pid=p.pid, reason=f"still running {graceful + KILL_MARGIN_S:g} s after SIGTERM")
                p.kill()
                p.wait()
        for s, h in previous.items():
            signal.signal(s, h)
    _say("supervisor_stopped", exit_status=status)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m complaint_triage.api.supervisor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    ap.add_argument("--graceful", type=int, default=GRACEFUL_S,
                    help="seconds a worker may take to finish its requests after SIGTERM; then it cancels them "
                    f"(one still running {KILL_MARGIN_S:g} s later is killed)")
    ap.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)  # a worker: serve on this socket
    ap.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)  # …say "ready" on this pipe
    ap.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # …while this pid lives
    a = ap.parse_args(argv)
    if a.fd is not None:
        _run_worker(a.fd, a.parent if a.parent is not None else os.getppid(), a.log_level, a.ready_fd, a.graceful)
        return 0
    if not 1 <= a.workers <= 64 or not 0 <= a.port <= 65535:
        ap.error("--workers must be 1–64 and --port 0–65535")
    try:
        socks = bind_sockets(a.host, a.port, a.workers)
    except (PortInUseError, socket.gaierror) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    _say("listening", host=a.host, port=socks[0].getsockname()[1], workers=a.workers, reuse_port=True)
    return _supervise(socks, a.host, a.log_level, a.graceful)


if __name__ == "__main__":
    sys.exit(main())
