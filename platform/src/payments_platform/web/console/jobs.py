"""The jobs page: pending, running and dead jobs with their last errors; a dead job can be run
again, and a payment waiting for its reconcile job can have its gateway asked now. The table
refreshes itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from payments_platform.jobs import Job, JobStatus
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_actions import retry_dead_job
from payments_platform.usecases.operator_reads import jobs_by_status
from payments_platform.web.console.access import CONSOLE, Console
from payments_platform.web.console.notices import notice_of, notice_query
from payments_platform.web.console.rendering import page, partial

SHOWN = 200
"""Rows on the page at most; the counts above the table are complete."""


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
    """The jobs shown, and how many there are of each open status."""

    shown: JobFilter
    jobs: list[Job]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """How many jobs the filter matches."""
        return sum(self.counts.get(status, 0) for status in self.shown.statuses)


async def read_jobs(console: Console, shown: JobFilter) -> JobList:
    """The jobs of ``shown``: dead ones first, then running, then pending, each the next due
    first."""

    listed, counts = await jobs_by_status(console.deps, shown.statuses, limit=SHOWN)
    by_status: dict[str, int] = {}
    for (_kind, status), count in counts.items():
        by_status[status] = by_status.get(status, 0) + count
    return JobList(shown=shown, jobs=listed, counts=by_status)


@get("/jobs", name="console:jobs")
async def jobs_page(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    status: FromQuery[JobFilter] = JobFilter.OPEN,
    notice: FromQuery[str | None] = None,
    job: FromQuery[int | None] = None,
) -> Template:
    """The jobs page."""
    return page(
        console,
        session,
        "jobs.html",
        title="Jobs",
        section="jobs",
        listing=await read_jobs(console, status),
        filters=list(JobFilter),
        notice=notice_of(notice, job=job),
    )


@get("/jobs/table", name="console:jobs-table")
async def jobs_partial(
    console: NamedDependency[Console],
    session: NamedDependency[OperatorSession],
    status: FromQuery[JobFilter] = JobFilter.OPEN,
) -> Template:
    """The jobs table, as it refreshes itself."""
    return partial(console, session, "_jobs.html", listing=await read_jobs(console, status))


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
