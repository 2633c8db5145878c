"""The background task of every process that keeps its routing scores current: every
``refresh_seconds`` it reads the attempts that finished since it last looked (every process's:
they share the table), counted by gateway, segment and outcome, into the score board
(:mod:`payments_platform.scoring`). Nothing of this runs on a request's path.

It starts warm: it first reads the whole window, a minute at a time so that each minute's
outcomes age as they should. It reads up to ``refresh_lag_seconds`` behind the clock, so that an
attempt whose transaction is still committing is read by the next refresh rather than missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from payments_platform.database import Database
from payments_platform.scoring import ScoreBoard
from payments_platform.store import attempt_stats

logger = logging.getLogger(__name__)

WARM_SLICE = timedelta(minutes=1)


class ScoreRefresher:
    """Reads what finished into ``board`` until :meth:`stop`."""

    def __init__(
        self, database: Database, board: ScoreBoard, clock: Callable[[], datetime]
    ) -> None:
        self.database = database
        self.board = board
        self._clock = clock
        self._read_until: datetime | None = None
        self._stopping = asyncio.Event()

    async def refresh(self) -> int:
        """Read what finished since the last read (the whole window the first time); how
        many tallies were added."""
        policy = self.board.policy
        until = self._clock() - timedelta(seconds=policy.refresh_lag_seconds)
        since = self._read_until
        slices: list[tuple[datetime, datetime]] = []
        if since is None:
            since = until - timedelta(seconds=policy.window_seconds)
            start = since
            while start < until:
                end = min(start + WARM_SLICE, until)
                slices.append((start, end))
                start = end
        elif since < until:
            slices.append((since, until))
        added = 0
        for start, end in slices:
            tallies = await self.database.read(
                functools.partial(attempt_stats.tallies, policy=policy, since=start, until=end)
            )
            self.board.add(tallies, end.timestamp())
            added += len(tallies)
        if not slices:
            self.board.add((), until.timestamp())
        self._read_until = until
        return added

    async def warm(self) -> None:
        """Read the whole window before anything is routed; a failed read is logged (routing
        then starts from the prior, and the next refresh reads the window)."""
        try:
            await self.refresh()
        except Exception:
            logger.exception("could not read the attempts that finished; starting cold")

    async def run_forever(self) -> None:
        """Refresh every ``refresh_seconds`` until :meth:`stop` is called; a failed read is
        logged and tried again (the scores then age, and routing leans on the breakers)."""
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except Exception:
                logger.exception("could not read the attempts that finished; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.board.policy.refresh_seconds)

    def stop(self) -> None:
        """Stop after the read under way."""
        self._stopping.set()
