"""Orient: indicators, regime and normalised features of one symbol, from its hourly and daily bars."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np

from cream.ports import Bars
from cream.schemas.market import (
    Candle,
    FeatureSnapshot,
    RegimeClassification,
    RegimeLabel,
    RegimeMetrics,
    Timeframe,
)
from engine import indicators as ind
from engine import normalize as norm
from engine.regime import classify_regime

HOURLY_LOOKBACK, DAILY_LOOKBACK = 200, 200  # bars loaded per timeframe
CANDLES_IN_SNAPSHOT = 20  # recent bars per timeframe handed to the agents
NORMALISE_WINDOW = 100
# The indicators of a snapshot, in the order the agents see them.
INDICATORS = ("rsi_14_1h", "rsi_14_1d", "sma_20_1h", "ema_12_1h", "ema_26_1h", "atr_14_1h", "sma_20_1d", "sma_50_1d",
              "atr_14_1d", "bb_upper_20_1d", "bb_middle_20_1d", "bb_lower_20_1d", "stoch_k_14_1d", "stoch_d_3_1d",
              "volume_sma_20_1d", "volume_last_1h", "high_20_1d", "low_20_1d")


def _last(x: np.ndarray) -> float | None:
    if x.shape[0] == 0:
        return None
    v = float(x[-1])
    return None if math.isnan(v) else round(v, 6)


class _Daily(NamedTuple):
    """What a snapshot takes from the daily bars alone: the same for every hour of a session."""

    indicators: dict[str, float | None]
    normalized: dict[str, float]
    regime: RegimeClassification
    candles: list[Candle]


_DAILY: dict[tuple[str, bytes], _Daily] = {}  # (symbol, digest of the daily bars) -> their part
_DAILY_KEEP = 512


def _daily(symbol: str, d: Bars) -> _Daily:
    """The daily part of ``symbol``'s snapshot, computed once per distinct set of daily bars."""
    digest = hashlib.blake2b(b"".join(np.ascontiguousarray(a).tobytes() for a in d), digest_size=16).digest()
    found = _DAILY.get((symbol, digest))
    if found is None:
        if len(_DAILY) >= _DAILY_KEEP:
            _DAILY.clear()
        found = _DAILY[(symbol, digest)] = _Daily(_daily_indicators(d), _daily_normalized(d), _regime(d),
                                                  _candles(symbol, Timeframe.D1, d))
    return found


def _daily_indicators(d: Bars) -> dict[str, float | None]:
    bb_mid, bb_up, bb_low = ind.bollinger_nb(d.close, 20, 2.0)
    stoch_k, stoch_d = ind.stochastic_nb(d.high, d.low, d.close, 14, 3)
    return {
        "rsi_14_1d": _last(ind.rsi_nb(d.close, 14)),
        "sma_20_1d": _last(ind.sma_nb(d.close, 20)),
        "sma_50_1d": _last(ind.sma_nb(d.close, 50)),
        "atr_14_1d": _last(ind.atr_nb(d.high, d.low, d.close, 14)),
        "bb_upper_20_1d": _last(bb_up), "bb_middle_20_1d": _last(bb_mid), "bb_lower_20_1d": _last(bb_low),
        "stoch_k_14_1d": _last(stoch_k), "stoch_d_3_1d": _last(stoch_d),
        "volume_sma_20_1d": _last(ind.volume_sma_nb(d.volume, 20)),
        "high_20_1d": round(float(d.high[-20:].max()), 6) if len(d) >= 20 else None,
        "low_20_1d": round(float(d.low[-20:].min()), 6) if len(d) >= 20 else None,
    }


def _indicators(h: Bars, daily: _Daily) -> dict[str, float]:
    values = {
        "rsi_14_1h": _last(ind.rsi_nb(h.close, 14)),
        "sma_20_1h": _last(ind.sma_nb(h.close, 20)),
        "ema_12_1h": _last(ind.ema_nb(h.close, 12)),
        "ema_26_1h": _last(ind.ema_nb(h.close, 26)),
        "atr_14_1h": _last(ind.atr_nb(h.high, h.low, h.close, 14)),
        "volume_last_1h": _last(h.volume),  # the last hourly bar's: the trader sizes tactics against it
        **daily.indicators,
    }
    return {k: v for k in INDICATORS if (v := values[k]) is not None}  # in one order, whatever was cached


def _daily_normalized(d: Bars) -> dict[str, float]:
    values = {
        "zscore_close_20_1d": norm.zscore_last_nb(d.close, 20),
        "percentile_volume_1d": norm.percentile_rank_last_nb(d.volume, NORMALISE_WINDOW),
        "percentile_atr_14_1d": norm.percentile_rank_last_nb(ind.atr_nb(d.high, d.low, d.close, 14),
                                                            NORMALISE_WINDOW),
    }
    return {k: round(float(v), 6) for k, v in values.items() if not math.isnan(v)}


def _normalized(h: Bars, daily: _Daily) -> dict[str, float]:
    rsi = norm.zscore_last_nb(ind.rsi_nb(h.close, 14), NORMALISE_WINDOW)
    hourly = {} if math.isnan(rsi) else {"zscore_rsi_14_1h": round(float(rsi), 6)}
    return {**hourly, **daily.normalized}


def _regime(d: Bars) -> RegimeClassification:
    r = classify_regime(d.close, d.high, d.low)
    def finite(x: float) -> float:
        return 0.0 if math.isnan(x) else round(float(x), 6)
    return RegimeClassification(
        regime=RegimeLabel(r.label), confidence=finite(r.confidence),
        reasoning=(f"fast MA {finite(r.fast_ma):.2f} vs slow MA {finite(r.slow_ma):.2f} "
                   f"({finite(r.ma_diff_pct):+.2f}%), ATR percentile {finite(r.atr_percentile):.0f}"),
        metrics=RegimeMetrics(fast_ma=finite(r.fast_ma), slow_ma=finite(r.slow_ma), ma_diff=finite(r.ma_diff),
                              ma_diff_pct=finite(r.ma_diff_pct), current_atr=finite(r.current_atr),
                              atr_percentile=min(100.0, max(0.0, finite(r.atr_percentile)))))


def _candles(symbol: str, tf: Timeframe, b: Bars) -> list[Candle]:
    start = max(0, len(b) - CANDLES_IN_SNAPSHOT)
    return [Candle(symbol=symbol, timeframe=tf, ts=datetime.fromtimestamp(int(b.ts[i]), tz=UTC),
                   open=float(b.open[i]), high=float(b.high[i]), low=float(b.low[i]), close=float(b.close[i]),
                   volume=float(b.volume[i])) for i in range(start, len(b))]


def build_snapshot(symbol: str, as_of: datetime, hourly: Bars, daily: Bars) -> FeatureSnapshot:
    """The feature snapshot at ``as_of``; the bars must all have closed by then (no look-ahead)."""
    if len(hourly) == 0:
        raise ValueError(f"no hourly bars for {symbol} before {as_of}")
    cutoff = int(as_of.timestamp())
    if int(hourly.end[-1]) > cutoff or (len(daily) and int(daily.end[-1]) > cutoff):
        raise ValueError(f"bars of {symbol} end after {as_of.isoformat()}: that would be look-ahead")
    part = _daily(symbol, daily)
    return FeatureSnapshot(
        symbol=symbol, as_of=as_of, price=float(hourly.close[-1]),
        candles_by_timeframe={Timeframe.H1: _candles(symbol, Timeframe.H1, hourly), Timeframe.D1: list(part.candles)},
        indicators=_indicators(hourly, part), normalized=_normalized(hourly, part), regime=part.regime,
        metadata={"bars_1h": len(hourly), "bars_1d": len(daily)})
