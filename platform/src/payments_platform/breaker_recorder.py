"""The recorder: writes this process's circuit breakers to the database, so that the console of
any process shows them (:mod:`payments_platform.process_breakers`).

It runs beside the workers, off every request's path: once a second it reads the breakers in
memory, and writes them (one transaction, a row per gateway) only when one changed state or
counted another failure in a row, or when :data:`~payments_platform.process_breakers.HEARD_EVERY`
has passed since it last wrote; with that regular write it deletes the rows of processes gone
silent. On a quiet deployment that is a write every ten seconds per process; during an outage,
at most one a second. A process that stops deletes its own rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import sqlalchemy as sa

from payments_platform.database import Database
from payments_platform.process_breakers import (
    CHECK_SECONDS,
    DROPPED_AFTER,
    HEARD_EVERY,
    ProcessBreakers,
    changes,
)
from payments_platform.store import process_breakers

logger = logging.getLogger(__name__)


class BreakerRecorder:
    """Records one process's breakers until :meth:`stop` is called."""

    def __init__(
        self, database: Database, breakers: ProcessBreakers, *, check_seconds: float = CHECK_SECONDS
    ) -> None:
        self.database = database
        self.breakers = breakers
        self.check_seconds = check_seconds
        self._recorded: list[tuple[object, ...]] | None = None
        self._recorded_at: datetime | None = None
        self._failing = False
        self._stopping = asyncio.Event()

    async def record_if_due(self) -> bool:
        """Write the breakers if one changed since the last write, or the last is
        :data:`HEARD_EVERY` old; return whether it wrote."""
        reports = self.breakers.reports()
        if not reports:
            return False
        now = reports[0].reported_at
        changed = [changes(report) for report in reports]
        regular = self._recorded_at is None or now - self._recorded_at >= HEARD_EVERY
        if changed == self._recorded and not regular:
            return False

        def write(conn: sa.Connection) -> None:
            process_breakers.record(conn, reports)
            if regular:
                process_breakers.forget_silent(conn, before=now - DROPPED_AFTER)

        await self.database.write(write)
        self._recorded, self._recorded_at = list(changed), now
        return True

    async def run_forever(self) -> None:
        """Record every :attr:`check_seconds` until stopped; then delete this process's rows."""
        while not self._stopping.is_set():
            try:
                await self.record_if_due()
            except Exception:
                # The database is out of reach, say: said once, tried again each second.
                if not self._failing:
                    logger.warning("could not record this process's breakers", exc_info=True)
                self._failing = True
            else:
                if self._failing:
                    logger.info("this process's breakers are recorded again")
                self._failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.check_seconds)
        try:
            await self.database.write(
                lambda conn: process_breakers.forget_process(conn, self.breakers.process)
            )
        except Exception:
            logger.warning(
                "could not delete this process's breakers; they show as stale, then go",
                exc_info=True,
            )

    def stop(self) -> None:
        """Stop recording (:meth:`run_forever` then deletes this process's rows and returns)."""
        self._stopping.set()
