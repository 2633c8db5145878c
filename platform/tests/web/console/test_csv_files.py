"""CSV files the console writes (``web/console/csv_files``): cells a spreadsheet will not run,
times in UTC, lines as RFC 4180 has them. Pure."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from payments_platform.lifecycle import PaymentStatus
from payments_platform.web.console.csv_files import cell, csv_lines, utc_text


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("https://evil.example")', '\'=HYPERLINK("https://evil.example")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Order = 42", "Order = 42"),
        (" =1", " =1"),
        ("12.50", "12.50"),
        ("", ""),
        (None, ""),
        (PaymentStatus.PAID, "paid"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text(
    value: object, written: str
) -> None:
    assert cell(value) == written


def test_a_time_is_written_in_utc_to_the_microsecond_every_one_the_same_width() -> None:
    dubai = timezone(timedelta(hours=4))

    assert utc_text(datetime(2026, 12, 1, 13, 0, tzinfo=dubai)) == "2026-12-01T09:00:00.000000Z"
    assert cell(datetime(2026, 12, 1, 9, 0, 0, 5, tzinfo=UTC)) == "2026-12-01T09:00:00.000005Z"


def test_lines_quote_what_needs_quoting_and_end_in_crlf() -> None:
    written = csv_lines([["a,b", 'say "hi"', "two\nlines", None], ["=1", 2, "x", "y"]])

    assert written.endswith(b"\r\n")
    assert list(csv.reader(io.StringIO(written.decode()))) == [
        ["a,b", 'say "hi"', "two\nlines", ""],
        ["'=1", "2", "x", "y"],
    ]
