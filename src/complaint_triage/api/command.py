"""``complaint-triage serve``: run the API with uvicorn (uvloop + httptools).

A plain function with Typer ``Annotated`` options, registered on the main CLI with
``app.command()(serve)``.  Settings other than the options come from the environment
(``COMPLAINT_TRIAGE_*``, see :mod:`complaint_triage.settings`); the options are passed to
the worker processes through the same variables, so ``--workers N`` processes all serve the
same model.  With one worker uvicorn runs in this process; with several, this process is
replaced by a lean uvicorn supervisor (same options) so it does not hold the model
libraries it imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from complaint_triage.settings import ENV_PREFIX, get_settings

__all__ = ["serve", "APP_FACTORY"]

APP_FACTORY = "complaint_triage.api.worker:create_app"
_LEVELS = ("critical", "error", "warning", "info", "debug")
_execv = os.execv  # a seam for tests


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind. 127.0.0.1 keeps the service local; "
                                      "use the office network's address (or 0.0.0.0) to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (each loads the model once; "
                                         "about one per CPU core).")] = 1,
    model: Annotated[Path | None, typer.Option(exists=True, file_okay=False, dir_okay=True, resolve_path=True,
                                               help="Model directory (default: $COMPLAINT_TRIAGE_MODEL_PATH, "
                                               "else the promoted model).")] = None,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve the scoring API over HTTP (API keys: COMPLAINT_TRIAGE_API_KEYS_SHA256)."""
    from pydantic import ValidationError

    level = log_level.strip().lower()
    if level not in _LEVELS:
        raise typer.BadParameter(f"{log_level!r} is not one of {', '.join(_LEVELS)}", param_hint="--log-level")
    if model is not None:
        os.environ[ENV_PREFIX + "MODEL_PATH"] = str(model)
    os.environ[ENV_PREFIX + "LOG_LEVEL"] = level
    get_settings.cache_clear()
    try:
        get_settings()  # fail here, with a readable message, rather than in every worker
    except ValidationError as e:
        typer.echo(f"error: invalid settings ({ENV_PREFIX}*):\n{e}", err=True)
        raise typer.Exit(code=2) from e
    # Replace this process, which has already imported the model libraries (~150 MB, pandas
    # among them), with a fresh uvicorn process with the same options.  With several workers it
    # is the supervisor: it only starts and watches them (each imports and loads the model).
    argv = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory", "--host", host, "--port", str(port),
            "--workers", str(workers), "--http", "httptools", "--loop", "uvloop", "--lifespan", "on",
            "--log-level", level, "--no-access-log", "--no-server-header"]
    sys.stdout.flush()
    sys.stderr.flush()
    _execv(sys.executable, argv)
