"""Tools over what the cycle already holds: quotes, indicators recomputed on its candles, the portfolio.

All of them are pure functions of the agent's context: no network, the same answer on every replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cream.agents.port import AgentContext
from cream.agents.tools.args import IndicatorArgs, NoArgs, QuotesArgs
from cream.agents.tools.common import ToolError, capped, iso, num, snapshot_of
from cream.schemas.market import Candle, Timeframe
from cream.schemas.portfolio import PositionView
from engine import indicators as ta

MAX_POSITIONS = 50
DEFAULT_PERIODS = {"sma": 20, "ema": 10, "bollinger": 20, "volume_sma": 20,
                   "rsi": 14, "atr": 14, "stochastic": 14}


def get_quotes(ctx: AgentContext, args: QuotesArgs) -> dict[str, Any]:
    """Last price (and bid/ask when the snapshot has a quote) of each symbol; others get an error entry."""
    out: dict[str, Any] = {}
    for symbol in sorted(set(args.symbols)):
        snap = ctx.snapshots.get(symbol)
        if snap is None:
            out[symbol] = {"error": "not in this cycle"}
            continue
        entry: dict[str, Any] = {"price": num(snap.price), "as_of": iso(snap.as_of)}
        if snap.quote is not None:
            q = snap.quote
            entry.update(bid=num(q.bid), ask=num(q.ask), bid_size=num(q.bid_size), ask_size=num(q.ask_size),
                         last=num(q.last), quote_ts=iso(q.ts))
            if q.bid > 0 and q.ask >= q.bid:
                entry["spread_bps"] = num((q.ask - q.bid) / ((q.ask + q.bid) / 2) * 1e4, 4)
        out[symbol] = entry
    return {"quotes": out}


# --- indicators ------------------------------------------------------------------------------

Columns = dict[str, np.ndarray]
Kernel = Callable[[Columns, IndicatorArgs, int], dict[str, np.ndarray]]

# indicator -> (bars needed for a first value given (period, args), kernel returning named series)
_KERNELS: dict[str, tuple[Callable[[int, IndicatorArgs], int], Kernel]] = {
    "sma": (lambda n, a: n, lambda c, a, n: {"value": ta.sma(c["close"], n)}),
    "ema": (lambda n, a: n, lambda c, a, n: {"value": ta.ema(c["close"], n)}),
    "volume_sma": (lambda n, a: n, lambda c, a, n: {"value": ta.sma(c["volume"], n)}),
    "rsi": (lambda n, a: n + 1, lambda c, a, n: {"value": ta.rsi(c["close"], n)}),
    "atr": (lambda n, a: n + 1, lambda c, a, n: {"value": ta.atr(c["high"], c["low"], c["close"], n)}),
    "bollinger": (lambda n, a: n, lambda c, a, n: ta.bollinger(c["close"], n, a.std_dev)._asdict()),
    "stochastic": (lambda n, a: n + a.slowing + a.d_period - 2,
                   lambda c, a, n: ta.stochastic(c["high"], c["low"], c["close"], n, a.d_period,
                                                 a.slowing)._asdict()),
}


def _columns(candles: list[Candle]) -> Columns:
    return {name: np.array([getattr(c, name) for c in candles], dtype=np.float64)
            for name in ("open", "high", "low", "close", "volume")}


def recalc_indicator(ctx: AgentContext, args: IndicatorArgs) -> dict[str, Any]:
    """Recompute one indicator with the engine's kernels over the snapshot's candles of one timeframe."""
    snap = snapshot_of(ctx, args.symbol)
    tf = Timeframe(args.timeframe)
    candles = snap.candles_by_timeframe.get(tf) or []
    if not candles:
        have = ", ".join(sorted(t.value for t in snap.candles_by_timeframe if snap.candles_by_timeframe[t]))
        raise ToolError(f"this cycle holds no {tf.value} candles for {args.symbol} "
                        f"(timeframes with candles: {have or 'none'}).")
    period = args.period or DEFAULT_PERIODS[args.indicator]
    needed, kernel = _KERNELS[args.indicator]
    bars_needed = needed(period, args)
    if len(candles) < bars_needed:
        raise ToolError(f"{args.indicator} with period {period} needs {bars_needed} {tf.value} candles, "
                        f"this cycle holds {len(candles)} for {args.symbol}: use a shorter period.")
    series = kernel(_columns(candles), args, period)
    values = {name: num(float(s[-1])) for name, s in sorted(series.items())}
    if any(v is None for v in values.values()):
        raise ToolError(f"{args.indicator} of {args.symbol} has no value on the last {tf.value} candle "
                        "(missing data in the window).")
    out: dict[str, Any] = {"symbol": args.symbol, "indicator": args.indicator, "timeframe": tf.value,
                           "period": period, "bars_used": len(candles), "last_bar_ts": iso(candles[-1].ts),
                           "last_close": num(candles[-1].close)}
    if args.indicator == "bollinger":
        out["std_dev"] = args.std_dev
    if args.indicator == "stochastic":
        out.update(d_period=args.d_period, slowing=args.slowing)
    if set(values) == {"value"}:
        out["value"] = values["value"]
    else:
        out["values"] = values
    return out


# --- portfolio -------------------------------------------------------------------------------


def _position(p: PositionView) -> dict[str, Any]:
    value = p.quantity * p.market_price * p.multiplier
    pnl = (p.market_price - p.avg_entry_price) * p.quantity * p.multiplier
    cost = abs(p.quantity * p.avg_entry_price * p.multiplier)
    return {"instrument_id": p.instrument_id, "quantity": p.quantity, "multiplier": p.multiplier,
            "avg_entry_price": num(p.avg_entry_price), "market_price": num(p.market_price),
            "market_value": num(value), "unrealized_pnl": num(pnl),
            "unrealized_pnl_pct": num(pnl / cost * 100, 4) if cost else None,
            "stop_loss": num(p.stop_loss), "take_profit": num(p.take_profit), "opened_at": iso(p.opened_at)}


def portfolio_state(ctx: AgentContext, args: NoArgs) -> dict[str, Any]:
    """Cash, equity, exposures, buying power, day trades and positions with P&L against the market price."""
    pf = ctx.portfolio
    rows = [_position(pf.positions[k]) for k in sorted(pf.positions)]
    shown, left_off = capped(rows, MAX_POSITIONS)
    out: dict[str, Any] = {
        "cash": num(pf.cash), "equity": num(pf.equity), "gross_exposure": num(pf.gross_exposure),
        "net_exposure": num(pf.net_exposure), "buying_power": num(pf.buying_power),
        "day_trades_5d": pf.day_trades_5d,
        "gross_leverage": num(pf.gross_exposure / pf.equity, 4) if pf.equity > 0 else None,
        "unrealized_pnl": num(sum(r["unrealized_pnl"] or 0.0 for r in rows)),
        "position_count": len(rows), "positions": shown}
    if left_off:
        out["positions_left_off"] = left_off
    if pf.working_orders:  # open entries the risk check counts as exposure already
        out["working_orders"] = [{"instrument_id": w.instrument_id, "quantity": w.quantity, "price": num(w.price)}
                                 for _, w in sorted(pf.working_orders.items())][:MAX_POSITIONS]
    return out
