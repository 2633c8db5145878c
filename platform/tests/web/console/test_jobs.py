"""The jobs page (``web/console/jobs``): a dead job listed with its error, and its retry
recorded in the payment's log."""

from __future__ import annotations

import html
import re
import uuid

import sqlalchemy as sa
from console_app import T0, ConsoleFactory, store_payment
from payments_platform import jobs, schema
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.usecases import initiate
from payments_plugins import Amount, GatewayUnavailable
from scripted import new_script


async def test_the_jobs_page_lists_a_dead_job_and_its_retry_is_in_the_payments_log(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    async with open_console(
        {"gw": name}, payments={"dispatch": "queue"}, worker={"enabled": False, "max_attempts": 1}
    ) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.runtime.worker().run_once()
        await console.sign_in()

        dead = (await console.get("/console/jobs?status=dead")).text
        job_id = re.search(r'data-job="(\d+)" data-status="dead"', dead)
        assert job_id is not None, dead
        assert "no gateway could be reached" in dead
        retried = await console.act(f"/console/jobs/{job_id[1]}/retry?status=dead")
        listing = (await console.get(retried.headers["location"])).text
        timeline = (await console.get(f"/console/payments/{payment_id}")).text

    assert f"Job {job_id[1]} will run again." in listing
    assert "operator alice: retry_job" in timeline


async def test_jobs_are_paged_filtered_by_kind_and_the_dead_retried_at_once(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        ids = [await store_payment(console, minutes=n) for n in range(130)]

        def write(conn: sa.Connection) -> None:
            for n, payment_id in enumerate(ids):
                kind = JobKind.EXPIRE if n < 120 else JobKind.RECONCILE
                job = jobs.enqueue(conn, kind, payment_id, now=T0, max_attempts=1)
                conn.execute(
                    sa.update(schema.jobs)
                    .where(schema.jobs.c.id == job)
                    .values(status=JobStatus.DEAD, last_error=f"failure {n}")
                )

        await console.runtime.database.write(write)
        await console.sign_in()

        first = (await console.get("/console/jobs?status=dead")).text
        second = (await console.get("/console/jobs?status=dead&page=2")).text
        reconcile = (await console.get("/console/jobs?status=dead&kind=reconcile")).text
        retried = await console.act("/console/jobs/retry-dead?kind=expire")
        assert retried.status_code == 303, retried.text
        after = (await console.get(retried.headers["location"])).text
        left = (await console.get("/console/jobs?status=dead")).text
        timeline = (await console.get(f"/console/payments/{ids[0]}")).text

    on_first, on_second = _shown(first), _shown(second)
    assert (len(on_first), len(on_second)) == (100, 30)
    assert not set(on_first) & set(on_second)
    assert "1 to 100 of 130 shown" in _words(first)
    assert 'rel="next"' in first
    assert "101 to 130 of 130 shown" in _words(second)
    assert len(_shown(reconcile)) == 10
    assert "10 dead, 0 running, 0 pending reconcile jobs" in _words(reconcile)
    assert "120 dead job(s) will run again" in _words(html.unescape(after))
    assert len(_shown(left)) == 10  # the reconcile jobs only
    assert "operator alice: retry_job" in timeline


def _shown(page: str) -> list[str]:
    return re.findall(r'data-job="(\d+)" data-status="dead"', page)


def _words(page: str) -> str:
    return " ".join(page.split())


async def test_a_page_or_kind_that_is_none_is_refused_on_a_page_saying_so(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        answers = [
            await console.get(f"/console/jobs?{query}")
            for query in ("page=0", "page=x", "kind=bogus", "page=100001")
        ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("text/html")
