"""check_plan: the plan-level risk check the risk manager and the act step both rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cream.risk import RiskReport, check_plan, engine_limits, order_side
from cream.schemas.agents import Severity
from cream.schemas.config import TradingRules
from cream.schemas.decisions import (
    Decision,
    DecisionPlan,
    Environment,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import Equity, MultiLeg, OptionContract, OptionLeg
from cream.schemas.market import OptionMark
from cream.schemas.portfolio import PortfolioView, PositionView, WorkingOrderView
from cream.services.runtime_config import default_trading_config
from engine import constraints as ec

RULES = default_trading_config(Environment.BACKTEST).rules
AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)
SECTORS = dict.fromkeys(("XYZ", "OK"), "Industrials") | {"A": "Energy", "B": "Utilities", "ABC": "Materials"}


def d(symbol: str, qty: int, *, action: str = "BUY", direction: str = "LONG", stop: float = 95.0,
      target: float = 110.0) -> Decision:
    return Decision(instrument=Equity(symbol=symbol), action=action, direction=direction,
                    size=Size(quantity=qty, unit=SizeUnit.SHARES),
                    risk_levels=RiskLevels(stop_loss_level=stop, take_profit_level=target),
                    strategy_family="TREND", rationale="test", confidence=0.6)


def plan(*decisions: Decision) -> DecisionPlan:
    return DecisionPlan(cycle_id="c", as_of_timestamp=AS_OF, environment="BACKTEST", decisions=list(decisions))


def book(equity: float = 100_000.0, day_trades: int = 0, **held: tuple[int, float]) -> PortfolioView:
    positions = {s: PositionView(instrument_id=s, quantity=q, avg_entry_price=p, market_price=p)
                 for s, (q, p) in held.items()}
    gross = sum(abs(q * p) for q, p in held.values())
    return PortfolioView(cash=equity, equity=equity, gross_exposure=gross, net_exposure=gross, positions=positions,
                         buying_power=max(0.0, 2 * equity - gross), day_trades_5d=day_trades)


def run(p: DecisionPlan, portfolio: PortfolioView, prices: dict[str, float], rules: TradingRules = RULES,
        **kw: Any) -> RiskReport:
    return check_plan(p, portfolio, prices, rules, **{"sectors": SECTORS, "as_of": AS_OF, **kw})


def codes(report: RiskReport) -> list[str]:
    return [v.code for v in report.violations if v.severity is Severity.CRITICAL]


def test_engine_limits_carry_every_rule_to_its_slot() -> None:
    limits = engine_limits(RULES)
    assert limits.shape == (ec.N_LIMITS,)
    # The trading_config defaults and the engine's product defaults are the same numbers.
    assert np.array_equal(limits, ec.default_limits())


def test_engine_limits_follow_a_changed_config() -> None:
    tighter = RULES.model_copy(update={"max_units": 10, "min_risk_reward_ratio": 3.0})
    assert (engine_limits(tighter)[ec.LIM_MAX_UNITS], engine_limits(tighter)[ec.LIM_MIN_RISK_REWARD]) == (10, 3.0)
    report = run(plan(d("XYZ", 50)), book(), {"XYZ": 100.0}, tighter)
    assert codes(report) == ["RISK_REWARD_TOO_LOW", "MAX_UNITS"]


def test_clean_plan_is_approved_and_counts_its_orders() -> None:
    report = run(plan(d("XYZ", 50), d("ABC", 10, action="HOLD")), book(ABC=(10, 50.0)),
                        {"XYZ": 100.0, "ABC": 50.0})
    assert report.approved and report.violations == [] and report.checked == 1
    assert report.reasons() == ""


@pytest.mark.parametrize("qty, price, equity, code, value", [
    (1_200, 10.0, 1_000_000.0, "MAX_UNITS", "1,200"),
    (600, 100.0, 1_000_000.0, "MAX_NOTIONAL", "60,000 $"),
    (150, 100.0, 100_000.0, "MAX_PCT_EQUITY", "0.15"),
])
def test_each_violation_names_code_decision_instrument_and_value(qty: int, price: float, equity: float,
                                                                 code: str, value: str) -> None:
    report = run(plan(d("OK", 1, stop=9.5, target=11.0), d("XYZ", qty, stop=price * 0.95, target=price * 1.1)),
                 book(equity), {"OK": 10.0, "XYZ": price}, sectors={"OK": "Energy", "XYZ": "Industrials"})
    assert not report.approved
    [v] = [v for v in report.violations if v.severity is Severity.CRITICAL]
    assert (v.code, v.severity, v.decision_index, v.instrument_id) == (code, Severity.CRITICAL, 1, "XYZ")
    assert value in v.message and "(limit " in v.message
    assert report.reasons().startswith(f"{code} XYZ: ")


@pytest.mark.parametrize("dec, code", [
    (d("XYZ", 50, stop=101.0, target=115.0), "STOP_WRONG_SIDE"),
    (d("XYZ", 50, stop=90.0, target=99.0), "TARGET_WRONG_SIDE"),
    (d("XYZ", 50, stop=95.0, target=107.0), "RISK_REWARD_TOO_LOW"),
    (d("XYZ", 50, action="SELL", direction="SHORT", stop=99.0, target=90.0), "STOP_WRONG_SIDE"),
    (d("XYZ", 50, action="SELL", direction="SHORT", stop=104.0, target=95.0), "RISK_REWARD_TOO_LOW"),
])
def test_entries_need_brackets_on_the_right_side_and_enough_reward(dec: Decision, code: str) -> None:
    assert codes(run(plan(dec), book(), {"XYZ": 100.0})) == [code]


def test_short_entry_with_a_proper_bracket_is_approved() -> None:
    dec = d("XYZ", 50, action="SELL", direction="SHORT", stop=105.0, target=90.0)
    assert run(plan(dec), book(), {"XYZ": 100.0}).approved


def test_instrument_without_a_price_blocks_the_plan() -> None:
    report = run(plan(d("XYZ", 50), d("ZZZ", 5)), book(), {"XYZ": 100.0})
    assert not report.approved
    [v] = report.violations
    assert (v.code, v.decision_index, v.instrument_id) == ("UNKNOWN_INSTRUMENT", 1, "ZZZ")
    assert "no market price for ZZZ" in v.message


def test_selling_part_of_an_oversized_position_is_not_blocked() -> None:
    # 2,000 shares held (over max_units and max_notional): reducing risk must always be possible.
    close = d("XYZ", 500, action="SELL", direction="FLAT", stop=95.0, target=110.0)
    report = run(plan(close), book(XYZ=(2_000, 100.0)), {"XYZ": 100.0})
    assert report.approved, report.reasons()


def test_buying_more_of_an_oversized_position_is_blocked() -> None:
    report = run(plan(d("XYZ", 10)), book(XYZ=(2_000, 100.0)), {"XYZ": 100.0})
    assert {"MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY"} <= set(codes(report))


def test_closing_a_short_with_a_stale_bracket_is_not_blocked() -> None:
    cover = d("XYZ", 300, action="BUY", direction="FLAT", stop=90.0, target=80.0)
    assert run(plan(cover), book(XYZ=(-300, 100.0)), {"XYZ": 100.0}).approved


def test_flipping_long_to_short_is_checked_as_a_short_entry() -> None:
    flip = d("XYZ", 80, action="SELL", direction="SHORT", stop=105.0, target=98.0)
    assert codes(run(plan(flip), book(XYZ=(50, 100.0)), {"XYZ": 100.0})) == ["RISK_REWARD_TOO_LOW"]


def test_leverage_beyond_the_limit_is_a_portfolio_violation() -> None:
    held = book(A=(1_000, 95.0), B=(1_000, 100.0)).model_copy(update={"buying_power": 1e6})  # $195k gross
    report = run(plan(d("XYZ", 100)), held, {"XYZ": 100.0, "A": 95.0, "B": 100.0})
    [v] = [v for v in report.violations if v.severity is Severity.CRITICAL]
    assert (v.code, v.decision_index, v.instrument_id, v.severity) == ("MAX_LEVERAGE", None, None, Severity.CRITICAL)
    assert "MAX_LEVERAGE portfolio:" in report.reasons()


def test_gross_notional_beyond_the_limit_is_a_portfolio_violation() -> None:
    held = book(1_000_000.0, A=(-2_000, 100.0), B=(2_950, 100.0))  # $495k gross, $95k net
    report = run(plan(d("XYZ", 100)), held, {"XYZ": 100.0})
    assert [(v.code, v.decision_index) for v in report.violations] == [("MAX_GROSS_NOTIONAL", None)]


def test_net_notional_beyond_the_limit_is_a_portfolio_violation_but_a_hedge_is_not() -> None:
    held = book(1_000_000.0, A=(2_450, 100.0))  # $245k net long
    long_more = run(plan(d("XYZ", 100)), held, {"XYZ": 100.0})
    assert [(v.code, v.decision_index) for v in long_more.violations] == [("MAX_NET_NOTIONAL", None)]
    hedge = d("XYZ", 100, action="SELL", direction="SHORT", stop=105.0, target=90.0)
    assert run(plan(hedge), held, {"XYZ": 100.0}).approved


def test_held_positions_in_the_plan_count_towards_exposure() -> None:
    held = book(A=(1_950, 100.0))
    hold = d("A", 1_950, action="HOLD", stop=90.0, target=120.0)
    report = run(plan(hold, d("XYZ", 100)), held, {"A": 100.0, "XYZ": 100.0})
    assert "MAX_LEVERAGE" in codes(report)
    assert report.checked == 1


def test_non_positive_equity_blocks_new_risk_but_not_closing() -> None:
    broke = book(0.0, XYZ=(100, 100.0))
    assert "NON_POSITIVE_EQUITY" in codes(run(plan(d("ABC", 1)), broke, {"ABC": 100.0, "XYZ": 100.0}))
    close = d("XYZ", 100, action="SELL", direction="FLAT")
    assert run(plan(close), broke, {"XYZ": 100.0}).approved


@pytest.mark.parametrize("action, direction, held, side", [
    ("BUY", "LONG", 0, 1), ("SELL", "SHORT", 0, -1), ("HOLD", "LONG", 10, 0), ("NO_TRADE", "FLAT", 0, 0),
    ("INCREASE", "LONG", 10, 1), ("INCREASE", "SHORT", -10, -1), ("INCREASE", "SHORT", 0, -1),
    ("REDUCE", "LONG", 10, -1), ("REDUCE", "SHORT", -10, 1),
])
def test_order_side_follows_action_and_holding(action: str, direction: str, held: int, side: int) -> None:
    dec = d("XYZ", 5, action=action, direction=direction, stop=95.0 if direction != "SHORT" else 105.0,
            target=110.0 if direction != "SHORT" else 90.0)
    assert order_side(dec, held) == side


def test_report_lists_every_violation_not_just_the_first() -> None:
    bad = d("XYZ", 2_500, stop=101.0, target=115.0)
    report = run(plan(bad), book(), {"XYZ": 100.0})
    assert set(codes(report)) >= {"STOP_WRONG_SIDE", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_LEVERAGE"}
    assert not report.approved and report.reasons().count(";") == len(codes(report)) - 1


def test_buying_power_blocks_an_entry_the_account_cannot_pay_for() -> None:
    poor = book(A=(1_000, 95.0), B=(1_000, 100.0))  # Reg T: 2 x $100k - $195k = $5k left
    report = run(plan(d("XYZ", 100)), poor, {"XYZ": 100.0})
    assert "INSUFFICIENT_BUYING_POWER" in codes(report)


def test_sector_concentration_names_the_sector() -> None:
    held = book(A=(250, 100.0))  # $25k of Energy on $100k
    more = d("ABC", 60, stop=95.0, target=110.0)
    report = run(plan(more), held, {"ABC": 100.0}, sectors={"A": "Energy", "ABC": "Energy"})
    [v] = [v for v in report.violations if v.severity is Severity.CRITICAL]
    assert (v.code, v.instrument_id) == ("SECTOR_CONCENTRATION", "sector:Energy")
    assert v.message.startswith("Energy ") and "0.31" in v.message


def test_every_check_is_recorded_with_its_status() -> None:
    report = run(plan(d("XYZ", 50)), book(), {"XYZ": 100.0})
    by_check = {c["check"]: c for c in report.checks()}
    assert by_check["MAX_UNITS"] == {"check": "MAX_UNITS", "status": "PASS", "instrument_id": "XYZ",
                                     "decision_index": 0, "value": 50.0, "limit": 1000.0}
    assert by_check["SECTOR_CONCENTRATION"]["instrument_id"] == "sector:Industrials"
    assert {c["status"] for c in report.checks()} == {"PASS"}


def test_closing_a_position_opened_this_session_counts_as_a_day_trade() -> None:
    opened = PositionView(instrument_id="XYZ", quantity=100, avg_entry_price=100.0, market_price=100.0,
                          opened_at=AS_OF - timedelta(hours=2))
    small = book(20_000.0, day_trades=3).model_copy(update={"positions": {"XYZ": opened}})
    close = d("XYZ", 100, action="SELL", direction="FLAT")
    assert codes(run(plan(close), small, {"XYZ": 100.0})) == ["PATTERN_DAY_TRADER"]
    overnight = opened.model_copy(update={"opened_at": AS_OF - timedelta(days=1)})
    assert run(plan(close), small.model_copy(update={"positions": {"XYZ": overnight}}), {"XYZ": 100.0}).approved


CALL = OptionContract(occ_symbol="XYZ250620C00100000")


def option(qty: int, *, action: str = "BUY", stop: float = 96.0, target: float = 110.0,
           denomination: RiskDenomination = RiskDenomination.UNDERLYING_PRICE) -> Decision:
    return Decision(instrument=CALL, action=action, direction="LONG", size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
                    risk_levels=RiskLevels(stop_loss_level=stop, take_profit_level=target, denomination=denomination),
                    strategy_family="TREND", rationale="test", confidence=0.6)


MARK = OptionMark(instrument_id=CALL.instrument_id, premium=3.0, underlying_price=100.0, delta=0.55, gamma=0.04,
                  vega=0.12, theta=-0.06)


def test_an_option_without_a_quote_is_rejected_as_unknown() -> None:
    report = run(plan(option(5)), book(), {"XYZ": 100.0})
    assert codes(report) == ["UNKNOWN_INSTRUMENT"]
    assert "option quote" in report.violations[0].message


def test_options_are_checked_on_premium_and_on_the_greeks_of_the_book_after_the_plan() -> None:
    marks = {CALL.instrument_id: MARK}
    ok = run(plan(option(5)), book(), {"XYZ": 100.0}, option_marks=marks)
    assert ok.approved, ok.reasons()
    notional = next(c for c in ok.checks() if c["check"] == "MAX_NOTIONAL")
    assert notional["value"] == pytest.approx(5 * 3.0 * 100)  # premium x multiplier
    delta = next(c for c in ok.checks() if c["check"] == "DELTA_NOTIONAL")
    assert delta["value"] == pytest.approx(5 * 100 * 0.55 * 100.0)
    # 20 contracts: vega 0.12 x 2,000 = 240 fine, but 0.55 x 2,000 x $100 = $110k of delta
    report = run(plan(option(20)), book(1_000_000.0), {"XYZ": 100.0}, option_marks=marks)
    assert codes(report) == ["MAX_DELTA_NOTIONAL"]


def test_option_levels_in_premium_are_checked_against_the_premium() -> None:
    marks = {CALL.instrument_id: MARK}
    premium_levels = option(5, stop=2.0, target=4.5, denomination=RiskDenomination.OPTION_PRICE)
    assert run(plan(premium_levels), book(), {"XYZ": 100.0}, option_marks=marks).approved
    wrong = option(5, stop=2.0, target=4.5)  # the same numbers read as underlying prices are nonsense
    assert "STOP_WRONG_SIDE" not in codes(run(plan(wrong), book(), {"XYZ": 100.0}, option_marks=marks))
    assert "TARGET_WRONG_SIDE" in codes(run(plan(wrong), book(), {"XYZ": 100.0}, option_marks=marks))


def test_a_held_option_without_a_quote_blocks_new_risk() -> None:
    held_call = PositionView(instrument_id=CALL.instrument_id, quantity=2, avg_entry_price=3.0, market_price=3.0,
                             multiplier=100)
    held = book().model_copy(update={"positions": {CALL.instrument_id: held_call}})
    blocked = run(plan(d("XYZ", 10)), held, {"XYZ": 100.0})
    assert codes(blocked) == ["INVALID_HELD_POSITION"] and blocked.violations[0].message.endswith(CALL.instrument_id)
    marked = run(plan(d("XYZ", 10)), held, {"XYZ": 100.0}, option_marks={CALL.instrument_id: MARK})
    assert marked.approved, marked.reasons()


def working(portfolio: PortfolioView, **orders: tuple[int, float | None]) -> PortfolioView:
    """``portfolio`` with open entry orders that may still add (signed quantity, limit price)."""
    return portfolio.model_copy(update={"working_orders": {
        s: WorkingOrderView(instrument_id=s, quantity=q, price=p) for s, (q, p) in orders.items()}})


def test_an_open_entry_of_the_same_instrument_counts_as_if_it_were_held() -> None:
    """A resting limit or a tactic's children still to come: the next act may not buy past the limit."""
    rules = RULES.model_copy(update={"max_units": 100})
    flat = book()
    assert run(plan(d("XYZ", 60)), flat, {"XYZ": 100.0}, rules).approved
    report = run(plan(d("XYZ", 60)), working(flat, XYZ=(50, 99.0)), {"XYZ": 100.0}, rules)
    units = next(v for v in report.violations if v.code == "MAX_UNITS")
    assert (units.severity, units.instrument_id) == (Severity.CRITICAL, "XYZ") and "110 units" in units.message
    assert "MAX_PCT_EQUITY" in codes(report)  # $11k of $100k: the working 50 shares count at the market


def test_open_entries_of_other_instruments_count_in_the_portfolio_limits() -> None:
    rich = book(1_000_000.0)
    assert run(plan(d("XYZ", 100)), rich, {"XYZ": 100.0}).approved
    report = run(plan(d("XYZ", 100)), working(rich, A=(2_450, 90.0)), {"XYZ": 100.0, "A": 100.0})
    assert codes(report) == ["MAX_NET_NOTIONAL"]  # $245k working (at the market's 100) + $10k > $250k
    # an instrument the cycle has no price for is marked at the order's own limit
    assert codes(run(plan(d("XYZ", 100)), working(rich, B=(2_450, 100.0)), {"XYZ": 100.0})) == ["MAX_NET_NOTIONAL"]
    assert run(plan(d("XYZ", 100)), working(rich, B=(2_450, 90.0)), {"XYZ": 100.0}).approved


def test_an_open_entry_that_cannot_be_marked_blocks_the_plan() -> None:
    report = run(plan(d("XYZ", 1)), working(book(), B=(10, None)), {"XYZ": 100.0})
    assert "INVALID_HELD_POSITION" in codes(report)


def test_a_book_without_open_entries_serialises_as_before() -> None:
    assert "working_orders" not in book().model_dump(mode="json")
    assert working(book(), A=(1, 2.0)).model_dump(mode="json")["working_orders"]["A"]["quantity"] == 1


PUT = OptionContract(occ_symbol="XYZ250620P00095000")
PUT_MARK = OptionMark(instrument_id=PUT.instrument_id, premium=2.0, underlying_price=100.0, delta=-0.3, gamma=0.03,
                      vega=0.1, theta=-0.04)
CALL_MARKS = {CALL.instrument_id: MARK, PUT.instrument_id: PUT_MARK}


def sold(contract: OptionContract, qty: int, *, action: str = "SELL") -> Decision:
    """A short option with its levels on the premium: bought back at 1.3 times the credit, or at 0.4 of it
    (a reward of 0.6 for a risk of 0.3)."""
    premium = CALL_MARKS[contract.instrument_id].premium
    return Decision(instrument=contract, action=action, direction="SHORT",
                    size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
                    risk_levels=RiskLevels(stop_loss_level=1.3 * premium, take_profit_level=0.4 * premium,
                                           denomination=RiskDenomination.OPTION_PRICE),
                    strategy_family="MEAN_REVERSION", rationale="test", confidence=0.6)


def limit(report: RiskReport, check: str) -> float:
    return float(next(c for c in report.checks() if c["check"] == check)["value"])


def test_a_cash_secured_put_counts_what_it_can_lose_not_its_premium() -> None:
    """Sold for $2 at a $95 strike: it loses at most $93 a share if XYZ goes to 0, and the limits count that."""
    ok = run(plan(sold(PUT, 1)), book(), {"XYZ": 100.0}, option_marks=CALL_MARKS)
    assert ok.approved, ok.reasons()
    assert limit(ok, "MAX_NOTIONAL") == pytest.approx(100 * 93.0)
    # two: $18,600 at risk is 18.6% of the book (the premium, $400, would have been 0.4%)
    assert codes(run(plan(sold(PUT, 2)), book(), {"XYZ": 100.0}, option_marks=CALL_MARKS)) == ["MAX_PCT_EQUITY"]
    tight = RULES.model_copy(update={"max_notional": 5_000.0})
    assert codes(run(plan(sold(PUT, 1)), book(), {"XYZ": 100.0}, tight, option_marks=CALL_MARKS)) == ["MAX_NOTIONAL"]


def test_an_uncovered_short_call_is_refused_for_its_unbounded_loss() -> None:
    report = run(plan(sold(CALL, 1)), book(), {"XYZ": 100.0}, option_marks=CALL_MARKS)
    assert not report.approved and codes(report) == ["UNBOUNDED_LOSS"]
    assert "defined-risk" in report.reasons()
    # partly covered: 100 shares cover one contract, not two
    half = run(plan(sold(CALL, 2)), book(XYZ=(100, 100.0)), {"XYZ": 100.0}, option_marks=CALL_MARKS)
    assert codes(half) == ["UNBOUNDED_LOSS"]


def test_a_covered_call_is_allowed_and_closing_a_long_call_is_not_a_short_sale() -> None:
    covered = run(plan(sold(CALL, 1)), book(XYZ=(100, 100.0)), {"XYZ": 100.0}, option_marks=CALL_MARKS)
    assert covered.approved, covered.reasons()
    assert limit(covered, "MAX_NOTIONAL") == pytest.approx(100 * 3.0)
    held_call = PositionView(instrument_id=CALL.instrument_id, quantity=2, avg_entry_price=3.0, market_price=3.0,
                             multiplier=100)
    long_calls = book().model_copy(update={"positions": {CALL.instrument_id: held_call}})
    close = option(2, action="SELL")
    assert run(plan(close), long_calls, {"XYZ": 100.0}, option_marks=CALL_MARKS).approved
    past_flat = run(plan(option(3, action="SELL")), long_calls, {"XYZ": 100.0}, option_marks=CALL_MARKS)
    assert "UNBOUNDED_LOSS" in codes(past_flat)  # selling 3 against 2 held leaves one call short, uncovered


def test_a_short_put_held_counts_its_strike_less_premium_in_the_book() -> None:
    held_put = PositionView(instrument_id=PUT.instrument_id, quantity=-1, avg_entry_price=2.0, market_price=2.0,
                            multiplier=100)
    short_put = book().model_copy(update={"positions": {PUT.instrument_id: held_put}})
    report = run(plan(d("ABC", 10, stop=45.0, target=60.0)), short_put, {"ABC": 50.0}, option_marks=CALL_MARKS)
    assert report.approved, report.reasons()
    assert limit(report, "MAX_GROSS_NOTIONAL") == pytest.approx(100 * 93.0 + 10 * 50.0)


BEAR_PUTS = MultiLeg(legs=[OptionLeg(occ_symbol="XYZ250620P00100000", ratio=1),
                           OptionLeg(occ_symbol="XYZ250620P00090000", ratio=-1)])
RATIO_CALLS = MultiLeg(legs=[OptionLeg(occ_symbol="XYZ250620C00100000", ratio=1),
                             OptionLeg(occ_symbol="XYZ250620C00110000", ratio=-2)])
SPREAD_MARKS = {m.instrument_id: m for m in (
    OptionMark(instrument_id=BEAR_PUTS.instrument_id, premium=4.0, underlying_price=100.0, delta=-0.2, gamma=0.0,
               vega=0.02, theta=-0.01),
    OptionMark(instrument_id=RATIO_CALLS.instrument_id, premium=1.0, underlying_price=100.0, delta=0.1,
               gamma=-0.01, vega=-0.05, theta=0.02))}


def spread(strategy: MultiLeg, qty: int, action: str) -> Decision:
    premium = SPREAD_MARKS[strategy.instrument_id].premium
    short = action == "SELL"
    return Decision(instrument=strategy, action=action, direction="SHORT" if short else "LONG",
                    size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
                    risk_levels=RiskLevels(stop_loss_level=premium * (1.3 if short else 0.7),
                                           take_profit_level=premium * (0.4 if short else 1.6),
                                           denomination=RiskDenomination.OPTION_PRICE),
                    strategy_family="MEAN_REVERSION", rationale="test", confidence=0.6)


def test_a_debit_spread_counts_its_debit_and_the_same_spread_sold_its_width_less_the_credit() -> None:
    """Long the 100/90 put spread for $4: at most $4 lost. Sold (a bull put credit spread for $4): at most
    the $10 width less the $4 credit, $6, however low XYZ goes."""
    bought = run(plan(spread(BEAR_PUTS, 3, "BUY")), book(), {"XYZ": 100.0}, option_marks=SPREAD_MARKS)
    assert bought.approved, bought.reasons()
    assert limit(bought, "MAX_NOTIONAL") == pytest.approx(3 * 100 * 4.0)
    sold_ = run(plan(spread(BEAR_PUTS, 3, "SELL")), book(), {"XYZ": 100.0}, option_marks=SPREAD_MARKS)
    assert sold_.approved, sold_.reasons()
    assert limit(sold_, "MAX_NOTIONAL") == pytest.approx(3 * 100 * 6.0)


def test_a_ratio_spread_with_calls_net_short_is_refused_for_its_unbounded_loss() -> None:
    report = run(plan(spread(RATIO_CALLS, 1, "BUY")), book(), {"XYZ": 100.0}, option_marks=SPREAD_MARKS)
    assert codes(report) == ["UNBOUNDED_LOSS"] and "calls net short" in report.reasons()


LEG_MARKS = {m.instrument_id: m for m in (
    OptionMark(instrument_id="XYZ250620P00100000", premium=6.0, underlying_price=100.0, delta=-0.5, gamma=0.03,
               vega=0.12, theta=-0.04, bid=5.9, ask=6.1),
    OptionMark(instrument_id="XYZ250620P00090000", premium=2.0, underlying_price=100.0, delta=-0.2, gamma=0.02,
               vega=0.08, theta=-0.02, bid=1.9, ask=2.1))}


def test_a_strategy_without_a_mark_of_its_own_is_priced_from_its_legs() -> None:
    """The cycle's marks are per contract: the 100/90 put spread is worth the legs' 6 - 2 = 4, and its
    Greeks are the legs' by ratio (the book's vega after the plan counts 0.12 - 0.08 per unit)."""
    sold_ = run(plan(spread(BEAR_PUTS, 3, "SELL")), book(), {"XYZ": 100.0}, option_marks=LEG_MARKS)
    assert sold_.approved, sold_.reasons()
    assert limit(sold_, "MAX_NOTIONAL") == pytest.approx(3 * 100 * 6.0)  # the 10 width less the 4 credit
    assert limit(sold_, "VEGA") == pytest.approx(abs(-3 * 100 * (0.12 - 0.08)))
    missing = run(plan(spread(BEAR_PUTS, 3, "BUY")), book(), {"XYZ": 100.0},
                  option_marks={"XYZ250620P00100000": LEG_MARKS["XYZ250620P00100000"]})
    assert codes(missing) == ["UNKNOWN_INSTRUMENT"] and "no mark for leg(s) XYZ250620P00090000" in missing.reasons()


def test_a_credit_strategy_given_as_a_buy_is_refused_with_how_to_order_it() -> None:
    credit = MultiLeg(legs=[OptionLeg(occ_symbol="XYZ250620P00100000", ratio=-1),
                            OptionLeg(occ_symbol="XYZ250620P00090000", ratio=1)])
    d_ = spread(BEAR_PUTS, 1, "BUY").model_copy(update={"instrument": credit})
    report = run(plan(d_), book(), {"XYZ": 100.0}, option_marks=LEG_MARKS)
    assert codes(report) == ["UNKNOWN_INSTRUMENT"] and "ordered as a SELL of their debit form" in report.reasons()


def test_a_sold_spread_held_counts_its_width_less_the_credit_in_the_book() -> None:
    held = PositionView(instrument_id=BEAR_PUTS.instrument_id, quantity=-2, avg_entry_price=4.0, market_price=4.0,
                        multiplier=100)
    report = run(plan(d("ABC", 10, stop=45.0, target=60.0)), book().model_copy(update={"positions": {
        BEAR_PUTS.instrument_id: held}}), {"ABC": 50.0}, option_marks=LEG_MARKS)
    assert report.approved, report.reasons()
    assert limit(report, "MAX_GROSS_NOTIONAL") == pytest.approx(2 * 100 * 6.0 + 10 * 50.0)
