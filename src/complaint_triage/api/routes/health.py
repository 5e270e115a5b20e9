"""Open operational routes: liveness, readiness and Prometheus metrics (no API key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from complaint_triage.api.deps import ApiJSONResponse, MetricsDep
from complaint_triage.api.metrics import CONTENT_TYPE
from complaint_triage.api.schemas import Health, Readiness

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness",
    description="200 while the process serves HTTP (稼働確認). Does not look at the model.",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> ApiJSONResponse:
    return ApiJSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    description="200 once the model is loaded and warmed up (受付可能), 503 otherwise: also while a scoring "
    "process (scoring_process) is dead, being restarted or not answering.",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ready", "model_version": "m-43b276026d"}}}},
        503: {"model": Readiness, "description": "The model is not loaded, or its scoring process does not answer.",
              "content": {"application/json": {"example": {"status": "not_ready", "model_version": None}}}},
    },
)
async def readyz(request: Request) -> ApiJSONResponse:
    scorer = getattr(request.app.state, "scorer", None)
    if scorer is None or not await scorer.answering():
        return ApiJSONResponse({"status": "not_ready", "model_version": None}, status_code=503)
    return ApiJSONResponse({"status": "ready", "model_version": scorer.version})


# HEAD for load balancers' health checks: the same status, no body (left out of the OpenAPI
# document, where a second operation on the same function would repeat its operation id)
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Request counts and latency histograms by route and status, verdict counts (判定件数), "
    "in-flight and rejected scoring requests, in the Prometheus text format.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {
        "schema": {"type": "string"},
        "example": 'complaint_triage_verdicts_total{verdict="complaint"} 12.0\n',
    }}}},
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)
