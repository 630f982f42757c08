"""Unsound backends are caught by the right check and reported under the right agent."""

from __future__ import annotations

from cream.evals import EvalReport, load_scenarios, run_evals
from cream.schemas.agents import AgentType

from .broken_backends import (
    ApprovesEverything,
    GarbledNews,
    LongInBearApprovedByAll,
    LongInBearTrend,
    NeverTrades,
    WideStops,
)

TRADER, RM, CRITIC = AgentType.TRADER, AgentType.RISK_MANAGER, AgentType.CRITIC


def failing_agents(report: EvalReport) -> set[AgentType]:
    return {a for a, s in report.per_agent().items() if s.checks_failed or s.errors}


def test_a_long_in_the_bear_trend_fails_the_trader() -> None:
    report = run_evals(LongInBearTrend())
    assert not report.ok and TRADER in failing_agents(report)
    assert failing_agents(report) <= {TRADER, CRITIC}
    failed = report.failed_checks(TRADER)
    assert {("bear_trend", "regime_alignment"), ("bear_trend", "entry_agrees_with_research"),
            ("bear_trend", "follows_conviction"),
            ("bear_regime_bullish_technicals", "regime_alignment")} <= failed
    reason = next(f.reason for f in report.summary(TRADER).failures
                  if (f.scenario, f.check) == ("bear_regime_bullish_technicals", "regime_alignment"))
    assert "BUY 5 COST" in reason and "BEAR_TREND" in reason and "+0.28" in reason
    assert not {s for s, _ in failed} & {"bull_trend", "range_bound", "thin_history"}


def test_the_rule_critic_rejects_the_long_in_the_bear_trend() -> None:
    report = run_evals(LongInBearTrend(), load_scenarios(["bear_trend", "bear_regime_bullish_technicals"]))
    assert report.summary(TRADER).checks_failed > 0
    assert report.summary(CRITIC).checks_failed == 0 and report.summary(CRITIC).checks_passed > 0


def test_stops_moved_beyond_the_invalidation_fail_stop_at_invalidation() -> None:
    report = run_evals(WideStops())
    assert failing_agents(report) == {TRADER}
    failed = report.failed_checks(TRADER)
    for scenario in ("bull_trend", "bear_trend", "high_vol", "earnings_event_risk"):
        assert (scenario, "stop_at_invalidation") in failed
        assert (scenario, "reward_risk") in failed  # same target, wider stop: 2:1 becomes 1.33:1
    assert not any(s == "long_against_research" for s, _ in failed)  # a close has no entry stop to judge


def test_approving_everything_fails_both_approvers_on_the_plans_they_must_reject() -> None:
    report = run_evals(ApprovesEverything())
    assert failing_agents(report) == {RM, CRITIC}
    assert {("reject_oversized_plan", "expected_verdict"), ("reject_oversized_plan", "names_offender"),
            ("reject_oversized_plan", "rejects_engine_breach"), ("reject_gross_breach", "expected_verdict"),
            ("near_limits", "rejects_engine_breach"), ("reject_naked_short_call", "expected_verdict"),
            ("reject_naked_short_call", "rejects_engine_breach"), ("reject_vega_breach", "expected_verdict"),
            ("reject_vega_breach", "rejects_engine_breach")} <= report.failed_checks(RM)
    assert not {s for s, _ in report.failed_checks(RM)} & {"approve_credit_spread", "approve_sound_plan"}
    assert report.failed_checks(CRITIC) == {
        ("reject_stop_beyond_invalidation", "expected_verdict"),
        ("reject_stop_beyond_invalidation", "names_offender"),
        ("reject_hallucinated_price", "expected_verdict"), ("reject_hallucinated_price", "names_offender")}
    near = next(f.reason for f in report.summary(RM).failures if f.scenario == "near_limits")
    assert "MAX_GROSS_NOTIONAL" in near


def test_a_critic_that_waves_through_an_unsound_plan_fails_rejects_unsound_plan() -> None:
    report = run_evals(LongInBearApprovedByAll(), load_scenarios(["bear_trend"]))
    assert report.failed_checks(CRITIC) == {("bear_trend", "rejects_unsound_plan")}
    reason = report.summary(CRITIC).failures[0].reason
    assert "regime_alignment" in reason and "entry_agrees_with_research" in reason


def test_a_trader_that_never_trades_fails_follows_conviction_only_where_the_edge_is_clear() -> None:
    report = run_evals(NeverTrades())
    assert failing_agents(report) == {TRADER}
    failed = report.failed_checks(TRADER)
    assert {s for s, c in failed} == {"bull_trend", "bear_trend", "high_vol", "earnings_event_risk",
                                      "near_limits", "long_against_research", "expiring_option_position"}
    assert {c for s, c in failed} == {"follows_conviction", "exits_when_research_turns", "manages_held_options"}
    assert ("long_against_research", "exits_when_research_turns") in failed
    # the spread expiring tomorrow is left to exercise and assignment
    assert {c for s, c in failed if s == "expiring_option_position"} == {"manages_held_options"}
    expiring = next(f.reason for f in report.summary(TRADER).failures if f.scenario == "expiring_option_position")
    assert "expire 2024-06-21 but the plan does not close them" in expiring
    earnings = [f.reason for f in report.summary(TRADER).failures if f.scenario == "earnings_event_risk"]
    # Standing aside before earnings is fine: only XLK, which has no event, is missed.
    assert earnings and all("XLK" in r and "ADBE" not in r for r in earnings)


def test_an_unusable_output_is_that_agents_error_and_its_dependents_fail_closed() -> None:
    report = run_evals(GarbledNews(), load_scenarios(["earnings_event_risk", "bull_trend"]))
    news = report.summary(AgentType.NEWS_ANALYST)
    swapped = [e for e in news.error_events if e.symbol == "ADBE"]
    assert len(swapped) == 1 and "MSFT" in (swapped[0].error or "")
    assert swapped[0].scenario == "earnings_event_risk"
    # The invented event is caught either by decide's grounding (an error) or by the golden check.
    caught = {(e.scenario, e.symbol) for e in news.error_events if "fed-cut-surprise" in (e.error or "")}
    caught |= {(f.scenario, f.symbol) for f in news.failures if f.check == "event_ids_exist"}
    assert caught == {("earnings_event_risk", "XLK"), ("bull_trend", "COST"), ("bull_trend", "XLK")}
    # As in a cycle, the researchers of a symbol whose news analysis failed run, and refuse to research it.
    refused = report.summary(AgentType.BULLISH_RESEARCHER).error_events
    assert ("earnings_event_risk", "ADBE") in {(e.scenario, e.symbol) for e in refused}
    assert all("no valid output from news_analyst" in (e.error or "") for e in refused)
    assert report.summary(TRADER).errors == 0 and not report.ok
    assert "ERROR news_analyst" in report.table()
