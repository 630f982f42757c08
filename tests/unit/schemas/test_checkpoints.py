"""Typed checkpoints: what the phases stored before they were typed still loads, and a checkpoint with a
missing or mistyped field is refused where it is read, naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cream.schemas.cycle import (
    CHECKPOINTS,
    Acted,
    Gated,
    GateOutcome,
    Joined,
    Observed,
    Phase,
    Planned,
    Resumed,
)

PORTFOLIO = {"cash": 100000.0, "equity": 100000.0, "gross_exposure": 0.0, "net_exposure": 0.0, "positions": {},
             "buying_power": 200000.0, "day_trades_5d": 0, "working_orders": {}}

# As the untyped phases wrote them (dicts built by hand in tasks/data.py, tasks/cycle.py, services/act.py).
STORED = {
    Phase.OBSERVE: {"as_of": "2025-09-24T15:00:00+00:00", "prices": {"XLK": 254.1}, "bracket_exits": [],
                    "option_marks": {}, "broker_changes": [], "portfolio": PORTFOLIO, "reconciliation": {}},
    Phase.ANALYSTS: {"outputs": {"technical_analyst/XLK": "OK", "news_analyst/XLK": "ERROR"}},
    Phase.TRADER: {"agent": "trader", "symbol": "*", "status": "OK"},
    Phase.GATE: {"outcome": "REVISE", "iteration": 1, "reason": "RISK_REWARD: too tight",
                 "verdicts": {"risk_manager": "REJECT", "critic": "APPROVE"}},
    Phase.RISK_CHECK: {"approved": True, "checks": [{"check": "MAX_UNITS", "status": "PASS"}]},
    Phase.ACT: {"status": "EXECUTED", "reason": None, "orders": ["cream-0123"],
                "book_lock": {"asked_at": "2026-01-05T15:00:00+00:00"}},
    Phase.RESUME: {"after": "gate"},
}


@pytest.mark.parametrize("phase", list(STORED))
def test_what_the_untyped_phases_stored_still_loads(phase: Phase) -> None:
    typed = CHECKPOINTS[phase].model_validate(STORED[phase])
    again = CHECKPOINTS[phase].model_validate(typed.model_dump(mode="json"))
    assert again == typed


def test_older_observe_checkpoints_without_the_later_fields_load() -> None:
    old = {k: v for k, v in STORED[Phase.OBSERVE].items() if k not in ("reconciliation", "broker_changes")}
    seen = Observed.model_validate(old)
    assert seen.reconciliation == {} and seen.broker_changes == [] and seen.portfolio.cash == 100000.0


def test_the_typed_fields_are_what_the_phases_read() -> None:
    assert Gated.model_validate(STORED[Phase.GATE]).outcome is GateOutcome.REVISE
    assert Acted.model_validate(STORED[Phase.ACT]).working == []
    assert Resumed.model_validate(STORED[Phase.RESUME]).after is Phase.GATE
    assert Joined.model_validate(STORED[Phase.ANALYSTS]).outputs["news_analyst/XLK"] == "ERROR"
    assert Planned.model_validate(STORED[Phase.TRADER]).status == "OK"


@pytest.mark.parametrize("phase, broken, field", [
    (Phase.OBSERVE, {"prices": {"XLK": 254.1}, "portfolio": PORTFOLIO}, "as_of"),
    (Phase.OBSERVE, {**STORED[Phase.OBSERVE], "prices": {"XLK": "cheap"}}, "prices.XLK"),
    (Phase.GATE, {**STORED[Phase.GATE], "outcome": "MAYBE"}, "outcome"),
    (Phase.ACT, {**STORED[Phase.ACT], "status": "DONE"}, "status"),
    (Phase.ORIENT, {}, "snapshots"),
    (Phase.TRADER, {**STORED[Phase.TRADER], "extra": 1}, "extra"),
])
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_field(phase: Phase, broken: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CHECKPOINTS[phase].model_validate(broken)
    assert field in {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
