"""A client span per SQL statement SQLAlchemy runs, when traces are recorded.

The store's fixed statements, which go to the driver directly, make theirs in
:func:`payments_platform.store.sql.run`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy import event

_tracer = trace.get_tracer("payments_platform.database")


def trace_statements(engine: sa.Engine, system: str, tracer: trace.Tracer = _tracer) -> None:
    """A client span per SQL statement, child of the span that is current.

    A statement outside any recorded span (an idle worker polling for jobs) makes none: it would
    be a trace of its own, hundreds of them a minute, about nothing. Statements carry bound
    parameters, never values, so the text is safe to record.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        _conn: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        if not trace.get_current_span().is_recording():
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        context._payments_span = tracer.start_span(
            f"{verb} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": statement[:2000]},
        )

    @event.listens_for(engine, "after_cursor_execute")
    def _end(*args: Any) -> None:
        span = getattr(args[4], "_payments_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine, "handle_error")
    def _fail(exception_context: sa.engine.ExceptionContext) -> None:
        span = getattr(exception_context.execution_context, "_payments_span", None)
        if span is not None:
            span.set_status(
                trace.Status(
                    trace.StatusCode.ERROR, type(exception_context.original_exception).__name__
                )
            )
            span.end()
