"""Each payment belongs to the merchant whose API key created it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("merchant", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("merchant")
