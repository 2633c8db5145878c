"""``payments jobs`` shows what is pending and dead, and revives a dead job."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from core_fixtures import OPEN, RuntimeFactory
from payments_platform.jobs import JobStatus
from payments_platform.usecases import initiate, reads
from payments_plugins import Amount, GatewayUnavailable
from runtime_steps import job_rows
from scripted import new_script

from .server_process import payments, write_config


def payments_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return payments(*args, "--config", str(config))


async def test_jobs_lists_a_dead_job_with_its_error_and_retry_revives_it(
    scripted_runtime: RuntimeFactory, database_url: str, tmp_path: Path
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    async with scripted_runtime(
        {"gw": name}, payments={"dispatch": "queue"}, worker={"max_attempts": 1}
    ) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, Amount(500, "AED"))
        await runtime.worker().run_once()
    config = write_config(
        tmp_path / "jobs.toml", {"database": {"url": database_url}, "security": OPEN}
    )

    listing = payments_cli(config, "jobs")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    [row] = [line for line in lines if str(payment_id) in line]
    job_id = row.split()[0]
    assert row.split()[1:4] == ["initiate", JobStatus.DEAD, "1/1"]
    assert "last error: RetryLater: no gateway could be reached in 1 attempts" in listing.stdout

    retried = payments_cli(config, "jobs", "retry", job_id)
    assert retried.returncode == 0, retried.stderr
    assert f"job {job_id} will run again" in retried.stdout
    again = payments_cli(config, "jobs", "retry", job_id)
    assert again.returncode == 1
    assert f"job {job_id} is pending, not dead: nothing to retry" in again.stderr
    listing = payments_cli(config, "jobs")
    [row] = [line for line in listing.stdout.splitlines() if str(payment_id) in line]
    assert row.split()[1:4] == ["initiate", JobStatus.PENDING, "0/1"]


async def test_a_retry_from_the_command_line_is_recorded_with_its_operator(
    scripted_runtime: RuntimeFactory, database_url: str, tmp_path: Path
) -> None:
    """``payments jobs retry`` revived a dead job directly and recorded nothing, while the
    console's retry recorded the operator: both go through the same use case now, and the
    payment's log names who did it (``--as NAME``, else the system user)."""
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    async with scripted_runtime(
        {"gw": name}, payments={"dispatch": "queue"}, worker={"max_attempts": 1}
    ) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, Amount(500, "AED"))
        await runtime.worker().run_once()
        [job] = [job for job in await job_rows(runtime) if job.status is JobStatus.DEAD]
        config = write_config(
            tmp_path / "jobs.toml", {"database": {"url": database_url}, "security": OPEN}
        )

        retried = payments_cli(config, "jobs", "retry", str(job.id), "--as", "alice")

        assert retried.returncode == 0, retried.stderr
        assert "recorded as done by alice" in retried.stdout
        history = await reads.payment_history(runtime.deps, payment_id)
        [action] = [event for event in history.events if event.kind == "operator_action"]
        assert action.detail == {
            "operator": "alice",
            "action": "retry_job",
            "job_id": job.id,
            "job": "initiate",
            "via": "command line",
        }
        assert (action.reason or "").startswith("alice retried dead initiate job")


def test_jobs_retry_help_says_who_is_recorded() -> None:
    shown = payments("jobs", "retry", "--help")
    assert shown.returncode == 0
    assert "--as NAME" in shown.stdout
    assert "system user" in shown.stdout


def test_jobs_retry_refuses_a_name_the_log_cannot_hold() -> None:
    refused = payments("jobs", "retry", "1", "--as", "x" * 65)
    assert refused.returncode == 2
    assert "use 1-64 printable characters" in refused.stderr
