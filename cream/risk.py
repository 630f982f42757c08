"""The plan-level risk check: a DecisionPlan and the portfolio turned into arrays for the engine.

Used twice: by the risk manager before approval and by the act step as the last word before orders.
Shares are marked at the snapshot price of their symbol; options and multi-leg positions need an
``OptionMark`` (premium and Greeks) - without one they cannot be checked and the plan is rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cream.errors import UnknownInstrument
from cream.market_calendar import NEW_YORK
from cream.option_marks import mark_multileg, strategy_of
from cream.schemas.agents import Objection, Severity
from cream.schemas.config import TradingRules
from cream.schemas.decisions import Action, Decision, DecisionPlan, Direction, RiskDenomination
from cream.schemas.instruments import (
    InstrumentType,
    MultiLeg,
    OccSymbol,
    OptionContract,
    OptionRight,
    is_option,
    underlying_of,
)
from cream.schemas.market import OptionMark
from cream.schemas.portfolio import PortfolioView, PositionView
from engine import constraints as ec
from engine.multileg import MultiLegAnalysis, analyze_multileg
from engine.risk_check import CheckRecord, held_rows, plan_rows
from engine.risk_check import check_plan as engine_check


@dataclass(frozen=True)
class RiskReport:
    approved: bool
    checked: int  # decisions with an order
    violations: list[Objection]  # CRITICAL ones block the plan, WARNINGs ride along
    records: list[CheckRecord] = field(default_factory=list)  # every check the engine evaluated
    plan: DecisionPlan | None = None
    sector_names: Mapping[int, str] = field(default_factory=dict)

    def checks(self) -> list[dict[str, Any]]:
        """Every check the engine evaluated, PASS ones included, as JSON-ready records."""
        assert self.plan is not None or not self.records
        return [_check_record(self.plan, r, self.sector_names) for r in self.records]  # type: ignore[arg-type]

    def reasons(self) -> str:
        critical = [v for v in self.violations if v.severity is Severity.CRITICAL]
        return "; ".join(f"{v.code} {v.instrument_id or 'portfolio'}: {v.message}" for v in critical)


def engine_limits(rules: TradingRules) -> np.ndarray:
    """The engine's limit vector (engine.constraints.LIM_* order) from the ACTIVE trading_config."""
    out = np.empty(ec.N_LIMITS, dtype=np.float64)
    for slot, value in (
        (ec.LIM_MAX_UNITS, rules.max_units), (ec.LIM_MAX_NOTIONAL, rules.max_notional),
        (ec.LIM_MAX_PCT_EQUITY, rules.max_pct_equity), (ec.LIM_MAX_GROSS, rules.max_gross_notional),
        (ec.LIM_MAX_NET, rules.max_net_notional), (ec.LIM_MAX_LEVERAGE, rules.max_leverage),
        (ec.LIM_MIN_RISK_REWARD, rules.min_risk_reward_ratio), (ec.LIM_MAX_SECTOR_PCT, rules.max_sector_pct),
        (ec.LIM_MAX_DELTA_NOTIONAL, rules.max_delta_notional), (ec.LIM_MAX_GAMMA, rules.max_gamma),
        (ec.LIM_MAX_VEGA, rules.max_vega), (ec.LIM_MIN_THETA, rules.min_theta),
        (ec.LIM_PDT_MIN_EQUITY, rules.pdt_min_equity), (ec.LIM_PDT_MAX_DAY_TRADES, rules.pdt_max_day_trades),
        (ec.LIM_WARN_FRACTION, rules.risk_warn_fraction),
    ):
        out[slot] = value
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


class _Marks:
    """Price and Greeks per unit of anything the check sees; KeyError when it cannot be marked.

    A multi-leg strategy without a mark of its own is marked from its legs' (``mark_multileg``); one
    already in the book (``held``) is marked at a tick when its legs net to less."""

    def __init__(self, prices: Mapping[str, float], options: Mapping[str, OptionMark], held: Iterable[str] = ()
                 ) -> None:
        self.prices, self.options, self.held = prices, dict(options), set(held)
        self.why: dict[str, str] = {}  # instrument id -> why it cannot be marked, where there is more to say

    def of(self, instrument_id: str, kind: str, underlying: str) -> tuple[float, float, np.ndarray]:
        """(price, underlying price, [delta, gamma, vega, theta])."""
        if kind == InstrumentType.EQUITY:
            return self.prices[underlying], self.prices[underlying], np.zeros(4)
        m = self.options.get(instrument_id) or self._strategy(instrument_id)
        return m.premium, m.underlying_price, np.array([m.delta, m.gamma, m.vega, m.theta])

    def _strategy(self, instrument_id: str) -> OptionMark:
        strategy = strategy_of(instrument_id)
        if strategy is None:
            raise KeyError(instrument_id)
        try:
            mark = mark_multileg(strategy, self.options, held=instrument_id in self.held)
        except UnknownInstrument as e:
            self.why[instrument_id] = str(e)
            raise KeyError(instrument_id) from e
        self.options[instrument_id] = mark
        return mark


def _unmarked(plan: DecisionPlan, marks: _Marks) -> list[Objection]:
    out = []
    for i, d in enumerate(plan.decisions):
        try:
            marks.of(d.instrument_id, d.instrument.type, d.instrument.underlying)
        except KeyError:
            what = "market price" if d.instrument.type == InstrumentType.EQUITY else "option quote (premium, Greeks)"
            out.append(Objection(code="UNKNOWN_INSTRUMENT", severity=Severity.CRITICAL, decision_index=i,
                                 instrument_id=d.instrument_id,
                                 message=marks.why.get(d.instrument_id, f"no {what} for {d.instrument_id}")))
    return out


def _level_sign(d: Decision, delta: float) -> float:
    """+1 when the levels rise with the position's value (shares, calls, premium levels), -1 for puts."""
    if d.instrument.type == InstrumentType.EQUITY or d.risk_levels.denomination is RiskDenomination.OPTION_PRICE:
        return 1.0
    if isinstance(d.instrument, OptionContract):
        return 1.0 if d.instrument.parts.right is OptionRight.CALL else -1.0
    return 1.0 if delta >= 0 else -1.0


def _exposure_price(d: Decision, side: int, cur: float, premium: float, portfolio: PortfolioView) -> float:
    """What one unit of an option position after this order can lose, per unit of the underlying (the
    engine multiplies by quantity and multiplier): the price the limits count its exposure at.

    From ``engine.multileg``'s payoff analysis of the legs at expiry, worth between -lo and hi per unit:
    long, the premium paid plus lo (a long call, put or debit spread: its premium); short, hi less the
    premium received (a put: its strike less the credit, S = 0, cash-secured; a debit spread sold, i.e.
    a credit spread: its width less the credit). A call sold against shares held loses nothing more than
    the shares would (counted at its premium). What can lose without bound (an uncovered short call, a
    ratio spread with calls net short) is inf: refused."""
    instrument = d.instrument
    assert isinstance(instrument, OptionContract | MultiLeg)
    after = cur + side * d.size.quantity
    value = _payoff_at_expiry(instrument)
    if after >= 0:
        return premium + max(value.max_loss, 0.0)
    shares = portfolio.positions.get(instrument.underlying)
    if isinstance(instrument, OptionContract) and instrument.parts.right is OptionRight.CALL and shares is not None \
            and shares.quantity >= -after * instrument.multiplier:
        return premium  # covered
    loss = value.max_profit - premium
    return loss if loss > 0 else premium


def _payoff_at_expiry(instrument: OptionContract | MultiLeg) -> MultiLegAnalysis:
    """The legs' payoff per unit at expiry before premiums (``engine.multileg``): worth between -max_loss
    and max_profit."""
    legs = [(instrument.parts, 1)] if isinstance(instrument, OptionContract) else \
        [(OccSymbol.parse(leg.occ_symbol), leg.ratio) for leg in instrument.legs]
    return analyze_multileg([p.right is OptionRight.CALL for p, _ in legs], [float(p.strike) for p, _ in legs],
                            [float(r) for _, r in legs], [0.0] * len(legs), multiplier=1.0)


def _unbounded(i: int, d: Decision) -> Objection:
    return Objection(code="UNBOUNDED_LOSS", severity=Severity.CRITICAL, decision_index=i, instrument_id=d.instrument_id,
                     message=f"{d.instrument_id} as ordered can lose without limit (calls net short, uncovered): "
                             "only defined-risk strategies (spreads, covered calls, cash-secured puts) are allowed")


def _opened_today(pos: PositionView | None, as_of: datetime | None) -> bool:
    if pos is None or pos.opened_at is None or as_of is None:
        return False
    return pos.opened_at.astimezone(NEW_YORK).date() == as_of.astimezone(NEW_YORK).date()


def check_plan(plan: DecisionPlan, portfolio: PortfolioView, prices: Mapping[str, float], rules: TradingRules, *,
               sectors: Mapping[str, str] | None = None, option_marks: Mapping[str, OptionMark] | None = None,
               as_of: datetime | None = None) -> RiskReport:
    """Every check of the plan against the limits; approved only if no CRITICAL violation remains.

    ``prices``: symbol -> last price; ``sectors``: symbol -> sector (unknown ones warn);
    ``option_marks``: instrument id -> mark, for every option in the plan or the book.
    """
    marks, sectors = _Marks(prices, option_marks or {}, portfolio.positions), sectors or {}
    unknown = _unmarked(plan, marks)
    if unknown:
        return RiskReport(False, len(plan.orders_requested), unknown)
    sector_ids = {name: i for i, name in enumerate(sorted(set(sectors.values())))}
    cols: dict[str, list[float]] = {k: [] for k in (
        "side", "qty", "price", "stop", "target", "current_qty", "multiplier", "level_price", "level_sign",
        "sector", "opened_today", "underlying", "delta", "gamma", "vega", "theta")}
    unbounded = []
    for i, d in enumerate(plan.decisions):
        pos = portfolio.positions.get(d.instrument_id)
        cur = float(pos.quantity) if pos else 0.0
        working = portfolio.working_orders.get(d.instrument_id)  # what open entries may still add
        price, underlying, greeks = marks.of(d.instrument_id, d.instrument.type, d.instrument.underlying)
        side = order_side(d, cur)
        exposure = price
        if isinstance(d.instrument, OptionContract | MultiLeg) and side != 0:  # limits count what it can lose
            exposure = _exposure_price(d, side, cur + (working.quantity if working else 0), price, portfolio)
            if not np.isfinite(exposure):
                unbounded.append(_unbounded(i, d))
                exposure = price
        premium_levels = d.risk_levels.denomination is RiskDenomination.OPTION_PRICE
        for k, v in (("side", side), ("qty", d.size.quantity), ("price", exposure),
                     ("stop", d.risk_levels.stop_loss_level), ("target", d.risk_levels.take_profit_level),
                     ("current_qty", cur + (working.quantity if working else 0)), ("multiplier", d.instrument.multiplier),
                     ("level_price", price if premium_levels else underlying),
                     ("level_sign", _level_sign(d, greeks[0])),
                     ("sector", sector_ids.get(sectors.get(d.instrument.underlying, ""), -1)),
                     ("opened_today", _opened_today(pos, as_of)), ("underlying", underlying),
                     ("delta", greeks[0]), ("gamma", greeks[1]), ("vega", greeks[2]), ("theta", greeks[3])):
            cols[k].append(float(v))
    rows = plan_rows(**{k: np.array(v) for k, v in cols.items()})
    held, held_ids = _held(portfolio, {d.instrument_id for d in plan.decisions}, marks, sectors, sector_ids)
    result = engine_check(rows, held, equity=portfolio.equity, buying_power=portfolio.buying_power,
                          day_trades_5d=portfolio.day_trades_5d, limits=engine_limits(rules))
    names = {i: n for n, i in sector_ids.items()}
    violations = unbounded + [_objection(plan, r, names, held_ids) for r in result.records(result.violations)]
    return RiskReport(result.approved and not unbounded, int((rows[:, ec.P_SIDE] != 0).sum()), violations,
                      result.records(), plan, names)


def _held(portfolio: PortfolioView, in_plan: set[str], marks: _Marks, sectors: Mapping[str, str],
          sector_ids: Mapping[str, int]) -> tuple[np.ndarray, list[str]]:
    """Positions outside the plan, with what their open entry orders may still add (an instrument with
    only a working order counts too); one that cannot be marked becomes a NaN row (fails closed)."""
    cols: dict[str, list[float]] = {k: [] for k in ("notional", "sector", "delta_notional", "gamma", "vega", "theta")}
    no_greeks = np.zeros(4)
    ids = [k for k in [*portfolio.positions, *(k for k in portfolio.working_orders if k not in portfolio.positions)]
           if k not in in_plan]
    for key in ids:
        p, w = portfolio.positions.get(key), portfolio.working_orders.get(key)
        multiplier = p.multiplier if p is not None else w.multiplier if w is not None else 1
        units = ((p.quantity if p else 0) + (w.quantity if w else 0)) * multiplier
        if multiplier == 1:  # shares: marked at their own last price (working only: the market's, else its limit)
            price = p.market_price if p is not None else marks.prices.get(
                key, w.price if w is not None and w.price is not None else np.nan)
            underlying, spot, g = key, price, no_greeks
        else:
            underlying = underlying_of(key)
            try:
                price, spot, g = marks.of(key, InstrumentType.OPTION, underlying)
            except KeyError:
                price, spot, g = np.nan, np.nan, np.full(4, np.nan)
            if units < 0:  # a short put or a sold spread held counts what it can lose, as when it was sold
                strategy = strategy_of(key)
                if strategy is not None:
                    price = max(_payoff_at_expiry(strategy).max_profit - price, price)
                elif is_option(key) and OccSymbol.parse(key).right is OptionRight.PUT:
                    price = max(float(OccSymbol.parse(key).strike) - price, price)
        for k, v in (("notional", units * price), ("sector", sector_ids.get(sectors.get(underlying, ""), -1)),
                     ("delta_notional", units * g[0] * spot), ("gamma", units * g[1]), ("vega", units * g[2]),
                     ("theta", units * g[3])):
            cols[k].append(float(v))
    return held_rows(**{k: np.array(v) for k, v in cols.items()}), ids


def _where(plan: DecisionPlan, record: CheckRecord, sector_names: Mapping[int, str]
           ) -> tuple[int | None, str | None]:
    """(decision index, instrument id) of a decision's check; (None, 'sector:<name>') of a sector's;
    (None, None) of the portfolio's."""
    if record.index >= 0:
        return record.index, plan.decisions[record.index].instrument_id
    return None, f"sector:{sector_names[record.sector]}" if record.sector >= 0 else None


def _objection(plan: DecisionPlan, record: CheckRecord, sector_names: Mapping[int, str],
               held_ids: list[str]) -> Objection:
    index, instrument = _where(plan, record, sector_names)
    severity = Severity.CRITICAL if record.severity == ec.CRITICAL else Severity.WARNING
    message = record.finding()
    row = int(record.value) if record.violation == "INVALID_HELD_POSITION" and record.value is not None else -1
    if 0 <= row < len(held_ids):  # the value of that finding is the held row's index
        message = f"{message}: {held_ids[row]}"
    if index is None and record.sector >= 0:  # the sector's name leads: "Energy SECTOR_CONCENTRATION ..."
        message = f"{sector_names[record.sector]} {message}"
    return Objection(code=record.violation, severity=severity, decision_index=index, instrument_id=instrument,
                     message=message)


def _check_record(plan: DecisionPlan, record: CheckRecord, sector_names: Mapping[int, str]) -> dict[str, Any]:
    index, instrument = _where(plan, record, sector_names)
    return {"check": record.check, "status": record.status, "instrument_id": instrument, "decision_index": index,
            "value": record.value, "limit": record.limit}
