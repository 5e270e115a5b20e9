"""`serve`: a plain function with Typer options that runs uvicorn with the app factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from complaint_triage.api.command import APP_FACTORY, serve
from complaint_triage.settings import get_settings


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append({"app": app, **kw}))
    for k in list(os.environ):
        if k.startswith("COMPLAINT_TRIAGE_"):
            monkeypatch.delenv(k)
    before = dict(os.environ)
    yield seen
    # serve() exports its options for the workers; never let them leak into other tests
    for k in [k for k in os.environ if k.startswith("COMPLAINT_TRIAGE_") and k not in before]:
        del os.environ[k]
    get_settings.cache_clear()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


def test_runs_uvicorn_with_the_factory_uvloop_and_httptools(calls: list[dict[str, Any]], small_model_dir: Path) -> None:
    result = CliRunner().invoke(cli(), ["--port", "8123", "--model", str(small_model_dir),
                                        "--log-level", "WARNING"])
    assert result.exit_code == 0, result.output
    [call] = calls
    assert call["app"] == APP_FACTORY == "complaint_triage.api:create_app"
    assert call["factory"] is True and call["http"] == "httptools" and call["loop"] == "uvloop"
    assert (call["host"], call["port"], call["workers"], call["log_level"]) == ("127.0.0.1", 8123, 1, "warning")
    assert os.environ["COMPLAINT_TRIAGE_MODEL_PATH"] == str(small_model_dir.resolve())
    assert get_settings().model_path == small_model_dir.resolve()


def test_several_workers_exec_a_lean_uvicorn_supervisor(calls: list[dict[str, Any]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from complaint_triage.api import command

    execs: list[list[str]] = []
    monkeypatch.setattr(command, "_execv", lambda path, argv: execs.append(argv))
    serve(port=8124, workers=2, log_level="info")
    assert not calls
    [argv] = execs
    assert argv[1:4] == ["-m", "uvicorn", APP_FACTORY]
    for flag in (["--factory"], ["--workers", "2"], ["--http", "httptools"], ["--loop", "uvloop"],
                 ["--port", "8124"], ["--host", "127.0.0.1"], ["--no-access-log"]):
        i = argv.index(flag[0])
        assert argv[i : i + len(flag)] == flag


def test_plain_function_defaults(calls: list[dict[str, Any]]) -> None:
    serve()
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8000 and calls[0]["workers"] == 1


@pytest.mark.parametrize("args", [["--port", "0"], ["--workers", "0"], ["--model", "/does/not/exist"],
                                  ["--log-level", "loud"]])
def test_bad_options_are_refused(calls: list[dict[str, Any]], args: list[str]) -> None:
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 2 and not calls


def test_invalid_environment_is_reported_before_starting(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_API_KEYS_SHA256", "clear-text-key")
    result = CliRunner().invoke(cli(), [])
    assert result.exit_code == 2 and not calls
    assert "SHA-256" in result.output
