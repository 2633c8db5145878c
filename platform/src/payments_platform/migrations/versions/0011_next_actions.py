"""The payer's journey: where the vendor sends the payer back, and what the payer must do.

``return_url`` is the client's, given at init and passed to the gateway; ``next_action`` is the
step the vendor asked of the payer (a redirect to its payment page, instructions to display),
as the gateway answered it. Both are NULL for payments made before this revision, which read,
refund and notify as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as table:
        table.add_column(sa.Column("return_url", sa.Text()))
        table.add_column(sa.Column("next_action", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("payments") as table:
        table.drop_column("next_action")
        table.drop_column("return_url")
