"""Merchant notifications: events, their deliveries, and the jobs that make them.

An event per status a payment or refund reaches, one delivery per endpoint that wants it,
delivered by ``notify`` jobs of the outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("merchant", sa.String(64)),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "payment_id", "sequence", name="uq_notifications_payment_id_sequence"
        ),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", _Serial, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.String(40), nullable=False),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", _Timestamp),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_deliveries_notification_id_notifications",
        ),
        sa.UniqueConstraint(
            "notification_id",
            "endpoint",
            name="uq_notification_deliveries_notification_id_endpoint",
        ),
    )
    op.create_index(
        "ix_notification_deliveries_endpoint_status",
        "notification_deliveries",
        ["endpoint", "status"],
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("delivery_id", sa.BigInteger()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("delivery_id")
    op.drop_index("ix_notification_deliveries_endpoint_status", "notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notifications_created_at", "notifications")
    op.drop_table("notifications")
