"""The routes for operators and their monitoring: ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from prometheus_client import generate_latest

from payments_platform import jobs
from payments_platform.scoring import CURRENCY_ONLY
from payments_platform.telemetry import (
    BREAKER_STATE,
    BREAKER_VALUES,
    GATEWAY_SCORE,
    JOBS,
    metrics_registry,
)
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.operator_reads import open_job_counts
from payments_platform.web.examples import example
from payments_platform.web.views import Health


@get("/health", operation_id="health", tags=["operations"], summary="Liveness")
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@get(
    "/ready",
    operation_id="ready",
    tags=["operations"],
    summary="Readiness: the database answers and gateways are built",
    responses={
        503: ResponseSpec(
            Health,
            description="Not ready",
            generate_examples=False,
            examples=[
                example(
                    "database down",
                    {
                        "status": "not ready",
                        "checks": {"database": "unreachable: OSError", "gateways": "2 built"},
                    },
                )
            ],
        )
    },
)
async def ready(deps: NamedDependency[Dependencies]) -> Response[Health]:
    """Whether this process can serve payments."""
    checks: dict[str, str] = {}
    try:
        await deps.database.ping()
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unreachable: {type(error.__cause__ or error).__name__}"
    checks["gateways"] = f"{len(deps.gateways)} built" if deps.gateways else "none enabled"
    ok = checks["database"] == "ok" and bool(deps.gateways)
    return Response(
        Health(status="ready" if ok else "not ready", checks=checks),
        status_code=200 if ok else 503,
    )


METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format, as every Prometheus (and its strict parsers) reads
it: one media type, each parameter once."""


@get(
    "/metrics",
    operation_id="metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    media_type=METRICS_MEDIA_TYPE,
)
async def metrics(deps: NamedDependency[Dependencies]) -> Response[bytes]:
    """HTTP, payment, gateway-call, breaker and job metrics in the Prometheus text format."""
    for route in deps.routing.routes:
        BREAKER_STATE.labels(route.name).set(BREAKER_VALUES[route.breaker.state])
    # Per currency only: a metadata segment could make a series per value a merchant sends.
    for (gateway, segment), score in deps.routing.scores.scores().items():
        if segment.band == CURRENCY_ONLY:
            GATEWAY_SCORE.labels(gateway, segment.currency).set(score.rate)
    counts = await open_job_counts(deps)
    # Every kind and open status, 0 when there is none: with several server processes sharing
    # their metrics (serve --workers), a series left out would keep its last count.
    for kind in jobs.JobKind:
        for status in (jobs.JobStatus.PENDING, jobs.JobStatus.RUNNING, jobs.JobStatus.DEAD):
            JOBS.labels(kind, status).set(counts.get((kind, status), 0))
    # Set as a header: as a media type, Litestar would append a second charset.
    return Response(
        generate_latest(metrics_registry()),
        media_type=METRICS_MEDIA_TYPE,
        headers={"Content-Type": METRICS_MEDIA_TYPE},
    )


# The platform's mark: a browser asks every origin for it, and a 404 on every page is noise in
# an operator's (and a payer's) browser console.
_ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#1f4e79"/>'
    b'<path d="M5 4h4a2.5 2.5 0 0 1 0 5H7v3H5z" fill="#fff"/></svg>'
)


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response[bytes]:
    """The platform's icon, for browsers."""
    return Response(
        _ICON,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
