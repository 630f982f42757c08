"""The rule-based head trader: conviction delta -> decision, stops at invalidation, sizing, revision."""

from __future__ import annotations

import pytest
from agent_builders import (
    AS_OF,
    CYCLE,
    INDICATORS,
    RULES,
    analyses,
    context,
    decision,
    plan,
    portfolio,
    position,
    real_analyses,
    real_snapshots,
    snapshot,
)

from cream.agents.rules.trader import LARGE_ORDER_FRACTION, execution_tactic, revise, trader
from cream.schemas.agents import Objection, Severity
from cream.schemas.config import TradingRules
from cream.schemas.decisions import Action, Decision, DecisionPlan, Direction, ExecutionTactic, SizeUnit
from cream.schemas.instruments import Equity


def run(bull: float, bear: float, *, held: int = 0, equity: float = 100_000.0, price: float = 100.0,
        inv_long: float = 95.0, inv_short: float = 105.0, event_risk: bool = False, macro_risk: str = "LOW",
        rules: TradingRules = RULES) -> DecisionPlan:
    book = portfolio(*([position("XYZ", held, price, price)] if held else []), equity=equity)
    a = analyses("XYZ", bull=bull, bear=bear, inv_long=inv_long, inv_short=inv_short, event_risk=event_risk,
                 macro_risk=macro_risk)
    return trader(context([snapshot("XYZ", price)], {"XYZ": a}, book=book, rules=rules))


def only(p: DecisionPlan) -> Decision:
    assert len(p.decisions) == 1, p.portfolio_notes
    return p.decisions[0]


@pytest.mark.parametrize("bull, bear, why", [(0.45, 0.35, "insufficient edge"), (0.35, 0.5, "insufficient edge"),
                                             (0.6, 0.35, "below action threshold"), (0.65, 0.35, "below action")])
def test_flat_symbol_without_enough_edge_gets_no_trade(bull: float, bear: float, why: str) -> None:
    p = run(bull, bear)
    assert p.decisions == []
    assert f"XYZ: no trade, {why}" in (p.portfolio_notes or "")


def test_clear_bullish_edge_buys_long_with_stop_at_invalidation() -> None:
    d = only(run(0.9, 0.1))
    assert (d.action, d.direction) == (Action.BUY, Direction.LONG)
    assert d.instrument == Equity(symbol="XYZ") and d.size.unit is SizeUnit.SHARES
    assert d.risk_levels.stop_loss_level == 95.0
    reward_risk = (d.risk_levels.take_profit_level - 100) / (100 - d.risk_levels.stop_loss_level)
    assert reward_risk >= RULES.min_risk_reward_ratio
    assert 0 < d.size.quantity * 100 <= RULES.max_pct_equity * 100_000
    assert 0 <= d.confidence <= 1


def test_more_conviction_means_a_larger_position() -> None:
    small, large = only(run(0.7, 0.35)).size.quantity, only(run(0.9, 0.1)).size.quantity
    assert 0 < small < large


def test_event_risk_halves_the_size() -> None:
    clean = only(run(0.9, 0.1)).size.quantity
    risky = only(run(0.9, 0.1, event_risk=True)).size.quantity
    assert risky == pytest.approx(clean / 2, abs=1)


def test_elevated_macro_risk_also_halves_the_size() -> None:
    clean = only(run(0.9, 0.1)).size.quantity
    assert only(run(0.9, 0.1, macro_risk="ELEVATED")).size.quantity == pytest.approx(clean / 2, abs=1)


def test_a_distant_stop_caps_the_loss_at_one_percent_of_equity() -> None:
    d = only(run(0.9, 0.1, inv_long=80.0))
    assert d.risk_levels.stop_loss_level == 80.0
    assert d.size.quantity * (100 - 80) <= 0.01 * 100_000


def test_size_respects_max_units_and_max_notional() -> None:
    tight = RULES.model_copy(update={"max_units": 7})
    assert only(run(0.9, 0.1, rules=tight)).size.quantity <= 7
    big = only(run(0.9, 0.1, equity=10_000_000.0))
    assert big.size.quantity * 100 <= RULES.max_notional


def test_clear_bearish_edge_on_a_flat_symbol_opens_a_short() -> None:
    d = only(run(0.1, 0.9))
    assert (d.action, d.direction) == (Action.SELL, Direction.SHORT)
    assert d.risk_levels.stop_loss_level == 105.0
    reward_risk = (100 - d.risk_levels.take_profit_level) / (d.risk_levels.stop_loss_level - 100)
    assert reward_risk >= RULES.min_risk_reward_ratio
    assert d.size.quantity > 0


def test_short_without_a_positive_target_is_skipped() -> None:
    p = run(0.1, 0.9, price=10.0, inv_long=8.0, inv_short=16.0)
    assert p.decisions == []
    assert "no positive take-profit" in (p.portfolio_notes or "")


def test_size_that_rounds_to_zero_is_no_trade() -> None:
    p = run(0.9, 0.1, equity=1_000.0, price=2_000.0, inv_long=1_900.0, inv_short=2_100.0)
    assert p.decisions == []
    assert "size rounds to zero" in (p.portfolio_notes or "")


def test_bearish_edge_on_a_long_holding_closes_all_of_it() -> None:
    d = only(run(0.1, 0.9, held=40))
    assert (d.action, d.direction, d.size.quantity) == (Action.SELL, Direction.FLAT, 40)


def test_bullish_edge_on_a_short_holding_buys_it_back() -> None:
    d = only(run(0.9, 0.1, held=-30))
    assert (d.action, d.direction, d.size.quantity) == (Action.BUY, Direction.FLAT, 30)


@pytest.mark.parametrize("bull, bear", [(0.5, 0.45), (0.6, 0.35), (0.9, 0.1)])
def test_held_long_without_a_reason_to_close_is_held(bull: float, bear: float) -> None:
    d = only(run(bull, bear, held=25))
    assert (d.action, d.direction, d.size.quantity) == (Action.HOLD, Direction.LONG, 25)


def test_hold_keeps_the_existing_bracket() -> None:
    book = portfolio(position("XYZ", 25, 90.0, 100.0, stop=92.0, target=118.0))
    p = trader(context([snapshot()], {"XYZ": analyses(bull=0.5, bear=0.45)}, book=book))
    levels = only(p).risk_levels
    assert (levels.stop_loss_level, levels.take_profit_level) == (92.0, 118.0)


def test_symbol_with_missing_analyses_gets_no_decision_and_a_note() -> None:
    partial = {k: v for k, v in analyses("XYZ", bull=0.9, bear=0.1).items() if k == "technical_analyst"}
    p = trader(context([snapshot("XYZ"), snapshot("ABC")], {"XYZ": partial}))
    assert p.decisions == []
    notes = p.portfolio_notes or ""
    assert "ABC: no trade, missing technical_analyst" in notes
    assert "XYZ: no trade, missing news_analyst, fundamentals_analyst, bullish_researcher" in notes


def test_plan_has_one_decision_per_traded_symbol_and_the_cycle_identity() -> None:
    snaps = [snapshot("XYZ"), snapshot("ABC"), snapshot("QRS")]
    p = trader(context(snaps, {"XYZ": analyses("XYZ", bull=0.9, bear=0.1),
                               "ABC": analyses("ABC", bull=0.1, bear=0.9),
                               "QRS": analyses("QRS", bull=0.4, bear=0.4)}))
    assert [d.instrument_id for d in p.decisions] == ["ABC", "XYZ"]
    assert (p.cycle_id, p.as_of_timestamp, p.environment.value) == (CYCLE, AS_OF, "BACKTEST")


def test_real_sample_buys_where_research_agrees_and_stops_at_invalidation() -> None:
    snaps = real_snapshots()
    found = real_analyses(snaps)
    p = trader(context(snaps, found))
    for d in p.decisions:
        a = found[d.instrument_id]
        delta = a["bullish_researcher"]["conviction"] - a["bearish_researcher"]["conviction"]
        assert d.direction is (Direction.LONG if delta > 0 else Direction.SHORT)
        assert abs(delta) > RULES.conviction_delta_action
        key = "invalidation_long" if delta > 0 else "invalidation_short"
        assert d.risk_levels.stop_loss_level == pytest.approx(a["technical_analyst"][key], abs=1e-4)
        assert d.size.quantity * snaps[d.instrument_id].price <= RULES.max_pct_equity * 100_000
    assert [d.instrument_id for d in p.decisions] == ["COST", "MA", "XLK"]


# --- revising after objections -------------------------------------------------------------------


def objection(code: str, index: int | None, severity: Severity = Severity.CRITICAL) -> Objection:
    return Objection(code=code, severity=severity, message=f"{code} objection", decision_index=index)


def three() -> DecisionPlan:
    return plan(decision("AAA", qty=41), decision("BBB", qty=10),
                decision("CCC", action="HOLD", qty=30))


def test_size_objection_halves_only_the_named_decision() -> None:
    out = revise(three(), [objection("MAX_UNITS", 0)])
    assert [d.size.quantity for d in out.decisions] == [20, 10, 30]
    assert "halved AAA to 20" in (out.portfolio_notes or "")


def test_portfolio_level_size_objection_halves_every_order_but_not_holds() -> None:
    out = revise(three(), [objection("MAX_GROSS_NOTIONAL", None)])
    assert [d.size.quantity for d in out.decisions] == [20, 5, 30]


def test_other_critical_objection_drops_the_decision() -> None:
    out = revise(three(), [objection("STOP_WRONG_SIDE", 1)])
    assert [d.instrument_id for d in out.decisions] == ["AAA", "CCC"]
    assert "dropped BBB after objections" in (out.portfolio_notes or "")


def test_hold_is_kept_whatever_the_objection() -> None:
    out = revise(three(), [objection("CONTRADICTS_RESEARCH", 2), objection("MAX_LEVERAGE", 2)])
    assert out.decisions == three().decisions


def test_halving_a_single_share_drops_it() -> None:
    out = revise(plan(decision("AAA", qty=1)), [objection("MAX_NOTIONAL", 0)])
    assert out.decisions == [] and "size rounds to zero" in (out.portfolio_notes or "")


def test_warnings_change_nothing() -> None:
    out = revise(three(), [objection("STOP_WRONG_SIDE", 0, Severity.WARNING)])
    assert out.decisions == three().decisions
    assert out.portfolio_notes == "revised without change"
    assert out.cycle_id == CYCLE


def test_trader_revises_its_previous_plan_when_given_objections() -> None:
    ctx = context([snapshot("AAA")], {}, previous_plan=three(), objections=[objection("MAX_UNITS", 0)])
    assert [d.size.quantity for d in trader(ctx).decisions] == [20, 10, 30]


# --- found bugs ----------------------------------------------------------------------------------


def test_long_with_invalidation_at_the_price_is_skipped_not_a_crash() -> None:
    assert run(0.9, 0.1, inv_long=100.0).decisions == []


def test_short_holding_far_from_entry_is_held_without_a_crash() -> None:
    book = portfolio(position("XYZ", -100, 10.0, 15.0))
    p = trader(context([snapshot("XYZ", 15.0)], {"XYZ": analyses(bull=0.5, bear=0.5, inv_long=14.0,
                                                                   inv_short=16.5)}, book=book))
    assert only(p).action is Action.HOLD


def run_with_volume(volume: float | None) -> Decision:
    indicators = dict(INDICATORS) if volume is None else {**INDICATORS, "volume_last_1h": volume}
    a = analyses("XYZ", bull=0.9, bear=0.1, inv_long=95.0, inv_short=105.0)
    return only(trader(context([snapshot("XYZ", 100.0, indicators=indicators)], {"XYZ": a}, book=portfolio())))


def test_an_entry_large_against_the_last_hourly_volume_is_worked_by_twap() -> None:
    size = run_with_volume(None).size.quantity
    assert size > 10
    thin = run_with_volume(size / LARGE_ORDER_FRACTION - 1)  # just over 1% of the bar's volume
    assert thin.order_plan.execution_tactic is ExecutionTactic.TWAP and thin.size.quantity == size
    assert "worked as TWAP" in thin.rationale
    deep = run_with_volume(size / LARGE_ORDER_FRACTION)  # exactly 1%: at once
    assert deep.order_plan.execution_tactic is None and "worked as" not in deep.rationale
    assert run_with_volume(None).order_plan.execution_tactic is None  # volume unknown: as it is


def test_the_tactic_rule() -> None:
    assert LARGE_ORDER_FRACTION == 0.01
    assert execution_tactic(101, 10_000.0) is ExecutionTactic.TWAP
    assert execution_tactic(101, 10_000.0, limit_entry=True) is ExecutionTactic.ICEBERG
    assert execution_tactic(100, 10_000.0) is None and execution_tactic(5, None) is None
    assert execution_tactic(1, 0.0) is ExecutionTactic.TWAP  # a bar that traded nothing: nothing is small against it


def test_closing_a_position_goes_at_once_whatever_its_size() -> None:
    book = portfolio(position("XYZ", 5_000, 100.0, 100.0))
    a = analyses("XYZ", bull=0.1, bear=0.9, inv_long=95.0, inv_short=105.0)
    snap = snapshot("XYZ", 100.0, indicators={**INDICATORS, "volume_last_1h": 1_000.0})
    d = only(trader(context([snap], {"XYZ": a}, book=book)))
    assert d.direction is Direction.FLAT and d.order_plan.execution_tactic is None
