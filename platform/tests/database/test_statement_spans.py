"""A span per SQL statement (``database/statement_spans``): a child of the span that is current,
none outside a recorded one, and an error when the statement fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import sqlite_url
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_platform.database.statement_spans import trace_statements


class Traced:
    """An engine whose statements are traced, and the spans they made."""

    def __init__(self, path: Path) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = provider.get_tracer("test")
        self.engine = sa.create_engine(sqlite_url(path))
        trace_statements(self.engine, "sqlite", tracer=self.tracer)


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    traced = Traced(tmp_path / "payments.db")
    try:
        yield traced
    finally:
        traced.engine.dispose()


def test_each_statement_in_a_recorded_span_is_a_client_span_child_of_it(traced: Traced) -> None:
    with traced.tracer.start_as_current_span("request") as request, traced.engine.connect() as conn:
        conn.execute(sa.text("SELECT :n"), {"n": 4111111111111111})
    [statement] = [s for s in traced.spans.get_finished_spans() if s.name != "request"]
    assert statement.name == "SELECT sqlite"
    assert statement.kind is trace.SpanKind.CLIENT
    assert statement.parent is not None
    assert statement.parent.span_id == request.get_span_context().span_id
    # The statement's text with its placeholders, never the values bound to them.
    assert dict(statement.attributes or {}) == {"db.system": "sqlite", "db.statement": "SELECT ?"}


def test_a_statement_outside_any_recorded_span_makes_none(traced: Traced) -> None:
    """An idle worker polling for jobs would otherwise make a trace of each poll."""
    with traced.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert traced.spans.get_finished_spans() == ()


def test_a_statement_that_fails_ends_its_span_as_an_error(traced: Traced) -> None:
    with (
        traced.tracer.start_as_current_span("request"),
        traced.engine.connect() as conn,
        pytest.raises(sa.exc.OperationalError),
    ):
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    [statement] = [s for s in traced.spans.get_finished_spans() if s.name != "request"]
    assert statement.name == "SELECT sqlite"
    assert statement.status.status_code is trace.StatusCode.ERROR
    assert statement.status.description == "OperationalError"
