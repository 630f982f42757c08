"""Helpers that build golden scenarios from the bundled sample (used by ``golden_cases``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from cream.adapters.local_history import LocalHistory
from cream.agents.port import AgentContext
from cream.agents.rules.backend import RuleBasedAgents
from cream.evals.registry import default_checks
from cream.evals.scenarios import ENVIRONMENT, Expectation, GoldenScenario
from cream.features import DAILY_LOOKBACK, HOURLY_LOOKBACK, build_snapshot
from cream.schemas.agents import ANALYSTS, RESEARCHERS, AgentType
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.decisions import Decision, DecisionPlan, RiskDenomination
from cream.schemas.instruments import underlying_of
from cream.schemas.market import FeatureSnapshot, OptionMark, Timeframe
from cream.schemas.portfolio import PortfolioView, PositionView
from cream.services import observe
from cream.services.runtime_config import SAMPLE_SECTORS, default_trading_config

EQUITY = 100_000.0
RM, CRITIC = AgentType.RISK_MANAGER, AgentType.CRITIC


def at(day: str) -> datetime:
    """19:00 UTC of ``day``: the last hourly bar of the early afternoon (New York) has closed."""
    return datetime.fromisoformat(day).replace(hour=19, tzinfo=UTC)


def snapshots(as_of: datetime, *symbols: str) -> dict[str, FeatureSnapshot]:
    history = LocalHistory()
    return {s: build_snapshot(s, as_of, history.bars(s, Timeframe.H1, as_of, HOURLY_LOOKBACK),
                              history.bars(s, Timeframe.D1, as_of, DAILY_LOOKBACK)) for s in symbols}


def option_marks(snaps: dict[str, FeatureSnapshot], *held: str) -> dict[str, OptionMark]:
    """What observe marks for these snapshots in BACKTEST: each symbol's chain window (the default
    ``OptionChains``, enabled) and the ``held`` contracts or strategies, priced by the option model."""
    history, as_of = LocalHistory(), next(iter(snaps.values())).as_of
    prices = {s: snap.price for s, snap in snaps.items()}
    window = observe.chain_marks(history, prices, as_of, OptionChains(enabled=True), rate=OptionModel().rate)
    return {**window, **observe.held_marks(history, list(held), as_of)}


def edited(snap: FeatureSnapshot, **changes: Any) -> FeatureSnapshot:
    return FeatureSnapshot.model_validate({**snap.model_dump(mode="json"), **changes})


def position(symbol: str, qty: int, entry: float, price: float, stop: float | None = None,
             target: float | None = None, opened: str | None = None, multiplier: int = 1,
             levels_on: RiskDenomination = RiskDenomination.UNDERLYING_PRICE) -> PositionView:
    return PositionView(instrument_id=symbol, quantity=qty, avg_entry_price=entry,
                        market_price=round(price, 4), stop_loss=stop, take_profit=target, multiplier=multiplier,
                        levels_on=levels_on,
                        opened_at=datetime.fromisoformat(opened).replace(tzinfo=UTC) if opened else None)


def book(*positions: PositionView, equity: float = EQUITY) -> PortfolioView:
    values = [p.quantity * p.market_price * p.multiplier for p in positions]
    gross = round(sum(abs(v) for v in values), 2)
    return PortfolioView(cash=round(equity - sum(values), 2), equity=equity, gross_exposure=gross,
                         net_exposure=round(sum(values), 2), buying_power=round(2 * equity - gross, 2),
                         positions={p.instrument_id: p for p in positions})


def rule_research(name: str, snaps: dict[str, FeatureSnapshot], portfolio: PortfolioView
                  ) -> dict[str, dict[str, dict[str, Any]]]:
    """The rule analysts' and researchers' outputs: the fixed research of an approvers scenario."""
    agents, rules = RuleBasedAgents(), default_trading_config(ENVIRONMENT).rules
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for symbol, snap in sorted(snaps.items()):
        out[symbol] = {}
        for group in (ANALYSTS, RESEARCHERS):
            upstream = dict(out[symbol])
            for agent in group:
                ctx = AgentContext(cycle_id=f"eval-{name}", environment=ENVIRONMENT, as_of=snap.as_of,
                                   symbol=symbol, snapshots={symbol: snap}, analyses={symbol: upstream},
                                   portfolio=portfolio, rules=rules)
                out[symbol][agent.value] = agents.run(agent, ctx)
    return out


def scenario(name: str, description: str, snaps: dict[str, FeatureSnapshot], portfolio: PortfolioView, *,
             overrides: dict[str, float] | None = None, plan_of: Callable[[dict[str, Any]], list[Decision]]
             | None = None, expect: dict[AgentType, Expectation] | None = None,
             marks: dict[str, OptionMark] | None = None) -> GoldenScenario:
    as_of = next(iter(snaps.values())).as_of
    involved = set(snaps) | {underlying_of(k) for k in portfolio.positions}
    kind: Literal["chain", "approvers"] = "chain"
    analyses: dict[str, dict[str, dict[str, Any]]] = {}
    plan = None
    if plan_of is not None:  # approvers: the rule research is fixed, and the plan built on it
        kind, analyses = "approvers", rule_research(name, snaps, portfolio)
        plan = DecisionPlan(cycle_id=f"eval-{name}", as_of_timestamp=as_of, environment=ENVIRONMENT,
                            decisions=plan_of(analyses))
    return GoldenScenario(
        name=name, description=description, kind=kind, as_of=as_of, snapshots=snaps, portfolio=portfolio,
        rules_overrides=overrides or {}, sectors={k: v for k, v in SAMPLE_SECTORS.items() if k in involved},
        option_marks=marks or {},
        analyses=analyses, plan=plan, expect=expect or {}, checks=default_checks(kind, expect or {}))
