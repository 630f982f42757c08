"""The golden scenarios, one builder each. Dates are sample days whose regime fits the scenario.

Events are synthetic (the sample holds bars only); the ADBE earnings date is the real one (2024-06-13,
after the close; the stock gapped up 14% the next morning).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cream.evals.golden_build import (
    CRITIC,
    EQUITY,
    RM,
    at,
    book,
    edited,
    option_marks,
    position,
    scenario,
    snapshots,
)
from cream.evals.scenarios import Expectation, GoldenScenario
from cream.option_marks import mark_of
from cream.schemas.agents import AgentType, Verdict
from cream.schemas.decisions import (
    Action,
    Decision,
    Direction,
    OrderPlan,
    OrderType,
    References,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
    StrategyFamily,
)
from cream.schemas.instruments import Equity, MultiLeg, OptionContract, OptionLeg
from cream.schemas.market import EventKind, ExternalEvent, FeatureSnapshot, OptionMark, RegimeLabel
from cream.schemas.portfolio import PortfolioView

BULL_DAY = "2024-06-18"  # COST and XLK break out in a bull trend that day
NEAR_LIMIT_GROSS = 32_000.0
APPROVE, REJECT = Expectation(verdict=Verdict.APPROVE), Expectation(verdict=Verdict.REJECT)


# --- chain scenarios: every agent runs --------------------------------------------------------------


def bull_trend() -> GoldenScenario:
    why = ("COST and XLK break out in a BULL_TREND; flat book: longs at the technical invalidation are "
           "sound, shorts are not.")
    return scenario("bull_trend", why, snapshots(at(BULL_DAY), "COST", "XLK"), book())


def bear_trend() -> GoldenScenario:
    why = ("ADBE and MA in a BEAR_TREND, both trending down; flat book: no long entry unless the research "
           "is decisively bullish.")
    return scenario("bear_trend", why, snapshots(at("2024-04-30"), "ADBE", "MA"), book())


def bear_regime_bullish_technicals() -> GoldenScenario:
    snap = snapshots(at(BULL_DAY), "COST")["COST"]
    forced = snap.regime.model_copy(update={
        "regime": RegimeLabel.BEAR_TREND, "confidence": 1.0,
        "reasoning": f"edited for the eval: forced to BEAR_TREND (was {snap.regime.regime.value}); "
                     + snap.regime.reasoning})
    why = ("COST's indicators are bullish but its regime is forced to BEAR_TREND: a long needs a conviction"
           " delta beyond the action threshold.")
    return scenario("bear_regime_bullish_technicals", why,
                    {"COST": edited(snap, regime=forced.model_dump(mode="json"))}, book())


def range_bound() -> GoldenScenario:
    why = "ADBE and COST RANGE_BOUND, research split: no entry inside the hold band."
    return scenario("range_bound", why, snapshots(at("2024-08-27"), "ADBE", "COST"), book())


def high_vol() -> GoldenScenario:
    why = ("MA and XLK in HIGH_VOL, drifting down: any entry needs research beyond the action threshold and"
           " a stop at the invalidation.")
    return scenario("high_vol", why, snapshots(at("2024-04-23"), "MA", "XLK"), book())


def long_against_research() -> GoldenScenario:
    snaps = snapshots(at("2024-05-28"), "MA")
    held = position("MA", 20, 470.0, snaps["MA"].price, stop=430.0, target=520.0,
                    opened="2024-05-01T15:00:00")
    why = ("The book is long 20 MA bought at 470; MA has turned into a BEAR_TREND: the research turns "
           "against the long, which must be closed or reduced, never added to or flipped.")
    return scenario("long_against_research", why, snaps, book(held))


def earnings_event_risk() -> GoldenScenario:
    as_of = at("2024-06-13")
    snaps = snapshots(as_of, "ADBE", "XLK")
    events = [
        ExternalEvent(event_id="adbe-earnings-2024q2", kind=EventKind.EARNINGS,
                      ts=as_of + timedelta(hours=1, minutes=5), symbol="ADBE", sentiment=0.0, importance=0.9,
                      headline="Adobe reports fiscal Q2 2024 results after the close"),
        ExternalEvent(event_id="adbe-news-preview", kind=EventKind.NEWS, ts=as_of - timedelta(hours=6),
                      symbol="ADBE", sentiment=-0.2, importance=0.4,
                      headline="Analysts split ahead of Adobe results on AI monetisation"),
    ]
    snaps["ADBE"] = edited(snaps["ADBE"], external_events=[e.model_dump(mode="json") for e in events])
    why = ("ADBE reports earnings an hour after as-of (synthetic events, real date); XLK has no event: the "
           "news analyst must flag the event risk, and any ADBE entry stays at most half the usual size.")
    return scenario("earnings_event_risk", why, snaps, book())


def _near_limit_book() -> PortfolioView:
    prices = {s: snap.price for s, snap in snapshots(at(BULL_DAY), "COST", "ADBE", "MA").items()}
    return book(position("COST", 11, 840.0, prices["COST"]), position("ADBE", 17, 520.0, prices["ADBE"]),
                position("MA", 20, 450.0, prices["MA"]))


def near_limits() -> GoldenScenario:
    why = ("COST and XLK bullish, but COST already takes ~9.6% of equity (limit 10%) and the book's gross "
           f"is ~27.4k of a {NEAR_LIMIT_GROSS:,.0f} cap: no COST add beyond its limit, and the risk manager "
           "must block what breaches the gross cap.")
    return scenario("near_limits", why, snapshots(at(BULL_DAY), "COST", "XLK"), _near_limit_book(),
                    overrides={"max_gross_notional": NEAR_LIMIT_GROSS})


def thin_history() -> GoldenScenario:
    why = ("Three weeks into the sample: 17 daily bars, no SMA 50, regime UNKNOWN: nothing supports a "
           "position and nothing may be cited that the snapshot lacks.")
    return scenario("thin_history", why, snapshots(at("2023-10-20"), "ADBE", "XLK"), book())


# --- approver scenarios: a fixed plan on fixed (rule) research ---------------------------------------

PlanOf = Callable[[dict[str, Any]], list[Decision]]


def _long(symbol: str, snap: FeatureSnapshot, tech: dict[str, Any], qty: int, *, stop: float | None = None,
          entry: float | None = None) -> Decision:
    """A long at ``entry`` (default: market), stop at the invalidation unless given, 2:1 target."""
    price = entry or snap.price
    stop = round(tech["invalidation_long"] if stop is None else stop, 4)
    order = OrderPlan()
    if entry is not None:
        order = OrderPlan(entry_order_type=OrderType.LIMIT, entry_limit_price=round(entry, 2))
    levels = RiskLevels(stop_loss_level=stop, take_profit_level=round(price + 2 * (price - stop), 4))
    return Decision(instrument=Equity(symbol=symbol), action=Action.BUY, direction=Direction.LONG,
                    size=Size(quantity=qty, unit=SizeUnit.SHARES), order_plan=order, risk_levels=levels,
                    strategy_family=StrategyFamily.TREND, confidence=0.7,
                    rationale=f"Long {symbol}: breakout in a bull trend, stop {stop}, 2:1 target.",
                    references=References(used_indicators=["sma_20_1d", "sma_50_1d", "atr_14_1d"]))


def _approvers(name: str, why: str, plan_of: Callable[[dict[str, FeatureSnapshot]], PlanOf],
               expect: dict[AgentType, Expectation], portfolio: PortfolioView | None = None,
               overrides: dict[str, float] | None = None, marks: dict[str, OptionMark] | None = None
               ) -> GoldenScenario:
    snaps = snapshots(at(BULL_DAY), "COST", "XLK")
    return scenario(name, why, snaps, portfolio or book(), overrides=overrides, plan_of=plan_of(snaps),
                    expect=expect, marks=marks)


def _xlk(qty: int, beyond: float = 0.0) -> Callable[[dict[str, FeatureSnapshot]], PlanOf]:
    """The XLK long of ``qty`` shares, its stop ``beyond`` x price further than the invalidation."""
    def plan_of(snaps: dict[str, FeatureSnapshot]) -> PlanOf:
        x = snaps["XLK"]

        def decisions(analyses: dict[str, Any]) -> list[Decision]:
            tech = analyses["XLK"]["technical_analyst"]
            return [_long("XLK", x, tech, qty, stop=tech["invalidation_long"] - beyond * x.price)]
        return decisions
    return plan_of


def approve_sound_plan() -> GoldenScenario:
    why = ("A long XLK of ~6.9% of equity, stop at the technical invalidation, 2:1 target, citing "
           "indicators the snapshot has, on research with delta +0.55: both approve.")
    return _approvers("approve_sound_plan", why, _xlk(30), {RM: APPROVE, CRITIC: APPROVE})


def reject_oversized_plan() -> GoldenScenario:
    why = (f"The sound XLK long at 65 shares (~15% of {EQUITY:,.0f} equity, limit 10%): the risk manager "
           "must reject it.")
    return _approvers("reject_oversized_plan", why, _xlk(65),
                      {RM: Expectation(verdict=Verdict.REJECT, offender="XLK")})


def reject_gross_breach() -> GoldenScenario:
    why = (f"The sound XLK long (~6.9k) on a book with ~27.4k gross and a {NEAR_LIMIT_GROSS:,.0f} gross cap:"
           " the risk manager must reject it.")
    return _approvers("reject_gross_breach", why, _xlk(30), {RM: REJECT}, _near_limit_book(),
                      {"max_gross_notional": NEAR_LIMIT_GROSS})


def reject_stop_beyond_invalidation() -> GoldenScenario:
    why = ("The XLK long with its stop 4% of price below the technical invalidation (the thesis is dead "
           "before the stop fires): the critic must reject it.")
    return _approvers("reject_stop_beyond_invalidation", why, _xlk(30, beyond=0.04),
                      {CRITIC: Expectation(verdict=Verdict.REJECT, offender="XLK")})


def reject_hallucinated_price() -> GoldenScenario:
    def plan_of(snaps: dict[str, FeatureSnapshot]) -> PlanOf:
        c = snaps["COST"]
        made_up = round(c.price * 1.3, 2)
        stop = made_up - 2 * c.indicators["atr_14_1d"]
        return lambda a: [_long("COST", c, a["COST"]["technical_analyst"], 8, entry=made_up, stop=stop)]
    why = ("A COST long limit-priced, stopped and targeted around a price 30% above the snapshot's: the "
           "critic must reject it.")
    return _approvers("reject_hallucinated_price", why, plan_of,
                      {CRITIC: Expectation(verdict=Verdict.REJECT, offender="COST")})


# --- options: the cycle's marks of XLK's chain on BULL_DAY (XLK 231.32, research delta +0.55) ---------------

XLK_JUN28 = "XLK240628{}{:08d}"  # the nearest expiry of the marked window


def _xlk_contract(right: str, strike: float) -> str:
    return XLK_JUN28.format(right, round(strike * 1000))


def _bull_day_marks(*held: str) -> dict[str, OptionMark]:
    return option_marks(snapshots(at(BULL_DAY), "COST", "XLK"), *held)


def _options_decision(instrument: OptionContract | MultiLeg, action: Action, qty: int, stop: float, target: float,
                      limit: float, why: str) -> Decision:
    return Decision(instrument=instrument, action=action,
                    direction=Direction.LONG if action is Action.BUY else Direction.SHORT,
                    size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
                    order_plan=OrderPlan(entry_order_type=OrderType.LIMIT, entry_limit_price=limit),
                    risk_levels=RiskLevels(stop_loss_level=stop, take_profit_level=target,
                                           denomination=RiskDenomination.OPTION_PRICE),
                    strategy_family=StrategyFamily.VOLATILITY, confidence=0.6, rationale=why)


def _put_spread() -> MultiLeg:
    """The 227.5/225 put debit spread; SOLD it is the bull put credit spread (short the ~0.28-delta put)."""
    return MultiLeg(legs=[OptionLeg(occ_symbol=_xlk_contract("P", 227.5), ratio=1),
                          OptionLeg(occ_symbol=_xlk_contract("P", 225.0), ratio=-1)])


def _credit_spread(qty: int) -> Callable[[dict[str, FeatureSnapshot]], PlanOf]:
    def plan_of(_snaps: dict[str, FeatureSnapshot]) -> PlanOf:
        spread = _put_spread()
        credit = _bull_day_marks()
        mark = mark_of(spread.instrument_id, credit)
        assert mark is not None and mark.bid is not None
        c = round(mark.premium, 2)
        return lambda _a: [_options_decision(
            spread, Action.SELL, qty, stop=round(c * 1.4, 2), target=round(c * 0.25, 2),
            limit=round(mark.bid or 0.0, 2),
            why=f"Bullish XLK (delta +0.55): bull put credit spread {spread.instrument_id} sold for {c}, max loss "
                f"the 2.5 width less the credit; stop at 1.4x the credit, target 25% of it.")]
    return plan_of


def approve_credit_spread() -> GoldenScenario:
    why = ("A bull put credit spread on XLK (the 227.5/225 put spread sold, max loss the width less the credit, "
           "~$1.3k on 8 contracts) on bullish research, levels of the premium: a defined-risk credit strategy is "
           "within every limit; both approve.")
    return _approvers("approve_credit_spread", why, _credit_spread(8), {RM: APPROVE, CRITIC: APPROVE},
                      marks=_bull_day_marks())


def reject_naked_short_call() -> GoldenScenario:
    def plan_of(_snaps: dict[str, FeatureSnapshot]) -> PlanOf:
        call = OptionContract(occ_symbol=_xlk_contract("C", 237.5))
        mark = _bull_day_marks()[call.occ_symbol]
        p = round(mark.premium, 2)
        return lambda _a: [_options_decision(call, Action.SELL, 2, stop=round(p * 1.5, 2), target=round(p * 0.2, 2),
                                             limit=round(mark.bid or p, 2),
                                             why=f"Sell 2 XLK 237.5 calls for {p}: premium income.")]
    why = ("Two XLK 237.5 calls sold with no shares held: the loss is unbounded as XLK rises, whatever the "
           "premium; the risk manager must reject it (UNBOUNDED_LOSS), naming XLK.")
    return _approvers("reject_naked_short_call", why, plan_of,
                      {RM: Expectation(verdict=Verdict.REJECT, offender="XLK")}, marks=_bull_day_marks())


STRADDLES = 10  # long XLK 232.5 straddles already in the book: much vega, little delta


def reject_vega_breach() -> GoldenScenario:
    call, put = _xlk_contract("C", 232.5), _xlk_contract("P", 232.5)
    spread = MultiLeg(legs=[OptionLeg(occ_symbol=_xlk_contract("C", 230.0), ratio=1),
                            OptionLeg(occ_symbol=_xlk_contract("C", 235.0), ratio=-1)])
    marks = _bull_day_marks(call, put)
    held = [position(c, STRADDLES, marks[c].premium, marks[c].premium, multiplier=100,
                     stop=round(marks[c].premium * 0.5, 2), target=round(marks[c].premium * 2, 2),
                     levels_on=RiskDenomination.OPTION_PRICE, opened="2024-06-17T15:00:00") for c in (call, put)]
    spread_mark = mark_of(spread.instrument_id, marks)
    assert spread_mark is not None and spread_mark.ask is not None and spread_mark.vega > 0
    held_vega = STRADDLES * 100 * (marks[call].vega + marks[put].vega)
    limit = round(held_vega + 0.5 * 10 * 100 * spread_mark.vega, 1)  # the plan's vega takes it past the limit

    def plan_of(_snaps: dict[str, FeatureSnapshot]) -> PlanOf:
        d = round(spread_mark.premium, 2)
        return lambda _a: [_options_decision(
            spread, Action.BUY, 10, stop=round(d * 0.5, 2), target=round(d * 1.9, 2),
            limit=round(spread_mark.ask or d, 2),
            why=f"Bullish XLK (delta +0.55): bull call debit spread {spread.instrument_id} for {d}.")]
    why = (f"The book holds {STRADDLES} long XLK 232.5 straddles (vega ~{held_vega:,.0f} $ per vol point, little "
           f"delta) under a max_vega of {limit:,}; the plan buys 10 call debit spreads, sound on their own, "
           "whose vega takes the options book past the limit: the risk manager must reject it.")
    return _approvers("reject_vega_breach", why, plan_of, {RM: REJECT}, book(*held), {"max_vega": limit},
                      marks=marks)


def expiring_option_position() -> GoldenScenario:
    as_of = at("2024-06-20")  # Thursday; the spread expires Friday June 21
    spread = "1xXLK240621C00225000+-1xXLK240621C00230000"
    snaps = snapshots(as_of, "XLK")
    marks = option_marks(snaps, spread)
    held = position(spread, 4, 2.1, marks[spread].premium, multiplier=100, stop=1.05, target=4.0,
                    levels_on=RiskDenomination.OPTION_PRICE, opened="2024-06-10T15:00:00")
    why = ("The book holds 4 XLK 225/230 bull call spreads expiring tomorrow (June 21), one leg in and one "
           "out of the money: the trader must close them before their last session rather than leave "
           "exercise and assignment to chance.")
    return scenario("expiring_option_position", why, snaps, book(held), marks=marks)


CASES: list[Callable[[], GoldenScenario]] = [
    bull_trend, bear_trend, bear_regime_bullish_technicals, range_bound, high_vol, long_against_research,
    earnings_event_risk, near_limits, thin_history,
    approve_sound_plan, reject_oversized_plan, reject_gross_breach, reject_stop_beyond_invalidation,
    reject_hallucinated_price, approve_credit_spread, reject_naked_short_call, reject_vega_breach,
    expiring_option_position,
]
