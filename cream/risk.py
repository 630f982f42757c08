"""The plan-level risk check: a DecisionPlan and the portfolio turned into arrays for the engine.

Used twice: by the risk manager before approval and by the act step as the last word before orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cream.agents.port import PortfolioView, TradingRules
from cream.schemas.agents import Objection, Severity
from cream.schemas.decisions import ORDER_ACTIONS, Action, Decision, DecisionPlan, Direction
from engine import constraints as ec


@dataclass(frozen=True)
class RiskReport:
    approved: bool
    checked: int  # decisions with an order
    violations: list[Objection]

    def reasons(self) -> str:
        return "; ".join(f"{v.code} {v.instrument_id or 'portfolio'}: {v.message}" for v in self.violations)


def engine_limits(rules: TradingRules) -> np.ndarray:
    """The engine's limit vector (engine.constraints.LIM_* order) from the ACTIVE trading_config."""
    out = np.empty(ec.N_LIMITS, dtype=np.float64)
    out[ec.LIM_MAX_UNITS] = rules.max_units
    out[ec.LIM_MAX_NOTIONAL] = rules.max_notional
    out[ec.LIM_MAX_PCT_EQUITY] = rules.max_pct_equity
    out[ec.LIM_MAX_GROSS] = rules.max_gross_notional
    out[ec.LIM_MAX_NET] = rules.max_net_notional
    out[ec.LIM_MAX_LEVERAGE] = rules.max_leverage
    out[ec.LIM_MIN_RISK_REWARD] = rules.min_risk_reward_ratio
    return out


def order_side(decision: Decision, current_qty: float) -> int:
    """+1 buys, -1 sells, 0 no order."""
    a = decision.action
    if a is Action.BUY:
        return 1
    if a is Action.SELL:
        return -1
    if a is Action.INCREASE:
        return 1 if current_qty > 0 or (current_qty == 0 and decision.direction is Direction.LONG) else -1
    if a is Action.REDUCE:
        return -1 if current_qty > 0 else 1
    return 0


def check_plan(plan: DecisionPlan, portfolio: PortfolioView, prices: dict[str, float],
               limits: np.ndarray) -> RiskReport:
    """Every violation of the plan against the limits; approved only if there is none."""
    unknown = [
        Objection(code="UNKNOWN_INSTRUMENT", severity=Severity.CRITICAL, decision_index=i,
                  instrument_id=d.instrument_id, message=f"no market price for {d.instrument.underlying}")
        for i, d in enumerate(plan.decisions) if d.instrument.underlying not in prices
    ] + [
        # Options need premiums and Greeks to be checked; until the engine prices them, they fail closed.
        Objection(code="UNPRICED_INSTRUMENT", severity=Severity.CRITICAL, decision_index=i,
                  instrument_id=d.instrument_id, message=f"{d.instrument.type} positions cannot be risk-checked yet")
        for i, d in enumerate(plan.decisions) if d.instrument.type != "EQUITY" and d.action in ORDER_ACTIONS
    ]
    if unknown:
        return RiskReport(False, len(plan.orders_requested), unknown)
    n = len(plan.decisions)
    side, qty, price, mult = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.ones(n)
    stop, target, cur = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    for i, d in enumerate(plan.decisions):
        pos = portfolio.positions.get(d.instrument_id)
        cur[i] = pos.quantity if pos else 0.0
        side[i] = order_side(d, cur[i])
        qty[i], price[i], mult[i] = d.size.quantity, prices[d.instrument.underlying], d.instrument.multiplier
        stop[i], target[i] = d.risk_levels.stop_loss_level, d.risk_levels.take_profit_level
    is_entry = (side != 0) & (np.abs(cur + side * qty) > np.abs(cur))
    in_plan = {d.instrument_id for d in plan.decisions}
    others = np.array([p.quantity * p.market_price * p.multiplier
                       for k, p in portfolio.positions.items() if k not in in_plan], dtype=np.float64)
    result = ec.check_plan(side, qty, price, mult, stop, target, is_entry, cur, others,
                           float(portfolio.equity), limits)
    violations = [_objection(plan, int(i), int(c), float(v), float(lim)) for i, c, v, lim in
                  zip(result.viol_index, result.viol_code, result.viol_value, result.viol_limit)]
    return RiskReport(not violations, int((side != 0).sum()), violations)


def _objection(plan: DecisionPlan, index: int, code: int, value: float, limit: float) -> Objection:
    name = ec.VIOLATION_NAMES[code]
    decision = plan.decisions[index] if index >= 0 else None
    return Objection(code=name, severity=Severity.CRITICAL, decision_index=index if index >= 0 else None,
                     instrument_id=decision.instrument_id if decision else None,
                     message=f"{name.replace('_', ' ').lower()}: {value:,.4g} against limit {limit:,.4g}")
