"""Agent outputs: the approvers' verdict must be coherent, analyst outputs bounded."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cream.schemas.agents import (
    ApprovalVerdict,
    BullishResearchOutput,
    KeyLevels,
    Objection,
    SentimentAnalysisOutput,
    Severity,
    TechnicalAnalysisOutput,
    Verdict,
)


def objection(severity: Severity) -> Objection:
    return Objection(code="MAX_UNITS", severity=severity, message="1,500 units against limit 1,000",
                     instrument_id="AAPL", decision_index=0)


def test_reject_with_an_objection_is_valid() -> None:
    v = ApprovalVerdict(agent="risk_manager", verdict=Verdict.REJECT, objections=[objection(Severity.CRITICAL)],
                        summary="too large")
    assert v.verdict is Verdict.REJECT


def test_reject_without_any_objection_is_invalid() -> None:
    with pytest.raises(ValidationError, match="REJECT must state at least one objection"):
        ApprovalVerdict(agent="critic", verdict="REJECT", summary="no")


def test_approve_cannot_carry_a_critical_objection() -> None:
    with pytest.raises(ValidationError, match="APPROVE cannot carry a critical objection"):
        ApprovalVerdict(agent="critic", verdict="APPROVE", objections=[objection(Severity.CRITICAL)], summary="ok")


def test_approve_may_carry_warnings() -> None:
    v = ApprovalVerdict(agent="critic", verdict="APPROVE", objections=[objection(Severity.WARNING)], summary="ok")
    assert v.objections[0].severity is Severity.WARNING


def test_reject_on_warnings_only_is_allowed() -> None:
    # A cautious approver may reject on warnings; only an empty REJECT is incoherent.
    v = ApprovalVerdict(agent="critic", verdict="REJECT", objections=[objection(Severity.WARNING)], summary="no")
    assert v.verdict is Verdict.REJECT


@pytest.mark.parametrize("agent", ["trader", "bullish_researcher", ""])
def test_only_the_two_approvers_give_verdicts(agent: str) -> None:
    with pytest.raises(ValidationError):
        ApprovalVerdict(agent=agent, verdict="APPROVE", summary="ok")


def test_objection_index_cannot_be_negative_and_message_is_required() -> None:
    with pytest.raises(ValidationError):
        Objection(code="X", severity="CRITICAL", message="m", decision_index=-1)
    with pytest.raises(ValidationError):
        Objection(code="X", severity="CRITICAL", message="")


def test_key_levels_must_be_ordered() -> None:
    assert KeyLevels(support=100, resistance=100).support == 100
    with pytest.raises(ValidationError, match="support must not be above resistance"):
        KeyLevels(support=101, resistance=100)


def technical(**over: Any) -> dict[str, Any]:
    return dict(symbol="AAPL", setup="BREAKOUT", trend="UP", key_levels=dict(support=190, resistance=200),
                invalidation_long=188, invalidation_short=203, momentum_score=0.4, volatility="NORMAL",
                technical_score=0.6, summary="up trend") | over


def test_technical_output_parses_from_json_shape() -> None:
    t = TechnicalAnalysisOutput.model_validate(technical())
    assert t.key_levels.resistance == 200


@pytest.mark.parametrize("over", [dict(technical_score=1.5), dict(momentum_score=-1.01), dict(volatility="EXTREME"),
                                  dict(invalidation_long=0), dict(setup="MOONSHOT"), dict(summary="")])
def test_technical_output_rejects_out_of_range_fields(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TechnicalAnalysisOutput.model_validate(technical(**over))


def test_sentiment_needs_event_risk_and_bounded_scores() -> None:
    base = dict(symbol="AAPL", overall_sentiment=-0.3, sentiment_strength=0.5, event_risk=True, summary="s")
    assert SentimentAnalysisOutput.model_validate(base).event_risk is True
    with pytest.raises(ValidationError):
        SentimentAnalysisOutput.model_validate({k: v for k, v in base.items() if k != "event_risk"})
    with pytest.raises(ValidationError):
        SentimentAnalysisOutput.model_validate(base | {"sentiment_strength": -0.1})


def test_research_conviction_is_in_unit_interval() -> None:
    assert BullishResearchOutput(symbol="AAPL", thesis="t", conviction=1.0).conviction == 1.0
    with pytest.raises(ValidationError):
        BullishResearchOutput(symbol="AAPL", thesis="t", conviction=1.2)
