"""The vendor's books are the truth about money: what the platform decided on its own is marked.

A payment the platform expired at its age limit, while its vendor still reported it waiting,
was stored like one the vendor expired. The two differ now: a vendor that later reports the
payment paid moves the first to ``paid`` (it took the money), and is refused for the second (it
contradicts its own word). Payments expired before this revision are told apart by the event
that expired them, and marked ``age-limit``.

Payments recovered that way are listed for operators through their ``recovered`` event, and the
webhooks refused in the last hour are counted for them by gateway and reason.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECOVERED = sa.text("kind = 'recovered'")


def upgrade() -> None:
    op.execute(
        "UPDATE payments SET failure_code = 'age-limit'"
        " WHERE status = 'expired' AND failure_code IS NULL AND EXISTS ("
        "SELECT 1 FROM payment_events e WHERE e.payment_id = payments.id"
        " AND e.kind = 'status_changed' AND e.to_status = 'expired' AND e.accepted"
        " AND e.reason LIKE 'age limit reached;%' AND e.reason NOT LIKE '% reports expired')"
    )
    op.create_index(
        "ix_payment_events_recovered",
        "payment_events",
        ["created_at"],
        postgresql_where=_RECOVERED,
        sqlite_where=_RECOVERED,
    )
    op.create_index(
        "ix_payment_events_refused_webhooks",
        "payment_events",
        ["created_at"],
        postgresql_where=sa.text("kind = 'webhook' AND accepted = false"),
        sqlite_where=sa.text("kind = 'webhook' AND accepted = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_events_refused_webhooks", table_name="payment_events")
    op.drop_index("ix_payment_events_recovered", table_name="payment_events")
    op.execute("UPDATE payments SET failure_code = NULL WHERE failure_code = 'age-limit'")
