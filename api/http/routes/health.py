"""Liveness, readiness and metrics."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.http.deps import ServicesDep
from api.http.errors import ErrorEnvelope, error_response
from storage.gauges import read_gauges

router = APIRouter(tags=["operations"])
log = logging.getLogger("baton.health")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorEnvelope}})
async def readyz(svc: ServicesDep) -> JSONResponse:
    """The database answers."""
    try:
        await svc.db.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        log.warning("not ready: %s", type(exc).__name__)
        return error_response(503, "unavailable", "the database is not reachable")
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response)
async def metrics(svc: ServicesDep) -> Response:
    """Prometheus metrics."""
    svc.metrics.show(await read_gauges(svc.db), svc.db.clock.now())
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
