"""Grounding: an agent may cite only the symbols, prices and evidence its context holds (fail closed).

Runs after the schema validation. A schema-valid output can still be made up: a ticker outside the
cycle, a stop three times the price, an event or an indicator that no snapshot contains. Any such item
makes the whole output an error, as an invalid one is.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from cream.agents.port import AgentContext
from cream.errors import InvalidAgentOutput
from cream.schemas.agents import (
    AgentType,
    ApprovalVerdict,
    FundamentalsAnalysisOutput,
    ResearchOutput,
    SentimentAnalysisOutput,
    TechnicalAnalysisOutput,
)
from cream.schemas.decisions import Decision, DecisionPlan, RiskDenomination
from cream.schemas.instruments import InstrumentType
from cream.schemas.market import FeatureSnapshot

GROUNDING_BAND = 0.5  # an equity price level further than 50% from the snapshot price is not from the data
PREMIUM_CEILING = 10.0  # an option price level above 10x the option's mark is not from the data
SECTOR_PREFIX = "sector:"  # how the risk check names a sector-wide objection's subject (cream.risk)
SYMBOL_OUTPUTS = (TechnicalAnalysisOutput, SentimentAnalysisOutput, FundamentalsAnalysisOutput, ResearchOutput)
SymbolOutput = TechnicalAnalysisOutput | SentimentAnalysisOutput | FundamentalsAnalysisOutput | ResearchOutput


def check_grounding(agent: AgentType, output: BaseModel, ctx: AgentContext) -> None:
    """Raise cream.errors.InvalidAgentOutput naming the first ungrounded item; return None when grounded."""
    if isinstance(output, DecisionPlan):
        _check_plan(agent, output, ctx)
    elif isinstance(output, ApprovalVerdict):
        _check_verdict(agent, output, ctx)
    elif isinstance(output, SYMBOL_OUTPUTS):
        _check_symbol_output(agent, output, ctx)
    else:
        raise InvalidAgentOutput(f"{agent.value}: no grounding rule for a {type(output).__name__}; refused.")


def _fail(agent: AgentType, subject: str, what: str) -> InvalidAgentOutput:
    return InvalidAgentOutput(f"{agent.value} output for {subject}: {what}.")


def _non_finite(value: Any, path: str) -> tuple[str, float] | None:
    """The first float in ``value`` (models, lists, dicts, nested) that is NaN or infinite."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    items: list[tuple[str, Any]] = []
    if isinstance(value, BaseModel):
        items = [(f"{path}.{name}" if path else name, getattr(value, name)) for name in type(value).model_fields]
    elif isinstance(value, (list, tuple)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        items = [(f"{path}[{k!r}]", v) for k, v in value.items()]
    for sub_path, sub in items:
        found = _non_finite(sub, sub_path)
        if found is not None:
            return found
    return None


def _require_finite(agent: AgentType, subject: str, value: Any, path: str = "") -> None:
    found = _non_finite(value, path)
    if found is not None:
        raise _fail(agent, subject, f"{found[0]} is {found[1]}, not a finite number")


def _require_in_band(agent: AgentType, subject: str, name: str, level: float, price: float) -> None:
    low, high = price * (1 - GROUNDING_BAND), price * (1 + GROUNDING_BAND)
    if not low <= level <= high:  # also false for NaN
        raise _fail(agent, subject, f"{name} {level} is more than {GROUNDING_BAND:.0%} from the snapshot "
                                    f"price {price} (allowed {low:g} to {high:g})")


def _snapshot(agent: AgentType, subject: str, symbol: str, ctx: AgentContext) -> FeatureSnapshot:
    snap = ctx.snapshots.get(symbol)
    if snap is None:
        raise _fail(agent, subject, f"symbol {symbol} is not in this cycle's snapshots {sorted(ctx.snapshots)}")
    return snap


def _check_symbol_output(agent: AgentType, output: SymbolOutput, ctx: AgentContext) -> None:
    symbol = output.symbol
    _require_finite(agent, symbol, output)
    if ctx.symbol is not None and symbol != ctx.symbol:
        raise _fail(agent, symbol, f"symbol {symbol} is not the symbol asked about, {ctx.symbol}")
    snap = _snapshot(agent, symbol, symbol, ctx)
    if isinstance(output, TechnicalAnalysisOutput):
        levels = {"support": output.key_levels.support, "resistance": output.key_levels.resistance,
                  "invalidation_long": output.invalidation_long, "invalidation_short": output.invalidation_short}
        for name, level in levels.items():
            _require_in_band(agent, symbol, name, level, snap.price)
        if not output.invalidation_long < snap.price:
            raise _fail(agent, symbol, f"invalidation_long {output.invalidation_long} is not below the snapshot "
                                       f"price {snap.price}")
        if not output.invalidation_short > snap.price:
            raise _fail(agent, symbol, f"invalidation_short {output.invalidation_short} is not above the snapshot "
                                       f"price {snap.price}")
    if isinstance(output, SentimentAnalysisOutput):
        known = {e.event_id for e in snap.external_events}
        for impact in output.event_impacts:
            if impact.event_id not in known:
                raise _fail(agent, symbol, f"event_id {impact.event_id!r} is not among the snapshot's events "
                                           f"{sorted(known)}")


def _check_plan(agent: AgentType, plan: DecisionPlan, ctx: AgentContext) -> None:
    events = {e.event_id for snap in ctx.snapshots.values() for e in snap.external_events}
    for i, d in enumerate(plan.decisions):
        subject = f"decision {i} ({d.instrument_id})"
        _require_finite(agent, subject, d)
        snap = _snapshot(agent, subject, d.instrument.underlying, ctx)
        _check_levels(agent, subject, d, snap.price, ctx)
        for event_id in d.references.event_ids:
            if event_id not in events:
                raise _fail(agent, subject, f"cites event_id {event_id!r}, which no snapshot of this cycle holds")
        for name in d.references.used_indicators:
            if name not in snap.indicators and name not in snap.normalized:
                raise _fail(agent, subject, f"cites indicator {name!r}, which the {snap.symbol} snapshot does not "
                                            f"hold")


def _check_levels(agent: AgentType, subject: str, d: Decision, price: float, ctx: AgentContext) -> None:
    stop, target = d.risk_levels.stop_loss_level, d.risk_levels.take_profit_level
    entry = d.order_plan.entry_limit_price
    underlying_levels: dict[str, float] = {}
    premium_levels: dict[str, float] = {}
    if d.instrument.type == InstrumentType.EQUITY:
        underlying_levels = {"stop_loss_level": stop, "take_profit_level": target}
        if entry is not None:
            underlying_levels["entry_limit_price"] = entry
    else:
        # An option order's limit is a premium whatever the levels' denomination (it is sent as the limit price).
        if d.risk_levels.denomination is RiskDenomination.UNDERLYING_PRICE:
            underlying_levels = {"stop_loss_level": stop, "take_profit_level": target}
        else:
            premium_levels = {"stop_loss_level": stop, "take_profit_level": target}
        if entry is not None:
            premium_levels["entry_limit_price"] = entry
    for name, level in underlying_levels.items():
        _require_in_band(agent, subject, name, level, price)
    mark = ctx.option_marks.get(d.instrument_id)
    if mark is None:
        return  # an unpriced option is rejected by the deterministic risk check
    ceiling = mark.premium * PREMIUM_CEILING
    for name, level in premium_levels.items():
        if not 0 < level <= ceiling:
            raise _fail(agent, subject, f"{name} {level} is outside (0, {ceiling:g}], {PREMIUM_CEILING:g}x the "
                                        f"option's premium {mark.premium}")


def _check_verdict(agent: AgentType, verdict: ApprovalVerdict, ctx: AgentContext) -> None:
    _require_finite(agent, "the plan", verdict)
    plan = ctx.plan
    if plan is None:
        return
    ids = [d.instrument_id for d in plan.decisions]
    sectors = {SECTOR_PREFIX + s for s in ctx.sectors.values()}
    for k, o in enumerate(verdict.objections):
        subject = f"objection {k} ({o.code})"
        if o.decision_index is not None and o.decision_index >= len(ids):
            raise _fail(agent, subject, f"decision_index {o.decision_index} is out of range for a plan of "
                                        f"{len(ids)} decision(s)")
        if o.instrument_id is None:
            continue
        if o.instrument_id not in ids and o.instrument_id not in sectors:
            raise _fail(agent, subject, f"instrument_id {o.instrument_id!r} is not an instrument of the plan {ids}")
        if o.decision_index is not None and ids[o.decision_index] != o.instrument_id:
            raise _fail(agent, subject, f"instrument_id {o.instrument_id!r} is not decision {o.decision_index}'s "
                                        f"instrument, {ids[o.decision_index]!r}")
