"""The jobs outbox; unmatched webhooks kept for replay; when a refund was sent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _Serial, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("refund_id", sa.Uuid()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", _Timestamp, nullable=False),
        sa.Column("locked_by", sa.String(64)),
        sa.Column("locked_until", _Timestamp),
        sa.Column("last_error", sa.Text()),
        sa.Column("trace_parent", sa.String(64)),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("updated_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"])
    op.create_index("ix_jobs_payment_id", "jobs", ["payment_id"])
    with op.batch_alter_table("payment_events") as batch:
        batch.add_column(sa.Column("external_id", sa.String(255)))
    op.create_index(
        "ix_payment_events_unmatched",
        "payment_events",
        ["gateway", "external_id"],
        postgresql_where=sa.text("payment_id IS NULL"),
        sqlite_where=sa.text("payment_id IS NULL"),
    )
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("sent_at", _Timestamp))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("sent_at")
    op.drop_index("ix_payment_events_unmatched", table_name="payment_events")
    with op.batch_alter_table("payment_events") as batch:
        batch.drop_column("external_id")
    op.drop_table("jobs")
