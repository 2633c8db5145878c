"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.plugins import PluginProtocol
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.types import ControllerRouterHandler, Scope

from payments_platform import errors
from payments_platform.breaker_recorder import BreakerRecorder
from payments_platform.cursors import CursorSeal
from payments_platform.runtime import Runtime
from payments_platform.score_refresh import ScoreRefresher
from payments_platform.telemetry import tracing_enabled
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.web import captures, operations, payments, refunds, webhooks
from payments_platform.web.console import ConsolePlugin
from payments_platform.web.guards import client_merchant, require_client_key
from payments_platform.web.metrics import HttpMetrics
from payments_platform.web.openapi import (
    BEARER_AUTH,
    document_deployment,
    openapi_config,
    swagger_asset,
)
from payments_platform.web.problems import on_http_exception, on_payment_problem, on_unexpected
from payments_platform.web.simulators import mount
from payments_platform.worker import Worker

logger = logging.getLogger(__name__)


def create_app(
    runtime: Runtime,
    *,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    record_breakers: bool = True,
) -> Litestar:
    """Build the application around a runtime; its lifespan runs the worker (when enabled),
    the recorder of this process's breakers and the routing scores' refresh, and closes the
    runtime.

    The database schema must be current already (``payments migrate``, or the CLI does it).
    ``extra_routes`` are served beside the API's (the benchmark's baseline route).
    ``record_breakers=False`` leaves the breakers unrecorded, for an app whose lifespan runs on
    another event loop than its requests (a test client), where the recorder's writes would
    share the database's connections across loops.
    """
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        workers = runtime.workers() if settings.worker.enabled else []
        recorder = runtime.breaker_recorder() if record_breakers else None
        refresher = runtime.score_refresher()
        # Warm before the first request: routing starts from what every process learned.
        await refresher.warm()
        running: list[Worker | BreakerRecorder | ScoreRefresher] = [
            *workers,
            *([recorder] if recorder else []),
            refresher,
        ]
        tasks = [asyncio.create_task(each.run_forever()) for each in running]
        try:
            yield
        finally:
            # Requests in flight have finished by now; let started jobs end, release the rest.
            for each in running:
                each.stop()
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=settings.worker.shutdown_grace_seconds)
                if late:
                    logger.warning("a worker did not stop in time; its leases will expire")
            await runtime.aclose()

    protected = runtime.keyring is not None

    def the_cursors() -> CursorSeal:
        return runtime.cursors

    client_routes = Router(
        path="/",
        route_handlers=[
            payments.init_payment,
            refunds.refund,
            captures.capture,
            payments.list_payments,
            payments.get_payment,
            payments.cancel,
        ],
        guards=[require_client_key],
        dependencies={
            "merchant": Provide(client_merchant, sync_to_thread=False),
            "cursors": Provide(the_cursors, use_cache=True, sync_to_thread=False),
        },
        # Documented only when it is enforced: an open demo says so.
        security=[{BEARER_AUTH: []}] if protected else None,
    )
    deps = runtime.deps
    traced = tracing_enabled()

    def the_dependencies() -> Dependencies:
        return deps

    app = Litestar(
        route_handlers=[
            client_routes,
            webhooks.webhook,
            operations.health,
            operations.ready,
            operations.metrics,
            operations.favicon,
            swagger_asset,
            *(mount(path, simulator) for path, simulator in runtime.simulators.items()),
            *extra_routes,
        ],
        state=State({"runtime": runtime}),
        dependencies={"deps": Provide(the_dependencies, use_cache=True, sync_to_thread=False)},
        lifespan=[lifespan],
        plugins=[
            ProblemDetailsPlugin(),
            *_tracing_plugins(),
            # The operator's console at /console, when operators are configured.
            ConsolePlugin(runtime),
        ],
        # Litestar's PrometheusMiddleware cost a fifth of the bare route; this one records the
        # same series by route template for a few microseconds.
        middleware=[DefineMiddleware(HttpMetrics, exclude=["/metrics"], traced=traced)],
        exception_handlers={
            errors.PaymentProblem: on_payment_problem,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
        request_max_body_size=settings.server.max_body_bytes,
        # Logging is configured by the process (payments_platform.logs), not by the framework.
        logging_config=None,
        openapi_config=openapi_config(protected=protected),
        debug=False,
    )
    currencies = {c for route in deps.routing.routes for c in route.currencies}
    document_deployment(app, protected=protected, currencies=currencies)
    return app


def _tracing_plugins() -> list[PluginProtocol]:
    """OpenTelemetry's server spans, only when spans are recorded (an exporter is configured).

    With no exporter its middleware still built a no-op span, its attributes and the context
    of every request: half of what a bare route costs. Untraced, log lines take the trace id
    from the request's ``traceparent`` header instead (``HttpMetrics``).
    """
    if not tracing_enabled():
        return []
    return [OpenTelemetryPlugin(OpenTelemetryConfig(scope_span_details_extractor=_span_details))]


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Name a server span by its method alone until routing knows the template (``HttpMetrics``).

    The default names it by the raw path, one span name per payment id and per path a scanner
    makes up, which no trace backend can group. The path is in the span's attributes still.
    """
    return str(scope.get("method", "")).strip(), {}
