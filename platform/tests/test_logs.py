"""Logs (``logs``): one JSON line per event with the payment and the trace, plain lines on a
terminal, and no secret or card number in either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from payments_platform.logs import EventFormatter, Redactor, configure_logging, payment_logged


@pytest.fixture(autouse=True)
def _levels_put_back() -> Iterator[None]:
    """``configure_logging`` sets the levels of the whole process's loggers: each test here
    puts them back, so that a test run after it in the same process captures what it expects
    (pytest's own handlers, added and removed around each test, are left to pytest)."""
    loggers = [logging.getLogger(name) for name in ("", "httpx", "alembic")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("secret is whsec_abcdef here", "secret is [redacted] here"),
        ("card 4111 1111 1111 1111 used", "card [card redacted] used"),
        ("card 4111-1111-1111-1111", "card [card redacted]"),
        ("card 4111111111111111", "card [card redacted]"),
        ("order 4111111111111112 is not a card", "order 4111111111111112 is not a card"),
        ("uuid 6b77a7bc-0bee-49ab-bbb0-70d5245a20f7", "uuid 6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"),
        ("amount 99999", "amount 99999"),
    ],
)
def test_the_redactor_removes_secrets_and_card_numbers(text: str, expected: str) -> None:
    assert Redactor(["whsec_abcdef", "short"])(text) == expected


@pytest.mark.usefixtures("_tracer_provider")
def test_log_events_are_one_json_line_with_the_payment_and_trace() -> None:
    stream = io.StringIO()
    configure_logging(["hunter2hunter2"], stream=stream, as_json=True)
    try:
        log = logging.getLogger("payments.test")
        with (
            trace.get_tracer("t").start_as_current_span("outer") as span,
            payment_logged("6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"),
        ):
            log.info("paid with hunter2hunter2\nand more")
        [line] = stream.getvalue().splitlines()
        event = json.loads(line)
        assert event["message"] == "paid with [redacted]\nand more"
        assert event["payment_id"] == "6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"
        assert event["trace_id"] == f"{span.get_span_context().trace_id:032x}"
        assert event["level"] == "info"
    finally:
        logging.getLogger().handlers.clear()


def test_on_a_terminal_events_are_plain_lines() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    assert EventFormatter(Redactor(), as_json=False).format(record).endswith("WARNING x: hello you")
