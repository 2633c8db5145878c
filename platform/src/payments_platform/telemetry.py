"""Traces and metrics.

Tracing is the OpenTelemetry SDK configured only from the standard ``OTEL_*`` variables:
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or ``none``, the default here: nothing is sent
anywhere unless an operator says where), ``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_SDK_DISABLED``. Metrics are
Prometheus collectors served at ``/metrics``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

DEFAULT_SERVICE_NAME = "payments-platform"

PAYMENT_OUTCOMES = Counter(
    "payments_outcomes",
    "Payments reaching a status, by gateway, currency and status",
    ["gateway", "currency", "outcome"],
)
GATEWAY_CALL_SECONDS = Histogram(
    "payments_gateway_call_seconds",
    "Duration of calls to gateways, by gateway, operation and outcome",
    ["gateway", "operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LATE_GATEWAY_ANSWERS = Counter(
    "payments_gateway_late_answers",
    "Gateway calls that ignored their cancellation at the deadline and ended later, by gateway"
    " and operation",
    ["gateway", "operation"],
)
SOFT_DECLINES = Counter(
    "payments_soft_declines",
    "Payments a gateway declined softly (the payer may succeed elsewhere), by that gateway and"
    " what followed: retried (offered to the next candidate), budget_spent"
    " (routing.soft_decline_attempts used up), no_candidate (no other gateway left),"
    " not_pending (the payment had moved on meanwhile); all but retried end declined",
    ["gateway", "result"],
)
PAYMENTS_RECOVERED = Counter(
    "payments_recovered",
    "Payments a vendor reported paid after the platform had given up on them, by gateway and"
    " the status they were in; held: moved to paid; elsewhere: another gateway holds the payment",
    ["gateway", "from_status", "result"],
)
WEBHOOKS_REFUSED = Counter(
    "payments_webhooks_refused",
    "Vendor webhooks refused, by the webhook route's gateway and the reason: invalid-webhook (bad"
    " signature or body), payment-not-found, transition-not-allowed",
    ["gateway", "reason"],
)
BREAKER_STATE = Gauge(
    "payments_breaker_state",
    "Circuit breaker of each gateway in this process: 0 closed, 1 half-open, 2 open",
    ["gateway"],
    # Several server processes (`serve --workers`): one series per live process (label pid).
    multiprocess_mode="liveall",
)
GATEWAY_SCORE = Gauge(
    "payments_gateway_score",
    "Success rate each gateway is routed by (the adaptive strategy), per currency, learned from"
    " every process's attempts",
    ["gateway", "currency"],
    # The same in every process (they read one table): whichever answers the scrape says it.
    multiprocess_mode="mostrecent",
)
JOBS = Gauge(
    "payments_jobs",
    "Jobs waiting, running or dead, by kind",
    ["kind", "status"],
    # Counted in the database at each scrape, by whichever process answers it.
    multiprocess_mode="mostrecent",
)

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""Set (by ``payments serve --workers N``) before the server processes start: each keeps its
metrics in files there, and ``/metrics`` adds up those of every process."""


def metrics_registry() -> CollectorRegistry:
    """What ``/metrics`` serves: this process's metrics, or every server process's when several
    share the port (``PROMETHEUS_MULTIPROC_DIR`` set)."""
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class TelemetryError(ValueError):
    """The ``OTEL_*`` variables ask for something this installation cannot do."""


def configure_tracing(environ: Mapping[str, str]) -> TracerProvider | None:
    """Install the SDK's tracer provider as the variables describe.

    Returns None, leaving the API's no-op tracer in place (spans then cost next to nothing),
    when the SDK is disabled or no exporter is named.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = environ.get("OTEL_TRACES_EXPORTER", "none").lower().split(",")
    names = [name.strip() for name in exporters if name.strip() not in ("", "none")]
    if not names:
        return None
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            protocol = environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol != "http/protobuf":
                raise TelemetryError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not installed; use http/protobuf"
                )
            # Imported only when asked for: it brings protobuf and requests with it.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise TelemetryError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported: use otlp, console or none"
            )
    trace.set_tracer_provider(provider)
    return provider


def tracing_enabled() -> bool:
    """Whether spans are recorded: an SDK tracer provider is installed (see
    :func:`configure_tracing`)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_trace_parent() -> str | None:
    """The W3C ``traceparent`` of the current span, to link work done later to it."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def links_to(trace_parent: str | None) -> list[Link]:
    """A link to the span a ``traceparent`` names (the request that enqueued a job)."""
    if not trace_parent:
        return []
    context = TraceContextTextMapPropagator().extract({"traceparent": trace_parent})
    span_context = trace.get_current_span(context).get_span_context()
    return [Link(span_context)] if span_context.is_valid else []


@contextmanager
def gateway_call_timer(gateway: str, operation: str) -> Iterator[dict[str, str]]:
    """Time one gateway call; the caller sets ``outcome`` in the yielded mapping."""
    labels = {"outcome": "error"}
    started = time.perf_counter()
    try:
        yield labels
    finally:
        GATEWAY_CALL_SECONDS.labels(gateway, operation, labels["outcome"]).observe(
            time.perf_counter() - started
        )


HTTP_PREFIX = "payments_http"
HTTP_APP_NAME = "payments"
_HTTP_LABELS = ("method", "path", "status_code", "app_name")
HTTP_REQUESTS = Counter(f"{HTTP_PREFIX}_requests_total", "Total requests", _HTTP_LABELS)
HTTP_REQUEST_SECONDS = Histogram(
    f"{HTTP_PREFIX}_request_duration_seconds", "Request duration, in seconds", _HTTP_LABELS
)
HTTP_IN_PROGRESS = Gauge(
    f"{HTTP_PREFIX}_requests_in_progress",
    "Total requests currently in progress",
    _HTTP_LABELS,
    multiprocess_mode="livesum",
)
HTTP_ERRORS = Counter(
    f"{HTTP_PREFIX}_requests_error_total", "Total errors in requests", _HTTP_LABELS
)
