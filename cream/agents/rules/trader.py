"""The head trader: compares bull and bear conviction per symbol and writes the DecisionPlan.

Seeds' rules: delta = bull - bear; |delta| < hold threshold -> HOLD; delta > action threshold -> BUY/LONG
with Kelly-inspired sizing; delta < -action threshold -> SELL/SHORT or close; stops at the technical
analyst's invalidation level; risk/reward at least the configured minimum; smaller size on event risk.
Where the cycle marked a symbol's option chain, a view may become a defined-risk options strategy instead
of shares, and held options are managed: ``options_playbook``.
"""

from __future__ import annotations

from typing import Any

from cream.agents.port import AgentContext
from cream.agents.rules import options_playbook
from cream.schemas.agents import Objection, SentimentAnalysisOutput, Severity, TechnicalAnalysisOutput
from cream.schemas.decisions import (
    Action,
    Decision,
    DecisionPlan,
    Direction,
    ExecutionTactic,
    OrderPlan,
    References,
    RiskLevels,
    Size,
    SizeUnit,
    StrategyFamily,
)
from cream.schemas.instruments import Equity
from cream.schemas.portfolio import PositionView
from engine.sizing import kelly_fraction_nb, risk_units_nb, size_units_nb

RISK_PER_TRADE = 0.01  # at most 1% of equity lost if the stop is hit
KELLY_FULL_SIZE = 0.25  # a scaled Kelly fraction this large takes the whole per-instrument allocation
LIMIT_HEADROOM = 0.95  # stay inside the % of equity limit after slippage and price drift
SIZE_CODES = frozenset({"MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_GROSS_NOTIONAL",
                        "MAX_NET_NOTIONAL", "MAX_LEVERAGE", "MAX_DELTA_NOTIONAL", "MAX_GAMMA", "MAX_VEGA",
                        "MIN_THETA"})
# An order larger than this share of the last hourly bar's volume would move the price if sent at once: it
# is worked as TWAP children over the next bars (a limit entry would go as ICEBERG slices) - see trader.md.
LARGE_ORDER_FRACTION = 0.01
NEEDED = ("technical_analyst", "news_analyst", "fundamentals_analyst", "bullish_researcher", "bearish_researcher")


def trader(ctx: AgentContext) -> DecisionPlan:
    if ctx.previous_plan is not None and ctx.objections:
        return revise(ctx.previous_plan, ctx.objections)
    decisions, notes = [], []
    for symbol in sorted(ctx.snapshots):
        a = ctx.analyses.get(symbol, {})
        missing = [k for k in NEEDED if k not in a]
        if missing:
            notes.append(f"{symbol}: no trade, missing {', '.join(missing)} (agent error)")
            continue
        made, note = _decide(ctx, symbol, a)
        notes.append(note)
        decisions += made
    return DecisionPlan(cycle_id=ctx.cycle_id, as_of_timestamp=ctx.as_of, environment=ctx.environment,
                        decisions=decisions, portfolio_notes=" | ".join(notes) or None)


def _decide(ctx: AgentContext, symbol: str, a: dict[str, Any]) -> tuple[list[Decision], str]:
    rules, price = ctx.rules, ctx.snapshots[symbol].price
    tech = TechnicalAnalysisOutput.model_validate(a["technical_analyst"])
    news = SentimentAnalysisOutput.model_validate(a["news_analyst"])
    bull, bear = a["bullish_researcher"]["conviction"], a["bearish_researcher"]["conviction"]
    delta = round(bull - bear, 4)
    pos = ctx.portfolio.positions.get(symbol)
    held = pos.quantity if pos else 0
    why = f"bull {bull:.2f} - bear {bear:.2f} = delta {delta:+.2f}"
    made = options_playbook.manage(ctx, symbol, delta, why)  # held options: nothing new opens beside them
    if (held > 0 and delta < -rules.conviction_delta_action) or (held < 0 and delta > rules.conviction_delta_action):
        assert pos is not None
        made.append((_close(symbol, pos, tech, why), f"{symbol}: close, {why}"))
    elif held:
        assert pos is not None
        made.append((_hold(symbol, pos, tech, why), f"{symbol}: hold, {why}"))
    if made:
        return [d for d, _ in made], "; ".join(note for _, note in made)
    if abs(delta) <= rules.conviction_delta_action:
        edge = "insufficient edge" if abs(delta) < rules.conviction_delta_hold else "below action threshold"
        return [], f"{symbol}: no trade, {edge} ({why})"
    direction = Direction.LONG if delta > 0 else Direction.SHORT
    halve = news.event_risk or a["fundamentals_analyst"]["macro_risk"] != "LOW"
    strategy = options_playbook.strategy_for(ctx, symbol, direction, tech.volatility, halve, why)
    if strategy is not None:
        return ([] if strategy[0] is None else [strategy[0]]), strategy[1]
    stop = tech.invalidation_long if direction is Direction.LONG else tech.invalidation_short
    risk = (price - stop) if direction is Direction.LONG else (stop - price)
    if risk <= 0:
        return [], f"{symbol}: no trade, the invalidation level {stop:.2f} is not beyond the price {price:.2f}"
    reward_risk = max(2.0, rules.min_risk_reward_ratio + 0.5)
    target = price + reward_risk * risk if direction is Direction.LONG else price - reward_risk * risk
    if target <= 0:
        return [], f"{symbol}: no trade, no positive take-profit at {reward_risk}:1"
    win_p = min(0.9, 0.5 + abs(delta) - rules.conviction_delta_action)
    kelly = kelly_fraction_nb(win_p, reward_risk, rules.kelly_multiplier, 1.0)
    fraction = rules.max_pct_equity * LIMIT_HEADROOM * min(1.0, kelly / KELLY_FULL_SIZE)
    if halve:
        fraction *= 0.5
    equity = ctx.portfolio.equity
    max_units = int(rules.max_units)
    qty = min(int(size_units_nb(equity, fraction, price, 1.0, 1, max_units)),
              int(risk_units_nb(equity, RISK_PER_TRADE, price, stop, 1.0, 1, max_units)),
              int(rules.max_notional * LIMIT_HEADROOM / price))
    if qty <= 0:
        return [], f"{symbol}: no trade, size rounds to zero"
    tactic = execution_tactic(qty, ctx.snapshots[symbol].indicators.get("volume_last_1h"))
    decision = Decision(
        instrument=Equity(symbol=symbol), action=Action.BUY if direction is Direction.LONG else Action.SELL,
        direction=direction, size=Size(quantity=qty, unit=SizeUnit.SHARES),
        order_plan=OrderPlan(execution_tactic=tactic),
        risk_levels=RiskLevels(stop_loss_level=round(stop, 4), take_profit_level=round(target, 4)),
        strategy_family=StrategyFamily.TREND, confidence=round(win_p, 4),
        rationale=(f"{direction.value} {symbol}: {why}; {tech.setup.value} setup, {tech.trend.value} trend; stop at "
                   f"the technical invalidation {stop:.2f}, target {target:.2f} ({reward_risk:.1f}:1); "
                   f"Kelly {kelly:.3f} -> {fraction:.2%} of equity."
                   + (f" {qty} shares exceed {LARGE_ORDER_FRACTION:.0%} of the last hourly bar's volume: worked "
                      f"as {tactic.value} over the next bars." if tactic else "")),
        references=References(used_indicators=["sma_20_1d", "sma_50_1d", "rsi_14_1h", "rsi_14_1d", "atr_14_1d"]))
    return [decision], f"{symbol}: {decision.action.value} {qty}, {why}"


def execution_tactic(quantity: int, last_hour_volume: float | None, limit_entry: bool = False
                     ) -> ExecutionTactic | None:
    """How to work an order of ``quantity`` units: at once (None) unless it exceeds LARGE_ORDER_FRACTION of
    the last hourly bar's volume; then TWAP (market children over the next bars), or ICEBERG (limit slices
    shown one at a time) for a limit entry. An unknown volume leaves the order as it is."""
    if last_hour_volume is None or not quantity > LARGE_ORDER_FRACTION * last_hour_volume:
        return None
    return ExecutionTactic.ICEBERG if limit_entry else ExecutionTactic.TWAP


def _levels(pos: PositionView, tech: TechnicalAnalysisOutput) -> RiskLevels:
    """The position's bracket; for one held without a stored bracket, one built around today's price."""
    if pos.stop_loss is not None and pos.take_profit is not None:
        return RiskLevels(stop_loss_level=pos.stop_loss, take_profit_level=pos.take_profit)
    price = pos.market_price
    if pos.quantity > 0:
        stop = tech.invalidation_long
        target = max(price, stop) + 2 * max(abs(price - stop), 0.01 * price)
    else:
        stop = tech.invalidation_short
        target = min(price, stop) - 2 * max(abs(price - stop), 0.01 * price)
        target = target if target > 0 else min(price, stop) / 2
    return RiskLevels(stop_loss_level=round(stop, 4), take_profit_level=round(target, 4))


def _close(symbol: str, pos: PositionView, tech: TechnicalAnalysisOutput, why: str) -> Decision:
    return Decision(
        instrument=Equity(symbol=symbol), action=Action.SELL if pos.quantity > 0 else Action.BUY,
        direction=Direction.FLAT, size=Size(quantity=abs(pos.quantity), unit=SizeUnit.SHARES),
        risk_levels=_levels(pos, tech), strategy_family=StrategyFamily.TREND, confidence=0.6,
        rationale=f"Close {symbol}: research turned against the position ({why}).")


def _hold(symbol: str, pos: PositionView, tech: TechnicalAnalysisOutput, why: str) -> Decision:
    return Decision(
        instrument=Equity(symbol=symbol), action=Action.HOLD,
        direction=Direction.LONG if pos.quantity > 0 else Direction.SHORT,
        size=Size(quantity=abs(pos.quantity), unit=SizeUnit.SHARES), risk_levels=_levels(pos, tech),
        strategy_family=StrategyFamily.TREND, confidence=0.5,
        rationale=f"Hold {symbol}: no reason to change the position ({why}); bracket stays in place.")


def revise(plan: DecisionPlan, objections: list[Objection]) -> DecisionPlan:
    """Answer the approvers: halve what was too large, drop what was unsound."""
    critical = [o for o in objections if o.severity is Severity.CRITICAL]
    halve: set[int] = set()
    drop: set[int] = set()
    notes = []
    for o in critical:
        targets = [o.decision_index] if o.decision_index is not None else range(len(plan.decisions))
        for i in targets:
            (halve if o.code in SIZE_CODES else drop).add(i)
    decisions = []
    for i, d in enumerate(plan.decisions):
        if d.action in (Action.HOLD, Action.NO_TRADE):
            decisions.append(d)
        elif i in drop:
            notes.append(f"dropped {d.instrument_id} after objections")
        elif i in halve:
            qty = d.size.quantity // 2
            if qty > 0:
                decisions.append(d.model_copy(update={"size": Size(quantity=qty, unit=d.size.unit)}))
                notes.append(f"halved {d.instrument_id} to {qty}")
            else:
                notes.append(f"dropped {d.instrument_id}: size rounds to zero")
        else:
            decisions.append(d)
    return plan.model_copy(update={"decisions": decisions,
                                   "portfolio_notes": " | ".join(notes) or "revised without change"})
