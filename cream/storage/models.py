"""SQLAlchemy 2 models. Columns follow the seeds' Turso schema; Alembic owns the DDL.

Side effects are keyed on deterministic ids (cycle id, decision id, client_order_id), so every
write a redelivered task repeats hits a primary or unique key instead of creating a duplicate.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cream.storage.types import Money, UtcDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Cycle(Base):
    __tablename__ = "cycles"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    environment: Mapped[str] = mapped_column(String(10))
    book: Mapped[str] = mapped_column(String(40), index=True)
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    symbols: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="RUNNING")  # RUNNING|EXECUTED|NO_TRADE|FAILED
    reason: Mapped[str | None] = mapped_column(Text)
    iterations: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Checkpoint(Base):
    """One row per finished phase (and iteration): where a dead cycle resumes from."""

    __tablename__ = "checkpoints"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # {cycle}:{phase}:{iteration}
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AgentOutput(Base):
    __tablename__ = "agent_outputs"
    __table_args__ = (UniqueConstraint("cycle_id", "agent_type", "symbol", "iteration"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    agent_type: Mapped[str] = mapped_column(String(30))
    symbol: Mapped[str] = mapped_column(String(12))  # "*" for portfolio-level agents
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8))  # OK | ERROR
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    implementation: Mapped[str] = mapped_column(String(40))  # e.g. "rules-v1", "gemini", "replay"
    prompt_version: Mapped[str | None] = mapped_column(String(80))  # e.g. "trader/v1" (LLM agents)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DecisionRow(Base):
    __tablename__ = "decisions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(5))
    size_value: Mapped[float] = mapped_column(Float)
    size_unit: Mapped[str] = mapped_column(String(10))
    stop_loss: Mapped[Decimal] = mapped_column(Money)
    take_profit: Mapped[Decimal] = mapped_column(Money)
    levels_on: Mapped[str | None] = mapped_column(String(16))  # RiskDenomination; NULL: UNDERLYING_PRICE
    strategy_family: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float)
    rationale: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # APPROVED | BLOCKED | EXECUTED | NO_ORDER
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OrderRow(Base):
    """An order intent, written (status PENDING) before anything is sent, then its lifecycle."""

    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # client_order_id
    book: Mapped[str] = mapped_column(String(40), index=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"))
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    instrument_id: Mapped[str] = mapped_column(String(200))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(Integer)
    order_type: Mapped[str] = mapped_column(String(12))
    purpose: Mapped[str] = mapped_column(String(12))
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), index=True)
    multiplier: Mapped[int] = mapped_column(Integer, default=1)  # 100 for US equity options
    execution_tactic: Mapped[str | None] = mapped_column(String(16))  # PASSIVE_LIMIT | TWAP | VWAP | ICEBERG
    time_in_force: Mapped[str] = mapped_column(String(3), default="DAY", server_default="DAY")  # the plan's
    filled_quantity: Mapped[int] = mapped_column(Integer, default=0)
    avg_fill_price: Mapped[Decimal | None] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    error: Mapped[str | None] = mapped_column(Text)
    # A child order of a parent worked by an execution tactic (PAPER, LIVE): its parent's id, and when
    # whatever of it still rests at the broker is canceled (the end of its bars).
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the broker said it would fill no more of it (a PARTIALLY_FILLED order canceled or expired is final).
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class WorkRow(Base):
    """A parent order worked as child orders by its execution tactic (PAPER, LIVE; cream.services.child_orders).

    ``schedule`` is fixed when the work starts: one [bar offset, quantity, limit or null] per child, offsets
    counted in session hours from the bar of ``started_at`` (-1: when the previous child has filled).
    ``link`` numbers the task chain that works it: a task carrying another number is a stale duplicate."""

    __tablename__ = "order_work"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    book: Mapped[str] = mapped_column(String(40), index=True)
    tactic: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the cycle's hour: bar 0 is the one it opens
    reference_price: Mapped[Decimal | None] = mapped_column(Money)  # the touch when the work started
    schedule: Mapped[list[list[Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="WORKING")  # WORKING | DONE
    link: Mapped[int] = mapped_column(Integer, default=0)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)  # wall clock: stalled chains
    reason: Mapped[str | None] = mapped_column(Text)


class FillRow(Base):
    __tablename__ = "fills"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # {client_order_id}:{n}
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    day_trade: Mapped[bool] = mapped_column(Boolean, default=False)  # closed a position opened that session


class Book(Base):
    """A portfolio: the cash side of one account (PAPER/LIVE) or one backtest run."""

    __tablename__ = "books"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    environment: Mapped[str] = mapped_column(String(10))
    initial_cash: Mapped[Decimal] = mapped_column(Money)
    cash: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PositionRow(Base):
    __tablename__ = "positions"
    book: Mapped[str] = mapped_column(ForeignKey("books.id"), primary_key=True)
    instrument_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)  # signed
    avg_entry_price: Mapped[Decimal] = mapped_column(Money)
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    stop_loss: Mapped[Decimal | None] = mapped_column(Money)
    take_profit: Mapped[Decimal | None] = mapped_column(Money)
    levels_on: Mapped[str | None] = mapped_column(String(16))  # what stop and target are levels of, as above
    opened_cycle_id: Mapped[str | None] = mapped_column(String(80))
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_price: Mapped[Decimal | None] = mapped_column(Money)
    # The simulated broker has checked the bracket (stop / target) against bars up to here.
    checked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PortfolioSnapshotRow(Base):
    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("book", "cycle_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    book: Mapped[str] = mapped_column(ForeignKey("books.id"), index=True)
    cycle_id: Mapped[str] = mapped_column(String(80))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    cash: Mapped[Decimal] = mapped_column(Money)
    equity: Mapped[Decimal] = mapped_column(Money)
    gross_exposure: Mapped[Decimal] = mapped_column(Money)
    net_exposure: Mapped[Decimal] = mapped_column(Money)
    positions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class TradingConfigRow(Base):
    """Versioned runtime config; promotion DRAFT -> TEST -> ACTIVE (one ACTIVE per environment)."""

    __tablename__ = "trading_config"
    __table_args__ = (UniqueConstraint("environment", "version"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    environment: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    max_consensus_iterations: Mapped[int] = mapped_column(Integer, default=3)
    conviction_delta_hold: Mapped[float] = mapped_column(Float, default=0.2)
    conviction_delta_action: Mapped[float] = mapped_column(Float, default=0.3)
    min_risk_reward_ratio: Mapped[float] = mapped_column(Float, default=1.5)
    kelly_multiplier: Mapped[float] = mapped_column(Float, default=0.5)
    max_units: Mapped[float] = mapped_column(Float, default=1000)
    max_notional: Mapped[float] = mapped_column(Float, default=50_000)
    max_pct_equity: Mapped[float] = mapped_column(Float, default=0.10)
    max_gross_notional: Mapped[float] = mapped_column(Float, default=500_000)
    max_net_notional: Mapped[float] = mapped_column(Float, default=250_000)
    max_leverage: Mapped[float] = mapped_column(Float, default=2.0)
    max_sector_pct: Mapped[float] = mapped_column(Float, default=0.30)
    max_delta_notional: Mapped[float] = mapped_column(Float, default=100_000)
    max_gamma: Mapped[float] = mapped_column(Float, default=1000)
    max_vega: Mapped[float] = mapped_column(Float, default=5000)
    min_theta: Mapped[float] = mapped_column(Float, default=-500)
    pdt_min_equity: Mapped[float] = mapped_column(Float, default=25_000)
    pdt_max_day_trades: Mapped[int] = mapped_column(Integer, default=3)
    risk_warn_fraction: Mapped[float] = mapped_column(Float, default=0.9)
    slippage_bps: Mapped[float] = mapped_column(Float, default=2.0)
    commission_per_share: Mapped[float] = mapped_column(Float, default=0.005)
    commission_minimum: Mapped[float] = mapped_column(Float, default=1.0)
    initial_cash: Mapped[float] = mapped_column(Float, default=100_000)
    # LLM spend one cycle may reach; past either limit the cycle ends NO_TRADE.
    max_llm_cost_per_cycle: Mapped[float] = mapped_column(Float, default=5.0)
    max_llm_tokens_per_cycle: Mapped[int] = mapped_column(Integer, default=2_000_000)
    status: Mapped[str] = mapped_column(String(10), default="DRAFT")  # DRAFT|TEST|ACTIVE|ARCHIVED
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AgentConfigRow(Base):
    __tablename__ = "agent_configs"
    __table_args__ = (UniqueConstraint("environment", "agent_type"),)
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    environment: Mapped[str] = mapped_column(String(10))
    agent_type: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(60))
    temperature: Mapped[float] = mapped_column(Float)
    system_prompt_override: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    input_usd_per_mtok: Mapped[float] = mapped_column(Float, default=2.0)  # price per million prompt tokens
    output_usd_per_mtok: Mapped[float] = mapped_column(Float, default=12.0)
    max_tool_calls: Mapped[int] = mapped_column(Integer, default=4)  # per agent run
    tool_seconds: Mapped[float] = mapped_column(Float, default=20.0)  # wall time all tool calls may take
    timeout_s: Mapped[float] = mapped_column(Float, default=60.0)  # per model call


class UniverseConfigRow(Base):
    __tablename__ = "universe_configs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    environment: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))  # static | index | screener
    static_symbols: Mapped[list[str] | None] = mapped_column(JSON)
    sectors: Mapped[dict[str, str] | None] = mapped_column(JSON)  # symbol -> GICS sector
    status: Mapped[str] = mapped_column(String(10), default="DRAFT")


class BacktestRow(Base):
    __tablename__ = "backtests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # also its book id
    symbols: Mapped[list[str]] = mapped_column(JSON)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(10))  # RUNNING | DONE | FAILED
    cycles_total: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CandleRow(Base):
    """A cached provider bar (PAPER/LIVE market data); written insert-or-ignore, never updated."""

    __tablename__ = "candles"
    symbol: Mapped[str] = mapped_column(String(12), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(4), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # bar start, epoch seconds UTC
    end: Mapped[int] = mapped_column(BigInteger)  # bar end (exclusive), epoch seconds UTC
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    vwap: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int | None] = mapped_column(Integer)


class CandleRangeRow(Base):
    """A stretch [start, end) of bar starts already fetched for (symbol, timeframe): never fetched again."""

    __tablename__ = "candle_ranges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(12), index=True)
    timeframe: Mapped[str] = mapped_column(String(4))
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)


class CorporateActionRow(Base):
    """A split or dividend the candle cache has seen: when first seen (ex-date passed), the symbol's
    cached bars before the ex-date were dropped, so they are fetched again, adjusted."""

    __tablename__ = "corporate_actions"
    symbol: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "split" | "dividend"
    ex_date: Mapped[date] = mapped_column(Date, primary_key=True)
    amount: Mapped[float] = mapped_column(Float)  # split ratio (shares after per share before) or cash a share
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CorporateActionCheckRow(Base):
    """The New York date a symbol's splits and dividends were last asked of the provider."""

    __tablename__ = "corporate_action_checks"
    symbol: Mapped[str] = mapped_column(String(12), primary_key=True)
    checked_on: Mapped[date] = mapped_column(Date)


class LlmExchange(Base):
    """One model call, recorded: the request (hashed into the key), the reply, and the results of the
    tools the reply asked for. Replay answers from here, with no network."""

    __tablename__ = "llm_exchanges"
    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(60))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    tool_results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LlmUsage(Base):
    """The token and cost ledger: one row per model call, per agent, symbol and iteration of a cycle."""

    __tablename__ = "llm_usage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.id"), index=True)
    agent_type: Mapped[str] = mapped_column(String(30))
    symbol: Mapped[str] = mapped_column(String(12))
    iteration: Mapped[int] = mapped_column(Integer)
    request_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(60))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    replayed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
