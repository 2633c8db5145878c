"""The jobs page: pending, running and dead jobs with their last errors; a dead job can be run
again, and a payment waiting for its reconcile job can have its gateway asked now. The table
refreshes itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from payments_platform.jobs import Job, JobKind, JobStatus
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_actions import retry_dead_job, retry_dead_jobs
from payments_platform.usecases.operator_reads import jobs_by_status
from payments_platform.web.console.access import CONSOLE, Console
from payments_platform.web.console.notices import notice_of, notice_query
from payments_platform.web.console.rendering import page, partial

SHOWN = 100
"""Rows on a page; the counts above the table are complete, and the pages go on."""


class JobFilter(enum.StrEnum):
    """Which jobs the page lists."""

    OPEN = "open"
    DEAD = "dead"
    PENDING = "pending"
    RUNNING = "running"

    @property
    def statuses(self) -> list[JobStatus]:
        """The job statuses this filter shows."""
        if self is JobFilter.OPEN:
            return [JobStatus.DEAD, JobStatus.RUNNING, JobStatus.PENDING]
        return [JobStatus(self.value)]


@dataclass(frozen=True)
class JobList:
    """A page of the jobs shown, and how many there are of each open status (of the kind
    shown, when one is)."""

    shown: JobFilter
    kind: JobKind | None
    page: int
    jobs: list[Job]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """How many jobs the filter matches."""
        return sum(self.counts.get(status, 0) for status in self.shown.statuses)

    @property
    def first(self) -> int:
        """The position of the page's first row, from 1."""
        return (self.page - 1) * SHOWN + 1

    @property
    def pages(self) -> int:
        """How many pages the filter's jobs take."""
        return max(1, -(-self.total // SHOWN))

    def query(self, **changed: object) -> str:
        """The page's query string, with ``changed`` parameters."""
        given = {"status": self.shown, "kind": self.kind, "page": self.page, **changed}
        return "?" + urlencode({k: v for k, v in given.items() if v not in (None, "", 1)})


async def read_jobs(
    console: Console, shown: JobFilter, kind: JobKind | None = None, page_number: int = 1
) -> JobList:
    """A page of the jobs of ``shown`` (of ``kind`` when given): dead ones first, then
    running, then pending, each the next due first."""
    listed, counts = await jobs_by_status(
        console.deps,
        shown.statuses,
        kinds=None if kind is None else [kind],
        limit=SHOWN,
        offset=(page_number - 1) * SHOWN,
    )
    by_status: dict[str, int] = {}
    for (of_kind, status), count in counts.items():
        if kind is None or of_kind == kind:
            by_status[status] = by_status.get(status, 0) + count
    return JobList(shown=shown, kind=kind, page=page_number, jobs=listed, counts=by_status)


PageNumber = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


@get("/jobs", name="console:jobs")
async def jobs_page(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    status: FromQuery[JobFilter] = JobFilter.OPEN,
    kind: FromQuery[JobKind | None] = None,
    page_number: PageNumber = 1,
    notice: FromQuery[str | None] = None,
    job: FromQuery[int | None] = None,
    retried: FromQuery[int | None] = None,
) -> Template:
    """The jobs page."""
    return page(
        console,
        session,
        "jobs.html",
        title="Jobs",
        section="jobs",
        listing=await read_jobs(console, status, kind, page_number),
        filters=list(JobFilter),
        kinds=list(JobKind),
        notice=notice_of(notice, job=job, retried=retried),
    )


@get("/jobs/table", name="console:jobs-table")
async def jobs_partial(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    status: FromQuery[JobFilter] = JobFilter.OPEN,
    kind: FromQuery[JobKind | None] = None,
    page_number: PageNumber = 1,
) -> Template:
    """The jobs table, as it refreshes itself."""
    listing = await read_jobs(console, status, kind, page_number)
    return partial(console, session, "_jobs.html", listing=listing)


@post("/jobs/retry-dead", name="console:retry-dead-jobs", status_code=303)
async def retry_dead(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    kind: FromQuery[JobKind | None] = None,
) -> Redirect:
    """Run again every dead job (of ``kind``, when given), each recorded in its payment's log
    with the operator's name."""
    revived = await retry_dead_jobs(
        console.deps, session.operator, kinds=None if kind is None else [kind]
    )
    query = urlencode({"notice": "retried_many", "retried": revived, "status": JobFilter.DEAD})
    if kind is not None:
        query += f"&kind={kind}"
    return Redirect(f"{CONSOLE}/jobs?{query}", status_code=303)


@post("/jobs/{job_id:int}/retry", name="console:retry-job", status_code=303)
async def retry_job(
    job_id: FromPath[int],
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    status: FromQuery[JobFilter] = JobFilter.OPEN,
) -> Redirect:
    """Run a dead job again (its payment's log records who asked)."""
    result = await retry_dead_job(console.deps, job_id, session.operator)
    query = notice_query(result.outcome, job=job_id) + f"&status={status}"
    return Redirect(f"{CONSOLE}/jobs{query}", status_code=303)
