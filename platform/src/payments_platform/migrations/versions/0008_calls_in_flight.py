"""Calls in flight guard themselves: the sweep's partial indexes, and each call's trace.

A gateway call (an attempt, or a refund sent) used to be written with a guard job, deleted when
the call's answer was recorded. The worker now finds calls left without an answer through these
indexes, which hold only the calls in flight, and writes the job then, linked to the trace of
the request that made the call.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_FLIGHT_ATTEMPT = sa.text("outcome = 'in_flight'")
_IN_FLIGHT_REFUND = sa.text("status = 'pending' AND sent_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(sa.Column("trace_parent", sa.String(64)))
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("trace_parent", sa.String(64)))
    op.create_index(
        "ix_payment_attempts_in_flight",
        "payment_attempts",
        ["started_at"],
        postgresql_where=_IN_FLIGHT_ATTEMPT,
        sqlite_where=_IN_FLIGHT_ATTEMPT,
    )
    op.create_index(
        "ix_refunds_in_flight",
        "refunds",
        ["sent_at"],
        postgresql_where=_IN_FLIGHT_REFUND,
        sqlite_where=_IN_FLIGHT_REFUND,
    )


def downgrade() -> None:
    op.drop_index("ix_refunds_in_flight", table_name="refunds")
    op.drop_index("ix_payment_attempts_in_flight", table_name="payment_attempts")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("trace_parent")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_column("trace_parent")
