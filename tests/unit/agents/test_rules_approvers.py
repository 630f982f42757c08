"""The dual gate: the risk manager (hard limits) and the critic (logic and evidence)."""

from __future__ import annotations

import pytest
from agent_builders import analyses, context, decision, plan, portfolio, position, snapshot

from cream.agents.port import AgentContext
from cream.agents.rules.approvers import critic, risk_manager
from cream.schemas.agents import ApprovalVerdict, Severity, Verdict
from cream.schemas.decisions import Decision


def ctx(*decisions: Decision, price: float = 100.0, equity: float = 100_000.0, bull: float = 0.8,
        bear: float = 0.3, held: int = 0) -> AgentContext:
    book = portfolio(*([position("XYZ", held, price, price)] if held else []), equity=equity)
    return context([snapshot("XYZ", price)], {"XYZ": analyses(bull=bull, bear=bear, inv_long=95.0, inv_short=105.0)},
                   book=book, plan=plan(*decisions), sectors={"XYZ": "Industrials"})


def codes(v: ApprovalVerdict) -> list[str]:
    return [o.code for o in v.objections]


def assert_rejected_for(v: ApprovalVerdict, code: str, index: int = 0, instrument: str = "XYZ") -> None:
    assert v.verdict is Verdict.REJECT
    assert [o.code for o in v.objections if o.severity is Severity.CRITICAL] == [code], v.objections
    o = v.objections[0]
    assert (o.severity, o.decision_index, o.instrument_id) == (Severity.CRITICAL, index, instrument)
    assert o.message in v.summary


CLEAN = decision("XYZ", qty=50, stop=95.0, target=110.0)


# --- risk manager --------------------------------------------------------------------------------


def test_risk_manager_approves_a_plan_within_limits() -> None:
    v = risk_manager(ctx(CLEAN))
    assert (v.agent, v.verdict, v.objections) == ("risk_manager", Verdict.APPROVE, [])
    assert "all 1 order(s)" in v.summary


@pytest.mark.parametrize("qty, price, equity, code", [
    (1_200, 10.0, 1_000_000.0, "MAX_UNITS"),        # 1,200 shares, $12k, 1.2% of equity
    (600, 100.0, 1_000_000.0, "MAX_NOTIONAL"),      # $60k > $50k
    (150, 100.0, 100_000.0, "MAX_PCT_EQUITY"),      # 15% of equity
])
def test_risk_manager_rejects_a_position_over_a_limit(qty: int, price: float, equity: float, code: str) -> None:
    d = decision("XYZ", qty=qty, stop=price * 0.95, target=price * 1.1)
    assert_rejected_for(risk_manager(ctx(d, price=price, equity=equity)), code)


def test_risk_manager_rejects_a_stop_on_the_wrong_side_of_price() -> None:
    d = decision("XYZ", qty=50, stop=101.0, target=115.0)
    assert_rejected_for(risk_manager(ctx(d)), "STOP_WRONG_SIDE")


def test_risk_manager_rejects_poor_risk_reward() -> None:
    d = decision("XYZ", qty=50, stop=95.0, target=105.0)  # 1:1
    assert_rejected_for(risk_manager(ctx(d)), "RISK_REWARD_TOO_LOW")


def test_risk_manager_rejects_an_instrument_without_a_price() -> None:
    v = risk_manager(ctx(CLEAN, decision("ZZZ", qty=5)))
    assert_rejected_for(v, "UNKNOWN_INSTRUMENT", index=1, instrument="ZZZ")
    assert "no market price for ZZZ" in v.summary


def test_risk_manager_reports_the_offending_decision_among_several() -> None:
    big = decision("ABC", qty=5_000, stop=9.5, target=11.0)
    c = context([snapshot("XYZ"), snapshot("ABC", 10.0)], {}, plan=plan(CLEAN, big),
                book=portfolio(equity=1_000_000.0), sectors={"XYZ": "Industrials", "ABC": "Energy"})
    v = risk_manager(c)
    assert {o.decision_index for o in v.objections} == {1}
    assert "MAX_UNITS" in codes(v)


def test_risk_manager_needs_a_plan() -> None:
    with pytest.raises(ValueError, match="needs the trader's plan"):
        risk_manager(context([snapshot()], {}))


# --- critic --------------------------------------------------------------------------------------


def test_critic_approves_a_plan_consistent_with_research_and_snapshot() -> None:
    v = critic(ctx(CLEAN))
    assert (v.agent, v.verdict, v.objections) == ("critic", Verdict.APPROVE, [])


def test_critic_rejects_a_symbol_not_in_the_snapshot() -> None:
    assert_rejected_for(critic(ctx(decision("ZZZ"))), "UNKNOWN_INSTRUMENT", instrument="ZZZ")


@pytest.mark.parametrize("d", [
    decision("XYZ", stop=95.0, target=130.0),              # target 30% away
    decision("XYZ", stop=95.0, target=110.0, limit=70.0),  # entry limit 30% away
])
def test_critic_rejects_a_level_far_from_the_price(d: Decision) -> None:
    assert_rejected_for(critic(ctx(d)), "IMPLAUSIBLE_PRICE")


def test_level_just_inside_the_plausible_band_is_accepted() -> None:
    assert critic(ctx(decision("XYZ", stop=95.0, target=124.0))).verdict is Verdict.APPROVE


def test_critic_rejects_a_reference_to_an_indicator_not_in_the_snapshot() -> None:
    v = critic(ctx(decision("XYZ", used=("sma_20_1d", "macd_12_26_1h"))))
    assert_rejected_for(v, "UNSUPPORTED_REFERENCE")
    assert "macd_12_26_1h" in v.objections[0].message


@pytest.mark.parametrize("bull, bear", [(0.5, 0.3), (0.3, 0.8)])
def test_critic_rejects_a_long_the_research_does_not_support(bull: float, bear: float) -> None:
    assert_rejected_for(critic(ctx(CLEAN, bull=bull, bear=bear)), "CONTRADICTS_RESEARCH")


def test_critic_rejects_a_short_against_bullish_research() -> None:
    short = decision("XYZ", action="SELL", direction="SHORT", stop=105.0, target=90.0)
    assert_rejected_for(critic(ctx(short)), "CONTRADICTS_RESEARCH")
    assert critic(ctx(short, bull=0.2, bear=0.8)).verdict is Verdict.APPROVE


def test_critic_rejects_a_stop_away_from_the_invalidation_level() -> None:
    assert_rejected_for(critic(ctx(decision("XYZ", stop=93.0, target=110.0))), "STOP_NOT_AT_INVALIDATION")
    # Within 1% of price of the invalidation level is still "at" it.
    assert critic(ctx(decision("XYZ", stop=94.5, target=110.0))).verdict is Verdict.APPROVE


def test_critic_rejects_a_new_position_without_research() -> None:
    c = context([snapshot("XYZ")], {}, plan=plan(CLEAN))
    assert_rejected_for(critic(c), "NO_RESEARCH")


@pytest.mark.parametrize("held", [0, 40])
def test_critic_rejects_closing_more_than_is_held(held: int) -> None:
    close = decision("XYZ", action="SELL", direction="FLAT", qty=50, stop=95.0, target=110.0)
    assert_rejected_for(critic(ctx(close, held=held)), "NO_POSITION_TO_CLOSE")


def test_critic_accepts_closing_an_existing_position_even_against_research() -> None:
    close = decision("XYZ", action="SELL", direction="FLAT", qty=40, stop=95.0, target=110.0)
    assert critic(ctx(close, held=40, bull=0.9, bear=0.1)).verdict is Verdict.APPROVE


def test_critic_does_not_question_a_hold() -> None:
    hold = decision("XYZ", action="HOLD", qty=40, stop=80.0, target=110.0)
    assert critic(ctx(hold, held=40, bull=0.4, bear=0.4)).verdict is Verdict.APPROVE


def test_critic_lists_every_problem_of_a_decision() -> None:
    bad = decision("XYZ", stop=80.0, target=130.0, used=("vwap_1h",))
    v = critic(ctx(bad, bull=0.4, bear=0.4))
    assert sorted(codes(v)) == ["CONTRADICTS_RESEARCH", "IMPLAUSIBLE_PRICE", "STOP_NOT_AT_INVALIDATION",
                                "UNSUPPORTED_REFERENCE"]
    assert v.summary.startswith("4 critical objection(s)")
