"""full pre-trade risk check: sector, Greeks, PDT and warning limits; fills with day-trade flag;
orders carry their contract multiplier and execution tactic

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# New trading_config limits with the product defaults, so existing rows keep a complete config.
LIMITS = (
    ("max_sector_pct", sa.Float(), "0.3"),
    ("max_delta_notional", sa.Float(), "100000"),
    ("max_gamma", sa.Float(), "1000"),
    ("max_vega", sa.Float(), "5000"),
    ("min_theta", sa.Float(), "-500"),
    ("pdt_min_equity", sa.Float(), "25000"),
    ("pdt_max_day_trades", sa.Integer(), "3"),
    ("risk_warn_fraction", sa.Float(), "0.9"),
)


def upgrade() -> None:
    with op.batch_alter_table("trading_config") as t:
        for name, kind, default in LIMITS:
            t.add_column(sa.Column(name, kind, nullable=False, server_default=sa.text(default)))
    with op.batch_alter_table("universe_configs") as t:
        t.add_column(sa.Column("sectors", sa.JSON(), nullable=True))
    with op.batch_alter_table("positions") as t:
        t.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("orders") as t:
        t.add_column(sa.Column("multiplier", sa.Integer(), nullable=False, server_default=sa.text("1")))
        t.add_column(sa.Column("execution_tactic", sa.String(length=16), nullable=True))
    with op.batch_alter_table("fills") as t:
        t.add_column(sa.Column("day_trade", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("fills") as t:
        t.drop_column("day_trade")
    with op.batch_alter_table("orders") as t:
        t.drop_column("execution_tactic")
        t.drop_column("multiplier")
    with op.batch_alter_table("positions") as t:
        t.drop_column("opened_at")
    with op.batch_alter_table("universe_configs") as t:
        t.drop_column("sectors")
    with op.batch_alter_table("trading_config") as t:
        for name, _, _ in reversed(LIMITS):
            t.drop_column(name)
