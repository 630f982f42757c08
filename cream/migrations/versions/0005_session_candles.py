"""candles: hourly and daily bars become regular-session bins (cached 1h/1d bars dropped); splits and
dividends the candle cache has seen, and the day each symbol was last checked

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Cached 1h/1d bars were Polygon's clock hours and New York days, extended hours included; the
    # adapter now serves regular-session bins, so those rows would mix two kinds of bar.
    op.execute("DELETE FROM candles WHERE timeframe IN ('1h', '1d')")
    op.execute("DELETE FROM candle_ranges WHERE timeframe IN ('1h', '1d')")
    op.create_table(
        "corporate_actions",
        sa.Column("symbol", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ex_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "kind", "ex_date"),
    )
    op.create_table(
        "corporate_action_checks",
        sa.Column("symbol", sa.String(length=12), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("symbol"),
    )


def downgrade() -> None:
    op.drop_table("corporate_action_checks")
    op.drop_table("corporate_actions")
