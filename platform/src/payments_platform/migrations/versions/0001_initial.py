"""The payments, attempts, refunds and events tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("gateway", sa.String(40)),
        sa.Column("external_id", sa.String(255)),
        sa.Column("refund_claimed_minor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= refund_claimed_minor"
            " AND refund_claimed_minor <= amount_minor",
            name="ck_payments_refunds_within_amount",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("gateway", "external_id", name="uq_payments_gateway_external_id"),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", _Serial, autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("gateway", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("external_id", sa.String(255)),
        sa.Column("started_at", _Timestamp, nullable=False),
        sa.Column("finished_at", _Timestamp),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_payment_attempts_payment_id_payments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_attempts"),
    )
    op.create_index("ix_payment_attempts_payment_id", "payment_attempts", ["payment_id"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("gateway", sa.String(40), nullable=False),
        sa.Column("external_refund_id", sa.String(255)),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_table(
        "payment_events",
        sa.Column("id", _Serial, autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.Uuid()),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24)),
        sa.Column("gateway", sa.String(40)),
        sa.Column("accepted", sa.Boolean()),
        sa.Column("reason", sa.Text()),
        sa.Column("body_sha256", sa.String(64)),
        sa.Column("detail", sa.JSON()),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
    )
    op.create_index("ix_payment_events_payment_id", "payment_events", ["payment_id"])


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_table("refunds")
    op.drop_table("payment_attempts")
    op.drop_table("payments")
