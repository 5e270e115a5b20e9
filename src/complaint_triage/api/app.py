"""The application factory: routers, lifespan, limits, errors, logs and metrics.

``create_app(settings)`` builds a fresh app (its own metrics registry, its own scoring
threads); the model is loaded once, when the lifespan starts, never at import.  Run it with
``complaint-triage serve`` or ``uvicorn --factory complaint_triage.api:create_app``.

Every request gets an id (``X-Request-ID``, taken from the request when it is a short
token, else generated) and exactly one JSON log line on the ``complaint_triage.api.access``
logger: request id, method, route template, status, latency, verdict(s), model version.
Message text, ids, metadata, names, addresses and contact details are never logged.  An
unexpected exception is answered 500 inside that request context (with its ``X-Request-ID``) and
logged by type and route only: never its message or a traceback, which may quote message content.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from complaint_triage.api import reload_signal
from complaint_triage.api.deps import (
    MODEL_RETRY_AFTER_S,
    ApiError,
    ApiJSONResponse,
    Scorer,
    error_payload,
    load_triager,
)
from complaint_triage.api.errors import body_model, safe_details, validation_summary
from complaint_triage.api.logs import JsonLineFormatter
from complaint_triage.api.metrics import UNMATCHED_ROUTE, Metrics
from complaint_triage.api.routes import feedback, health, model, score
from complaint_triage.api.security import SECURITY_SCHEME, SECURITY_SCHEME_NAME
from complaint_triage.exceptions import (
    ComplaintTriageError,
    EmailParseError,
    InputFormatError,
    InvalidTextError,
    LabelSetMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    ScoringProcessError,
    UntrustedModelError,
)
from complaint_triage.settings import Settings, get_settings

__all__ = ["create_app", "ACCESS_LOGGER"]

ACCESS_LOGGER = "complaint_triage.api.access"
_LOG = logging.getLogger("complaint_triage.api")
_ACCESS = logging.getLogger(ACCESS_LOGGER)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

DESCRIPTION = """\
区役所に届いたメッセージ（メール・Webフォーム・電話メモなど）を
**ハラスメント（カスタマーハラスメント）/ 苦情 / 問い合わせ** に判定する API です。

Triage Japanese messages sent to the ward office: verdict, the seven harassment categories
of the policy, a grievance flag, calibrated scores, evidence spans and the recommended action.

* Scoring routes (`/v1/...`) need `Authorization: Bearer <API key>`; `/healthz`, `/readyz`
  and `/metrics` are open.
* Limits (see `GET /v1/model`): request body `max_body_bytes` (413), text length
  `max_text_chars` and batch size `max_batch_items` (422). Under overload the service answers
  503 with `Retry-After` instead of queueing without bound.
* Every error has the body `{"error": code, "message": …, "request_id": …}`.
"""


# -- logging -------------------------------------------------------------------------


def _configure_logging(level: str) -> None:
    """Give the service's loggers one JSON-lines handler on stderr (once per process)."""
    _LOG.setLevel(level.upper())
    if not any(getattr(h, "_complaint_triage", False) for h in _LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        handler._complaint_triage = True  # type: ignore[attr-defined]
        _LOG.addHandler(handler)
        _LOG.propagate = False


# -- middleware ----------------------------------------------------------------------


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


async def _send_error(send: Send, status: int, code: str, message: str, request_id: str | None,
                      headers: dict[str, str] | None = None) -> None:
    response = ApiJSONResponse(error_payload(code, message, request_id), status_code=status, headers=headers)
    body = response.body
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": body})


def _route_label(scope: Scope) -> str:
    """The route template of a request (bounded cardinality), also for answers sent before routing."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    # Answered before routing (413, 408, 499), or a plain Starlette route (/openapi.json, /docs).
    # No route has path parameters, so an exact match on the app's paths is enough.
    known = getattr(getattr(scope.get("app"), "state", None), "route_paths", ())
    return scope["path"] if scope["path"] in known else UNMATCHED_ROUTE


def route_paths(routes: Any, prefix: str = "") -> frozenset[str]:
    """The path of every route of an app (``app.routes``), through included routers.

    FastAPI 0.165 keeps an included router whole (``original_router``, with the prefix it was
    included under); older versions copy its routes into the app's list.
    """
    out: set[str] = set()
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            out |= route_paths(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str):
            out.add(prefix + path)
    return frozenset(out)


#: Status logged and counted for a request whose client disconnected before it was complete.
CLIENT_CLOSED_REQUEST = 499
#: Seconds after which a request still running starts watching for its client's disconnect.
WATCH_AFTER_S = 0.1


class _Deadlines:
    """Deadlines of the requests in progress, checked every ``period`` seconds by one timer per
    event loop, which runs while any deadline is set.

    Not a timer per request: asyncio keeps cancelled timers in its heap until they are due, and
    two per scoring request (body deadline, disconnect watch) cost 7% of the app's instructions
    per request (``bench/api_instructions.py``).  An action runs up to ``period`` late.
    """

    def __init__(self, period: float) -> None:
        self.period = period
        self._due: dict[asyncio.AbstractEventLoop, dict[object, tuple[float, Callable[[], None]]]] = {}

    def set(self, loop: asyncio.AbstractEventLoop, key: object, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` (once) ``delay`` seconds from now unless :meth:`clear` is called first."""
        due = self._due.get(loop)
        if due is None:
            due = self._due[loop] = {}
            loop.call_later(self.period, self._check, loop)
        due[key] = (loop.time() + delay, action)

    def clear(self, loop: asyncio.AbstractEventLoop, key: object) -> None:
        due = self._due.get(loop)
        if due is not None:
            due.pop(key, None)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._due[loop]
        now = loop.time()
        for key, (when, action) in list(due.items()):
            if now >= when:
                del due[key]
                action()
        if due:
            loop.call_later(self.period, self._check, loop)
        else:
            del self._due[loop]


class RequestContextMiddleware:
    """Request id, one access log line and the request metrics for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = None
        if incoming is not None:
            text = incoming.decode("latin-1")
            rid = text if _REQUEST_ID.fullmatch(text) else None
        rid = rid or os.urandom(16).hex()
        state = _state(scope)
        state["request_id"] = rid
        status = 500  # (what an exception that escapes the app becomes)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                state["answer_started"] = True  # (BodyLimitMiddleware: no cancelling from now on)
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if not started:
                # the app returned without answering: only when the client went away before its
                # request was complete, or before its answer (BodyLimitMiddleware).  Logged and
                # counted as 499 (nginx's "client closed request"), not 500: nothing failed on the server
                status = CLIENT_CLOSED_REQUEST
        except asyncio.CancelledError:
            # the server gave up on the request: uvicorn cancels what is still running at the end
            # of its graceful shutdown (COMPLAINT_TRIAGE_GRACEFUL_SHUTDOWN_S).  Answered 503 if
            # nothing was sent yet and logged like any request; not re-raised, as uvicorn would
            # log it with a traceback.  (BodyLimitMiddleware's own cancellations end inside it.)
            state["error_code"] = "shutting_down"
            if not started:
                await _send_error(send_with_id, 503, "shutting_down", "the server is shutting down; retry",
                                  rid, {"Connection": "close", "Retry-After": "1"})
        except Exception as exc:  # a bug: answered here, so the 500 carries the request id
            # Starlette's own handler for Exception runs outside this middleware (no X-Request-ID)
            # and re-raises to uvicorn, which logs the traceback: it may quote message content.
            # Only the type and the route are logged.
            name = type(exc).__name__
            state["error_code"] = name
            _LOG.error("unexpected error", extra={"fields": {
                "event": "unexpected_error", "request_id": rid, "route": _route_label(scope), "error": name}})
            if not started:
                await _send_error(send_with_id, 500, "internal_error", "an unexpected error occurred; quote the "
                                  "request id when reporting it", rid)
        finally:
            elapsed = time.perf_counter() - start
            route_path = _route_label(scope)
            method = scope["method"]
            self.metrics.observe_request(route_path, method, status, elapsed)
            if _ACCESS.isEnabledFor(logging.INFO):
                fields: dict[str, Any] = {
                    "event": "request",
                    "request_id": rid,
                    "method": method,
                    "route": route_path,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 2),
                }
                verdicts = state.get("verdicts")
                if verdicts is not None:
                    if len(verdicts) == 1 and not state.get("item_errors"):
                        fields["verdict"] = verdicts[0]
                    else:
                        fields["verdicts"] = dict(Counter(verdicts))
                        fields["item_errors"] = state.get("item_errors", 0)
                if "error_code" in state:
                    fields["error"] = state["error_code"]
                scorer = getattr(getattr(scope.get("app"), "state", None), "scorer", None)
                if scorer is not None:
                    fields["model_version"] = scorer.version
                _ACCESS.info("request", extra={"fields": fields})


class BodyLimitMiddleware:
    """Read a request body whole, bounded in size and in time, before anything parses it; then
    cancel the request if its client goes away before the answer starts.

    * A declared ``Content-Length`` over ``max_bytes`` is refused (413) without reading the body;
      a chunked body is counted as it streams and refused as soon as it passes the limit.
    * A body not complete ``timeout`` seconds after the headers is answered 408
      (``request_timeout``) and the connection closed: a client that stalls mid-body would
      otherwise hold its connection, and a graceful shutdown, for as long as it likes.
    * Once the body is in, a request still running after :data:`WATCH_AFTER_S` watches for its
      client's disconnect.  A request whose client has gone before its answer started is
      cancelled: its admission place is given back (and its texts, if they still wait to be
      scored, are dropped) instead of being held until scoring ends.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._deadlines = _Deadlines(WATCH_AFTER_S)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        rid = _state(scope).get("request_id")
        limit = self.max_bytes
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.strip().isdigit():
                _state(scope)["error_code"] = "invalid_content_length"
                await _send_error(send, 400, "invalid_content_length", "the Content-Length header is not a number", rid)
                return
            if int(declared) > limit:
                await self._too_large(scope, send, f"the request body of {int(declared):,} bytes is over the limit "
                                      f"of {limit:,} bytes (max_body_bytes)")
                return
        chunks: list[bytes] = []
        total = 0
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        timed_out = False

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            task.cancel()  # type: ignore[union-attr]

        if task is not None:
            self._deadlines.set(loop, task, self.timeout, time_out)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > limit:
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if not timed_out or task is None:
                raise
            task.uncancel()
            _state(scope)["error_code"] = "request_timeout"
            await _send_error(send, 408, "request_timeout", "the request body did not arrive within "
                              f"{self.timeout:g} s (body_timeout_s)", rid, {"Connection": "close"})
            return
        finally:
            self._deadlines.clear(loop, task)
        if total > limit:
            await self._too_large(scope, send, f"the request body is over the limit of {limit:,} bytes "
                                  "(max_body_bytes)")
            return
        await self._call_watched(scope, b"".join(chunks), receive, send)

    async def _call_watched(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Run the app on ``body``; cancel it if the client disconnects before the answer starts.

        Only a request still running after :data:`WATCH_AFTER_S` (or up to twice that) is watched
        (a task waiting for the disconnect): the others, nearly all, are answered before it matters.
        """
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        state = _state(scope)
        cancelled = False
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            nonlocal cancelled
            while (await receive())["type"] != "http.disconnect":  # after the body only the disconnect comes
                pass
            if not state.get("answer_started") and task is not None:
                cancelled = True
                task.cancel()

        def start_watching() -> None:
            nonlocal watcher
            watcher = loop.create_task(watch())

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if task is not None:
            self._deadlines.set(loop, task, WATCH_AFTER_S, start_watching)
        try:
            await self.app(scope, replay, send)
        except asyncio.CancelledError:
            if not cancelled:
                raise
        finally:
            self._deadlines.clear(loop, task)
            if watcher is not None:
                watcher.cancel()
            if cancelled and task is not None and task.cancelling():
                task.uncancel()  # (its client has gone: nothing is left to answer; logged as 499)

    async def _too_large(self, scope: Scope, send: Send, message: str) -> None:
        state = _state(scope)
        state["error_code"] = "body_too_large"
        await _send_error(send, 413, "body_too_large", message + "; send less or split the batch",
                          state.get("request_id"), {"Connection": "close"})


# -- errors --------------------------------------------------------------------------


def _request_id(request: Request) -> str | None:
    return _state(request.scope).get("request_id")


def _error(request: Request, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
           details: list[dict[str, Any]] | None = None) -> ApiJSONResponse:
    _state(request.scope)["error_code"] = code
    return ApiJSONResponse(error_payload(code, message, _request_id(request), details), status_code=status,
                           headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> ApiJSONResponse:
        return _error(request, exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> ApiJSONResponse:
        errors = list(exc.errors())
        bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            pos = bad_json.get("loc", ("body", "?"))[-1]
            reason = (bad_json.get("ctx") or {}).get("error", "JSON decode error")
            return _error(request, 400, "invalid_json", f"the request body is not valid JSON: {reason} "
                          f"(at character {pos})")
        # without the input (it may be message text) and without the request's own names (an
        # unexpected field, a metadata key: they may be an address or a person's name)
        model = body_model(request.scope.get("route"))
        summary = validation_summary(errors, model)
        return _error(request, 422, "validation_error", summary or "the request does not match the schema",
                      details=safe_details(errors, model))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ApiJSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            return _error(request, 400, "invalid_utf8", f"the request body is not valid UTF-8 (byte {cause.start}: "
                          f"{cause.reason}); send JSON encoded as UTF-8")
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        code = codes.get(exc.status_code, "http_error")
        return _error(request, exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(InvalidTextError)
    async def invalid_text(request: Request, exc: InvalidTextError) -> ApiJSONResponse:
        return _error(request, 422, "invalid_text", str(exc))

    @app.exception_handler(EmailParseError)
    async def not_an_email(request: Request, exc: EmailParseError) -> ApiJSONResponse:
        return _error(request, 422, "invalid_email", str(exc))

    @app.exception_handler(InputFormatError)
    async def bad_input(request: Request, exc: InputFormatError) -> ApiJSONResponse:
        return _error(request, 400, "invalid_input", str(exc))

    model_errors = (ModelNotFoundError, ModelLoadError, UntrustedModelError, LabelSetMismatchError,
                    ScoringProcessError)

    @app.exception_handler(ComplaintTriageError)
    async def library_error(request: Request, exc: ComplaintTriageError) -> ApiJSONResponse:
        if isinstance(exc, model_errors):
            # (the access line says model_unavailable; a scoring process logs why it is down once,
            # when it dies or cannot be restarted, not on every request it fails)
            scorer: Scorer | None = getattr(request.app.state, "scorer", None)
            retry = scorer.retry_after() if scorer is not None else MODEL_RETRY_AFTER_S
            return _error(request, 503, "model_unavailable", "the model is not available; retry later",
                          headers={"Retry-After": str(retry)})
        _LOG.error("library error", extra={"fields": {"event": "library_error", "request_id": _request_id(request),
                                                      "route": _route_label(request.scope),
                                                      "error": type(exc).__name__}})
        return _error(request, 500, "internal_error", "the request could not be processed "
                      f"({type(exc).__name__}); quote the request id when reporting it")

    # Any other exception is answered by RequestContextMiddleware (500, with the request id).


# -- OpenAPI -------------------------------------------------------------------------


def _install_openapi(app: FastAPI, settings: Settings) -> None:
    """Write the configured limits into the OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=app.openapi_tags)
        # Keyed routes declare ``security`` themselves (KeyedRoute); the scheme they name:
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME_NAME] = dict(
            SECURITY_SCHEME)
        comps = schema.get("components", {}).get("schemas", {})

        def text_limit(props: dict[str, Any], name: str) -> None:
            if name in props:
                props[name]["maxLength"] = settings.max_text_chars

        if "ScoreRequest" in comps:
            text_limit(comps["ScoreRequest"]["properties"], "text")
        if "FormRequest" in comps:
            text_limit(comps["FormRequest"]["properties"], "body")
        if "BatchRequest" in comps:
            items = comps["BatchRequest"]["properties"]["items"]
            items["maxItems"] = settings.max_batch_items
            text_limit(items.get("items", {}).get("properties", {}), "text")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- factory -------------------------------------------------------------------------


def _install_sighup(scorer: Scorer, settings: Settings) -> None:
    """SIGHUP reloads the promoted model (as POST /v1/admin/reload does), where supported."""
    import signal

    loop = asyncio.get_running_loop()

    def _on_hup() -> None:
        async def _reload() -> None:
            try:
                res = await feedback.reload_model(scorer, settings)
                _LOG.info("model reloaded", extra={"fields": {"event": "sighup_reload", **res}})
            except Exception as e:  # keep serving the old model whatever went wrong
                _LOG.error("model reload failed",
                           extra={"fields": {"event": "sighup_reload", "error": type(e).__name__}})

        loop.create_task(_reload())

    try:
        loop.add_signal_handler(signal.SIGHUP, _on_hup)
    except (NotImplementedError, RuntimeError, AttributeError, ValueError):
        return
    if reload_signal.take_pending():  # one came while the model was loading (worker.py held it back)
        _LOG.info("reload requested during start-up", extra={"fields": {"event": "sighup_deferred"}})
        _on_hup()


def _release_free_heap() -> None:
    """Hand memory freed after loading back to the system (glibc ``malloc_trim``; else nothing).

    Loading a model allocates about twice what it keeps; without this the freed part (about
    20 MB) stays in the process's resident memory.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once, warm the scoring thread up, and stop it at shutdown."""
    settings: Settings = app.state.settings
    t0 = time.perf_counter()
    triager = load_triager(settings)
    threads = 1 if settings.scoring_process else settings.scoring_threads  # (a scoring process: other calls only)
    scorer = Scorer(triager, max_concurrency=settings.max_concurrency, threads=threads, metrics=app.state.metrics)
    try:
        await scorer.warm_up()
        # What is alive now (the libraries and the model) lives as long as the process. Taking
        # it out of the cyclic garbage collector's view keeps full collections short: they
        # would otherwise walk ~170,000 objects (about 150 ms here) in the middle of a request,
        # a pause that lands in the p99 latency.  Reference counting still frees everything.
        gc.collect()
        _release_free_heap()
        gc.freeze()
        app.state.scorer = scorer
        _LOG.info("model loaded", extra={"fields": {
            "event": "startup", "model_version": triager.version, "load_ms": round((time.perf_counter() - t0) * 1000),
            "api_keys": len(settings.api_keys_sha256), "max_concurrency": settings.max_concurrency,
            "scoring_threads": threads, "scoring_process": settings.scoring_process}})
        _install_sighup(scorer, settings)
        if not settings.api_keys_sha256 and not settings.admin_keys_sha256:
            _LOG.warning("no API keys configured (COMPLAINT_TRIAGE_API_KEYS_SHA256): every scoring request gets 401")
        yield
    finally:
        app.state.scorer = None
        scorer.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`complaint_triage.settings.get_settings` (the environment).

    Returns
    -------
    FastAPI
        Not yet started: the model is loaded when its lifespan starts (uvicorn start-up, or
        entering ``with TestClient(app)``).
    """
    from complaint_triage import __version__

    settings = settings if settings is not None else get_settings()
    _configure_logging(settings.log_level)
    metrics = Metrics()
    app = FastAPI(
        title="complaint-triage API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=ApiJSONResponse,
        # FastAPI's built-in OpenTelemetry checks for a configured provider on every request;
        # the service exports Prometheus metrics (/metrics) and turns it on only when asked.
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
        openapi_tags=[
            {"name": "score", "description": "メッセージの判定 (API key required)."},
            {"name": "model", "description": "The served model (API key required)."},
            {"name": "operations", "description": "Health checks and metrics (open)."},
        ],
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.scorer = None
    app.include_router(score.router)
    app.include_router(model.router)
    app.include_router(health.router)
    app.include_router(feedback.router)
    app.include_router(feedback.admin_router)
    app.state.route_paths = route_paths(app.routes)
    _install_error_handlers(app)
    _install_openapi(app, settings)

    # Added innermost first: the request context wraps everything, so even 413s and CORS
    # preflights are logged and counted.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_s)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
