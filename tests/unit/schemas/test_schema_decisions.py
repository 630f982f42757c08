"""Decision and DecisionPlan: the trader's output and the rules a plan must satisfy to exist at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cream.schemas.decisions import (
    Action,
    Decision,
    DecisionPlan,
    Direction,
    OrderPlan,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import Equity, MultiLeg, OptionContract, OptionLeg

AS_OF = datetime(2025, 6, 2, 15, tzinfo=UTC)


def decision_json(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        instrument={"type": "EQUITY", "symbol": "COST"}, action="BUY", direction="LONG",
        size={"quantity": 9, "unit": "SHARES"},
        risk_levels={"stop_loss_level": 994.7, "take_profit_level": 1153.9},
        strategy_family="TREND", rationale="bull beats bear", confidence=0.69)
    return base | over


def decision(**over: Any) -> Decision:
    return Decision.model_validate(decision_json(**over))


def test_valid_long_decision_parses_with_defaults() -> None:
    d = decision()
    assert d.instrument == Equity(symbol="COST")
    assert d.instrument_id == "COST"
    assert d.order_plan == OrderPlan()
    assert d.references.used_indicators == []


def test_long_needs_stop_below_target() -> None:
    with pytest.raises(ValidationError, match="LONG decision needs stop_loss_level below take_profit_level"):
        decision(risk_levels={"stop_loss_level": 1100, "take_profit_level": 1000})
    with pytest.raises(ValidationError):
        decision(risk_levels={"stop_loss_level": 1000, "take_profit_level": 1000})


def test_short_needs_stop_above_target() -> None:
    ok = decision(action="SELL", direction="SHORT", risk_levels={"stop_loss_level": 1100, "take_profit_level": 950})
    assert ok.direction is Direction.SHORT
    with pytest.raises(ValidationError, match="SHORT decision needs stop_loss_level above take_profit_level"):
        decision(action="SELL", direction="SHORT", risk_levels={"stop_loss_level": 950, "take_profit_level": 1100})


def test_flat_close_has_no_level_ordering_requirement() -> None:
    d = decision(action="SELL", direction="FLAT", risk_levels={"stop_loss_level": 1100, "take_profit_level": 950})
    assert d.direction is Direction.FLAT


def test_missing_risk_levels_is_a_validation_error() -> None:
    body = decision_json()
    del body["risk_levels"]
    with pytest.raises(ValidationError, match="risk_levels"):
        Decision.model_validate(body)


@pytest.mark.parametrize("levels", [{"stop_loss_level": 990}, {"take_profit_level": 1100},
                                    {"stop_loss_level": 0, "take_profit_level": 1100}])
def test_incomplete_or_non_positive_levels_are_rejected(levels: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        decision(risk_levels=levels)


@pytest.mark.parametrize("action", ["BUY", "SELL", "INCREASE", "REDUCE"])
def test_order_actions_need_a_positive_size(action: str) -> None:
    with pytest.raises(ValidationError, match=f"{action} decision needs a positive size"):
        decision(action=action, size={"quantity": 0, "unit": "SHARES"})


@pytest.mark.parametrize("action", ["HOLD", "NO_TRADE"])
def test_non_order_actions_may_have_zero_size(action: str) -> None:
    assert decision(action=action, size={"quantity": 0, "unit": "SHARES"}).action is Action(action)


def test_negative_size_is_rejected() -> None:
    with pytest.raises(ValidationError):
        decision(size={"quantity": -5, "unit": "SHARES"})


def test_equity_is_sized_in_shares_not_contracts() -> None:
    with pytest.raises(ValidationError, match="EQUITY is sized in SHARES"):
        decision(size={"quantity": 9, "unit": "CONTRACTS"})


@pytest.mark.parametrize("instrument", [
    {"type": "OPTION", "occ_symbol": "O:COST250620C01050000"},
    {"type": "MULTI_LEG", "legs": [{"occ_symbol": "COST250620C01050000", "ratio": 1},
                                   {"occ_symbol": "COST250620C01100000", "ratio": -1}]},
])
def test_options_are_sized_in_contracts(instrument: dict[str, Any]) -> None:
    d = decision(instrument=instrument, size={"quantity": 2, "unit": "CONTRACTS"})
    assert d.size == Size(quantity=2, unit=SizeUnit.CONTRACTS)
    assert isinstance(d.instrument, (OptionContract, MultiLeg))
    with pytest.raises(ValidationError, match="sized in CONTRACTS"):
        decision(instrument=instrument, size={"quantity": 200, "unit": "SHARES"})


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_confidence_outside_unit_interval_is_rejected(confidence: float) -> None:
    with pytest.raises(ValidationError):
        decision(confidence=confidence)


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_confidence_bounds_are_inclusive(confidence: float) -> None:
    assert decision(confidence=confidence).confidence == confidence


def test_limit_entry_needs_a_limit_price() -> None:
    with pytest.raises(ValidationError, match="LIMIT entry needs entry_limit_price"):
        decision(order_plan={"entry_order_type": "LIMIT"})
    with pytest.raises(ValidationError, match="STOP_LIMIT entry needs entry_limit_price"):
        OrderPlan(entry_order_type="STOP_LIMIT")
    assert decision(order_plan={"entry_order_type": "LIMIT", "entry_limit_price": 1040}).order_plan.entry_limit_price


def test_empty_rationale_and_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        decision(rationale="")
    with pytest.raises(ValidationError):
        decision(stop=990)


# --- DecisionPlan --------------------------------------------------------------------------------


def plan(decisions: list[Decision]) -> DecisionPlan:
    return DecisionPlan(cycle_id="backtest-default-20250602T1500Z", as_of_timestamp=AS_OF, environment="BACKTEST",
                        decisions=decisions)


def test_plan_lists_only_decisions_that_need_orders() -> None:
    buy = decision()
    hold = decision(instrument={"type": "EQUITY", "symbol": "MA"}, action="HOLD")
    skip = decision(instrument={"type": "EQUITY", "symbol": "XLK"}, action="NO_TRADE",
                    size={"quantity": 0, "unit": "SHARES"})
    p = plan([buy, hold, skip])
    assert p.orders_requested == [buy]


def test_plan_allows_one_decision_per_instrument() -> None:
    with pytest.raises(ValidationError, match="only one decision per instrument"):
        plan([decision(), decision(action="HOLD")])


def test_same_option_in_two_spellings_is_the_same_instrument() -> None:
    a = decision(instrument={"type": "OPTION", "occ_symbol": "O:COST250620C01050000"},
                 size={"quantity": 1, "unit": "CONTRACTS"})
    b = decision(instrument={"type": "OPTION", "occ_symbol": "COST  250620C01050000"},
                 size={"quantity": 2, "unit": "CONTRACTS"})
    with pytest.raises(ValidationError, match="only one decision per instrument"):
        plan([a, b])


def test_equity_and_its_option_are_different_instruments() -> None:
    opt = decision(instrument={"type": "OPTION", "occ_symbol": "COST250620C01050000"},
                   size={"quantity": 1, "unit": "CONTRACTS"})
    assert len(plan([decision(), opt]).decisions) == 2


def test_plan_round_trips_through_json() -> None:
    spread = MultiLeg(legs=[OptionLeg(occ_symbol="COST250620C01050000", ratio=1),
                            OptionLeg(occ_symbol="COST250620C01100000", ratio=-1)])
    p = plan([decision(), Decision(instrument=spread, action=Action.BUY, direction=Direction.LONG,
                                   size=Size(quantity=1, unit=SizeUnit.CONTRACTS),
                                   risk_levels=RiskLevels(stop_loss_level=1000, take_profit_level=1100),
                                   strategy_family="VOLATILITY", rationale="spread", confidence=0.5)])
    assert DecisionPlan.model_validate_json(p.model_dump_json()) == p


def test_plan_needs_a_cycle_id_and_known_environment() -> None:
    with pytest.raises(ValidationError):
        DecisionPlan(cycle_id="", as_of_timestamp=AS_OF, environment="BACKTEST")
    with pytest.raises(ValidationError):
        DecisionPlan(cycle_id="c", as_of_timestamp=AS_OF, environment="SANDBOX")
