"""``complaint-triage serve``: run the API with uvicorn (uvloop + httptools).

A plain function with Typer ``Annotated`` options, registered on the main CLI with
``app.command()(serve)``.  Settings other than the options come from the environment
(``COMPLAINT_TRIAGE_*``, see :mod:`complaint_triage.settings`); the options are passed to
the worker processes through the same variables, so ``--workers N`` processes all serve the
same model.  This process, which has imported the model libraries, is replaced by a lean
one: with one worker, uvicorn itself; with several, :mod:`complaint_triage.api.supervisor`,
which gives each worker its own listening socket on the port (``SO_REUSEPORT``) so that
connections are spread over the workers instead of piling up on whichever accepts first.

This module imports nothing of the ``api`` extra at import time: the main CLI registers ``serve``
on every install, and without the extra ``serve`` says which extra to install
(:func:`missing_api_modules`) instead of every command failing on a missing ``pydantic_settings``.

Either way uvicorn runs with a bounded graceful shutdown (``Settings.graceful_shutdown_s``) and a
time limit on request headers (:mod:`complaint_triage.api.protocol`), and the server process
starts with SIGHUP blocked, so that a SIGHUP cannot kill it while it loads its model
(:mod:`complaint_triage.api.reload_signal`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

# (neither imports the api extra: the reload signal and the supervisor use the standard library only)
from complaint_triage.api import reload_signal
from complaint_triage.api.supervisor import APP_FACTORY, HTTP_PROTOCOL

__all__ = ["serve", "APP_FACTORY", "API_EXTRA_INSTALL", "missing_api_modules"]

_LEVELS = ("critical", "error", "warning", "info", "debug")
_execv = os.execv  # a seam for tests

#: What installs the packages ``serve`` needs (the ``api`` extra of pyproject.toml).
API_EXTRA_INSTALL = "pip install 'complaint-triage[api]'"
#: The modules of the ``api`` extra that the server imports (``uvicorn[standard]`` brings uvloop
#: and httptools, which ``serve`` asks uvicorn for).
API_EXTRA_MODULES = ("fastapi", "uvicorn", "uvloop", "httptools", "pydantic", "pydantic_settings",
                     "prometheus_client")


def missing_api_modules() -> list[str]:
    """The modules of the ``api`` extra that cannot be found (none when the extra is installed).

    Looked up, not imported: the server process that ``serve`` starts imports them.
    """
    missing = []
    for name in API_EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # (a finder that refuses it; a module without a spec)
            found = False
        if not found:
            missing.append(name)
    return missing


def settings_errors(e: Any) -> str:
    """The settings' validation errors, one per line, WITHOUT the values: a value may be a
    secret (an API key put where its SHA-256 belongs) and this message goes to the service log."""
    from complaint_triage.settings import ENV_PREFIX

    lines = []
    for err in e.errors(include_url=False, include_input=False):
        field = ".".join(str(x) for x in err.get("loc", ())) or "settings"
        lines.append(f"  {ENV_PREFIX}{field.upper()}: {err.get('msg', 'invalid')}")
    return "\n".join(lines)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind. 127.0.0.1 keeps the service local; "
                                      "use the office network's address (or 0.0.0.0) to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (each loads the model once; "
                                         "about one per CPU core).")] = 1,
    model: Annotated[Path | None, typer.Option(exists=True, file_okay=False, dir_okay=True, resolve_path=True,
                                               help="Model directory (default: $COMPLAINT_TRIAGE_MODEL_PATH, "
                                               "else the promoted model).")] = None,
    log_level: Annotated[str | None, typer.Option(
        help="critical, error, warning, info or debug (default: $COMPLAINT_TRIAGE_LOG_LEVEL, else info).",
        show_default=False)] = None,
    scoring_process: Annotated[bool | None, typer.Option(
        "--scoring-process/--no-scoring-process",
        help="Score in a child process of each worker, so one worker uses two cores and stays small "
        "(default: $COMPLAINT_TRIAGE_SCORING_PROCESS, else off; see docs/api.md).",
        show_default=False)] = None,
) -> None:
    """Serve the scoring API over HTTP (API keys: COMPLAINT_TRIAGE_API_KEYS_SHA256)."""
    missing = missing_api_modules()
    if missing:  # a plain `pip install complaint-triage`: one line saying what to install, no traceback
        typer.echo(f"error: complaint-triage serve needs the optional packages of the 'api' extra (not installed: "
                   f"{', '.join(missing)}); install them with: {API_EXTRA_INSTALL}", err=True)
        raise typer.Exit(code=1)
    supervised = workers > 1 and sys.platform.startswith("linux")  # SO_REUSEPORT spreads connections on Linux
    if workers == 1 or supervised:
        # From here on SIGHUP waits (blocked, inherited by the exec below) until the server process
        # can hold it back while it loads its model (complaint_triage.api.worker, the supervisor).
        # uvicorn's own workers (not Linux) handle SIGHUP in uvicorn's parent, which never would.
        reload_signal.block()
    from pydantic import ValidationError

    from complaint_triage.settings import ENV_PREFIX, get_settings, unknown_variables

    if log_level is not None:  # the option overrides the environment; without it the variable decides
        level = log_level.strip().lower()
        if level not in _LEVELS:
            raise typer.BadParameter(f"{log_level!r} is not one of {', '.join(_LEVELS)}", param_hint="--log-level")
        os.environ[ENV_PREFIX + "LOG_LEVEL"] = level
    if model is not None:
        os.environ[ENV_PREFIX + "MODEL_PATH"] = str(model)
    if scoring_process is not None:  # the flag overrides the environment either way
        os.environ[ENV_PREFIX + "SCORING_PROCESS"] = "true" if scoring_process else "false"
    get_settings.cache_clear()
    try:
        settings = get_settings()  # fail here, with a readable message, rather than in every worker
    except ValidationError as e:
        typer.echo(f"error: invalid settings ({ENV_PREFIX}*):\n{settings_errors(e)}", err=True)
        raise typer.Exit(code=2) from e
    for name, close in unknown_variables(os.environ):
        hint = f" (did you mean {close}?)" if close else ""
        typer.echo(f"warning: {name} is not a setting of complaint-triage{hint}; it is ignored", err=True)
    level = settings.log_level
    graceful = str(settings.graceful_shutdown_s)
    # Replace this process, which has already imported the model libraries (~150 MB, pandas
    # among them), with a fresh uvicorn process with the same options, or with several workers
    # the supervisor: it only binds the sockets, starts and watches them (each loads the model).
    if not supervised:
        argv = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory", "--host", host, "--port", str(port),
                "--workers", str(workers), "--http", HTTP_PROTOCOL, "--loop", "uvloop", "--lifespan", "on",
                "--log-level", level, "--no-access-log", "--no-server-header", "--timeout-graceful-shutdown", graceful]
    else:  # one listening socket per worker, see complaint_triage.api.supervisor
        argv = [sys.executable, "-m", "complaint_triage.api.supervisor", "--host", host, "--port", str(port),
                "--workers", str(workers), "--log-level", level, "--graceful", graceful]
    sys.stdout.flush()
    sys.stderr.flush()
    _execv(sys.executable, argv)
