"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:19:33.032711
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_configs',
    sa.Column('id', sa.String(length=60), nullable=False),
    sa.Column('environment', sa.String(length=10), nullable=False),
    sa.Column('agent_type', sa.String(length=30), nullable=False),
    sa.Column('model', sa.String(length=60), nullable=False),
    sa.Column('temperature', sa.Float(), nullable=False),
    sa.Column('system_prompt_override', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('environment', 'agent_type')
    )
    op.create_table('backtests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('symbols', sa.JSON(), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('cycles_total', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('books',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=10), nullable=False),
    sa.Column('initial_cash', sa.BigInteger(), nullable=False),
    sa.Column('cash', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cycles',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('environment', sa.String(length=10), nullable=False),
    sa.Column('book', sa.String(length=40), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
    sa.Column('symbols', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('iterations', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cycles_book'), ['book'], unique=False)
        batch_op.create_index(batch_op.f('ix_cycles_scheduled_for'), ['scheduled_for'], unique=False)

    op.create_table('trading_config',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('max_consensus_iterations', sa.Integer(), nullable=False),
    sa.Column('conviction_delta_hold', sa.Float(), nullable=False),
    sa.Column('conviction_delta_action', sa.Float(), nullable=False),
    sa.Column('min_risk_reward_ratio', sa.Float(), nullable=False),
    sa.Column('kelly_multiplier', sa.Float(), nullable=False),
    sa.Column('max_units', sa.Float(), nullable=False),
    sa.Column('max_notional', sa.Float(), nullable=False),
    sa.Column('max_pct_equity', sa.Float(), nullable=False),
    sa.Column('max_gross_notional', sa.Float(), nullable=False),
    sa.Column('max_net_notional', sa.Float(), nullable=False),
    sa.Column('max_leverage', sa.Float(), nullable=False),
    sa.Column('slippage_bps', sa.Float(), nullable=False),
    sa.Column('commission_per_share', sa.Float(), nullable=False),
    sa.Column('commission_minimum', sa.Float(), nullable=False),
    sa.Column('initial_cash', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('environment', 'version')
    )
    op.create_table('universe_configs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('static_symbols', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('agent_outputs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('agent_type', sa.String(length=30), nullable=False),
    sa.Column('symbol', sa.String(length=12), nullable=False),
    sa.Column('iteration', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('output', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('implementation', sa.String(length=40), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cycle_id', 'agent_type', 'symbol', 'iteration')
    )
    with op.batch_alter_table('agent_outputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_outputs_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('checkpoints',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('iteration', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkpoints_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('instrument_id', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('direction', sa.String(length=5), nullable=False),
    sa.Column('size_value', sa.Float(), nullable=False),
    sa.Column('size_unit', sa.String(length=10), nullable=False),
    sa.Column('stop_loss', sa.BigInteger(), nullable=False),
    sa.Column('take_profit', sa.BigInteger(), nullable=False),
    sa.Column('strategy_family', sa.String(length=20), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('portfolio_snapshots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('book', sa.String(length=40), nullable=False),
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cash', sa.BigInteger(), nullable=False),
    sa.Column('equity', sa.BigInteger(), nullable=False),
    sa.Column('gross_exposure', sa.BigInteger(), nullable=False),
    sa.Column('net_exposure', sa.BigInteger(), nullable=False),
    sa.Column('positions', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['book'], ['books.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('book', 'cycle_id')
    )
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolio_snapshots_book'), ['book'], unique=False)
        batch_op.create_index(batch_op.f('ix_portfolio_snapshots_ts'), ['ts'], unique=False)

    op.create_table('positions',
    sa.Column('book', sa.String(length=40), nullable=False),
    sa.Column('instrument_id', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('avg_entry_price', sa.BigInteger(), nullable=False),
    sa.Column('multiplier', sa.Integer(), nullable=False),
    sa.Column('stop_loss', sa.BigInteger(), nullable=True),
    sa.Column('take_profit', sa.BigInteger(), nullable=True),
    sa.Column('opened_cycle_id', sa.String(length=80), nullable=True),
    sa.Column('last_price', sa.BigInteger(), nullable=True),
    sa.Column('checked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['book'], ['books.id'], ),
    sa.PrimaryKeyConstraint('book', 'instrument_id')
    )
    op.create_table('orders',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('book', sa.String(length=40), nullable=False),
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('decision_id', sa.String(length=40), nullable=True),
    sa.Column('broker_order_id', sa.String(length=64), nullable=True),
    sa.Column('instrument_id', sa.String(length=200), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('order_type', sa.String(length=12), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('limit_price', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filled_quantity', sa.Integer(), nullable=False),
    sa.Column('avg_fill_price', sa.BigInteger(), nullable=True),
    sa.Column('fees', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], ),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_book'), ['book'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_cycle_id'), ['cycle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)

    op.create_table('fills',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fills_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fills_order_id'))

    op.drop_table('fills')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_index(batch_op.f('ix_orders_cycle_id'))
        batch_op.drop_index(batch_op.f('ix_orders_book'))

    op.drop_table('orders')
    op.drop_table('positions')
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portfolio_snapshots_ts'))
        batch_op.drop_index(batch_op.f('ix_portfolio_snapshots_book'))

    op.drop_table('portfolio_snapshots')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_cycle_id'))

    op.drop_table('decisions')
    with op.batch_alter_table('checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkpoints_cycle_id'))

    op.drop_table('checkpoints')
    with op.batch_alter_table('agent_outputs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_outputs_cycle_id'))

    op.drop_table('agent_outputs')
    op.drop_table('universe_configs')
    op.drop_table('trading_config')
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cycles_scheduled_for'))
        batch_op.drop_index(batch_op.f('ix_cycles_book'))

    op.drop_table('cycles')
    op.drop_table('books')
    op.drop_table('backtests')
    op.drop_table('agent_configs')
