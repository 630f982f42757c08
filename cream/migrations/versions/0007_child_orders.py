"""orders: child orders of a tactic (parent, expiry) and when an order became final; order_work: the schedule
and task chain of each parent worked as child orders (PAPER, LIVE)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_orders_parent_id", ["parent_id"])
    # Orders that were partly filled and then canceled or expired were left PARTIALLY_FILLED: final.
    op.execute("UPDATE orders SET closed_at = updated_at WHERE status = 'PARTIALLY_FILLED' AND "
               "(error LIKE 'alpaca: % after filling %' OR error LIKE '%unfilled, cancelled%')")
    op.create_table(
        "order_work",
        sa.Column("order_id", sa.String(length=64), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("book", sa.String(length=40), nullable=False),
        sa.Column("tactic", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference_price", sa.BigInteger(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("link", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_order_work_book", "order_work", ["book"])


def downgrade() -> None:
    op.drop_index("ix_order_work_book", table_name="order_work")
    op.drop_table("order_work")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_index("ix_orders_parent_id")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("parent_id")
