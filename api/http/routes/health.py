"""Liveness, readiness and metrics."""

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api.http.deps import ServicesDep
from api.http.errors import error_response
from api.http.responses import ErrorEnvelope
from storage.gauges import read_gauges

router = APIRouter()
log = logging.getLogger("baton.health")


class Liveness(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok`: the process serves requests.")


class Readiness(BaseModel):
    status: Literal["ready"] = Field(description="Always `ready`: the database answers.")


@router.get(
    "/healthz",
    operation_id="checkLiveness",
    summary="Liveness probe",
    tags=["health"],
    response_model=Liveness,
    response_description="The process is up.",
)
async def healthz() -> Liveness:
    """Answers 200 while the process serves requests, whatever the database does: for a
    process manager's or an orchestrator's liveness probe. No API key needed."""
    return Liveness(status="ok")


@router.get(
    "/readyz",
    operation_id="checkReadiness",
    summary="Readiness probe",
    tags=["health"],
    response_model=Readiness,
    response_description="Ready to serve: the database answers.",
    responses={
        503: {"model": ErrorEnvelope, "description": "`unavailable`: the database does not answer."}
    },
)
async def readyz(svc: ServicesDep) -> JSONResponse:
    """Answers 200 when the database answers, **503** `unavailable` when it does not: for a
    load balancer's or an orchestrator's readiness probe. No API key needed."""
    try:
        await svc.db.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        log.warning("not ready: %s", type(exc).__name__)
        return error_response(503, "unavailable", "the database is not reachable")
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics",
    tags=["metrics"],
    response_class=Response,
    responses={200: {"description": "The metrics.", "content": {"text/plain": {}}}},
)
async def metrics(svc: ServicesDep) -> Response:
    """This process's metrics (`baton_…`) in Prometheus' text format, the gauges read
    from the database as it is asked. No API key needed: keep it on a network only your
    monitoring reaches."""
    svc.metrics.show(await read_gauges(svc.db), svc.db.clock.now())
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
