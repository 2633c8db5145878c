"""Authorize now, capture later: a payment's capture mode, amounts, and its captures.

The capture mode of a payment, what its vendor authorized and what was captured of it, and the
captures themselves.

A payment made before this revision was taken with automatic capture: it is ``automatic``, and
one its payer paid (paid, partially refunded or refunded) has its whole amount authorized and
captured, so that it reads and refunds as before (refunds take only what was captured).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("payments") as table:
        table.add_column(
            sa.Column("capture_mode", sa.String(16), nullable=False, server_default="automatic")
        )
        table.add_column(
            sa.Column("authorized_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        table.add_column(
            sa.Column("capture_claimed_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        table.add_column(
            sa.Column("captured_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("authorization_expires_at", _Timestamp))
    op.execute(
        "UPDATE payments SET authorized_minor = amount_minor, capture_claimed_minor = amount_minor,"
        " captured_minor = amount_minor"
        " WHERE status IN ('paid', 'partially_refunded', 'refunded')"
    )
    with op.batch_alter_table("jobs") as table:
        table.add_column(sa.Column("capture_id", sa.Uuid()))
    op.create_table(
        "captures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("merchant", sa.String(64)),
        sa.Column("client_capture_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("gateway", sa.String(40), nullable=False),
        sa.Column("external_capture_id", sa.String(255)),
        sa.Column("sent_at", _Timestamp),
        sa.Column("trace_parent", sa.String(64)),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_captures_amount_positive"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_captures_payment_id_payments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_captures"),
        sa.UniqueConstraint(
            "merchant", "client_capture_id", name="uq_captures_merchant_client_capture_id"
        ),
    )
    op.create_index("ix_captures_payment_id", "captures", ["payment_id"])
    op.create_index(
        "ix_captures_in_flight",
        "captures",
        ["sent_at"],
        postgresql_where=sa.text("status = 'pending' AND sent_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'pending' AND sent_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_captures_in_flight", table_name="captures")
    op.drop_index("ix_captures_payment_id", table_name="captures")
    op.drop_table("captures")
    with op.batch_alter_table("jobs") as table:
        table.drop_column("capture_id")
    with op.batch_alter_table("payments") as table:
        table.drop_column("authorization_expires_at")
        table.drop_column("captured_minor")
        table.drop_column("capture_claimed_minor")
        table.drop_column("authorized_minor")
        table.drop_column("capture_mode")
