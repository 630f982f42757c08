"""Prompt templates: versioned, filled with the configured rules, deterministic, and free of run facts."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from agent_builders import (
    AS_OF,
    CYCLE,
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

from cream.agents.port import AgentContext
from cream.agents.prompts import (
    PORTFOLIO_AGENTS,
    Prompt,
    context_from_prompt,
    render,
    system_text,
    version_of,
)
from cream.schemas.agents import ANALYSTS, APPROVERS, AgentType, Objection, Severity
from cream.schemas.config import TradingRules
from cream.schemas.decisions import Environment
from cream.schemas.market import OptionMark

SYMBOL_AGENTS = (*ANALYSTS, AgentType.BULLISH_RESEARCHER, AgentType.BEARISH_RESEARCHER)
FENCE = re.compile(r"^```json\n(.*?)\n```$", re.MULTILINE | re.DOTALL)
OBJECTION = Objection(code="MAX_NOTIONAL", severity=Severity.CRITICAL, decision_index=0, instrument_id="ADBE",
                      message="notional $60,000 above $50,000\n```json {\"oops\": 1}")


def make_context(agent: AgentType, rules: TradingRules = RULES) -> AgentContext:
    """What ``agent`` sees in a cycle over the bundled sample: real snapshots (with candles) and analyses."""
    snaps = real_snapshots()
    found = real_analyses(snaps)
    if agent in SYMBOL_AGENTS:
        return context({"ADBE": snaps["ADBE"]}, {"ADBE": found["ADBE"]}, symbol="ADBE", rules=rules)
    held = portfolio(position("COST", 10, 900.0, snaps["COST"].price, stop=850.0, target=1_000.0))
    price = snaps["ADBE"].price
    draft = plan(decision("ADBE", qty=20, stop=round(price * 0.95, 2), target=round(price * 1.1, 2)))
    if agent is AgentType.TRADER:
        return context(snaps, found, book=held, rules=rules, iteration=2, previous_plan=draft,
                       objections=[OBJECTION])
    mark = OptionMark(instrument_id="ADBE250620C00400000", premium=12.5, underlying_price=price, delta=0.55,
                      gamma=0.01, vega=0.4, theta=-0.2)
    return context(snaps, found, book=held, rules=rules, plan=draft, iteration=1,
                   sectors={"ADBE": "Information Technology", "COST": "Consumer Staples"},
                   option_marks={mark.instrument_id: mark})


def with_run(ctx: AgentContext, cycle_id: str, environment: Environment) -> AgentContext:
    """The same market situation in another run: other cycle id and environment, on the plans too."""
    run = {"cycle_id": cycle_id, "environment": environment}
    update: dict[str, object] = dict(run)
    for key in ("plan", "previous_plan"):
        if getattr(ctx, key) is not None:
            update[key] = getattr(ctx, key).model_copy(update=run)
    return ctx.model_copy(update=update)


def json_block(prompt: Prompt) -> dict[str, object]:
    blocks = FENCE.findall(prompt.user)
    assert len(blocks) == 1, prompt.user[:500]
    return json.loads(blocks[0])  # type: ignore[no-any-return]


def without_candles(ctx: AgentContext) -> AgentContext:
    snaps = {k: s.model_copy(update={"candles_by_timeframe": {}}) for k, s in ctx.snapshots.items()}
    return ctx.model_copy(update={"snapshots": snaps})


# --- templates and versions ----------------------------------------------------------------------


@pytest.mark.parametrize("agent", list(AgentType))
def test_every_agent_renders_a_versioned_prompt_with_one_json_block(agent: AgentType) -> None:
    p = render(agent, make_context(agent))
    assert p.version == version_of(agent)
    assert re.fullmatch(rf"{agent.value}/v[1-9]\d*", p.version)
    assert json_block(p)["agent"] == agent.value
    assert p.user.count("```") == 2
    text = p.system.lower()
    assert "json" in text and "response schema" in text and "tools" in text
    assert "never invent symbols, prices, event ids or indicator values" in text
    assert "{{" not in p.system and "}}" not in p.system
    assert 150 <= len(p.system.split()) <= 480


def test_each_agent_has_its_own_template() -> None:
    systems = {agent: system_text(agent, RULES) for agent in AgentType}
    assert len(set(systems.values())) == len(AgentType)
    assert "TraderDraft" in systems[AgentType.TRADER]
    for setup in ("BREAKOUT", "PULLBACK", "REVERSAL", "RANGE", "NO_SETUP"):
        assert setup in systems[AgentType.TECHNICAL_ANALYST]
    assert "invalidation_long" in systems[AgentType.TECHNICAL_ANALYST]
    assert "event_risk" in systems[AgentType.NEWS_ANALYST]
    assert "prediction_market_signal" in systems[AgentType.FUNDAMENTALS_ANALYST]
    for agent in APPROVERS:
        for word in ("REJECT", "CRITICAL", "WARNING", "decision_index"):
            assert word in systems[agent]


def test_the_instruction_line_names_the_task() -> None:
    as_of = "2025-06-02T15:00:00Z"
    assert render(AgentType.TECHNICAL_ANALYST, make_context(AgentType.TECHNICAL_ANALYST)).user.startswith(
        f"Analyse ADBE as of {as_of}.")
    assert "strongest long case for ADBE" in render(AgentType.BULLISH_RESEARCHER,
                                                    make_context(AgentType.BULLISH_RESEARCHER)).user
    assert render(AgentType.CRITIC, make_context(AgentType.CRITIC)).user.startswith("Review the plan")


def test_a_symbol_agent_without_a_symbol_is_refused() -> None:
    ctx = context([snapshot("XYZ"), snapshot("ABC")])
    with pytest.raises(ValueError, match="needs one symbol"):
        render(AgentType.NEWS_ANALYST, ctx)


# --- the configured rules are in the text --------------------------------------------------------


def test_trader_and_critic_state_the_configured_conviction_thresholds() -> None:
    rules = RULES.model_copy(update={"conviction_delta_action": 0.45, "conviction_delta_hold": 0.15,
                                     "kelly_multiplier": 0.35, "min_risk_reward_ratio": 1.8})
    default = render(AgentType.TRADER, make_context(AgentType.TRADER)).system
    trader = render(AgentType.TRADER, make_context(AgentType.TRADER, rules)).system
    assert "0.45" not in default and "delta > 0.3" in default and "< 0.2" in default
    for text in ("delta > 0.45", "delta < -0.45", "|delta| < 0.15", "0.35 x f", "at least 1.8:1"):
        assert text in trader
    critic = render(AgentType.CRITIC, make_context(AgentType.CRITIC, rules)).system
    assert "delta > 0.45" in critic and "1.8:1" in critic


def test_risk_manager_states_every_configured_limit() -> None:
    rules = RULES.model_copy(update={
        "max_units": 777, "max_notional": 43_210, "max_pct_equity": 0.07, "max_gross_notional": 612_345,
        "max_net_notional": 271_828, "max_leverage": 1.75, "max_sector_pct": 0.22,
        "max_delta_notional": 123_456, "max_gamma": 876, "max_vega": 4_321, "min_theta": -432,
        "pdt_min_equity": 26_000, "pdt_max_day_trades": 4, "risk_warn_fraction": 0.85,
        "min_risk_reward_ratio": 1.8})
    text = render(AgentType.RISK_MANAGER, make_context(AgentType.RISK_MANAGER, rules)).system
    for expected in ("MAX_UNITS: 777", "$43,210", "7% of equity", "$612,345", "$271,828", "1.75x",
                     "22% of equity", "$123,456", "MAX_GAMMA 876", "$4,321", "-432", "$26,000",
                     "at most 4 day trades", "85%", "1.8:1"):
        assert expected in text, expected
    trader = render(AgentType.TRADER, make_context(AgentType.TRADER, rules)).system
    for expected in ("777 units", "$43,210 notional", "7% of equity", "$612,345", "1.75x",
                     "at most 4 day trades"):
        assert expected in trader, expected


# --- determinism and record/replay ---------------------------------------------------------------


@pytest.mark.parametrize("agent", list(AgentType))
def test_same_context_gives_a_byte_identical_prompt(agent: AgentType) -> None:
    first = render(agent, make_context(agent))
    again = render(agent, AgentContext.model_validate(make_context(agent).model_dump()))
    assert first == again
    assert hashlib.sha256(first.user.encode()).digest() == hashlib.sha256(again.user.encode()).digest()


@pytest.mark.parametrize("agent", list(AgentType))
def test_other_rules_give_another_prompt(agent: AgentType) -> None:
    rules = RULES.model_copy(update={"conviction_delta_action": 0.45, "max_notional": 43_210.0})
    base, changed = render(agent, make_context(agent)), render(agent, make_context(agent, rules))
    assert base.user != changed.user
    if agent in (AgentType.TRADER, AgentType.RISK_MANAGER, AgentType.CRITIC):
        assert base.system != changed.system


@pytest.mark.parametrize("agent", list(AgentType))
def test_cycle_id_and_environment_never_reach_the_prompt(agent: AgentType) -> None:
    ctx = make_context(agent)
    other = with_run(ctx, "paper-zeta-20250602T1500Z", Environment.PAPER)
    p, q = render(agent, ctx), render(agent, other)
    assert p == q  # a replay in another run hashes equal
    for text in (p.system, p.user):
        assert CYCLE not in text and "zeta" not in text
        assert "BACKTEST" not in text and "PAPER" not in text
    assert "cycle_id" not in p.user and '"environment"' not in p.user


@pytest.mark.parametrize("agent", list(AgentType))
def test_the_json_block_round_trips_to_the_context(agent: AgentType) -> None:
    ctx = make_context(agent)
    back_agent, back = context_from_prompt(render(agent, ctx).user, cycle_id=CYCLE,
                                           environment=Environment.BACKTEST)
    assert back_agent is agent
    if agent in PORTFOLIO_AGENTS:
        assert ctx.snapshots["ADBE"].candles_by_timeframe  # there was something to trim
        assert back == without_candles(ctx)
    else:
        assert back == ctx and back.snapshots["ADBE"].candles_by_timeframe


def test_an_analyst_block_validates_once_the_run_facts_are_added_back() -> None:
    """The plain recipe a replay harness follows: parse the block, add cycle_id and environment."""
    ctx = make_context(AgentType.FUNDAMENTALS_ANALYST)
    block = json_block(render(AgentType.FUNDAMENTALS_ANALYST, ctx))
    assert set(block) == {"agent", "context"}
    data = dict(block["context"], cycle_id=CYCLE, environment="BACKTEST")  # type: ignore[call-overload]
    assert AgentContext.model_validate(data) == ctx


def test_the_plans_travel_without_their_run_facts() -> None:
    block = json_block(render(AgentType.RISK_MANAGER, make_context(AgentType.RISK_MANAGER)))
    carried = block["context"]["plan"]  # type: ignore[index]
    assert "cycle_id" not in carried and "environment" not in carried
    assert carried["as_of_timestamp"] == "2025-06-02T15:00:00Z" and len(carried["decisions"]) == 1


# --- the trader's revision -----------------------------------------------------------------------


def test_a_revising_trader_is_told_the_plan_was_rejected_and_why() -> None:
    p = render(AgentType.TRADER, make_context(AgentType.TRADER))
    first_line = p.user.split("\n", 1)[0]
    assert "iteration 2" in first_line and "TraderDraft" in first_line
    assert "(iteration 1) was rejected" in first_line
    assert "CRITICAL MAX_NOTIONAL on decision 0 (ADBE): notional $60,000 above $50,000" in first_line
    assert p.user.count("```") == 2  # a backtick fence inside an objection cannot open a second block
    assert json_block(p)["context"]["objections"][0]["code"] == "MAX_NOTIONAL"  # type: ignore[index]


def test_a_first_iteration_trader_hears_of_no_rejection() -> None:
    snaps = {"XYZ": snapshot("XYZ")}
    p = render(AgentType.TRADER, context(snaps, {"XYZ": analyses(bull=0.7, bear=0.2)}, iteration=1))
    assert p.user.startswith(f"Write the decision plan for iteration 1 as of {AS_OF:%Y-%m-%dT%H:%M:%SZ}.")
    assert "rejected" not in p.user


# --- overrides from agent_configs ----------------------------------------------------------------


@pytest.mark.parametrize("agent", [AgentType.TRADER, AgentType.NEWS_ANALYST])
def test_a_system_override_replaces_the_template_and_marks_the_version(agent: AgentType) -> None:
    ctx = make_context(agent)
    override = "You are a cautious trader. Answer only with JSON."
    p, base = render(agent, ctx, system_override=override), render(agent, ctx)
    digest = hashlib.sha256(override.encode()).hexdigest()[:8]
    assert p.version == f"{version_of(agent)}+override-{digest}"
    assert p.system == override and p.user == base.user
    other = render(agent, ctx, system_override=override + " Be brief.")
    assert other.version != p.version


def test_an_empty_override_keeps_the_template() -> None:
    ctx = make_context(AgentType.CRITIC)
    assert render(AgentType.CRITIC, ctx, system_override="") == render(AgentType.CRITIC, ctx)
