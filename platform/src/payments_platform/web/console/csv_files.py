"""What an operator downloads as CSV (RFC 4180, UTF-8): rows written a page at a time as the
pages are read, never the whole file in memory, each cell safe to open in a spreadsheet.

Much of what a file holds was written by someone else (a client's description, a vendor's id,
a reason quoting a vendor's error), and a spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula (and some also after a tab or a carriage return): such a cell gets
a leading apostrophe, which spreadsheets take as "text" (programs reading the file see it).
Times are UTC, ISO 8601, to the microsecond.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from litestar.response import Stream

T = TypeVar("T")

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a cell may not start with as it was written."""


def cell(value: object) -> str:
    """A value as a cell: nothing for None, a time in UTC, text a spreadsheet will not run."""
    if value is None:
        return ""
    text = utc_text(value) if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def utc_text(moment: datetime) -> str:
    """``2026-12-01T09:00:00.000000Z``: a time in UTC, ISO 8601, every one the same width."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"


def csv_lines(rows: Iterable[Sequence[object]]) -> bytes:
    """``rows`` as CSV lines, each cell through :func:`cell`."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerows([cell(value) for value in row] for row in rows)
    return text.getvalue().encode()


async def csv_body(
    header: Sequence[str],
    first: list[T],
    rest: AsyncIterator[list[T]],
    row: Callable[[T], Sequence[object]],
) -> AsyncIterator[bytes]:
    """The file: its header, then a chunk per page of records (the first one already read,
    the others as they come)."""
    yield csv_lines([header])
    if first:
        yield csv_lines(row(record) for record in first)
    async for page in rest:
        yield csv_lines(row(record) for record in page)


def csv_download(name: str, body: AsyncIterator[bytes]) -> Stream:
    """A streamed CSV answer that browsers save as the file ``name``."""
    return Stream(
        body,
        media_type="text/csv",  # the framework adds its charset, utf-8
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
