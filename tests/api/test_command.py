"""`serve`: a plain function with Typer options that runs uvicorn with the app factory."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from complaint_triage.api.command import APP_FACTORY, serve
from complaint_triage.api.supervisor import HTTP_PROTOCOL
from complaint_triage.settings import get_settings


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every exec ``serve`` would do (nothing is executed)."""
    from complaint_triage.api import command

    seen: list[list[str]] = []
    monkeypatch.setattr(command, "_execv", lambda path, argv: seen.append(argv))
    for k in list(os.environ):
        if k.startswith("COMPLAINT_TRIAGE_"):
            monkeypatch.delenv(k)
    before = dict(os.environ)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield seen
    # serve() exports its options for the workers and blocks SIGHUP for the server it would
    # exec; never let either leak into other tests
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for k in [k for k in os.environ if k.startswith("COMPLAINT_TRIAGE_") and k not in before]:
        del os.environ[k]
    get_settings.cache_clear()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


def _opt(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_execs_uvicorn_with_the_lean_factory_uvloop_and_httptools(calls: list[list[str]],
                                                                   small_model_dir: Path) -> None:
    result = CliRunner().invoke(cli(), ["--port", "8123", "--model", str(small_model_dir),
                                        "--log-level", "WARNING"])
    assert result.exit_code == 0, result.output
    [argv] = calls
    assert argv[1:4] == ["-m", "uvicorn", APP_FACTORY] and APP_FACTORY == "complaint_triage.api.worker:create_app"
    assert "--factory" in argv and "--no-access-log" in argv and "--no-server-header" in argv
    assert (_opt(argv, "--http"), _opt(argv, "--loop"), _opt(argv, "--lifespan")) == (HTTP_PROTOCOL, "uvloop", "on")
    assert HTTP_PROTOCOL == "complaint_triage.api.protocol:HeaderTimeoutProtocol"  # (httptools, see test_protocol)
    assert _opt(argv, "--timeout-graceful-shutdown") == "20"  # a bounded graceful shutdown (the default)
    assert (_opt(argv, "--host"), _opt(argv, "--port"), _opt(argv, "--workers"), _opt(argv, "--log-level")) == (
        "127.0.0.1", "8123", "1", "warning")
    assert os.environ["COMPLAINT_TRIAGE_MODEL_PATH"] == str(small_model_dir.resolve())
    assert get_settings().model_path == small_model_dir.resolve()


def test_scoring_process_flag_overrides_the_environment(calls: list[list[str]]) -> None:
    # os.environ directly: the `calls` fixture removes every COMPLAINT_TRIAGE_ variable a test adds
    assert CliRunner().invoke(cli(), ["--scoring-process"]).exit_code == 0
    assert get_settings().scoring_process is True
    os.environ["COMPLAINT_TRIAGE_SCORING_PROCESS"] = "true"
    assert CliRunner().invoke(cli(), ["--no-scoring-process"]).exit_code == 0
    assert get_settings().scoring_process is False
    os.environ["COMPLAINT_TRIAGE_SCORING_PROCESS"] = "true"
    assert CliRunner().invoke(cli(), []).exit_code == 0  # no flag: the environment decides
    assert get_settings().scoring_process is True


def test_several_workers_exec_the_reuse_port_supervisor(calls: list[list[str]]) -> None:
    os.environ["COMPLAINT_TRIAGE_GRACEFUL_SHUTDOWN_S"] = "7"
    serve(port=8124, workers=2, log_level="info")
    [argv] = calls
    assert argv[1:3] == ["-m", "complaint_triage.api.supervisor"]
    assert (_opt(argv, "--host"), _opt(argv, "--port"), _opt(argv, "--workers"), _opt(argv, "--log-level")) == (
        "127.0.0.1", "8124", "2", "info")
    assert _opt(argv, "--graceful") == "7"  # the workers' graceful shutdown (the supervisor kills 10 s later)


def test_the_log_level_variable_is_honoured_without_the_option(calls: list[list[str]]) -> None:
    os.environ["COMPLAINT_TRIAGE_LOG_LEVEL"] = "ERROR"
    assert CliRunner().invoke(cli(), []).exit_code == 0
    assert _opt(calls[-1], "--log-level") == "error" and get_settings().log_level == "error"
    assert os.environ["COMPLAINT_TRIAGE_LOG_LEVEL"] == "ERROR"  # left as it was, for the server's own lines
    assert CliRunner().invoke(cli(), ["--log-level", "debug"]).exit_code == 0  # the option wins
    assert _opt(calls[-1], "--log-level") == "debug" and get_settings().log_level == "debug"


def test_an_invalid_log_level_variable_stops_serve(calls: list[list[str]]) -> None:
    os.environ["COMPLAINT_TRIAGE_LOG_LEVEL"] = "verbose"
    result = CliRunner().invoke(cli(), [])
    assert result.exit_code == 2 and not calls
    assert "COMPLAINT_TRIAGE_LOG_LEVEL" in result.output


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_starts_with_sighup_blocked(calls: list[list[str]], workers: int) -> None:
    # the exec'd server inherits the blocked signal: a SIGHUP while it loads its model waits for
    # the app (complaint_triage.api.reload_signal) instead of killing it
    assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    serve(workers=workers)
    assert calls and signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_plain_function_defaults(calls: list[list[str]]) -> None:
    serve()
    [argv] = calls
    assert (_opt(argv, "--host"), _opt(argv, "--port"), _opt(argv, "--workers")) == ("127.0.0.1", "8000", "1")


@pytest.mark.parametrize("args", [["--port", "0"], ["--workers", "0"], ["--model", "/does/not/exist"],
                                  ["--log-level", "loud"]])
def test_bad_options_are_refused(calls: list[list[str]], args: list[str]) -> None:
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 2 and not calls


def test_invalid_environment_is_reported_before_starting(
    calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPLAINT_TRIAGE_API_KEYS_SHA256", "clear-text-key")
    result = CliRunner().invoke(cli(), [])
    assert result.exit_code == 2 and not calls
    assert "SHA-256" in result.output and "COMPLAINT_TRIAGE_API_KEYS_SHA256" in result.output
    # the value may be the key itself, put where its hash belongs: never in the service log
    assert "clear-text-key" not in result.output


def test_the_worker_entry_keeps_unused_libraries_out_and_still_scores(small_model_dir: Path) -> None:
    # In a fresh interpreter, as uvicorn imports it: pandas, dask and pytest must stay unloaded through app
    # start-up (the lifespan loads the model) and a scoring request.
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from complaint_triage.api.worker import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    r = client.post('/v1/score', json={'text': '窓口の職員に「殺すぞ」と怒鳴った'},\n"
        "                    headers={'Authorization': 'Bearer k-1'})\n"
        "    print(r.status_code, r.json()['verdict'] in ('harassment', 'complaint', 'inquiry'))\n"
        "print([sys.modules.get(m, 'absent') for m in ('pandas', 'dask', 'pytest')])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_TRIAGE_")}
    env["COMPLAINT_TRIAGE_MODEL_PATH"] = str(small_model_dir)
    env["COMPLAINT_TRIAGE_API_KEYS_SHA256"] = json.dumps([hashlib.sha256(b"k-1").hexdigest()])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["200 True", "[None, None, None]"]
    # the access line is still written in full although the entry point stops logging's caller,
    # thread and process lookups
    access = [json.loads(x) for x in out.stderr.splitlines() if '"event": "request"' in x]
    assert len(access) == 1 and access[0]["route"] == "/v1/score" and access[0]["status"] == 200
    assert access[0]["verdict"] in ("harassment", "complaint", "inquiry") and "model_version" in access[0]


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(calls: list[list[str]]) -> None:
    os.environ["COMPLAINT_TRIAGE_MAX_TXT_CHARS"] = "5000"
    os.environ["COMPLAINT_TRIAGE_SOMETHING_ELSE"] = "1"
    os.environ["COMPLAINT_TRIAGE_MODEL"] = "x"  # read by the library, not a service setting
    result = CliRunner().invoke(cli(), [])
    assert result.exit_code == 0 and calls  # a warning, not a refusal
    assert ("warning: COMPLAINT_TRIAGE_MAX_TXT_CHARS is not a setting of complaint-triage "
            "(did you mean COMPLAINT_TRIAGE_MAX_TEXT_CHARS?); it is ignored") in result.output
    assert ("warning: COMPLAINT_TRIAGE_SOMETHING_ELSE is not a setting of complaint-triage; "
            "it is ignored") in result.output
    assert "COMPLAINT_TRIAGE_MODEL " not in result.output and "5000" not in result.output


def test_every_documented_variable_is_known() -> None:
    from complaint_triage.settings import unknown_variables

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    import re

    named = set(re.findall(r"COMPLAINT_TRIAGE_[A-Z0-9_]+", docs)) - {"COMPLAINT_TRIAGE_MAX_TXT_CHARS"}  # the typo shown
    assert named and unknown_variables(dict.fromkeys(named, "x")) == []


def test_with_the_api_extra_installed_nothing_is_missing() -> None:
    """The check that stops `serve` without the extra (tests/test_cli.py) must never refuse an install
    that has it: every module it looks for is one the extra installs."""
    import re
    import tomllib

    from complaint_triage.api.command import API_EXTRA_MODULES, missing_api_modules

    assert missing_api_modules() == []
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    extra = {re.split(r"[\[<>=~!; ]", d, maxsplit=1)[0].lower().replace("-", "_")
             for d in pyproject["project"]["optional-dependencies"]["api"]}
    # (the modules looked for are the extra's packages, and uvicorn[standard]'s uvloop and httptools)
    assert set(API_EXTRA_MODULES) - {"uvloop", "httptools"} == extra
