"""LLM agents: prompt version on every output, recorded exchanges for replay, a token and cost ledger,
per-agent prices and tool bounds, and the per-cycle LLM budget

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_outputs") as t:
        t.add_column(sa.Column("prompt_version", sa.String(length=80), nullable=True))
    with op.batch_alter_table("trading_config") as t:
        t.add_column(sa.Column("max_llm_cost_per_cycle", sa.Float(), nullable=False, server_default=sa.text("5.0")))
        t.add_column(sa.Column("max_llm_tokens_per_cycle", sa.Integer(), nullable=False,
                               server_default=sa.text("2000000")))
    with op.batch_alter_table("agent_configs") as t:
        t.add_column(sa.Column("input_usd_per_mtok", sa.Float(), nullable=False, server_default=sa.text("2.0")))
        t.add_column(sa.Column("output_usd_per_mtok", sa.Float(), nullable=False, server_default=sa.text("12.0")))
        t.add_column(sa.Column("max_tool_calls", sa.Integer(), nullable=False, server_default=sa.text("4")))
        t.add_column(sa.Column("tool_seconds", sa.Float(), nullable=False, server_default=sa.text("20.0")))
        t.add_column(sa.Column("timeout_s", sa.Float(), nullable=False, server_default=sa.text("60.0")))
    # The approvers run on the flash model, priced accordingly.
    op.execute("UPDATE agent_configs SET input_usd_per_mtok = 0.5, output_usd_per_mtok = 3.0 "
               "WHERE agent_type IN ('risk_manager', 'critic')")
    op.create_table(
        "llm_exchanges",
        sa.Column("request_hash", sa.String(length=64), primary_key=True),
        sa.Column("agent_type", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=False),
        sa.Column("tool_results", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "llm_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column("cycle_id", sa.String(length=80), sa.ForeignKey("cycles.id"), nullable=False, index=True),
        sa.Column("agent_type", sa.String(length=30), nullable=False),
        sa.Column("symbol", sa.String(length=12), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replayed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("llm_usage")
    op.drop_table("llm_exchanges")
    with op.batch_alter_table("agent_configs") as t:
        for name in ("timeout_s", "tool_seconds", "max_tool_calls", "output_usd_per_mtok", "input_usd_per_mtok"):
            t.drop_column(name)
    with op.batch_alter_table("trading_config") as t:
        t.drop_column("max_llm_tokens_per_cycle")
        t.drop_column("max_llm_cost_per_cycle")
    with op.batch_alter_table("agent_outputs") as t:
        t.drop_column("prompt_version")
