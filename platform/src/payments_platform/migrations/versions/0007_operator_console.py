"""The operator's console: sessions, failed sign-ins, and two indexes for its pages.

Operator sessions and failed sign-ins are shared by every process. The overview reads the last
hour of attempts by their start time; a search finds payments by their client's id whatever the
merchant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operator_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(40), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _Timestamp, nullable=False),
        sa.Column("last_seen_at", _Timestamp, nullable=False),
        sa.Column("expires_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_operator_sessions"),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", _Timestamp, nullable=False),
        sa.Column("locked_until", _Timestamp),
        sa.PrimaryKeyConstraint("subject", name="pk_sign_in_failures"),
    )
    op.create_index("ix_payment_attempts_started_at", "payment_attempts", ["started_at"])
    op.create_index("ix_payments_client_id", "payments", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_client_id", table_name="payments")
    op.drop_index("ix_payment_attempts_started_at", table_name="payment_attempts")
    op.drop_table("sign_in_failures")
    op.drop_table("operator_sessions")
