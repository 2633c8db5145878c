"""Payments carry the client's metadata and description; indexes for listing them.

The indexes list a merchant's payments newest first, all or by status, and find one by its
external id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column("metadata", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(sa.Column("description", sa.Text()))
    op.create_index(
        "ix_payments_merchant_created_at_id", "payments", ["merchant", "created_at", "id"]
    )
    op.create_index(
        "ix_payments_merchant_status_created_at_id",
        "payments",
        ["merchant", "status", "created_at", "id"],
    )
    op.create_index("ix_payments_external_id", "payments", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_external_id", "payments")
    op.drop_index("ix_payments_merchant_status_created_at_id", "payments")
    op.drop_index("ix_payments_merchant_created_at_id", "payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("description")
        batch.drop_column("metadata")
