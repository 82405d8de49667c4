"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text

from gateway.retry import STORAGE_ERRORS
from gateway.store.models import OutboxItem

router = APIRouter(include_in_schema=False)

OUTBOX_STATUSES = ("pending", "sending", "sent", "dead")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it answers). Says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready to take traffic: the database answers."""
    gateway = request.app.state.gateway
    try:
        async with gateway.session_factory() as session:
            await session.execute(text("SELECT 1"))
    except STORAGE_ERRORS:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "channels": sorted(gateway.channels)})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    gateway = request.app.state.gateway
    async with gateway.session_factory() as session:
        counts = dict(
            (await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all()
        )
    for status in OUTBOX_STATUSES:
        gateway.metrics.outbox_depth.labels(status=status).set(counts.get(status, 0))
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
