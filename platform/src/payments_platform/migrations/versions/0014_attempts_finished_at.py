"""Index the attempts by when they finished, for the routing scores' background read.

Every process reads, every few seconds, the attempts that finished since it last looked, to
learn each gateway's success rate; the index keeps that read to what is new.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payment_attempts_finished_at", "payment_attempts", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_finished_at", table_name="payment_attempts")
