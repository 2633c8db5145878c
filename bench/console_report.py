"""The console bench's results: each page's times, the CSV files', the target judged per page,
the tables and a smoke run's verdict."""

from __future__ import annotations

import msgspec

from bench.report import Target, columns, verdict

PAGE_TARGET_MS = 500.0
"""The issue's target: server time per page, with 100,000 payments stored."""
OK = 200


class PageFigure(msgspec.Struct, frozen=True, kw_only=True):
    """One console page, asked for ``requests`` times after its warm-up."""

    key: str
    label: str
    path: str
    statuses: list[int]
    """The status of each timed answer."""
    bytes: int
    """The largest answer's body."""
    server_ms_p50: float | None
    """The median of the server's own times (``Server-Timing``); None if it gave none."""
    server_ms_max: float | None
    client_ms_p50: float
    """Request to the answer's last byte, over loopback."""
    client_ms_max: float
    cpu_ms: float
    """The server's CPU over the timed requests, per request (its idle job worker included)."""
    requests: int


class ExportFigure(msgspec.Struct, frozen=True, kw_only=True):
    """A CSV file, downloaded once."""

    key: str
    label: str
    path: str
    status: int
    rows: int
    bytes: int
    seconds: float
    """From the request to the file's last byte."""
    first_page_ms: float | None
    """The server's time to the start of the answer (the first page read), ``Server-Timing``."""
    cpu_seconds: float


class ConsoleReport(msgspec.Struct, kw_only=True):
    """Everything one run of the console bench found."""

    started_at: str
    seconds: float
    machine: dict[str, str]
    settings: dict[str, str]
    stored: dict[str, int]
    """Rows of each table once the history was written."""
    seeding_seconds: float
    idle_cpu_ms_per_second: float
    """The server's CPU while nobody asked it anything (its job worker polling)."""
    pages: list[PageFigure]
    exports: list[ExportFigure]
    targets: list[Target] = msgspec.field(default_factory=list)
    smoke_problems: list[str] | None = None
    """A smoke run's verdict: every answer that was not a 200, empty if none; None for a
    measured run."""


def met(page: PageFigure) -> bool:
    """Whether the page met its target: its median server time within
    :data:`PAGE_TARGET_MS`, and every answer a 200."""
    time = page.server_ms_p50
    return (
        time is not None
        and time <= PAGE_TARGET_MS
        and bool(page.statuses)
        and all(status == OK for status in page.statuses)
    )


def evaluate(report: ConsoleReport) -> list[Target]:
    """The target of every page (:func:`met`)."""
    backend = report.settings.get("database", "?")
    stored = report.stored.get("payments", 0)
    return [
        Target(
            name=f"{page.label} ({backend}, {stored:,} payments)",
            goal=f"server time <= {PAGE_TARGET_MS:,.0f} ms",
            measured="no Server-Timing"
            if page.server_ms_p50 is None
            else f"{page.server_ms_p50:,.1f} ms (p50)",
            met=met(page),
        )
        for page in report.pages
    ]


def smoke_problems(report: ConsoleReport) -> list[str]:
    """What went wrong in a smoke run: every page or file that answered other than 200, or
    not at all."""
    problems = []
    for page in report.pages:
        wrong = [status for status in page.statuses if status != OK]
        if not page.statuses:
            problems.append(f"{page.label} ({page.path}): not asked for")
        elif wrong:
            problems.append(f"{page.label} ({page.path}): answered {wrong[0]}, not 200")
    for export in report.exports:
        if export.status != OK:
            problems.append(f"{export.label} ({export.path}): answered {export.status}, not 200")
    return problems


PAGE_HEADER = (
    "page",
    "server p50 ms",
    "server max ms",
    "client p50 ms",
    "CPU ms",
    "KB",
    "<= 500 ms",
)
EXPORT_HEADER = ("CSV file", "rows", "MB", "total s", "first page ms", "CPU s", "status")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_table(report: ConsoleReport) -> str:
    """The pages' table and the CSV files'."""
    rows = [
        (
            page.label,
            _ms(page.server_ms_p50),
            _ms(page.server_ms_max),
            _ms(page.client_ms_p50),
            f"{page.cpu_ms:,.1f}",
            f"{page.bytes / 1024:,.1f}",
            verdict(met(page))
            if report.targets
            else ",".join(sorted({str(status) for status in page.statuses})),
        )
        for page in report.pages
    ]
    header = PAGE_HEADER if report.targets else (*PAGE_HEADER[:-1], "status")
    lines = [columns(header, rows)]
    if report.exports:
        export_rows = [
            (
                export.label,
                f"{export.rows:,}",
                f"{export.bytes / 2**20:,.1f}",
                f"{export.seconds:,.2f}",
                _ms(export.first_page_ms),
                f"{export.cpu_seconds:,.2f}",
                str(export.status),
            )
            for export in report.exports
        ]
        lines += ["", columns(EXPORT_HEADER, export_rows)]
    return "\n".join(lines)
