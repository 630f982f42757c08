"""What a check looks at: one agent's validated output in its scenario, plus the facts around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cream.option_marks import mark_of
from cream.risk import order_side
from cream.schemas.config import TradingRules
from cream.schemas.decisions import ORDER_ACTIONS, Decision, DecisionPlan, Direction
from cream.schemas.market import EventKind, ExternalEvent, FeatureSnapshot

if TYPE_CHECKING:
    from cream.evals.scenarios import GoldenScenario

# A scheduled EARNINGS or MACRO event this important, from half a day ago to two days ahead, is event risk.
EVENT_RISK_IMPORTANCE = 0.7
EVENT_WINDOW_BEFORE, EVENT_WINDOW_AFTER = timedelta(hours=12), timedelta(days=2)


@dataclass(frozen=True)
class Subject:
    scenario: GoldenScenario
    rules: TradingRules
    output: dict[str, Any]  # the agent's output, already through decide.validate_output
    symbol: str | None = None  # per-symbol agents
    analyses: dict[str, dict[str, dict[str, Any]]] | None = None  # symbol -> agent -> valid upstream output
    plan: DecisionPlan | None = None  # the plan the trader wrote or the approvers judged
    unsound: tuple[str, ...] = ()  # trader checks the judged plan failed that the critic must catch

    @property
    def snapshot(self) -> FeatureSnapshot:
        assert self.symbol is not None
        return self.scenario.snapshots[self.symbol]

    def research(self, symbol: str) -> dict[str, dict[str, Any]]:
        return (self.analyses or {}).get(symbol, {})


Check = Callable[[Subject], list[str]]  # the reasons it failed; empty when it passed


def conviction_delta(research: dict[str, dict[str, Any]]) -> float | None:
    """bullish - bearish conviction, or None when either researcher gave no valid output."""
    try:
        bull, bear = research["bullish_researcher"], research["bearish_researcher"]
        return float(bull["conviction"]) - float(bear["conviction"])
    except (KeyError, TypeError, ValueError):
        return None


def event_risk(snapshot: FeatureSnapshot) -> list[ExternalEvent]:
    """High-importance scheduled events for this symbol (or the whole market) around the as-of time."""
    lo, hi = snapshot.as_of - EVENT_WINDOW_BEFORE, snapshot.as_of + EVENT_WINDOW_AFTER
    return [e for e in snapshot.external_events
            if e.kind in (EventKind.EARNINGS, EventKind.MACRO) and e.importance >= EVENT_RISK_IMPORTANCE
            and e.symbol in (None, snapshot.symbol) and lo <= e.ts <= hi]


@dataclass(frozen=True)
class Order:
    """One decision that sends an order, seen against the position it changes."""

    index: int
    decision: Decision
    symbol: str
    side: int  # +1 buys, -1 sells
    held: int  # position before the order

    @property
    def opens(self) -> bool:
        """Adds exposure: nothing held, or the order goes the position's way."""
        return self.held == 0 or (self.side > 0) == (self.held > 0)

    @property
    def new_quantity(self) -> int:
        return self.held + self.side * self.decision.size.quantity

    @property
    def label(self) -> str:
        return f"{self.decision.action.value} {self.decision.size.quantity} {self.decision.instrument_id}"


def orders(s: Subject, plan: DecisionPlan) -> list[Order]:
    out = []
    for i, d in enumerate(plan.decisions):
        if d.action not in ORDER_ACTIONS:
            continue
        pos = s.scenario.portfolio.positions.get(d.instrument_id)
        held = pos.quantity if pos else 0
        out.append(Order(i, d, d.instrument.underlying, order_side(d, held), held))
    return out


def entries(s: Subject, plan: DecisionPlan) -> list[Order]:
    """Orders that open or add to a share position (options are judged by symbols_in_snapshot alone)."""
    return [o for o in orders(s, plan) if o.opens and o.decision.instrument.type == "EQUITY"
            and o.symbol in s.scenario.snapshots and o.decision.direction is not Direction.FLAT]


def option_views(s: Subject, plan: DecisionPlan) -> set[tuple[str, int]]:
    """(symbol, +1 bullish / -1 bearish) of each option order that opens a position, by its delta as
    ordered (a put spread sold is bullish); one the cycle did not mark has no view."""
    out = set()
    for o in orders(s, plan):
        mark = mark_of(o.decision.instrument_id, s.scenario.option_marks)
        if o.decision.instrument.type != "EQUITY" and o.opens and mark is not None and mark.delta != 0:
            out.add((o.symbol, 1 if o.side * mark.delta > 0 else -1))
    return out


def trader_plan(s: Subject) -> DecisionPlan:
    return DecisionPlan.model_validate(s.output)
