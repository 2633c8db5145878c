"""The worker: claims due jobs from the outbox and runs them, retrying with backoff.

A job that raises is put back with exponential backoff and jitter; after its last attempt it is
parked as ``dead``. A job whose worker died is claimed again once its lease has run out, and one
whose last attempt never finished is dead rather than run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta

import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.config import WorkerSettings
from payments_platform.database import Database
from payments_platform.jobs import Job, JobKind, JobStatus, RetryLater

logger = logging.getLogger(__name__)


def backoff_delay(attempts: int, settings: WorkerSettings, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential, capped, with jitter.

    Half the delay is fixed and half random, so retries spread out without ever coming back
    sooner than half the exponential step.
    """
    step = min(settings.backoff_max_seconds, settings.backoff_seconds * 2.0 ** max(0, attempts - 1))
    return step / 2 + rng.uniform(0, step / 2)


JobHandler = Callable[[Job], Awaitable[None]]
Sweep = Callable[[sa.Connection, datetime], object]
"""Work a worker does in its claim transaction before it claims: writing the jobs that
:func:`jobs.guard_calls_in_flight` finds due, say."""


def default_worker_id() -> str:
    """Host, process and a random suffix: unique across restarts and machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims due jobs and runs them through ``handler``, which raises to ask for a retry."""

    def __init__(
        self,
        database: Database,
        handler: JobHandler,
        settings: WorkerSettings,
        clock: Callable[[], datetime],
        *,
        kinds: Collection[JobKind] = tuple(JobKind),
        worker_id: str | None = None,
        rng: random.Random | None = None,
        sweep: Sweep | None = None,
    ) -> None:
        self.database = database
        self.handler = handler
        self.settings = settings
        self.kinds = tuple(kinds)
        self.worker_id = worker_id or default_worker_id()
        self._now = clock
        # Jitter only spreads retries out; it needs no cryptographic strength.
        self._rng = rng or random.Random()  # noqa: S311
        self._stopping = asyncio.Event()
        self._waiting: set[int] = set()
        self._sweep = sweep

    async def run_once(self) -> int:
        """Claim one batch of due jobs and run it to the end; return how many were claimed."""
        now = self._now()

        def claim(conn: sa.Connection) -> list[Job]:
            if self._sweep is not None:
                self._sweep(conn, now)
            return jobs.claim(
                conn,
                worker_id=self.worker_id,
                now=now,
                lease_seconds=self.settings.lease_seconds,
                limit=self.settings.batch,
                kinds=self.kinds,
            )

        claimed = await self.database.write(claim)
        if not claimed:
            return 0
        self._waiting.update(job.id for job in claimed)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def run(job: Job) -> None:
            async with limit:
                if self._stopping.is_set():
                    return
                self._waiting.discard(job.id)
                await self._run(job)

        try:
            await asyncio.gather(*(run(job) for job in claimed))
        finally:
            unstarted = [job.id for job in claimed if job.id in self._waiting]
            self._waiting.difference_update(unstarted)
            if unstarted:
                await self.database.write(
                    lambda conn: jobs.release(conn, self.worker_id, unstarted)
                )
        return len(claimed)

    async def _run(self, job: Job) -> None:
        if job.attempts > job.max_attempts:
            # Its last run never finished (the worker died under it): do not run it again.
            await self._finish(job, JobStatus.DEAD, "the last attempt's lease ran out")
            return
        try:
            await self.handler(job)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            retry = error if isinstance(error, RetryLater) else None
            if retry is None:
                logger.exception("job %s (%s) failed", job.id, job.kind)
            elif not retry.spend_attempt:
                await self._finish(
                    job, JobStatus.PENDING, reason, retry.retry_in or 0.0, unspent=True
                )
                return
            if job.is_last_attempt:
                logger.warning(
                    "job %s (%s) is dead after %d attempts", job.id, job.kind, job.attempts
                )
                await self._finish(job, JobStatus.DEAD, reason)
            else:
                delay = backoff_delay(job.attempts, self.settings, self._rng)
                if retry is not None and retry.retry_in is not None:
                    delay = retry.retry_in
                await self._finish(job, JobStatus.PENDING, reason, delay)
            return
        await self._finish(job, JobStatus.DONE, None)

    async def _finish(
        self,
        job: Job,
        status: JobStatus,
        error: str | None,
        delay: float = 0.0,
        *,
        unspent: bool = False,
    ) -> None:
        now = self._now()
        values: dict[str, object] = {"status": status, "last_error": error}
        if status is JobStatus.PENDING:
            values["run_at"] = now + timedelta(seconds=delay)
        if unspent:
            values["attempts"] = job.attempts - 1
        await self.database.write(
            lambda conn: jobs.finish(conn, job, self.worker_id, now, **values)
        )

    async def run_forever(self) -> None:
        """Poll for jobs until :meth:`stop` is called."""
        logger.info("worker %s started", self.worker_id)
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                logger.exception("worker %s could not claim jobs; retrying", self.worker_id)
                claimed = 0
            if claimed < self.settings.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.poll_seconds)
        logger.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        """Stop claiming; jobs already started finish, claimed ones not started are released."""
        self._stopping.set()
