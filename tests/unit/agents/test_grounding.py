"""Grounding: an output that cites a symbol, price, event or indicator the snapshot lacks is refused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from agent_builders import (
    AS_OF,
    RULES,
    context,
    decision,
    fundamentals,
    news,
    plan,
    real_snapshots,
    snapshot,
    technical,
)
from pydantic import BaseModel

from cream.agents.grounding import GROUNDING_BAND, check_grounding
from cream.agents.port import AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.errors import InvalidAgentOutput
from cream.schemas.agents import (
    ANALYSTS,
    RESEARCHERS,
    AgentType,
    ApprovalVerdict,
    BearishResearchOutput,
    BullishResearchOutput,
    EventImpact,
    KeyLevels,
    Objection,
    SentimentAnalysisOutput,
    Severity,
    TechnicalAnalysisOutput,
    Verdict,
)
from cream.schemas.decisions import (
    Decision,
    DecisionPlan,
    References,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import OptionContract
from cream.schemas.market import EventKind, ExternalEvent, OptionMark
from cream.services.decide import OUTPUT_SCHEMAS

CALL = "XYZ250620C00100000"


def event(event_id: str, symbol: str, kind: EventKind = EventKind.NEWS) -> dict[str, Any]:
    return {"event_id": event_id, "kind": kind, "ts": AS_OF - timedelta(hours=2), "headline": f"{symbol} news",
            "symbol": symbol, "sentiment": 0.4, "importance": 0.5}


def refused(fragment: str) -> Any:
    return pytest.raises(InvalidAgentOutput, match=re.escape(fragment))


def xyz_context(**extra: Any) -> AgentContext:
    """XYZ at 100 with one event and the builders' indicators; ABC at 50 with its own event."""
    snaps = [snapshot("XYZ", 100.0, events=[event("ev-xyz", "XYZ")]),
             snapshot("ABC", 50.0, events=[event("ev-abc", "ABC")])]
    return context(snaps, **extra)


def run(agent: AgentType, ctx: AgentContext) -> BaseModel:
    """One agent as decide.run_agent calls it: raw JSON, schema validation, then grounding."""
    model = OUTPUT_SCHEMAS[agent].model_validate(RuleBasedAgents().run(agent, ctx))
    check_grounding(agent, model, ctx)
    return model


# --- the rule agents on the bundled sample are grounded ------------------------------------------------------


def test_a_full_rule_based_cycle_on_the_sample_is_grounded() -> None:
    snaps = {s: snap.model_copy(update={"external_events": [ExternalEvent(**event(f"ev-{s}", s))]})
             for s, snap in real_snapshots().items()}
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for symbol, snap in snaps.items():  # per-symbol agents see only their snapshot, as decide gives them
        found[symbol] = {}
        for agent in ANALYSTS + RESEARCHERS:
            ctx = context({symbol: snap}, {symbol: found[symbol]}, symbol=symbol)
            found[symbol][agent.value] = run(agent, ctx).model_dump(mode="json")
        assert [i["event_id"] for i in found[symbol]["news_analyst"]["event_impacts"]] == [f"ev-{symbol}"]
    first = run(AgentType.TRADER, context(snaps, found))
    assert isinstance(first, DecisionPlan) and first.decisions  # the sample trades: its levels were checked
    # A tight sector limit makes the risk manager object to a whole sector, not to one instrument.
    tight = RULES.model_copy(update={"max_sector_pct": 0.12})
    approvers = {"rules": tight, "sectors": dict.fromkeys(snaps, "Technology"), "plan": first}
    verdicts = [run(a, context(snaps, found, **approvers)) for a in (AgentType.RISK_MANAGER, AgentType.CRITIC)]
    objections = [o for v in verdicts if isinstance(v, ApprovalVerdict) for o in v.objections]
    assert "sector:Technology" in {o.instrument_id for o in objections}
    revised = run(AgentType.TRADER, context(snaps, found, previous_plan=first, objections=objections))
    assert isinstance(revised, DecisionPlan)
    for agent in (AgentType.RISK_MANAGER, AgentType.CRITIC):
        run(agent, context(snaps, found, plan=revised, sectors=dict.fromkeys(snaps, "Technology")))


# --- per-symbol outputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent, output", [
    (AgentType.TECHNICAL_ANALYST, technical("ZZZ")),
    (AgentType.NEWS_ANALYST, news("ZZZ")),
    (AgentType.FUNDAMENTALS_ANALYST, fundamentals("ZZZ")),
    (AgentType.BULLISH_RESEARCHER, BullishResearchOutput(symbol="ZZZ", thesis="long", conviction=0.9)),
    (AgentType.BEARISH_RESEARCHER, BearishResearchOutput(symbol="ZZZ", thesis="short", conviction=0.9)),
])
def test_an_output_about_a_symbol_outside_the_snapshots_is_refused(agent: AgentType, output: BaseModel) -> None:
    check_grounding(agent, output.model_copy(update={"symbol": "XYZ"}), xyz_context())
    with refused(f"{agent.value} output for ZZZ: symbol ZZZ is not in this cycle's snapshots"):
        check_grounding(agent, output, xyz_context())


def test_an_output_about_another_snapshot_symbol_than_asked_is_refused() -> None:
    with refused("symbol ABC is not the symbol asked about, XYZ"):
        check_grounding(AgentType.FUNDAMENTALS_ANALYST, fundamentals("ABC"), xyz_context(symbol="XYZ"))


def levels(support: float = 95.0, resistance: float = 105.0, inv_long: float = 95.0,
           inv_short: float = 105.0) -> TechnicalAnalysisOutput:
    return technical("XYZ").model_copy(update={
        "key_levels": KeyLevels(support=support, resistance=resistance),
        "invalidation_long": inv_long, "invalidation_short": inv_short})


@pytest.mark.parametrize("field, value", [
    ("resistance", 300.0), ("invalidation_short", 300.0), ("invalidation_long", 300.0),
    ("support", 30.0), ("invalidation_long", 30.0),
    ("resistance", 150.01), ("support", 49.99), ("invalidation_long", 49.99), ("invalidation_short", 150.01),
])
def test_a_technical_level_outside_the_band_is_refused(field: str, value: float) -> None:
    output = levels(**{"support": {"support": value}, "resistance": {"resistance": value},
                       "invalidation_long": {"inv_long": value}, "invalidation_short": {"inv_short": value}}[field])
    with refused(f"technical_analyst output for XYZ: {field} {value} is more than 50% from the snapshot price 100"):
        check_grounding(AgentType.TECHNICAL_ANALYST, output, xyz_context(symbol="XYZ"))


def test_technical_levels_just_inside_the_band_pass() -> None:
    assert GROUNDING_BAND == 0.5
    check_grounding(AgentType.TECHNICAL_ANALYST, levels(50.01, 149.99, 50.01, 149.99), xyz_context(symbol="XYZ"))
    check_grounding(AgentType.TECHNICAL_ANALYST, levels(50.0, 150.0, 50.0, 150.0), xyz_context(symbol="XYZ"))


@pytest.mark.parametrize("inv_long, inv_short, message", [
    (101.0, 105.0, "invalidation_long 101.0 is not below the snapshot price 100"),
    (100.0, 105.0, "invalidation_long 100.0 is not below the snapshot price 100"),
    (95.0, 99.0, "invalidation_short 99.0 is not above the snapshot price 100"),
])
def test_an_invalidation_on_the_wrong_side_of_the_price_is_refused(inv_long: float, inv_short: float,
                                                                   message: str) -> None:
    output = levels(min(inv_long, inv_short), max(inv_long, inv_short), inv_long, inv_short)
    with refused(message):
        check_grounding(AgentType.TECHNICAL_ANALYST, output, xyz_context(symbol="XYZ"))


def test_a_nan_technical_level_is_refused() -> None:
    output = technical("XYZ").model_copy(update={"invalidation_long": float("nan")})  # as a bad backend could
    with refused("XYZ: invalidation_long is nan, not a finite number"):
        check_grounding(AgentType.TECHNICAL_ANALYST, output, xyz_context(symbol="XYZ"))


def impacts(*event_ids: str) -> SentimentAnalysisOutput:
    return news("XYZ").model_copy(update={"event_impacts": [
        EventImpact(event_id=e, headline="h", impact="POSITIVE", magnitude=0.2) for e in event_ids]})


def test_news_impacts_must_cite_events_of_their_own_snapshot() -> None:
    check_grounding(AgentType.NEWS_ANALYST, impacts("ev-xyz"), xyz_context(symbol="XYZ"))
    with refused("news_analyst output for XYZ: event_id 'ev-404' is not among the snapshot's events ['ev-xyz']"):
        check_grounding(AgentType.NEWS_ANALYST, impacts("ev-xyz", "ev-404"), xyz_context(symbol="XYZ"))
    with refused("event_id 'ev-abc' is not among"):  # ABC's event, cited for XYZ
        check_grounding(AgentType.NEWS_ANALYST, impacts("ev-abc"), xyz_context(symbol="XYZ"))


# --- the trader's plan --------------------------------------------------------------------------------------


def check_plan(*decisions: Decision, **extra: Any) -> None:
    check_grounding(AgentType.TRADER, plan(*decisions), xyz_context(**extra))


def test_a_decision_on_an_underlying_outside_the_snapshots_is_refused() -> None:
    with refused("trader output for decision 1 (ZZZ): symbol ZZZ is not in this cycle's snapshots"):
        check_plan(decision("XYZ"), decision("ZZZ"))


@pytest.mark.parametrize("kwargs, message", [
    ({"target": 300.0}, "take_profit_level 300.0 is more than 50% from the snapshot price 100"),
    ({"stop": 33.0}, "stop_loss_level 33.0 is more than 50%"),
    ({"limit": 300.0}, "entry_limit_price 300.0 is more than 50% from the snapshot price 100"),
    ({"limit": 150.01}, "entry_limit_price 150.01 is more than 50%"),
    ({"direction": "SHORT", "action": "SELL", "stop": 300.0, "target": 90.0}, "stop_loss_level 300.0"),
])
def test_an_equity_level_outside_the_band_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with refused(message):
        check_plan(decision("XYZ", **kwargs))


def test_equity_levels_just_inside_the_band_pass() -> None:
    check_plan(decision("XYZ", stop=50.01, target=149.99, limit=149.99),
               decision("ABC", direction="SHORT", action="SELL", stop=74.99, target=25.01, limit=25.01))


def option(stop: float, target: float, denomination: RiskDenomination, limit: float | None = None) -> Decision:
    d = decision("XYZ", stop=stop, target=target, limit=limit)
    return d.model_copy(update={
        "instrument": OptionContract(occ_symbol=CALL), "size": Size(quantity=2, unit=SizeUnit.CONTRACTS),
        "risk_levels": RiskLevels(stop_loss_level=stop, take_profit_level=target, denomination=denomination)})


MARK = {CALL: OptionMark(instrument_id=CALL, premium=2.0, underlying_price=100.0, delta=0.5, gamma=0.05,
                         vega=0.1, theta=-0.05)}


def test_option_levels_on_the_underlying_use_the_band_and_the_entry_limit_is_a_premium() -> None:
    underlying = RiskDenomination.UNDERLYING_PRICE
    check_plan(option(95.0, 149.99, underlying, limit=2.1), option_marks=MARK)
    with refused(f"decision 0 ({CALL}): take_profit_level 300.0 is more than 50%"):
        check_plan(option(95.0, 300.0, underlying), option_marks=MARK)
    with refused("entry_limit_price 95.0 is outside (0, 20], 10x the option's premium 2.0"):
        check_plan(option(95.0, 110.0, underlying, limit=95.0), option_marks=MARK)


def test_option_price_levels_must_stay_within_ten_premiums_when_the_option_is_marked() -> None:
    premium = RiskDenomination.OPTION_PRICE
    check_plan(option(1.0, 20.0, premium, limit=2.0), option_marks=MARK)
    with refused(f"trader output for decision 0 ({CALL}): take_profit_level 60.0 is outside (0, 20]"):
        check_plan(option(1.0, 60.0, premium), option_marks=MARK)
    check_plan(option(1.0, 60.0, premium))  # unmarked: left to the risk check, which rejects unpriced options


def cites(d: Decision, **refs: list[str]) -> Decision:
    return d.model_copy(update={"references": References(**refs)})


def test_a_decision_may_cite_only_events_the_snapshots_hold() -> None:
    check_plan(cites(decision("XYZ"), event_ids=["ev-xyz", "ev-abc"]))
    with refused("decision 0 (XYZ): cites event_id 'ev-404', which no snapshot of this cycle holds"):
        check_plan(cites(decision("XYZ"), event_ids=["ev-xyz", "ev-404"]))


def test_a_decision_may_cite_only_indicators_of_its_snapshot() -> None:
    snaps = [snapshot("XYZ", 100.0).model_copy(update={"normalized": {"zscore_close_20_1d": 1.2}})]
    ok = cites(decision("XYZ"), used_indicators=["sma_20_1d", "zscore_close_20_1d"])
    check_grounding(AgentType.TRADER, plan(ok), context(snaps))
    invented = cites(decision("XYZ"), used_indicators=["sma_20_1d", "macd_12_26_1d"])
    with refused("decision 0 (XYZ): cites indicator 'macd_12_26_1d', which the XYZ snapshot does not hold"):
        check_grounding(AgentType.TRADER, plan(invented), context(snaps))


def test_non_finite_numbers_anywhere_in_a_decision_are_refused() -> None:
    with refused("decision 0 (XYZ): risk_levels.take_profit_level is inf, not a finite number"):
        check_plan(decision("XYZ", target=float("inf")))  # inf passes the schema's gt=0
    with refused("decision 1 (ABC): confidence is nan, not a finite number"):
        check_plan(decision("XYZ"), decision("ABC", stop=45.0, target=60.0).model_copy(
            update={"confidence": float("nan")}))


# --- the approvers' verdicts --------------------------------------------------------------------------------


def verdict(agent: AgentType, *objections: Objection) -> ApprovalVerdict:
    return ApprovalVerdict(agent=agent.value, verdict=Verdict.REJECT, objections=list(objections), summary="s")


def objection(index: int | None = None, instrument: str | None = None) -> Objection:
    return Objection(code="X", severity=Severity.CRITICAL, message="m", decision_index=index,
                     instrument_id=instrument)


TWO = plan(decision("XYZ"), decision("ABC", stop=45.0, target=60.0))


@pytest.mark.parametrize("agent", [AgentType.RISK_MANAGER, AgentType.CRITIC])
def test_an_objection_must_point_into_the_plan(agent: AgentType) -> None:
    ctx = xyz_context(plan=TWO, sectors={"XYZ": "Industrials", "ABC": "Energy"})
    grounded = (objection(1, "ABC"), objection(0), objection(None, "XYZ"), objection(None, "sector:Energy"),
                objection())
    check_grounding(agent, verdict(agent, *grounded), ctx)
    for bad, message in [
        (objection(2), "decision_index 2 is out of range for a plan of 2 decision(s)"),
        (objection(None, "ZZZ"), "instrument_id 'ZZZ' is not an instrument of the plan ['XYZ', 'ABC']"),
        (objection(None, "sector:Utilities"), "instrument_id 'sector:Utilities' is not an instrument"),
        (objection(0, "ABC"), "instrument_id 'ABC' is not decision 0's instrument, 'XYZ'"),
    ]:
        with refused(f"{agent.value} output for objection 1 (X): {message}"):
            check_grounding(agent, verdict(agent, objection(0, "XYZ"), bad), ctx)


def test_without_a_plan_objections_are_not_checked() -> None:
    check_grounding(AgentType.CRITIC, verdict(AgentType.CRITIC, objection(7, "ZZZ")), xyz_context())


def test_an_output_with_no_grounding_rule_is_refused() -> None:
    with refused("no grounding rule for a FeatureSnapshot"):
        check_grounding(AgentType.CRITIC, snapshot("XYZ"), xyz_context())

