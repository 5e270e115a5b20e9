"""Service settings, read from environment variables prefixed ``COMPLAINT_TRIAGE_``.

Every field can be set in the environment, e.g. ``COMPLAINT_TRIAGE_MAX_CONCURRENCY=16``.
List fields accept either a JSON list or a comma-separated string::

    COMPLAINT_TRIAGE_API_KEYS_SHA256=9f86d08…,60303ae2…
    COMPLAINT_TRIAGE_CORS_ORIGINS=https://form.example.lg.jp

API keys are never configured in clear: store the hex SHA-256 of each key, e.g.
``python -c "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" KEY``.

Code reaches the settings through :func:`get_settings` (cached), never through a
module-level instance; tests build their own :class:`Settings` and pass it to
``complaint_triage.api.create_app``, or call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ENV_PREFIX", "OTHER_VARIABLES", "Settings", "get_settings", "unknown_variables"]

ENV_PREFIX = "COMPLAINT_TRIAGE_"
_HEX64 = re.compile(r"[0-9a-f]{64}")


LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def _split_list(value: object) -> object:
    """Accept ``"a, b"`` (comma-separated) or ``'["a", "b"]'`` (JSON) as well as a list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"not a valid JSON list ({e.msg}); use a comma-separated string instead") from e
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Configuration of the scoring service (see the module docstring for the environment)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="ignore",
        protected_namespaces=(),
    )

    model_path: Path | None = Field(
        default=None,
        description="Model directory to serve; None serves the promoted model of the registry.",
    )
    api_keys_sha256: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hex SHA-256 digests of the API keys accepted on scoring routes. Empty: every key is refused.",
    )
    admin_keys_sha256: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hex SHA-256 digests of administrator keys (reserved for administrative routes).",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20, description="Largest request body, in bytes.")
    max_text_chars: int = Field(default=20_000, ge=1, le=1_000_000, description="Longest message text, in characters.")
    max_batch_items: int = Field(default=256, ge=1, le=10_000, description="Most messages in one batch request.")
    max_concurrency: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Scoring requests admitted at once per worker process (running or queued); "
        "beyond it the service answers 503 with Retry-After.",
    )
    scoring_threads: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Threads per worker process that run the CPU-bound scoring. Each holds its own MeCab "
        "tagger; more threads add memory but little speed (the GIL). Scale with worker processes instead, "
        "or use scoring_process. Not used with scoring_process (see scoring_pipeline).",
    )
    scoring_process: bool = Field(
        default=False,
        description="Score in a child process of each worker (complaint_triage.api.remote): the worker's "
        "event loop handles HTTP on one core while the child scores on the other, and the worker itself "
        "never loads the model libraries. For one worker on a small machine.",
    )
    scoring_pipeline: int = Field(
        default=4,
        ge=1,
        le=16,
        description="With scoring_process: batches in flight to the scoring process at once (the event "
        "loop relays them itself and coalesces waiting messages into batches of up to 32), so that it starts "
        "on the next batch while the worker hands out the last one.",
    )
    scoring_timeout_s: float = Field(
        default=10.0,  # (api.remote.ANSWER_TIMEOUT_S repeats it: importing remote here cost every start 10-17 ms)
        ge=1,
        le=600,
        description="With scoring_process: seconds the scoring process may take over one batch (up to 32 "
        "messages) before it counts as stuck: the requests waiting for it get 503 and it is killed and "
        "restarted. The default is a few seconds above the slowest batch measured (32 messages of 20,000 "
        "characters); raise it with max_text_chars or on a slower machine.",
    )
    graceful_shutdown_s: int = Field(
        default=20,
        ge=1,
        le=600,
        description="Seconds a worker waits after SIGTERM for the requests in flight to finish; then it "
        "cancels them and stops (uvicorn's timeout_graceful_shutdown).",
    )
    header_timeout_s: float = Field(
        default=10.0,
        ge=0.1,
        le=600,
        description="Seconds a client may take from opening a connection (or starting its next request) to "
        "the end of the request's headers; then the connection is closed without an answer.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        ge=0.1,
        le=600,
        description="Seconds a client may take to send a request body once its headers are in; then it "
        "gets 408 and the connection is closed.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS; empty means no CORS headers at all."
    )
    log_level: LogLevel = Field(default="info", description="Level of the service's own log lines.")
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI's built-in OpenTelemetry instrumentation trace requests (it needs a provider "
        "configured in the process, e.g. by opentelemetry-instrument). Off by default: the service exports "
        "Prometheus metrics at /metrics, and the instrumentation's checks cost time on every request.",
    )

    @field_validator("api_keys_sha256", "admin_keys_sha256", mode="before")
    @classmethod
    def _parse_digests(cls, value: object) -> object:
        value = _split_list(value)
        if isinstance(value, list):
            out = []
            for v in value:
                if not isinstance(v, str) or not _HEX64.fullmatch(v.strip().lower()):
                    raise ValueError(
                        "each key must be given as the 64-character hex SHA-256 digest of the key, "
                        "not the key itself"
                    )
                out.append(v.strip().lower())
            return out
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("model_path")
    @classmethod
    def _model_path_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"model path {value} does not exist; give a model directory or leave it unset")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (``get_settings.cache_clear()`` to re-read)."""
    return Settings()


#: Variables with the same prefix that other parts of the package read (not service settings).
OTHER_VARIABLES = frozenset(ENV_PREFIX + v for v in ("MODEL", "MODELS_DIR", "DATA_DIR", "FEEDBACK_DB", "SENDER_KEY",
                                                     "REQUIRE_SPEEDUPS"))


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``(name, the closest known name or None)`` for each variable with the settings' prefix that
    nothing reads: a misspelt limit (``COMPLAINT_TRIAGE_MAX_TXT_CHARS``) would otherwise leave the
    default in force without a word."""
    # compared without the shared prefix, which would make every name look alike
    known = sorted({f.upper() for f in Settings.model_fields} | {v.removeprefix(ENV_PREFIX) for v in OTHER_VARIABLES})
    out = []
    for name in sorted(environ):
        rest = name.upper().removeprefix(ENV_PREFIX)
        if rest != name.upper() and rest not in known:
            close = difflib.get_close_matches(rest, known, n=1, cutoff=0.75)
            out.append((name, ENV_PREFIX + close[0] if close else None))
    return out
