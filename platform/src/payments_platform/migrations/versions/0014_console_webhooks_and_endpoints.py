"""The console's merchant endpoints: how long a notification delivery's last attempt took, and
an index of the deliveries not delivered.

Deliveries attempted before this revision have no duration: the console says so rather than
guess one. The attention bar counts the deliveries failing by endpoint on every console page:
it read every delivery ever made; it now reads those not delivered.

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

_UNDELIVERED = sa.text("status <> 'delivered'")


def upgrade() -> None:
    op.create_index(
        "ix_notification_deliveries_undelivered",
        "notification_deliveries",
        ["endpoint", "status", "updated_at"],
        postgresql_where=_UNDELIVERED,
        sqlite_where=_UNDELIVERED,
    )
    with op.batch_alter_table("notification_deliveries") as table:
        table.add_column(sa.Column("last_duration_ms", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("notification_deliveries") as table:
        table.drop_column("last_duration_ms")
    op.drop_index("ix_notification_deliveries_undelivered", table_name="notification_deliveries")
