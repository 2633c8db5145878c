"""Tracing (``telemetry``) is configured from the standard ``OTEL_*`` variables only."""

from __future__ import annotations

import pytest
from payments_platform.telemetry import TelemetryError, configure_tracing


def test_tracing_is_configured_from_otel_variables_only() -> None:
    assert configure_tracing({}) is None
    assert configure_tracing({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert (
        configure_tracing({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}) is None
    )
    with pytest.raises(TelemetryError, match="'zipkin' is not supported"):
        configure_tracing({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(TelemetryError, match="grpc"):
        configure_tracing({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
