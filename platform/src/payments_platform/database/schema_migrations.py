"""Schema migrations (Alembic, the revisions in :mod:`payments_platform.migrations`): the
revision this version needs, those a database lacks, applying them, and telling an operator
what to do about a database at another revision.

:meth:`~.transactions.Database.migrate` and :meth:`~.transactions.Database.check_schema` run
these in the database's transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this version needs."""


@dataclass(frozen=True)
class Migration:
    """One schema revision: its id and what it does."""

    revision: str
    description: str


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "payments_platform:migrations")
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The schema revision this version needs."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("no migrations are installed")
    return head


def pending_migrations(current: str | None) -> list[Migration]:
    """The migrations that take a schema at revision ``current`` (None: none at all) to the
    head, oldest first; a revision this version does not know is :class:`SchemaOutOfDate`."""
    scripts = _scripts()
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise SchemaOutOfDate(
            f"the database is at schema revision {current}, which this version does not know"
            f" (it needs {head_revision()}): a newer version of the platform migrated it"
        )
    steps = scripts.iterate_revisions("heads", current or "base")
    return [
        Migration(step.revision, (step.doc or "").strip().rstrip("."))
        for step in reversed(list(steps))
    ]


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision the database ``conn`` is connected to is at; None if it has none."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Apply every pending migration in the transaction ``connection`` is in."""
    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def check_revision(current: str | None, *, missing_file: Path | None, shown_url: str) -> None:
    """Raise :class:`SchemaOutOfDate`, saying what to do, unless ``current`` is the head.

    ``missing_file``: the SQLite file, when it does not exist; ``shown_url``: the database's URL
    without its password.
    """
    head = head_revision()
    if current == head:
        return
    if missing_file is not None:
        raise SchemaOutOfDate(
            f"database file {missing_file} does not exist: run `payments migrate` to create it"
        )
    pending_migrations(current)  # a revision this version does not know says so
    raise SchemaOutOfDate(
        f"database {shown_url} is at schema revision {current or 'none'}, this"
        f" version needs {head}: run `payments migrate`"
    )
