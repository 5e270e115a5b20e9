"""``GET /v1/model``: what is being served, with its thresholds and training metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from complaint_triage.api.deps import ApiJSONResponse, ScorerDep, SettingsDep
from complaint_triage.api.schemas import ErrorResponse, ModelInfo
from complaint_triage.api.security import KeyedRoute
from complaint_triage.labels import ACTIONS, CATEGORIES, SCORE_NAMES, VERDICTS

__all__ = ["router", "model_info"]

router = APIRouter(prefix="/v1", tags=["model"], route_class=KeyedRoute)


def model_info(manifest: dict[str, Any], limits: dict[str, int]) -> dict[str, Any]:
    """The public part of a model manifest (no file paths, no library versions)."""
    return {
        "model_version": str(manifest["model_version"]),
        "created": manifest.get("created"),
        "label_set": str(manifest.get("label_set", "")),
        "verdicts": list(manifest.get("verdicts", VERDICTS)),
        "categories": list(manifest.get("categories", CATEGORIES)),
        "actions": list(ACTIONS),
        "score_names": list(manifest.get("score_names", SCORE_NAMES)),
        "thresholds": dict(manifest.get("thresholds", {})),
        "metrics": dict(manifest.get("metrics", {})),
        "training_data": manifest.get("training_data"),
        "limits": limits,
    }


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={401: {"model": ErrorResponse, "description": "Missing or invalid API key."},
               503: {"model": ErrorResponse, "description": "The model is not loaded."}},
    summary="The served model",
    description="Version, label set (判定: harassment / complaint / inquiry と7つのカテゴリ), decision thresholds, "
    "the metrics measured when the model was trained, and the service's input limits.",
)
async def get_model(scorer: ScorerDep, settings: SettingsDep) -> ApiJSONResponse:
    limits = {"max_body_bytes": settings.max_body_bytes, "max_text_chars": settings.max_text_chars,
              "max_batch_items": settings.max_batch_items}
    return ApiJSONResponse(model_info(scorer.triager.model.manifest, limits))
