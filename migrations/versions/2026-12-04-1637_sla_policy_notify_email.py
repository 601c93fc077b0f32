"""SLA policy: an address that gets every warning and miss by mail; the queue's status index
covers archived_at (archived tickets leave the queue)

Revision ID: 010436842237
Revises: 93d6046ce593
Create Date: 2026-12-04 16:37:31.128975+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "010436842237"
down_revision: str | None = "93d6046ce593"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sla_policies", sa.Column("notify_email", sa.String(length=254), nullable=True))
    op.drop_index("ix_tickets_status", table_name="tickets")
    op.create_index("ix_tickets_status", "tickets", ["status", "merged_into_id", "archived_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_status", table_name="tickets")
    op.create_index("ix_tickets_status", "tickets", ["status", "merged_into_id"])
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_column("notify_email")
