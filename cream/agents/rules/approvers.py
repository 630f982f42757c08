"""The dual gate: the risk manager (hard limits) and the critic (logic and evidence). Both must approve."""

from __future__ import annotations

from cream.agents.port import AgentContext
from cream.option_marks import mark_of
from cream.risk import check_plan, order_side
from cream.schemas.agents import ApprovalVerdict, Objection, Severity, Verdict
from cream.schemas.decisions import ORDER_ACTIONS, Action, Decision, DecisionPlan, Direction, RiskDenomination
from cream.schemas.instruments import InstrumentType

# A level further than this from the snapshot price is not something the data supports.
MAX_LEVEL_DISTANCE = 0.25
STOP_TOLERANCE = 0.01  # stops must sit at the technical invalidation level, within 1% of price
PREMIUM_LEVEL_RANGE = 9.0  # an option's premium level or limit at most 10x its mark


def _verdict(agent: str, objections: list[Objection], ok: str) -> ApprovalVerdict:
    critical = [o for o in objections if o.severity is Severity.CRITICAL]
    return ApprovalVerdict(
        agent=agent, verdict=Verdict.REJECT if critical else Verdict.APPROVE, objections=objections,
        summary=f"{len(critical)} critical objection(s): " + "; ".join(o.message for o in critical)
        if critical else ok)


def risk_manager(ctx: AgentContext) -> ApprovalVerdict:
    plan = _plan(ctx)
    prices = {s: snap.price for s, snap in ctx.snapshots.items()}
    report = check_plan(plan, ctx.portfolio, prices, ctx.rules, sectors=ctx.sectors, option_marks=ctx.option_marks,
                        as_of=ctx.as_of)
    return _verdict("risk_manager", report.violations,
                    f"all {report.checked} order(s) within per-instrument and portfolio limits, stops in place")


def critic(ctx: AgentContext) -> ApprovalVerdict:
    plan = _plan(ctx)
    objections: list[Objection] = []
    for i, d in enumerate(plan.decisions):
        objections += _check_decision(ctx, i, d)
    return _verdict("critic", objections,
                    f"{len(plan.decisions)} decision(s) consistent with the research and the snapshot")


def _plan(ctx: AgentContext) -> DecisionPlan:
    if ctx.plan is None:
        raise ValueError("an approver needs the trader's plan")
    return ctx.plan


def _objection(code: str, i: int, d: Decision, message: str) -> Objection:
    return Objection(code=code, severity=Severity.CRITICAL, decision_index=i, instrument_id=d.instrument_id,
                     message=message)


def _check_decision(ctx: AgentContext, i: int, d: Decision) -> list[Objection]:
    symbol = d.instrument.underlying
    snap = ctx.snapshots.get(symbol)
    if snap is None:
        return [_objection("UNKNOWN_INSTRUMENT", i, d, f"{symbol} is not in this cycle's snapshot")]
    out: list[Objection] = []
    option = d.instrument.type != InstrumentType.EQUITY
    mark = mark_of(d.instrument_id, ctx.option_marks) if option else None
    if option and mark is None:
        return [_objection("UNKNOWN_INSTRUMENT", i, d, f"no option quote for {d.instrument_id} in this cycle")]
    premium_levels = d.risk_levels.denomination is RiskDenomination.OPTION_PRICE
    for level, what in ((d.risk_levels.stop_loss_level, "stop"), (d.risk_levels.take_profit_level, "target"),
                        (d.order_plan.entry_limit_price, "limit")):
        # an option's limit is a premium; its levels are of the premium or of the underlying's price
        of_premium = mark is not None and (premium_levels or what == "limit")
        ref, far = (mark.premium, PREMIUM_LEVEL_RANGE) if mark is not None and of_premium else \
            (snap.price, MAX_LEVEL_DISTANCE)
        if level is not None and abs(level / ref - 1) > far:
            out.append(_objection("IMPLAUSIBLE_PRICE", i, d, f"{what} {level} is more than {far:.0%} from "
                                                             f"{'the premium' if of_premium else 'price'} {ref}"))
    unknown = [k for k in d.references.used_indicators if k not in snap.indicators]
    if unknown:
        out.append(_objection("UNSUPPORTED_REFERENCE", i, d, f"cites indicators not in the snapshot: {unknown}"))
    analyses = ctx.analyses.get(symbol, {})
    pos = ctx.portfolio.positions.get(d.instrument_id)
    held = pos.quantity if pos else 0
    if d.direction is Direction.FLAT and d.action in ORDER_ACTIONS:
        if held == 0 or d.size.quantity > abs(held):
            out.append(_objection("NO_POSITION_TO_CLOSE", i, d, f"closes {d.size.quantity} but holds {held}"))
        return out
    if d.action not in (Action.BUY, Action.SELL, Action.INCREASE) or (abs(held) > 0 and d.action is not Action.INCREASE):
        return out
    try:
        delta = analyses["bullish_researcher"]["conviction"] - analyses["bearish_researcher"]["conviction"]
        tech = analyses["technical_analyst"]
    except KeyError:
        return [*out, _objection("NO_RESEARCH", i, d, f"no research behind a new position in {symbol}")]
    threshold = ctx.rules.conviction_delta_action
    # an option's view of the underlying is its delta as ordered (a put spread sold is bullish)
    bullish = d.direction is Direction.LONG if mark is None else order_side(d, held) * mark.delta > 0
    agrees = delta > threshold if bullish else delta < -threshold
    if not agrees:
        view = d.direction.value if mark is None else f"a {'bullish' if bullish else 'bearish'} options position"
        out.append(_objection("CONTRADICTS_RESEARCH", i, d,
                              f"{view} with conviction delta {delta:+.2f} (needs beyond ±{threshold})"))
    if premium_levels:  # levels of the premium: no invalidation level of the underlying to compare
        return out
    invalidation = tech["invalidation_long"] if bullish else tech["invalidation_short"]
    if abs(d.risk_levels.stop_loss_level - invalidation) > STOP_TOLERANCE * snap.price:
        out.append(_objection("STOP_NOT_AT_INVALIDATION", i, d,
                              f"stop {d.risk_levels.stop_loss_level} is not the technical invalidation {invalidation}"))
    return out
