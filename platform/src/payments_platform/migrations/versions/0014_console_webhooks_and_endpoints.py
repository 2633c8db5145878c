"""How long a notification delivery's last attempt took, for the console's merchant
endpoints page. Deliveries attempted before this revision have none: the console says so
rather than guess one.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification_deliveries") as table:
        table.add_column(sa.Column("last_duration_ms", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("notification_deliveries") as table:
        table.drop_column("last_duration_ms")
