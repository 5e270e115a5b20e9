"""``POST /v1/feedback`` (analysts' corrections) and ``POST /v1/admin/reload`` (model swap)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from complaint_triage.api.deps import WARM_UP_TEXTS, ApiError, ScorerDep, SettingsDep, load_triager
from complaint_triage.api.routes.score import _COMMON_ERRORS
from complaint_triage.api.schemas import ErrorResponse
from complaint_triage.api.security import AdminRoute, KeyedRoute
from complaint_triage.exceptions import ComplaintTriageError, ModelLoadError
from complaint_triage.results import has_visible

__all__ = ["router", "admin_router", "load_warm_triager", "reload_model"]

router = APIRouter(prefix="/v1", tags=["feedback"], route_class=KeyedRoute)
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=AdminRoute)


_EXAMPLE = {
    "message_id": "mail-2026-11-000123",
    "text": "回答がなければ区議会議員に相談し、情報公開請求も行います。",
    "predicted": {"verdict": "harassment", "categories": ["threat"], "grievance": True,
                  "model_version": "m-b86e4e2429"},
    "labels": {"verdict": "complaint", "categories": [], "grievance": True},
    "analyst": "kuminnokoe-01",
    "note": "正当な手続きの予告であり脅迫ではない",
}


class FeedbackLabels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: str = Field(examples=["complaint"], max_length=20)
    categories: list[str] = Field(default_factory=list, max_length=7, examples=[[]])
    grievance: bool = Field(examples=[True])


class FeedbackPredicted(BaseModel):
    model_config = ConfigDict(extra="ignore")
    verdict: str | None = Field(default=None, max_length=20)
    categories: list[str] | None = Field(default=None, max_length=7)
    grievance: bool | None = None
    model_version: str | None = Field(default=None, max_length=64)


class FeedbackRequest(BaseModel):
    """One analyst's correction of a scored message (give the message id, the text, or both)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})
    message_id: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=20_000)
    predicted: FeedbackPredicted | None = None
    labels: FeedbackLabels
    analyst: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2_000)


def _store_one(body: FeedbackRequest, model_version: str) -> dict[str, Any]:
    from complaint_triage.feedback import Correction, FeedbackStore

    pred = body.predicted or FeedbackPredicted()
    corr = Correction(
        verdict=body.labels.verdict,
        categories=tuple(body.labels.categories),
        grievance=body.labels.grievance,
        corrected_by=body.analyst,
        message_id=body.message_id,
        text=body.text,
        predicted_verdict=pred.verdict,
        predicted_categories=tuple(pred.categories) if pred.categories is not None else None,
        predicted_grievance=pred.grievance,
        model_version=pred.model_version or model_version,
        note=body.note,
    )
    stored = FeedbackStore().add(corr)
    return {"correction_id": stored.correction_id, "corrected_at": stored.corrected_at}


@router.post("/feedback", status_code=201, summary="Record an analyst's correction",
             responses=_COMMON_ERRORS)
async def post_feedback(
    body: Annotated[FeedbackRequest, Body(openapi_examples={"lawful_escalation": {
        "summary": "合法的な手続きの予告を苦情に訂正", "value": _EXAMPLE}})],
    scorer: ScorerDep,
) -> dict[str, Any]:
    """Store a correction (validated against the label contract) in the corrections database."""
    # a text that is empty, whitespace or only invisible characters (NUL, zero-width space) is no
    # text: /v1/score refuses it, and a correction must not carry it into training
    blank = body.text is not None and not has_visible(body.text)
    if not body.message_id and (body.text is None or blank):
        invisible = blank and body.text is not None and body.text.strip() != ""
        raise ApiError(422, "missing_message", "give the message_id or the text of the corrected message" + (
            " (the text has no visible character: only control, zero-width or other invisible characters)"
            if invisible else ""))
    # (with a message_id such a text is stored as none: Correction drops it, as for every import)
    try:
        return await asyncio.to_thread(_store_one, body, scorer.version)
    except ComplaintTriageError as e:  # LabelError, InputFormatError
        raise ApiError(422, "invalid_correction", str(e)) from e


def load_warm_triager(settings: Any) -> Any:
    """:func:`~complaint_triage.api.deps.load_triager`, warmed up: in this process the new model
    scores :data:`~complaint_triage.api.deps.WARM_UP_TEXTS` first (a scoring process's child does
    that itself before it answers).  Blocking: run it off the event loop.

    A model's first scoring call builds its featuriser's tables (0.6–1.4 s with the shipped model,
    acc4b finding 9): swapped in cold, the first request after a reload paid for it, and every
    request waiting behind it.  A model that loads but fails to score raises
    :class:`~complaint_triage.exceptions.ModelLoadError`, so it is never swapped in.
    """
    new = load_triager(settings)
    if not hasattr(new, "score_async"):
        try:
            new.score_many(list(WARM_UP_TEXTS))
        except Exception as e:  # (its type only: the message could be anything)
            raise ModelLoadError(f"the model {new.version} loaded but failed to score a test message "
                                 f"({type(e).__name__})") from e
    return new


async def reload_model(scorer: Any, settings: Any) -> dict[str, str]:
    """Load the promoted (or configured) model and warm it up off the event loop, then swap it in.

    Requests already running finish on the model they started with; requests arriving meanwhile
    are scored by the old model, never kept waiting for the new one's warm-up; a failed load (or
    warm-up) keeps the old model serving.
    """
    old = scorer.version
    new = await asyncio.to_thread(load_warm_triager, settings)
    replaced, scorer.triager = scorer.triager, new
    if hasattr(replaced, "aclose"):  # a scoring process: stopped after the calls in flight on it
        await replaced.aclose()
    elif hasattr(replaced, "close"):
        await asyncio.to_thread(replaced.close)
    return {"previous_version": old, "model_version": new.version}


@admin_router.post("/reload", summary="Reload the promoted model without downtime", responses={
    401: {"model": ErrorResponse, "description": "Missing or invalid admin key."},
    409: {"model": ErrorResponse, "description": "The new model could not be loaded; the old one keeps serving."},
    503: {"model": ErrorResponse, "description": "The model is not loaded yet."},
})
async def post_reload(scorer: ScorerDep, settings: SettingsDep) -> dict[str, str]:
    """Load the promoted model (昇格済みモデルの再読み込み) and swap it in; needs an admin key.

    In-flight requests finish on the old model; if the new one cannot be loaded, 409 and the
    old model keeps serving.  Example response: ``{"previous_version": "m-b86e4e2429",
    "model_version": "m-0f1e2d3c4b"}``.
    """
    try:
        # shielded: a client that goes away mid-reload cancels the request, never the swap (a model
        # loaded and dropped, or a scoring process left running)
        return await asyncio.shield(reload_model(scorer, settings))
    except ComplaintTriageError as e:
        raise ApiError(409, "reload_failed",
                       f"the new model could not be loaded, the old one keeps serving: {e}") from e


