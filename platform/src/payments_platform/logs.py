"""Structured logs: one event per line (JSON when not on a terminal), carrying the payment id
and the trace id, with secrets and card-like numbers removed before anything is written."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

import msgspec
from opentelemetry import trace

payment_in_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "payment_in_context", default=None
)
incoming_trace_parent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "incoming_trace_parent", default=None
)
"""The ``traceparent`` header of the request being served, kept when no span records it
(tracing off), so that log lines still carry the caller's trace id."""


REDACTED = "[redacted]"
# 13 to 19 digits, optionally grouped by single spaces or dashes: the shape of a card number.
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_MIN_SECRET_LENGTH = 6


@contextmanager
def payment_logged(payment_id: object) -> Iterator[None]:
    """Tag every log event inside the block with ``payment_id``."""
    token = payment_in_context.set(str(payment_id))
    try:
        yield
    finally:
        payment_in_context.reset(token)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class Redactor:
    """Removes configured secrets and card numbers from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is removed whole.
        self.secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(self, text: str) -> str:
        """The text with every secret and card-like number replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _CARD_LIKE.sub(self._card, text)

    @staticmethod
    def _card(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[card redacted]" if _luhn_valid(digits) else match.group()


class EventFormatter(logging.Formatter):
    """One event per line: JSON, or ``time level logger [payment] message`` on a terminal."""

    def __init__(self, redactor: Redactor, *, as_json: bool) -> None:
        super().__init__()
        self.redactor = redactor
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        """Render one record, redacted."""
        message = self.redactor(record.getMessage())
        error = self.redactor(self.formatException(record.exc_info)) if record.exc_info else None
        payment_id = payment_in_context.get()
        span = trace.get_current_span().get_span_context()
        trace_id = span_id = None
        if span.is_valid:
            trace_id, span_id = f"{span.trace_id:032x}", f"{span.span_id:016x}"
        else:
            trace_id, span_id = _ids_of(incoming_trace_parent.get())
        if self.as_json:
            event: dict[str, object] = {
                "time": _iso_time(record.created),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": message,
            }
            if payment_id:
                event["payment_id"] = payment_id
            if trace_id:
                event["trace_id"] = trace_id
                event["span_id"] = span_id
            if error:
                event["error"] = error
            return _JSON.encode(event).decode()
        context = f" [payment {payment_id}]" if payment_id else ""
        when = datetime.fromtimestamp(record.created, UTC)
        line = f"{when:%H:%M:%S} {record.levelname:<7} {record.name}{context}: {message}"
        return f"{line}\n{error}" if error else line


_JSON = msgspec.json.Encoder()

_second: tuple[int, str] = (-1, "")


def _iso_time(created: float) -> str:
    """``created`` as ISO 8601 UTC with milliseconds; the part down to the second is made once
    per second (the access log writes a line for every request)."""
    global _second  # noqa: PLW0603 - a cache of one entry
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}+00:00"


def _ids_of(trace_parent: str | None) -> tuple[str | None, str | None]:
    """The trace and parent span ids of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``),
    or None twice when it is missing or not one."""
    if trace_parent is None or len(trace_parent) < 55 or trace_parent[2] != "-":
        return None, None
    trace_id, span_id = trace_parent[3:35].lower(), trace_parent[36:52].lower()
    if not _HEX.fullmatch(trace_id + span_id) or not trace_id.strip("0") or not span_id.strip("0"):
        return None, None
    return trace_id, span_id


_HEX = re.compile(r"[0-9a-f]+")


def configure_logging(
    secrets: Iterable[str] = (),
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
    as_json: bool | None = None,
) -> None:
    """Send every logger's events through one redacting handler on ``stream`` (stderr)."""
    stream = stream or sys.stderr
    if as_json is None:
        as_json = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EventFormatter(Redactor(secrets), as_json=as_json))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # One INFO line per vendor call duplicates the client span and costs the event loop.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The platform reports the migrations it applies; alembic's INFO lines say it again, with
    # details of its own (the DDL mode) that only debugging needs.
    logging.getLogger("alembic").setLevel(level if level <= logging.DEBUG else logging.WARNING)
    # Each record costs less without the caller's file and line, the thread and the process,
    # which no line shows (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would bypass redaction; its events go through ours.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
