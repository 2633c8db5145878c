"""Console sessions bound to their operator's password; failed sign-ins per name and address.

A session now stores an HMAC of its operator's password hash, keyed with its token, and ends
when the configured hash no longer matches (the operator was removed, or its password changed).
Sessions opened before this revision have none, so nothing could tell whether their operator
still exists with the same password: they are ended, and their operators sign in again once.

Failed sign-ins were counted per operator name (``operator:<name>``), which let anyone lock a
name out everywhere; they are now counted per name from one address
(``operator:<name>@<address>``) and per address, as before. The per-name counts are dropped:
nothing reads them any more, and no lock-out they hold should outlive the upgrade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuilt_on_sqlite() -> Literal["always", "auto"]:
    # SQLite cannot add a NOT NULL column without a default in place: the table is rebuilt.
    return "always" if op.get_bind().dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    op.execute("DELETE FROM operator_sessions")
    op.execute(
        "DELETE FROM sign_in_failures"
        " WHERE subject LIKE 'operator:%' AND subject NOT LIKE '%@%'"
    )
    with op.batch_alter_table("operator_sessions", recreate=_rebuilt_on_sqlite()) as batch:
        batch.add_column(sa.Column("credentials_hmac", sa.String(64), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("operator_sessions", recreate=_rebuilt_on_sqlite()) as batch:
        batch.drop_column("credentials_hmac")
