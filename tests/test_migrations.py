"""The migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from payments_platform.database import Database, SchemaOutOfDate
from payments_platform.schema import metadata


async def test_migrations_match_the_declared_tables_and_checking_the_schema_passes(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=0)
    try:
        await database.migrate()
        await database.check_schema()
        differences = await database.read(
            lambda conn: compare_metadata(MigrationContext.configure(conn), metadata)
        )
        assert differences == []
    finally:
        await database.dispose()


async def test_an_empty_database_is_reported_as_out_of_date(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(SchemaOutOfDate, match="run `payments migrate`"):
            await database.check_schema()
    finally:
        await database.dispose()
