"""The jobs page (``web/console/jobs``): a dead job listed with its error, and its retry
recorded in the payment's log."""

from __future__ import annotations

import re
import uuid

from console_app import ConsoleFactory
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
