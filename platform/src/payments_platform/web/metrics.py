"""The HTTP metrics middleware: each request counted and timed by route template."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE

from payments_platform.logs import incoming_trace_parent
from payments_platform.telemetry import (
    HTTP_APP_NAME,
    HTTP_ERRORS,
    HTTP_IN_PROGRESS,
    HTTP_REQUEST_SECONDS,
    HTTP_REQUESTS,
)

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """ASGI middleware counting and timing each HTTP request by route template and status.

    The same series, names and labels as Litestar's ``PrometheusMiddleware`` with
    ``group_path=True`` (dashboards need no change), at a fraction of its cost: no request
    object, no label dictionaries, and each series' child looked up once and kept.

    ``traced`` says whether OpenTelemetry's middleware made a server span of the request. It
    did so before routing, naming the span by the raw path (one name per payment id); here,
    after routing, the span gets its route template as name and ``http.route``. Untraced, the
    request's ``traceparent`` is kept for the log lines instead.
    """

    def __init__(self, app: ASGIApp, *, exclude: Iterable[str] = (), traced: bool = False) -> None:
        self.app = app
        self.exclude = frozenset(exclude)
        self.traced = traced
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._in_progress: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the app, then count and time it."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path_template") or scope["path"]
        if path in self.exclude:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        if self.traced:
            span = trace.get_current_span()
            span.update_name(f"{method} {path}")
            span.set_attribute(HTTP_ROUTE, path)
        else:
            for name, value in scope["headers"]:
                if name == b"traceparent":
                    incoming_trace_parent.set(value.decode("latin-1"))
                    break
        started = time.perf_counter()
        answered = [500, started]

        async def observed_send(message: Message) -> None:
            event: Mapping[str, Any] = message
            kind = event["type"]
            if kind == "http.response.start":
                answered[0] = event["status"]
            elif kind == "http.response.body" and not event.get("more_body", False):
                answered[1] = time.perf_counter()
            await send(message)

        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            in_progress = self._in_progress[method, path] = HTTP_IN_PROGRESS.labels(
                method, path, 200, HTTP_APP_NAME
            )
        in_progress.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            in_progress.dec()
            status = int(answered[0])
            series = self._series.get((method, path, status))
            if series is None:
                labels = (method, path, status, HTTP_APP_NAME)
                series = self._series[method, path, status] = (
                    HTTP_REQUESTS.labels(*labels),
                    HTTP_REQUEST_SECONDS.labels(*labels),
                    HTTP_ERRORS.labels(*labels) if status >= 500 else None,
                )
            requests, seconds, errors = series
            requests.inc()
            ended = answered[1] if answered[1] != started else time.perf_counter()
            seconds.observe(ended - started)
            if errors is not None:
                errors.inc()
