"""Client ids are idempotency keys per merchant, kept beside the platform's own ids.

Payments and refunds keep the id the client gave beside the platform's own, which is the
reference gateways get. Existing rows keep their id, which was the client's, as both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("client_id", sa.Uuid()))
    op.execute("UPDATE payments SET client_id = id")
    with op.batch_alter_table("payments") as batch:
        batch.alter_column("client_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_unique_constraint(
            "uq_payments_merchant_client_id", ["merchant", "client_id"]
        )

    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("merchant", sa.String(64)))
        batch.add_column(sa.Column("client_refund_id", sa.Uuid()))
    op.execute(
        "UPDATE refunds SET client_refund_id = id,"
        " merchant = (SELECT merchant FROM payments WHERE payments.id = refunds.payment_id)"
    )
    with op.batch_alter_table("refunds") as batch:
        batch.alter_column("client_refund_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_unique_constraint(
            "uq_refunds_merchant_client_refund_id", ["merchant", "client_refund_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint("uq_refunds_merchant_client_refund_id", type_="unique")
        batch.drop_column("client_refund_id")
        batch.drop_column("merchant")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("uq_payments_merchant_client_id", type_="unique")
        batch.drop_column("client_id")
