"""Give each operator action its operator as a column, and index the audit and the search.

Who did each operator action as a column of its own, and the indexes the console's audit and
its payments search across merchants read.

An ``operator_action`` event names its operator in ``detail``; the new ``operator`` column holds
the same name, so that one operator's actions are found by index on both backends (filled in
here for the events recorded before). The audit lists actions newest first by event id, every
operator's (``ix_payment_events_kind_id``) or one's (``ix_payment_events_operator_id``); the
console lists every merchant's payments newest first (``ix_payments_created_at_id``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPERATOR_NAME_LENGTH = 64
_BY_OPERATOR = sa.text("operator IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("payment_events") as table:
        table.add_column(sa.Column("operator", sa.String(_OPERATOR_NAME_LENGTH)))
    named = (
        "detail ->> 'operator'"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(detail, '$.operator')"
    )
    # A name given on the command line (`jobs retry --as`) was never bounded: longer ones keep
    # their whole name in `detail`, and the column its first 64 characters.
    op.execute(
        f"UPDATE payment_events SET operator = substr({named}, 1, {_OPERATOR_NAME_LENGTH})"
        " WHERE kind = 'operator_action'"
    )
    op.create_index("ix_payment_events_kind_id", "payment_events", ["kind", "id"])
    op.create_index(
        "ix_payment_events_operator_id",
        "payment_events",
        ["operator", "id"],
        postgresql_where=_BY_OPERATOR,
        sqlite_where=_BY_OPERATOR,
    )
    op.create_index("ix_payments_created_at_id", "payments", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_payments_created_at_id", table_name="payments")
    op.drop_index("ix_payment_events_operator_id", table_name="payment_events")
    op.drop_index("ix_payment_events_kind_id", table_name="payment_events")
    with op.batch_alter_table("payment_events") as table:
        table.drop_column("operator")
