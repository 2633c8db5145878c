"""SQLite transactions on threads (``database/sqlite_threads``): reads, and migrations, which
may break foreign keys on the way as long as they hold at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import another_process_may_write, sqlite_url
from payments_platform.database.sqlite_connections import prepare_sqlite
from payments_platform.database.sqlite_threads import thread_transaction

_PARENT = sa.Table("parent", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
_CHILD = sa.Table(
    "child",
    _PARENT.metadata,
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id"), nullable=False),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite engine set up as the platform's, with one pooled connection: each transaction
    gets the connection the one before it used."""
    engine = sa.create_engine(sqlite_url(tmp_path / "payments.db"), pool_size=1, max_overflow=0)
    prepare_sqlite(engine)
    with engine.begin() as conn:
        _PARENT.metadata.create_all(conn)
    try:
        yield engine
    finally:
        engine.dispose()


def _children(engine: sa.Engine) -> list[int]:
    rows, _ = thread_transaction(
        engine, lambda conn: list(conn.execute(sa.select(_CHILD.c.parent_id)).scalars()), False
    )
    return rows


def test_a_migration_may_break_foreign_keys_on_the_way_if_they_hold_at_the_end(
    engine: sa.Engine,
) -> None:
    """As SQLite rebuilding a table does: the rows that point at it are checked at the end."""

    def child_first(conn: sa.Connection) -> None:
        conn.execute(_CHILD.insert().values(parent_id=1))
        conn.execute(_PARENT.insert().values(id=1))

    thread_transaction(engine, child_first, True, foreign_keys=False)
    assert _children(engine) == [1]


def test_a_migration_that_leaves_a_row_naming_a_missing_parent_is_rolled_back(
    engine: sa.Engine,
) -> None:
    with pytest.raises(RuntimeError, match="the migration broke foreign keys"):
        thread_transaction(
            engine, lambda conn: conn.execute(_CHILD.insert().values(parent_id=1)), True, False
        )
    assert _children(engine) == []


def _orphan(conn: sa.Connection) -> None:
    conn.execute(_CHILD.insert().values(parent_id=2))


def _fine(conn: sa.Connection) -> None:
    conn.execute(_PARENT.insert().values(id=3))


@pytest.mark.parametrize("migration", [_fine, _orphan])
def test_after_a_migration_its_connection_checks_foreign_keys_again(
    engine: sa.Engine, migration: Callable[[sa.Connection], None]
) -> None:
    """Whether the migration committed or was rolled back (for the row it left): a pooled
    connection that kept foreign keys off would let any later transaction leave orphans."""
    with contextlib.suppress(RuntimeError):
        thread_transaction(engine, migration, True, foreign_keys=False)
    with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
        thread_transaction(engine, _orphan, True)


def test_a_read_on_the_connection_a_write_used_leaves_the_database_lock_free(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A pooled connection left marked as writing would begin every later read IMMEDIATE, and
    hold up every writer while it reads."""
    thread_transaction(engine, _fine, True)

    def others_may_write(conn: sa.Connection) -> bool:
        conn.execute(sa.select(_PARENT.c.id)).all()
        return another_process_may_write(tmp_path / "payments.db")

    assert thread_transaction(engine, others_may_write, False)[0]
    assert not thread_transaction(engine, others_may_write, True)[0]
