"""Shared pieces of the HTTP layer: the bounded scorer, dependencies and error types.

Scoring is CPU-bound and the fugashi tagger is not thread-safe, so every scoring call
runs in a small fixed set of threads (``Settings.scoring_threads``, 1 by default) owned
by the app: each thread keeps its own tagger (see :mod:`complaint_triage.tokenizer`) and
memory stays flat, whatever the number of clients.  The event loop stays free to parse
requests, answer health checks and refuse excess load.

Messages waiting for a scoring thread are coalesced: when a thread becomes free it takes
every queued scoring job (up to :data:`BATCH_CHUNK` messages) and scores them in one
``score_many`` call, which costs less per message than one call each under load.

With ``Settings.scoring_process`` the model lives in a child process
(:mod:`complaint_triage.api.remote`) and the event loop relays to it by itself, coalescing
waiting messages and keeping ``Settings.scoring_pipeline`` batches in flight; one thread is
left for other calls (parsing e-mail), and this process never imports the model libraries.

Admission is bounded: at most ``Settings.max_concurrency`` scoring requests may be in
flight (running or queued) per process; the next one is answered at once with 503 and
``Retry-After`` instead of waiting in an unbounded queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.responses import JSONResponse

from complaint_triage.api.metrics import Metrics
from complaint_triage.results import Prediction, ScoringError
from complaint_triage.settings import Settings

if TYPE_CHECKING:  # the model libraries stay out of a process that only relays (api.remote)
    from complaint_triage.scoring import Triager

__all__ = [
    "ApiError",
    "ApiJSONResponse",
    "MetricsDep",
    "Scorer",
    "ScorerDep",
    "ServiceOverloadedError",
    "ServiceNotReadyError",
    "SettingsDep",
    "app_scorer",
    "error_payload",
    "get_app_settings",
    "get_metrics",
    "get_scorer",
    "load_triager",
    "record_verdicts",
]

T = TypeVar("T")

#: Batches are scored in chunks of this many messages (so single messages are not stuck
#: behind a whole batch), and queued single messages are coalesced up to this many.
BATCH_CHUNK = 32

#: ``Retry-After`` of a ``model_unavailable`` answer when no better estimate is known.
MODEL_RETRY_AFTER_S = 5

#: What a model scores before it serves (at start-up and after a reload): a plain inquiry and an
#: abusive message, so that every code path, evidence spans included, has run once.  A model's
#: first scoring call builds the featuriser's lookup tables (about a second with the shipped model).
WARM_UP_TEXTS = ("粗大ごみの収集日を教えてください。", "ふざけるな、お前ら税金泥棒だ。今すぐ責任者を出せ。")

_LOG = logging.getLogger("complaint_triage.api")


class ApiError(Exception):
    """An error answered with ``status`` and the standard error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class ServiceOverloadedError(ApiError):
    """Too many scoring requests in flight: 503 with Retry-After."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            503,
            "overloaded",
            f"the service is at its limit of {limit} concurrent scoring requests (max_concurrency); retry shortly",
            {"Retry-After": "1"},
        )


class ServiceNotReadyError(ApiError):
    """The model is not loaded (yet, or any more)."""

    def __init__(self) -> None:
        super().__init__(503, "not_ready", "the model is not loaded; retry shortly", {"Retry-After": "5"})


class ApiJSONResponse(JSONResponse):
    """Compact UTF-8 JSON that never fails on odd strings (unpaired surrogates become ``?``)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )


def error_payload(
    code: str, message: str, request_id: str | None, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The body of every error response (see :class:`~complaint_triage.api.schemas.ErrorResponse`)."""
    body: dict[str, Any] = {"error": code, "message": message, "request_id": request_id}
    if details is not None:
        body["details"] = details
    return body


class _Job:
    """Work for a scoring thread: a scoring job (``texts``) or any call (``fn``).

    The thread hands the outcome back to the event loop that submitted the job with
    :meth:`finish`.  ``future``, ``finished`` and ``on_finished`` belong to the loop's thread.
    """

    __slots__ = ("texts", "with_evidence", "fn", "args", "kwargs", "loop", "future", "finished", "on_finished")

    def __init__(self, *, loop: asyncio.AbstractEventLoop, texts: list[object] | None = None,
                 with_evidence: bool = True, fn: Callable[..., Any] | None = None, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None) -> None:
        self.texts = texts
        self.with_evidence = with_evidence
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.finished = False
        self.on_finished: Callable[[], None] | None = None

    def wanted(self) -> bool:
        """False when the waiting request has gone (cancelled): the thread may skip the job.

        Read from the scoring thread without a lock: a stale answer only means a job runs
        whose result nobody reads.
        """
        return not self.future.cancelled()

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        """Hand the outcome over (called on the scoring thread)."""
        try:
            self.loop.call_soon_threadsafe(self._settle, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _settle(self, result: Any, error: BaseException | None) -> None:
        self.finished = True
        if not self.future.done():
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)
        if self.on_finished is not None:
            self.on_finished()


class _Slot:
    """One admitted request: runs work on the scoring threads."""

    __slots__ = ("_scorer", "last")

    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer
        self.last: _Job | None = None

    async def _wait(self, job: _Job) -> Any:
        self.last = job
        self._scorer._jobs.put(job)
        return await job.future

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a scoring thread and wait for it."""
        job = _Job(fn=fn, args=args, kwargs=kwargs, loop=asyncio.get_running_loop())
        result: T = await self._wait(job)
        return result

    async def score(self, texts: Sequence[object], *, with_evidence: bool = True) -> list[Prediction | ScoringError]:
        """Score ``texts`` in order (in chunks of :data:`BATCH_CHUNK`)."""
        out: list[Prediction | ScoringError] = []
        if hasattr(self._scorer.triager, "score_async"):  # a scoring process relayed by this loop
            for i in range(0, len(texts), BATCH_CHUNK):
                # (read per chunk: after a reload the next chunk goes to the new model's process)
                triager = self._scorer.triager
                out.extend(await triager.score_async(texts[i : i + BATCH_CHUNK], with_evidence=with_evidence))
            return out
        loop = asyncio.get_running_loop()
        for i in range(0, len(texts), BATCH_CHUNK):
            job = _Job(texts=list(texts[i : i + BATCH_CHUNK]), with_evidence=with_evidence, loop=loop)
            out.extend(await self._wait(job))
        return out


class _Admission:
    """``async with scorer.admit() as slot``: holds one of the scorer's admission places.

    The place is given back when the request's last piece of work has finished on the
    scoring thread, even if the client went away and the handler was cancelled.
    """

    __slots__ = ("_scorer", "_slot")

    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer
        self._slot: _Slot | None = None

    async def __aenter__(self) -> _Slot:
        self._scorer._acquire()  # raises ServiceOverloadedError at the limit
        self._slot = _Slot(self._scorer)
        return self._slot

    async def __aexit__(self, *exc: object) -> None:
        last = self._slot.last if self._slot is not None else None
        if last is not None and not last.finished:
            last.on_finished = self._scorer._release
        else:
            self._scorer._release()


class Scorer:
    """A :class:`~complaint_triage.scoring.Triager` behind fixed scoring threads and an admission limit.

    Parameters
    ----------
    triager : Triager
        The loaded model.
    max_concurrency : int
        Requests admitted at once (running or queued); more get :class:`ServiceOverloadedError`.
    threads : int
        Number of scoring threads.
    metrics : Metrics, optional
        Where to report in-flight and rejected requests.
    """

    def __init__(
        self, triager: Triager, *, max_concurrency: int, threads: int = 1, metrics: Metrics | None = None
    ) -> None:
        self.triager = triager
        self.max_concurrency = max_concurrency
        self.metrics = metrics
        self.threads = threads
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._in_flight = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"complaint-triage-score-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._workers:
            t.start()

    @property
    def version(self) -> str:
        return self.triager.version

    @property
    def max_chars(self) -> int:
        return self.triager.max_chars

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def answering(self) -> bool:
        """Whether the model answers (for /readyz): always, in this process; with a scoring
        process, whether it is up and answering (:meth:`~complaint_triage.api.remote.RemoteTriager.answering`)."""
        check = getattr(self.triager, "answering", None)
        return True if check is None else bool(await check())

    def retry_after(self) -> int:
        """Seconds a client should wait after a ``model_unavailable`` answer: with a scoring process,
        until its restart is expected to be done (derived from its restart back-off and start time)."""
        estimate = getattr(self.triager, "retry_after", None)
        return MODEL_RETRY_AFTER_S if estimate is None else int(estimate())

    def admit(self) -> _Admission:
        """Admit one request (``async with scorer.admit() as slot``) or raise :class:`ServiceOverloadedError`.

        The place is released when the request's last piece of work has finished on the
        scoring thread, even if the client went away and the handler was cancelled.
        """
        return _Admission(self)

    def _acquire(self) -> None:
        if self._in_flight >= self.max_concurrency:
            if self.metrics is not None:
                self.metrics.rejected.inc()
            raise ServiceOverloadedError(self.max_concurrency)
        self._in_flight += 1
        if self.metrics is not None:
            self.metrics.in_flight.set(self._in_flight)

    def _release(self) -> None:
        self._in_flight -= 1
        if self.metrics is not None:
            self.metrics.in_flight.set(self._in_flight)

    # -- scoring threads ---------------------------------------------------------------

    def _work(self) -> None:
        carry: _Job | None = None
        while True:
            job = carry if carry is not None else self._jobs.get()
            carry = None
            if job is None:
                return
            if job.texts is None:
                self._run_call(job)
                continue
            group, n = [job], len(job.texts)
            while n < BATCH_CHUNK:  # coalesce the scoring jobs that are waiting
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if (nxt is None or nxt.texts is None or nxt.with_evidence != job.with_evidence
                        or n + len(nxt.texts) > BATCH_CHUNK):
                    carry = nxt
                    break
                group.append(nxt)
                n += len(nxt.texts)
            self._run_scores(group)

    @staticmethod
    def _run_call(job: _Job) -> None:
        if not job.wanted():
            job.finish()
            return
        try:
            assert job.fn is not None
            result = job.fn(*job.args, **job.kwargs)
        except BaseException as e:  # handed to the waiting request, which maps it to an answer
            job.finish(error=e)
        else:
            job.finish(result)

    def _run_scores(self, group: list[_Job]) -> None:
        live = []
        for j in group:
            if j.wanted():
                live.append(j)
            else:
                j.finish()
        if not live:
            return
        texts = [t for j in live for t in (j.texts or ())]
        try:
            results = self.triager.score_many(texts, with_evidence=live[0].with_evidence)
        except BaseException as e:  # as ThreadPoolExecutor does: the waiting requests get the error
            if len(live) == 1:
                live[0].finish(error=e)
                return
            # score each job on its own, so only the one that fails gets the error
            _LOG.warning("coalesced scoring failed (%s); retrying %d jobs one by one", type(e).__name__, len(live))
            for j in live:
                try:
                    res = self.triager.score_many(j.texts or [], with_evidence=j.with_evidence)
                except BaseException as e2:
                    j.finish(error=e2)
                else:
                    j.finish(res)
            return
        i = 0
        for j in live:
            k = len(j.texts or ())
            j.finish(results[i : i + k])
            i += k

    async def warm_up(self) -> None:
        """Create every scoring thread's tagger and touch every code path once.

        Each thread takes exactly one warm-up job: a thread that has scored its own waits at a
        barrier until every thread has one.
        """
        texts = list(WARM_UP_TEXTS)
        if hasattr(self.triager, "score_async"):  # the threads only run calls: check the relay
            await self.triager.score_async(texts)
            return
        barrier = threading.Barrier(self.threads)

        def warm() -> None:
            self.triager.score_many(texts)
            barrier.wait(timeout=120)

        loop = asyncio.get_running_loop()
        jobs = [_Job(fn=warm, loop=loop) for _ in range(self.threads)]
        for job in jobs:
            self._jobs.put(job)
        await asyncio.gather(*(job.future for job in jobs))

    def close(self) -> None:
        """Stop the scoring threads after the work already queued (waits up to 30 s)."""
        for _ in self._workers:
            self._jobs.put(None)
        for t in self._workers:
            t.join(30)
        close = getattr(self.triager, "close", None)  # a scoring process (api.remote) is stopped too
        if close is not None:
            close()


def load_triager(settings: Settings) -> Any:
    """The scorer's model: a :class:`~complaint_triage.scoring.Triager` in this process, or
    with ``settings.scoring_process`` a :class:`~complaint_triage.api.remote.RemoteTriager`
    whose child process loads and runs it (this process then never imports the model
    libraries)."""
    if settings.scoring_process:
        from complaint_triage.api.remote import RemoteTriager

        return RemoteTriager(settings.model_path, max_chars=settings.max_text_chars,
                             pipeline=settings.scoring_pipeline, answer_timeout=settings.scoring_timeout_s)
    from complaint_triage.scoring import Triager

    return Triager.load(settings.model_path, max_chars=settings.max_text_chars)


# -- dependencies -----------------------------------------------------------------------
# All dependencies are ``async def``: they never block, and FastAPI would otherwise run each
# plain ``def`` dependency through its thread pool (a thread hop per dependency per request).


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def app_scorer(request: Request) -> Scorer:
    """The app's scorer; :class:`ServiceNotReadyError` (503) while the model is not loaded."""
    scorer: Scorer | None = getattr(request.app.state, "scorer", None)
    if scorer is None:
        raise ServiceNotReadyError()
    return scorer


async def get_scorer(request: Request) -> Scorer:
    """The app's scorer as a dependency (:func:`app_scorer`)."""
    return app_scorer(request)


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def record_verdicts(request: Request, verdicts: Sequence[str], *, errors: int = 0) -> None:
    """Count verdicts in the metrics and hand them to the request's log line."""
    metrics: Metrics = request.app.state.metrics
    metrics.observe_verdicts(verdicts)
    if errors:
        metrics.item_errors.inc(errors)
    request.state.verdicts = list(verdicts)
    request.state.item_errors = errors


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
