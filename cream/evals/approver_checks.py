"""Checks of the dual gate: the risk manager and the critic judging one plan."""

from __future__ import annotations

from cream.evals.subject import Check, Subject
from cream.risk import check_plan
from cream.schemas.agents import AgentType, ApprovalVerdict, Severity, Verdict


def _verdict(s: Subject) -> ApprovalVerdict:
    return ApprovalVerdict.model_validate(s.output)


def _expected(s: Subject) -> tuple[Verdict | None, str | None]:
    agent = AgentType(s.output["agent"])
    e = s.scenario.expect.get(agent)
    return (e.verdict, e.offender) if e else (None, None)


def expected_verdict(s: Subject) -> list[str]:
    want, _ = _expected(s)
    got = _verdict(s)
    if want is None or got.verdict is want:
        return []
    return [f"{got.verdict.value} where the golden answer is {want.value}: {got.summary[:120]}"]


def names_offender(s: Subject) -> list[str]:
    """A rejection must point at the decision that breaks the rule (instrument, index or message)."""
    _, offender = _expected(s)
    if offender is None:
        return []
    assert s.plan is not None
    for o in _verdict(s).objections:
        if o.severity is not Severity.CRITICAL:
            continue
        i, decisions = o.decision_index, s.plan.decisions
        index_symbol = decisions[i].instrument.underlying if i is not None and i < len(decisions) else None
        if offender in (index_symbol, o.instrument_id) or offender in o.message:
            return []
    return [f"no critical objection names {offender}"]


def reject_states_critical(s: Subject) -> list[str]:
    v = _verdict(s)
    if v.verdict is Verdict.APPROVE or any(o.severity is Severity.CRITICAL for o in v.objections):
        return []
    return [f"REJECT without a CRITICAL objection ({[o.code for o in v.objections]})"]


def rejects_engine_breach(s: Subject) -> list[str]:
    """Whatever the engine's pre-trade check blocks, the risk manager must not approve."""
    assert s.plan is not None
    prices = {k: snap.price for k, snap in s.scenario.snapshots.items()}
    report = check_plan(s.plan, s.scenario.portfolio, prices, s.rules, sectors=s.scenario.sectors,
                        option_marks=s.scenario.option_marks, as_of=s.scenario.as_of)
    if report.approved or _verdict(s).verdict is Verdict.REJECT:
        return []
    return [f"APPROVE of a plan the engine blocks: {report.reasons()[:160]}"]


def rejects_unsound_plan(s: Subject) -> list[str]:
    if not s.unsound or _verdict(s).verdict is Verdict.REJECT:
        return []
    return [f"APPROVE of a plan that failed {', '.join(s.unsound)}"]


COMMON: dict[str, Check] = {
    "expected_verdict": expected_verdict, "names_offender": names_offender,
    "reject_states_critical": reject_states_critical,
}
RISK_MANAGER: dict[str, Check] = {**COMMON, "rejects_engine_breach": rejects_engine_breach}
CRITIC: dict[str, Check] = {**COMMON, "rejects_unsound_plan": rejects_unsound_plan}
