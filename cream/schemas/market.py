"""Market data and the per-symbol feature snapshot that every agent reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from cream.schemas.instruments import TICKER_PATTERN, Frozen


class Timeframe(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"


class Candle(Frozen):
    """One OHLCV bar. `ts` is the bar's start, in UTC."""

    symbol: str = Field(pattern=TICKER_PATTERN)
    timeframe: Timeframe
    ts: datetime
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0)
    vwap: float | None = None
    trades: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Candle:
        if self.high < max(self.open, self.close, self.low) or self.low > min(self.open, self.close):
            raise ValueError(f"inconsistent bar {self.symbol} {self.ts}: high/low do not bound open/close")
        return self


class Quote(Frozen):
    symbol: str = Field(pattern=TICKER_PATTERN)
    ts: datetime
    bid: float = Field(ge=0)
    ask: float = Field(ge=0)
    bid_size: float = Field(ge=0, default=0)
    ask_size: float = Field(ge=0, default=0)
    last: float = Field(gt=0)

    @model_validator(mode="after")
    def _not_crossed(self) -> Quote:
        if self.ask and self.bid and self.ask < self.bid:
            raise ValueError(f"crossed quote for {self.symbol}: ask {self.ask} < bid {self.bid}")
        return self


class OptionMark(Frozen):
    """An option or multi-leg position's price and Greeks per unit, before the contract multiplier.

    Greeks follow the engine's conventions (engine.options): delta per $1 of the underlying, vega per
    vol point (0.01), theta per calendar day. Needed for every option the risk check sees.
    """

    instrument_id: str = Field(min_length=1)
    premium: float = Field(gt=0)
    underlying_price: float = Field(gt=0)
    delta: float
    gamma: float
    vega: float
    theta: float
    implied_volatility: float | None = Field(default=None, gt=0)
    bid: float | None = Field(default=None, ge=0)  # the quote around the premium, where the source has one
    ask: float | None = Field(default=None, gt=0)
    model_priced: bool = False  # BACKTEST: priced by the engine's volatility model, not quoted by a market


class RegimeLabel(StrEnum):
    BULL_TREND = "BULL_TREND"
    BEAR_TREND = "BEAR_TREND"
    RANGE_BOUND = "RANGE_BOUND"
    HIGH_VOL = "HIGH_VOL"
    LOW_VOL = "LOW_VOL"
    UNKNOWN = "UNKNOWN"


class RegimeMetrics(Frozen):
    fast_ma: float
    slow_ma: float
    ma_diff: float
    ma_diff_pct: float
    current_atr: float
    atr_percentile: float = Field(ge=0, le=100)


class RegimeClassification(Frozen):
    regime: RegimeLabel
    confidence: float = Field(ge=0, le=1)
    reasoning: str
    metrics: RegimeMetrics


class EventKind(StrEnum):
    NEWS = "NEWS"
    EARNINGS = "EARNINGS"
    MACRO = "MACRO"


class ExternalEvent(Frozen):
    event_id: str
    kind: EventKind
    ts: datetime
    headline: str
    symbol: str | None = None
    sentiment: float = Field(ge=-1, le=1, default=0)
    importance: float = Field(ge=0, le=1, default=0)


class FeatureSnapshot(Frozen):
    """What the agents know about one symbol at the cycle's as-of time.

    Indicator keys follow the seeds: ``{indicator}_{param}_{timeframe}``, e.g. ``rsi_14_1h``.
    Normalised keys are ``zscore_...`` and ``percentile_...``.
    """

    symbol: str = Field(pattern=TICKER_PATTERN)
    as_of: datetime
    price: float = Field(gt=0, description="Last traded price at as_of.")
    quote: Quote | None = None
    candles_by_timeframe: dict[Timeframe, list[Candle]] = Field(default_factory=dict)
    indicators: dict[str, float] = Field(default_factory=dict)
    normalized: dict[str, float] = Field(default_factory=dict)
    regime: RegimeClassification
    external_events: list[ExternalEvent] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
