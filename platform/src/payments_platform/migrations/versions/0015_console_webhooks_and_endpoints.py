"""Index the webhooks vendors sent and the deliveries per endpoint; time each delivery.

For the console's webhooks and merchant endpoints pages: an index of the webhooks vendors sent,
two of the deliveries (each endpoint's, newest first; those not delivered), and how long a
delivery's last attempt took.

A webhook is the one event stored with the SHA-256 of a body (``webhook``, ``webhook_replayed``,
and ``recovered`` when a webhook reported it): the first index holds those only. The last holds
the deliveries not delivered, which the attention bar counts by endpoint on every page: it read
every delivery ever made before. Deliveries attempted before this revision have no duration; the
console says so rather than guess one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECEIVED = sa.text("body_sha256 IS NOT NULL")
_UNDELIVERED = sa.text("status <> 'delivered'")


def upgrade() -> None:
    op.create_index(
        "ix_payment_events_received",
        "payment_events",
        ["created_at", "id", "gateway", "accepted"],
        postgresql_where=_RECEIVED,
        sqlite_where=_RECEIVED,
    )
    op.create_index(
        "ix_notification_deliveries_endpoint_id", "notification_deliveries", ["endpoint", "id"]
    )
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
    op.drop_index("ix_notification_deliveries_endpoint_id", table_name="notification_deliveries")
    op.drop_index("ix_payment_events_received", table_name="payment_events")
