"""Schema migrations (``database/schema_migrations``): which are pending, applying them once,
and what an operator is told about a database at another revision.

``migrations/test_versions.py`` checks what the migrations build; this, how they are chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from payments_platform.database import Database, SchemaOutOfDate, head_revision, pending_migrations
from payments_platform.database.schema_migrations import check_revision

EVERY = pending_migrations(None)
"""Every migration, from an empty database to the head."""


def test_an_empty_database_needs_every_migration_oldest_first_up_to_the_head() -> None:
    config = Config()
    config.set_main_option("script_location", "payments_platform:migrations")
    scripts = ScriptDirectory.from_config(config)
    previous = [None, *(m.revision for m in EVERY[:-1])]
    assert [scripts.get_revision(m.revision).down_revision for m in EVERY] == previous
    assert EVERY[-1].revision == head_revision()
    assert all(m.description and not m.description.endswith(".") for m in EVERY)


@pytest.mark.parametrize("done", range(len(EVERY) + 1))
def test_a_database_part_of_the_way_needs_only_the_rest(done: int) -> None:
    current = EVERY[done - 1].revision if done else None
    assert pending_migrations(current) == EVERY[done:]


def test_a_revision_this_version_does_not_know_was_made_by_a_newer_one() -> None:
    with pytest.raises(SchemaOutOfDate, match="9999, which this version does not know"):
        pending_migrations("9999")


URL = "postgresql+asyncpg://payments:***@db.internal/payments"
HEAD = head_revision()


@pytest.mark.parametrize(
    ("current", "missing_file", "complaint"),
    [
        (
            None,
            Path("/var/lib/payments/payments.db"),
            "database file /var/lib/payments/payments.db does not exist:"
            " run `payments migrate` to create it",
        ),
        (
            None,
            None,
            f"database {URL} is at schema revision none, this version needs {HEAD}:"
            " run `payments migrate`",
        ),
        (
            "0001",
            None,
            f"database {URL} is at schema revision 0001, this version needs {HEAD}:"
            " run `payments migrate`",
        ),
        ("9999", None, "which this version does not know"),
    ],
)
def test_a_database_at_another_revision_is_out_of_date_and_the_operator_told_what_to_do(
    current: str | None, missing_file: Path | None, complaint: str
) -> None:
    with pytest.raises(SchemaOutOfDate) as raised:
        check_revision(current, missing_file=missing_file, shown_url=URL)
    assert complaint in str(raised.value)


def test_a_database_at_the_head_is_up_to_date() -> None:
    check_revision(HEAD, missing_file=None, shown_url=URL)


async def test_migrating_applies_what_is_pending_once_and_says_what(database_url: str) -> None:
    database = Database(database_url, pool_size=0)
    try:
        pending = pending_migrations(await database.schema_revision())
        # A fresh SQLite file has none; PostgreSQL's test databases are cloned migrated.
        assert pending == (EVERY if database.is_sqlite else [])
        assert await database.migrate() == pending
        assert await database.schema_revision() == head_revision()
        assert await database.migrate() == []
        await database.check_schema()
    finally:
        await database.dispose()


async def test_a_missing_sqlite_file_is_not_created_by_looking_at_its_revision(
    tmp_path: Path,
) -> None:
    path = tmp_path / "payments.db"
    database = Database(f"sqlite:///{path}")
    try:
        assert await database.schema_revision() is None
        with pytest.raises(SchemaOutOfDate, match="does not exist"):
            await database.check_schema()
        assert not path.exists()
    finally:
        await database.dispose()


async def test_an_empty_database_is_reported_as_out_of_date(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(SchemaOutOfDate, match="run `payments migrate`"):
            await database.check_schema()
    finally:
        await database.dispose()
