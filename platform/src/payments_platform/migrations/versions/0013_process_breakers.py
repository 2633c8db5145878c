"""Every process's circuit breakers, recorded by each process for the console.

A table of its own, one row per process (host, pid, start) and gateway: each process writes
its rows when a breaker changes and every few seconds anyway, and deletes those of processes
no longer heard from. Nothing before this revision is kept about breakers: the table starts
empty and fills as processes of this version start.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "process_breakers",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _Timestamp, nullable=False),
        sa.Column("gateway", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", _Timestamp, nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("window_calls", sa.Integer(), nullable=False),
        sa.Column("window_failures", sa.Integer(), nullable=False),
        sa.Column("reported_at", _Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("host", "pid", "started_at", "gateway", name="pk_process_breakers"),
    )


def downgrade() -> None:
    op.drop_table("process_breakers")
