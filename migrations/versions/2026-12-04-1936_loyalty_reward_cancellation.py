"""Loyalty: a reward taken can be cancelled (when, and the reversal that gave its points back);
the orders' coupon codes are indexed (partially: only orders with one) to tell a used coupon.

Revision ID: 13f45e2462f3
Revises: d91ee2592f50
Create Date: 2026-12-04 19:36:50.396297+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.core.db

revision: str = "13f45e2462f3"
down_revision: str | None = "d91ee2592f50"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_coupon",
        "orders",
        ["coupon_code"],
        sqlite_where=sa.text("coupon_code IS NOT NULL"),
        postgresql_where=sa.text("coupon_code IS NOT NULL"),
    )
    with op.batch_alter_table("loyalty_reward_redemptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancelled_at", patron.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "cancel_operation_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loyalty_reward_redemptions_cancel_operation_id_points_operations"),
            "points_operations",
            ["cancel_operation_id"],
            ["id"],
        )


def downgrade() -> None:
    op.drop_index("ix_orders_coupon", table_name="orders")
    with op.batch_alter_table("loyalty_reward_redemptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_loyalty_reward_redemptions_cancel_operation_id_points_operations"),
            type_="foreignkey",
        )
        batch_op.drop_column("cancel_operation_id")
        batch_op.drop_column("cancelled_at")
