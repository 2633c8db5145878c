"""The store's fixture: ``in_transaction`` runs a test's body in one write transaction of the
platform's database, migrated, on the test's backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from payments_platform.database import Database

from store.payment_rows import InTransaction


@pytest.fixture
async def in_transaction(database_url: str) -> AsyncIterator[InTransaction]:
    """Run a test's body in one write transaction of the platform's database."""
    database = Database(database_url)
    await database.migrate()

    async def run(body: Callable[[sa.Connection], None]) -> None:
        await database.write(body)

    try:
        yield run
    finally:
        await database.dispose()
