"""decisions and positions: what a stop-loss and take-profit are levels of (the underlying's price, or an
option's premium), so that a held option's exits are worked on the right price

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("decisions", "positions"):  # NULL: the underlying's price, as every earlier row's levels were
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("levels_on", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in ("decisions", "positions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("levels_on")
