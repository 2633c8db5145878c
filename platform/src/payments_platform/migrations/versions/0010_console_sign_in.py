"""The console's sessions are bound to the credentials they were opened with.

A session now stores an HMAC of its operator's password hash, keyed with its token, and ends
when the configured hash no longer matches (the operator was removed, or its password changed).
Sessions opened before this revision have none, so nothing could tell whether their operator
still exists with the same password: they are ended, and their operators sign in again once.

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
    with op.batch_alter_table("operator_sessions", recreate=_rebuilt_on_sqlite()) as batch:
        batch.add_column(sa.Column("credentials_hmac", sa.String(64), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("operator_sessions", recreate=_rebuilt_on_sqlite()) as batch:
        batch.drop_column("credentials_hmac")
