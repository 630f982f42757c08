"""Checks of the trader's DecisionPlan against the seeds' decision logic and the per-instrument limits.

Deltas, invalidation levels and regimes come from the same backend's earlier outputs in the scenario, so
the trader is judged on what its own analysts and researchers told it.
"""

from __future__ import annotations

from cream import market_calendar
from cream.evals.subject import (
    Check,
    Order,
    Subject,
    conviction_delta,
    entries,
    event_risk,
    option_views,
    orders,
    trader_plan,
)
from cream.option_marks import mark_of
from cream.schemas.decisions import Direction
from cream.schemas.instruments import OccSymbol, option_legs, underlying_of
from cream.schemas.market import RegimeLabel

STOP_TOLERANCE = 0.01  # the stop sits at the technical invalidation, within 1% of the price
EVENT_RISK_SIZE = 0.5  # with event risk ahead, an entry takes at most half the %-of-equity limit


def _side(o: Order) -> str:
    return "long" if o.side > 0 else "short"


def symbols_in_snapshot(s: Subject) -> list[str]:
    out = []
    for d in trader_plan(s).decisions:
        if d.instrument.underlying not in s.scenario.snapshots:
            out.append(f"{d.instrument_id}: {d.instrument.underlying} is not in the snapshot")
        elif d.instrument.type != "EQUITY" and mark_of(d.instrument_id, s.scenario.option_marks) is None:
            out.append(f"{d.instrument_id}: the cycle marked no such contract, the option cannot be priced")
    return out


def manages_held_options(s: Subject) -> list[str]:
    """An option position that expires by the next session is closed (in full); one whose view (its
    delta as held) the research turned against beyond the action threshold is closed or reduced."""
    plan, out, action = trader_plan(s), [], s.rules.conviction_delta_action
    closing = {o.decision.instrument_id: o.decision.size.quantity for o in orders(s, plan) if not o.opens}
    next_session = market_calendar.next_session(s.scenario.as_of.astimezone(market_calendar.NEW_YORK).date())
    for key, pos in sorted(s.scenario.portfolio.positions.items()):
        legs = option_legs(key)
        if not legs or pos.quantity == 0:
            continue
        expiry = OccSymbol.parse(legs[0][1]).expiration
        if expiry <= next_session and closing.get(key, 0) != abs(pos.quantity):
            out.append(f"{key}: {pos.quantity} held expire {expiry} but the plan does not close them")
        mark = mark_of(key, s.scenario.option_marks)
        delta = conviction_delta(s.research(underlying_of(key)))
        view = (mark.delta if mark else 0.0) * pos.quantity
        if delta is not None and view * delta < 0 and abs(delta) > action and key not in closing:
            out.append(f"{key}: a {'bullish' if view > 0 else 'bearish'} position with delta {delta:+.2f} "
                       "against it, neither closed nor reduced")
    return out


def references_exist(s: Subject) -> list[str]:
    out = []
    for d in trader_plan(s).decisions:
        snap = s.scenario.snapshots.get(d.instrument.underlying)
        known = set(snap.indicators) | set(snap.normalized) if snap else set()
        unknown = [k for k in d.references.used_indicators if k not in known]
        events = {e.event_id for e in snap.external_events} if snap else set()
        unknown += [k for k in d.references.event_ids if k not in events]
        if unknown:
            out.append(f"{d.instrument_id}: cites {unknown}, not in the snapshot")
    return out


def no_entry_without_research(s: Subject) -> list[str]:
    return [f"{o.label}: no valid research from both researchers for {o.symbol}"
            for o in entries(s, trader_plan(s)) if conviction_delta(s.research(o.symbol)) is None]


def no_entry_inside_hold_band(s: Subject) -> list[str]:
    out, hold = [], s.rules.conviction_delta_hold
    for o in entries(s, trader_plan(s)):
        delta = conviction_delta(s.research(o.symbol))
        if delta is not None and abs(delta) < hold:
            out.append(f"{o.label}: |delta| {abs(delta):.2f} < hold threshold {hold}")
    return out


def entry_agrees_with_research(s: Subject) -> list[str]:
    out = []
    for o in entries(s, trader_plan(s)):
        delta = conviction_delta(s.research(o.symbol))
        if delta is not None and delta * o.side <= 0:
            out.append(f"{o.label}: {_side(o)} entry against conviction delta {delta:+.2f}")
    return out


def regime_alignment(s: Subject) -> list[str]:
    out, action = [], s.rules.conviction_delta_action
    against = {1: RegimeLabel.BEAR_TREND, -1: RegimeLabel.BULL_TREND}
    for o in entries(s, trader_plan(s)):
        regime = s.scenario.snapshots[o.symbol].regime.regime
        delta = conviction_delta(s.research(o.symbol))
        if regime is against[o.side] and (delta is None or delta * o.side <= action):
            shown = "n/a" if delta is None else f"{delta:+.2f}"
            out.append(f"{o.label}: {_side(o)} entry in {regime.value} with delta {shown} "
                       f"(needs beyond {'+' if o.side > 0 else '-'}{action})")
    return out


def follows_conviction(s: Subject) -> list[str]:
    """Seeds: delta beyond the action threshold on a symbol not held means an entry that way. Standing
    aside before a high-importance scheduled event is always allowed."""
    plan, out = trader_plan(s), []
    opened = {(o.symbol, o.side) for o in entries(s, plan)} | option_views(s, plan)
    for symbol, snap in sorted(s.scenario.snapshots.items()):
        delta = conviction_delta(s.research(symbol))
        held = s.scenario.portfolio.positions.get(symbol)
        options_held = any(underlying_of(k) == symbol and k != symbol for k in s.scenario.portfolio.positions)
        if (delta is None or (held and held.quantity) or options_held or abs(delta) <= s.rules.conviction_delta_action
                or event_risk(snap)):
            continue
        side = 1 if delta > 0 else -1
        if (symbol, side) not in opened:
            out.append(f"{symbol}: delta {delta:+.2f} beyond ±{s.rules.conviction_delta_action} "
                       f"but no {'long' if side > 0 else 'short'} entry")
    return out


def exits_when_research_turns(s: Subject) -> list[str]:
    plan, out, action = trader_plan(s), [], s.rules.conviction_delta_action
    reducing = {o.decision.instrument_id for o in orders(s, plan) if not o.opens}
    for key, pos in sorted(s.scenario.portfolio.positions.items()):
        if pos.multiplier != 1 or key not in s.scenario.snapshots or pos.quantity == 0:
            continue
        delta = conviction_delta(s.research(key))
        turned = delta is not None and delta * (1 if pos.quantity > 0 else -1) < -action
        if turned and key not in reducing:
            out.append(f"{key}: holds {pos.quantity} with delta {delta:+.2f} against it "
                       "but neither closes nor reduces")
    return out


def closes_within_position(s: Subject) -> list[str]:
    out = []
    for o in orders(s, trader_plan(s)):
        qty = o.decision.size.quantity
        if not o.opens and qty > abs(o.held):
            out.append(f"{o.label}: closes {qty} of a {o.held} position (would flip it)")
        elif o.held == 0 and o.decision.direction is Direction.FLAT:
            out.append(f"{o.label}: a closing order with nothing held")
    return out


def entry_brackets_price(s: Subject) -> list[str]:
    out = []
    for o in entries(s, trader_plan(s)):
        price, rl = s.scenario.snapshots[o.symbol].price, o.decision.risk_levels
        stop, target = rl.stop_loss_level, rl.take_profit_level
        lo, hi = (stop, target) if o.side > 0 else (target, stop)
        if not lo < price < hi:
            out.append(f"{o.label}: {_side(o)} needs stop and target either side of price {price}, "
                       f"got stop {rl.stop_loss_level} target {rl.take_profit_level}")
    return out


def stop_at_invalidation(s: Subject) -> list[str]:
    out = []
    for o in entries(s, trader_plan(s)):
        tech = s.research(o.symbol).get("technical_analyst")
        if tech is None:
            continue  # no_entry_without_research reports it
        level = tech["invalidation_long"] if o.side > 0 else tech["invalidation_short"]
        price, stop = s.scenario.snapshots[o.symbol].price, o.decision.risk_levels.stop_loss_level
        if abs(stop - level) > STOP_TOLERANCE * price:
            out.append(f"{o.label}: stop {stop} is {abs(stop - level) / price:.1%} of price from the "
                       f"technical invalidation {level} (tolerance {STOP_TOLERANCE:.0%})")
    return out


def reward_risk(s: Subject) -> list[str]:
    out, minimum = [], s.rules.min_risk_reward_ratio
    for o in entries(s, trader_plan(s)):
        price, rl = s.scenario.snapshots[o.symbol].price, o.decision.risk_levels
        risk, reward = o.side * (price - rl.stop_loss_level), o.side * (rl.take_profit_level - price)
        if risk > 0 and reward / risk < minimum:
            out.append(f"{o.label}: reward/risk {reward / risk:.2f} < {minimum}")
    return out


def size_within_limits(s: Subject) -> list[str]:
    out, r, equity = [], s.rules, s.scenario.portfolio.equity
    for o in entries(s, trader_plan(s)):
        units = abs(o.new_quantity) * o.decision.instrument.multiplier
        notional = units * s.scenario.snapshots[o.symbol].price
        for name, value, limit in (("units", units, r.max_units), ("notional", notional, r.max_notional),
                                   ("% of equity", notional / equity, r.max_pct_equity)):
            if value > limit:
                out.append(f"{o.label}: position {name} {value:,.4g} over the limit {limit:,.4g}")
    return out


def event_risk_sizing(s: Subject) -> list[str]:
    out, equity = [], s.scenario.portfolio.equity
    cap = EVENT_RISK_SIZE * s.rules.max_pct_equity
    for o in entries(s, trader_plan(s)):
        snap = s.scenario.snapshots[o.symbol]
        risky = event_risk(snap)
        notional = abs(o.new_quantity) * o.decision.instrument.multiplier * snap.price
        if risky and notional / equity > cap:
            out.append(f"{o.label}: {notional / equity:.1%} of equity into {risky[0].kind.value} "
                       f"'{risky[0].headline}' (at most {cap:.1%} with event risk)")
    return out


TRADER: dict[str, Check] = {
    "symbols_in_snapshot": symbols_in_snapshot, "references_exist": references_exist,
    "no_entry_without_research": no_entry_without_research,
    "no_entry_inside_hold_band": no_entry_inside_hold_band,
    "entry_agrees_with_research": entry_agrees_with_research, "regime_alignment": regime_alignment,
    "follows_conviction": follows_conviction, "exits_when_research_turns": exits_when_research_turns,
    "closes_within_position": closes_within_position, "entry_brackets_price": entry_brackets_price,
    "stop_at_invalidation": stop_at_invalidation, "reward_risk": reward_risk,
    "size_within_limits": size_within_limits, "event_risk_sizing": event_risk_sizing,
    "manages_held_options": manages_held_options,
}
# Failures of these are logic and evidence errors: the critic must reject a plan that has one.
CRITIC_DOMAIN = frozenset({
    "references_exist", "no_entry_without_research", "no_entry_inside_hold_band",
    "entry_agrees_with_research",
    "regime_alignment", "closes_within_position", "stop_at_invalidation",
})
