"""check_plan: the plan-level risk check the risk manager and the act step both rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cream.agents.port import PortfolioView, PositionView, TradingRules
from cream.risk import check_plan, engine_limits, order_side
from cream.schemas.agents import Severity
from cream.schemas.decisions import Decision, DecisionPlan, RiskLevels, Size, SizeUnit
from cream.schemas.instruments import Equity
from engine import constraints as ec

RULES = TradingRules(conviction_delta_hold=0.2, conviction_delta_action=0.3, min_risk_reward_ratio=1.5,
                     kelly_multiplier=0.5, max_units=1000, max_notional=50_000, max_pct_equity=0.10,
                     max_gross_notional=500_000, max_net_notional=250_000, max_leverage=2.0)
LIMITS = engine_limits(RULES)


def d(symbol: str, qty: int, *, action: str = "BUY", direction: str = "LONG", stop: float = 95.0,
      target: float = 110.0) -> Decision:
    return Decision(instrument=Equity(symbol=symbol), action=action, direction=direction,
                    size=Size(quantity=qty, unit=SizeUnit.SHARES),
                    risk_levels=RiskLevels(stop_loss_level=stop, take_profit_level=target),
                    strategy_family="TREND", rationale="test", confidence=0.6)


def plan(*decisions: Decision) -> DecisionPlan:
    return DecisionPlan(cycle_id="c", as_of_timestamp=datetime(2025, 6, 2, 15, tzinfo=UTC), environment="BACKTEST",
                        decisions=list(decisions))


def book(equity: float = 100_000.0, **held: tuple[int, float]) -> PortfolioView:
    positions = {s: PositionView(instrument_id=s, quantity=q, avg_entry_price=p, market_price=p)
                 for s, (q, p) in held.items()}
    gross = sum(abs(q * p) for q, p in held.values())
    return PortfolioView(cash=equity, equity=equity, gross_exposure=gross, net_exposure=gross, positions=positions)


def codes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.code for v in report.violations]


def test_engine_limits_carry_every_rule_to_its_slot() -> None:
    assert LIMITS[ec.LIM_MAX_UNITS] == 1000
    assert LIMITS[ec.LIM_MAX_NOTIONAL] == 50_000
    assert LIMITS[ec.LIM_MAX_PCT_EQUITY] == 0.10
    assert LIMITS[ec.LIM_MAX_GROSS] == 500_000
    assert LIMITS[ec.LIM_MAX_NET] == 250_000
    assert LIMITS[ec.LIM_MAX_LEVERAGE] == 2.0
    assert LIMITS[ec.LIM_MIN_RISK_REWARD] == 1.5
    assert LIMITS.shape == (ec.N_LIMITS,)


def test_engine_limits_follow_a_changed_config() -> None:
    tighter = engine_limits(RULES.model_copy(update={"max_units": 10, "min_risk_reward_ratio": 3.0}))
    assert (tighter[ec.LIM_MAX_UNITS], tighter[ec.LIM_MIN_RISK_REWARD]) == (10, 3.0)
    report = check_plan(plan(d("XYZ", 50)), book(), {"XYZ": 100.0}, tighter)
    assert codes(report) == ["RISK_REWARD_TOO_LOW", "MAX_UNITS"]


def test_clean_plan_is_approved_and_counts_its_orders() -> None:
    report = check_plan(plan(d("XYZ", 50), d("ABC", 10, action="HOLD")), book(ABC=(10, 50.0)),
                        {"XYZ": 100.0, "ABC": 50.0}, LIMITS)
    assert report.approved and report.violations == [] and report.checked == 1
    assert report.reasons() == ""


@pytest.mark.parametrize("qty, price, equity, code, value", [
    (1_200, 10.0, 1_000_000.0, "MAX_UNITS", "1,200"),
    (600, 100.0, 1_000_000.0, "MAX_NOTIONAL", "6e+04"),
    (150, 100.0, 100_000.0, "MAX_PCT_EQUITY", "0.15"),
])
def test_each_violation_names_code_decision_instrument_and_value(qty: int, price: float, equity: float,
                                                                 code: str, value: str) -> None:
    report = check_plan(plan(d("OK", 1, stop=9.5, target=11.0), d("XYZ", qty, stop=price * 0.95, target=price * 1.1)),
                        book(equity), {"OK": 10.0, "XYZ": price}, LIMITS)
    assert not report.approved
    [v] = report.violations
    assert (v.code, v.severity, v.decision_index, v.instrument_id) == (code, Severity.CRITICAL, 1, "XYZ")
    assert value in v.message and "against limit" in v.message
    assert report.reasons().startswith(f"{code} XYZ: ")


@pytest.mark.parametrize("dec, code", [
    (d("XYZ", 50, stop=101.0, target=115.0), "STOP_WRONG_SIDE"),
    (d("XYZ", 50, stop=90.0, target=99.0), "TARGET_WRONG_SIDE"),
    (d("XYZ", 50, stop=95.0, target=107.0), "RISK_REWARD_TOO_LOW"),
    (d("XYZ", 50, action="SELL", direction="SHORT", stop=99.0, target=90.0), "STOP_WRONG_SIDE"),
    (d("XYZ", 50, action="SELL", direction="SHORT", stop=104.0, target=95.0), "RISK_REWARD_TOO_LOW"),
])
def test_entries_need_brackets_on_the_right_side_and_enough_reward(dec: Decision, code: str) -> None:
    assert codes(check_plan(plan(dec), book(), {"XYZ": 100.0}, LIMITS)) == [code]


def test_short_entry_with_a_proper_bracket_is_approved() -> None:
    dec = d("XYZ", 50, action="SELL", direction="SHORT", stop=105.0, target=90.0)
    assert check_plan(plan(dec), book(), {"XYZ": 100.0}, LIMITS).approved


def test_instrument_without_a_price_blocks_the_plan() -> None:
    report = check_plan(plan(d("XYZ", 50), d("ZZZ", 5)), book(), {"XYZ": 100.0}, LIMITS)
    assert not report.approved
    [v] = report.violations
    assert (v.code, v.decision_index, v.instrument_id) == ("UNKNOWN_INSTRUMENT", 1, "ZZZ")
    assert "no market price for ZZZ" in v.message


def test_selling_part_of_an_oversized_position_is_not_blocked() -> None:
    # 2,000 shares held (over max_units and max_notional): reducing risk must always be possible.
    close = d("XYZ", 500, action="SELL", direction="FLAT", stop=95.0, target=110.0)
    report = check_plan(plan(close), book(XYZ=(2_000, 100.0)), {"XYZ": 100.0}, LIMITS)
    assert report.approved, report.reasons()


def test_buying_more_of_an_oversized_position_is_blocked() -> None:
    report = check_plan(plan(d("XYZ", 10)), book(XYZ=(2_000, 100.0)), {"XYZ": 100.0}, LIMITS)
    assert {"MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY"} <= set(codes(report))


def test_closing_a_short_with_a_stale_bracket_is_not_blocked() -> None:
    cover = d("XYZ", 300, action="BUY", direction="FLAT", stop=90.0, target=80.0)
    assert check_plan(plan(cover), book(XYZ=(-300, 100.0)), {"XYZ": 100.0}, LIMITS).approved


def test_flipping_long_to_short_is_checked_as_a_short_entry() -> None:
    flip = d("XYZ", 80, action="SELL", direction="SHORT", stop=105.0, target=98.0)
    assert codes(check_plan(plan(flip), book(XYZ=(50, 100.0)), {"XYZ": 100.0}, LIMITS)) == ["RISK_REWARD_TOO_LOW"]


def test_leverage_beyond_the_limit_is_a_portfolio_violation() -> None:
    held = book(A=(1_000, 95.0), B=(1_000, 100.0))  # $195k gross on $100k equity
    report = check_plan(plan(d("XYZ", 100)), held, {"XYZ": 100.0, "A": 95.0, "B": 100.0}, LIMITS)
    [v] = report.violations
    assert (v.code, v.decision_index, v.instrument_id, v.severity) == ("MAX_LEVERAGE", None, None, Severity.CRITICAL)
    assert "MAX_LEVERAGE portfolio:" in report.reasons()


def test_gross_notional_beyond_the_limit_is_a_portfolio_violation() -> None:
    held = book(1_000_000.0, A=(-2_000, 100.0), B=(2_950, 100.0))  # $495k gross, $95k net
    report = check_plan(plan(d("XYZ", 100)), held, {"XYZ": 100.0}, LIMITS)
    assert [(v.code, v.decision_index) for v in report.violations] == [("MAX_GROSS_NOTIONAL", None)]


def test_net_notional_beyond_the_limit_is_a_portfolio_violation_but_a_hedge_is_not() -> None:
    held = book(1_000_000.0, A=(2_450, 100.0))  # $245k net long
    long_more = check_plan(plan(d("XYZ", 100)), held, {"XYZ": 100.0}, LIMITS)
    assert [(v.code, v.decision_index) for v in long_more.violations] == [("MAX_NET_NOTIONAL", None)]
    hedge = d("XYZ", 100, action="SELL", direction="SHORT", stop=105.0, target=90.0)
    assert check_plan(plan(hedge), held, {"XYZ": 100.0}, LIMITS).approved


def test_held_positions_in_the_plan_count_towards_exposure() -> None:
    held = book(A=(1_950, 100.0))
    hold = d("A", 1_950, action="HOLD", stop=90.0, target=120.0)
    report = check_plan(plan(hold, d("XYZ", 100)), held, {"A": 100.0, "XYZ": 100.0}, LIMITS)
    assert "MAX_LEVERAGE" in codes(report)
    assert report.checked == 1


def test_non_positive_equity_blocks_new_risk_but_not_closing() -> None:
    broke = book(0.0, XYZ=(100, 100.0))
    assert "NON_POSITIVE_EQUITY" in codes(check_plan(plan(d("ABC", 1)), broke, {"ABC": 100.0, "XYZ": 100.0}, LIMITS))
    close = d("XYZ", 100, action="SELL", direction="FLAT")
    assert check_plan(plan(close), broke, {"XYZ": 100.0}, LIMITS).approved


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
    report = check_plan(plan(bad), book(), {"XYZ": 100.0}, LIMITS)
    assert set(codes(report)) >= {"STOP_WRONG_SIDE", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_LEVERAGE"}
    assert all(v.severity is Severity.CRITICAL for v in report.violations)
