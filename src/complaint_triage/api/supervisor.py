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
  its socket and running uvicorn (uvloop + httptools) on the lean worker factory;
* restarts a worker that dies after it was up, and stops everything when a worker dies
  during start-up (a model that does not load would otherwise be restarted forever);
* on SIGINT, SIGTERM or SIGHUP, passes one SIGTERM on (uvicorn then finishes the requests in
  flight) and waits for the workers, killing any that have not stopped after ``--graceful``
  seconds.  The workers run in their own process group, so a Ctrl-C reaches only the
  supervisor; a worker whose supervisor died without stopping it (SIGKILL) stops by itself.

Linux allows ``SO_REUSEPORT`` only among sockets of the same user, so another user's
process cannot join the port either.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["bind_sockets", "main", "PortInUseError"]

APP_FACTORY = "complaint_triage.api.worker:create_app"
#: A worker that exits within this many seconds of its start is a start-up failure.
STARTUP_GRACE_S = 60.0
_POLL_S = 0.2


class PortInUseError(OSError):
    """The address cannot be bound (in use, or not an address of this machine)."""


def _say(event: str, **fields: object) -> None:
    """One JSON line on stderr, like the workers' own log lines."""
    line = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "info",
            "logger": "complaint_triage.api.supervisor", "event": event, **fields}
    sys.stderr.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_sockets(host: str, port: int, n: int, backlog: int = 2048) -> list[socket.socket]:
    """``n`` listening sockets on ``host:port``, all with ``SO_REUSEPORT``.

    Raises :class:`PortInUseError` when the port is taken (by anything, even a socket that
    would allow sharing it) or the address cannot be bound.  With ``port=0`` the first
    socket picks a free port and the others join it.
    """
    family = _family(host)
    if port:
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
            probe.bind((host, port))
        except OSError as e:
            raise PortInUseError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}; stop the process "
                                 "using the port or choose another one with --port") from e
        finally:
            probe.close()
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
    """Stop this worker (gracefully, with SIGTERM) if the supervisor dies without stopping it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="complaint-triage-parent-watch", daemon=True).start()


def _run_worker(fd: int, log_level: str) -> None:
    """Serve on the inherited listening socket ``fd`` until SIGTERM (this process's whole life)."""
    import uvicorn

    _exit_with_parent(os.getppid())
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(APP_FACTORY, factory=True, http="httptools", loop="uvloop", lifespan="on",
                            log_level=log_level, access_log=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


# -- the supervisor ------------------------------------------------------------------


class _Worker:
    def __init__(self, sock: socket.socket, log_level: str) -> None:
        self.sock = sock
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        fd = self.sock.fileno()
        argv = [sys.executable, "-m", "complaint_triage.api.supervisor", "--fd", str(fd), "--log-level",
                self.log_level]
        # its own process group: a Ctrl-C in the terminal reaches the supervisor only, which
        # then sends one SIGTERM (a second signal would make uvicorn drop requests in flight)
        self.proc = subprocess.Popen(argv, pass_fds=(fd,), process_group=0)
        self.started = time.monotonic()
        _say("worker_started", pid=self.proc.pid)


def _supervise(socks: Sequence[socket.socket], log_level: str, graceful: float, startup_grace: float) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    workers = [_Worker(s, log_level) for s in socks]
    status = 0
    try:
        for w in workers:
            w.start()
        while not stop.wait(_POLL_S):
            for w in workers:
                assert w.proc is not None
                code = w.proc.poll()
                if code is None:
                    continue
                up = time.monotonic() - w.started
                if up < startup_grace:
                    _say("worker_failed_at_startup", pid=w.proc.pid, exit_status=code,
                         hint="see the worker's log lines above; the server stops")
                    status = 3
                    stop.set()
                    break
                _say("worker_restarted", pid=w.proc.pid, exit_status=code, uptime_s=round(up, 1))
                w.start()
    finally:
        live = [w.proc for w in workers if w.proc is not None and w.proc.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + graceful
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say("worker_killed", pid=p.pid, reason=f"still running {graceful:g} s after SIGTERM")
                p.kill()
                p.wait()
        for s in socks:
            s.close()
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
    ap.add_argument("--graceful", type=float, default=30.0, help="seconds a worker may take to stop after SIGTERM")
    ap.add_argument("--startup-grace", type=float, default=STARTUP_GRACE_S,
                    help="a worker that exits sooner than this after its start stops the server (default 60 s); "
                    "one that exits later is restarted")
    ap.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)  # a worker: serve on this socket
    a = ap.parse_args(argv)
    if a.fd is not None:
        _run_worker(a.fd, a.log_level)
        return 0
    if not 1 <= a.workers <= 64 or not 0 <= a.port <= 65535:
        ap.error("--workers must be 1–64 and --port 0–65535")
    try:
        socks = bind_sockets(a.host, a.port, a.workers)
    except (PortInUseError, socket.gaierror) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    _say("listening", host=a.host, port=socks[0].getsockname()[1], workers=a.workers, reuse_port=True)
    return _supervise(socks, a.log_level, a.graceful, a.startup_grace)


if __name__ == "__main__":
    sys.exit(main())
