"""Decide: run one agent on its context, validate its output, record it (first record wins).

An agent's output that fails validation, names the wrong symbol, cites a symbol, price, event or
indicator the snapshot does not hold (cream.agents.grounding), or raises is recorded as an ERROR:
the symbol gets no research, the plan no approval. Nothing here ever defaults to an approval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cream.agents.grounding import check_grounding
from cream.agents.port import AgentBackend, AgentContext
from cream.schemas.agents import (
    ANALYSTS,
    APPROVERS,
    RESEARCHERS,
    AgentType,
    ApprovalVerdict,
    BearishResearchOutput,
    BullishResearchOutput,
    FundamentalsAnalysisOutput,
    Objection,
    SentimentAnalysisOutput,
    Severity,
    TechnicalAnalysisOutput,
    Verdict,
)
from cream.schemas.config import TradingRules
from cream.schemas.cycle import Observed, Oriented
from cream.schemas.decisions import DecisionPlan, Environment
from cream.services import cycles
from cream.services.runtime_config import active_sectors, active_trading_config
from cream.storage.db import autocommitted, insert_later, session_scope, sole_writer, writes_serialized
from cream.storage.models import AgentOutput
from cream.storage.types import utcnow

log = logging.getLogger(__name__)
PORTFOLIO = "*"  # the symbol column of portfolio-level agents

OUTPUT_SCHEMAS: dict[AgentType, type[BaseModel]] = {
    AgentType.TECHNICAL_ANALYST: TechnicalAnalysisOutput,
    AgentType.NEWS_ANALYST: SentimentAnalysisOutput,
    AgentType.FUNDAMENTALS_ANALYST: FundamentalsAnalysisOutput,
    AgentType.BULLISH_RESEARCHER: BullishResearchOutput,
    AgentType.BEARISH_RESEARCHER: BearishResearchOutput,
    AgentType.TRADER: DecisionPlan,
    AgentType.RISK_MANAGER: ApprovalVerdict,
    AgentType.CRITIC: ApprovalVerdict,
}


EARLIER_PHASES: dict[AgentType, tuple[AgentType, ...]] = {
    **dict.fromkeys(ANALYSTS, ()), **dict.fromkeys(RESEARCHERS, ANALYSTS),
    **dict.fromkeys((AgentType.TRADER, *APPROVERS), ANALYSTS + RESEARCHERS)}


# The group whose join an agent's output counts towards (the trader's plan is a phase of its own).
GROUP_OF: dict[AgentType, tuple[AgentType, ...]] = {
    **dict.fromkeys(ANALYSTS, ANALYSTS), **dict.fromkeys(RESEARCHERS, RESEARCHERS), **dict.fromkeys(APPROVERS, APPROVERS)}


class OutputRow:
    """An agent output as a step of the fleet reads it: a few columns in one statement, no ORM object
    (outputs never change once recorded). ``plan``: the trader's, validated once (``trader_plan``)."""

    __slots__ = ("agent_type", "error", "iteration", "output", "plan", "status", "symbol")

    def __init__(self, agent_type: str, symbol: str, iteration: int, status: str, output: dict[str, Any] | None,
                 error: str | None) -> None:
        self.agent_type, self.symbol, self.iteration, self.status = agent_type, symbol, iteration, status
        self.output, self.error = output, error


# The statements of an agent step, built once: a step runs a handful of them, and building one (and its
# cache key) cost about as much as running it.
_OUTPUTS = cast(Table, AgentOutput.__table__)
_COLUMNS = ("agent_type", "symbol", "iteration", "status", "output", "error")
_READ_OUTPUTS = select(*(_OUTPUTS.c[c] for c in _COLUMNS)).where(
    _OUTPUTS.c.cycle_id == bindparam("cycle_id")).order_by(_OUTPUTS.c.id)
_READ_SYMBOL_OUTPUTS = _READ_OUTPUTS.where(_OUTPUTS.c.symbol == bindparam("symbol"))
_GROUP_RECORDED = select(_OUTPUTS.c.agent_type, _OUTPUTS.c.symbol).where(
    _OUTPUTS.c.cycle_id == bindparam("cycle_id"), _OUTPUTS.c.iteration == bindparam("iteration"),
    _OUTPUTS.c.agent_type.in_(bindparam("agents", expanding=True)))
_RECORDED_STATUS = select(_OUTPUTS.c.status).where(
    _OUTPUTS.c.cycle_id == bindparam("cycle_id"), _OUTPUTS.c.agent_type == bindparam("agent_type"),
    _OUTPUTS.c.symbol == bindparam("symbol"), _OUTPUTS.c.iteration == bindparam("iteration"))
_INSERT_OUTPUT = _OUTPUTS.insert()


class AgentRun(NamedTuple):
    status: str  # OK | ERROR: the recorded output's (the first record wins)
    symbols: list[str]  # the cycle's
    # Every output of the agent's group is recorded, as seen by the transaction that recorded this one when
    # no other writer could commit meanwhile (SQLite, one transaction), or by a count made after its commit
    # (PostgreSQL); None: ask after the commit.
    group_complete: bool | None = None


def run_agent(cycle_id: str, agent: AgentType, backends: Callable[[Environment], AgentBackend],
              symbol: str | None = None, iteration: int = 0) -> AgentRun:
    """Run ``agent`` once for this cycle (and symbol, iteration) on the backend of the cycle's environment;
    cycles.CycleEnded if the cycle has ended."""
    key_symbol = symbol or PORTFOLIO
    with session_scope(readonly=True) as s:
        cycle = cycles.running_view(s, cycle_id)
        env, symbols = Environment(cycle.environment), list(cycle.symbols)
        done = _output_row(s, cycle_id, agent, key_symbol, iteration)
        if done is not None:
            return AgentRun(done.status, symbols)
        ctx = build_context(s, cycle_id, agent, symbol, iteration)
    backend = backends(env)
    started = time.perf_counter()
    try:
        raw = backend.run(agent, ctx)
        output, error = validate_output(agent, raw, ctx), None
    except Exception as exc:  # noqa: BLE001 - fail closed: any failure of the agent is recorded, never approved
        output, error = None, f"{type(exc).__name__}: {exc}"
        log.warning("agent %s failed for %s/%s: %s", agent.value, cycle_id, key_symbol, error)
    values = {"cycle_id": cycle_id, "agent_type": agent.value, "symbol": key_symbol, "iteration": iteration,
              "status": "ERROR" if error else "OK", "output": output, "error": error,
              "implementation": backend.implementation, "prompt_version": backend.version(agent),
              "duration_ms": round((time.perf_counter() - started) * 1000, 3), "created_at": utcnow()}
    # PostgreSQL: the insert commits on its own, and the group is counted after it, on the same connection.
    with session_scope(autocommit=True) as s:
        status = _record_output(s, values)
        complete = None
        # The last to record sees its whole group: no other writer commits while this transaction is open
        # (SQLite), or this count starts after the output's own commit (PostgreSQL: of members finishing
        # together, the last to commit sees every output; two may both see it, the join checks again).
        if agent in GROUP_OF and (writes_serialized(s) or autocommitted(s)):
            complete = phase_complete(s, cycle_id, GROUP_OF[agent], iteration, symbols)
    return AgentRun(status, symbols, complete)


def _record_output(s: Session, values: dict[str, Any]) -> str:
    """Record an agent's output unless the same run recorded one first; the recorded one's status."""
    key = (values["agent_type"], values["symbol"], values["iteration"])
    if sole_writer(s):  # one transaction, no concurrent writer: its memo knows what is recorded
        recorded = _recorded(s, values["cycle_id"])
        if key not in recorded:
            recorded[key] = AgentOutput(**values)
            insert_later(s, recorded[key])  # with the cycle's others, in one statement, when it commits
        return recorded[key].status
    try:  # the insert alone: this transaction holds nothing else, so a conflict rolls back only it
        s.execute(_INSERT_OUTPUT, values)
    except IntegrityError:  # the same agent run, redelivered, recorded it first: the first record wins
        s.rollback()
        first = s.scalar(_RECORDED_STATUS, {"cycle_id": values["cycle_id"], "agent_type": key[0],
                                            "symbol": key[1], "iteration": key[2]})
        if first is None:
            raise  # not a duplicate (the cycle row is missing?): the error policy decides
        return str(first)
    return str(values["status"])


def phase_complete(s: Any, cycle_id: str, agents: tuple[AgentType, ...], iteration: int,
                   symbols: list[str] | None = None) -> bool:
    """Every output of a phase is recorded: per symbol of the cycle (``symbols``, else read) for analysts
    and researchers, once for portfolio agents (the approvers)."""
    per_symbol = all(a in ANALYSTS or a in RESEARCHERS for a in agents)
    if per_symbol and symbols is None:
        symbols = list(cycles.view(s, cycle_id).symbols)
    expected = {(a.value, sym) for a in agents for sym in (symbols if per_symbol else [PORTFOLIO])}  # type: ignore[union-attr]
    memo = s.info.get("agent_outputs", {}).get(cycle_id)
    if memo is not None:
        found = {(agent, symbol) for agent, symbol, at in memo if at == iteration}
    else:  # which outputs exist, not what they say: no output is read
        found = {(agent, symbol) for agent, symbol in s.execute(
            _GROUP_RECORDED, {"cycle_id": cycle_id, "iteration": iteration, "agents": [a.value for a in agents]})}
    return expected <= found


def validate_output(agent: AgentType, raw: Any, ctx: AgentContext) -> dict[str, Any]:
    """The output as schema-valid JSON, or an exception saying why it is unusable."""
    try:
        model = OUTPUT_SCHEMAS[agent].model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"output does not match {OUTPUT_SCHEMAS[agent].__name__}: {exc.errors()[:3]}") from exc
    about = getattr(model, "symbol", ctx.symbol)
    if ctx.symbol is not None and about != ctx.symbol:
        raise ValueError(f"output is about {about}, asked about {ctx.symbol}")
    if isinstance(model, DecisionPlan):
        if model.cycle_id != ctx.cycle_id or model.environment is not ctx.environment:
            raise ValueError("plan names another cycle or environment")
        strangers = {d.instrument.underlying for d in model.decisions} - set(ctx.snapshots)
        if strangers:
            raise ValueError(f"plan trades symbols outside this cycle: {sorted(strangers)}")
    if isinstance(model, ApprovalVerdict) and model.agent != agent.value:
        raise ValueError(f"verdict signed by {model.agent}, expected {agent.value}")
    check_grounding(agent, model, ctx)  # symbols, prices, events and indicators must come from the snapshot
    return model.model_dump(mode="json")


Recorded = dict[tuple[str, str, int], AgentOutput | OutputRow]


def _recorded(s: Any, cycle_id: str, symbol: str | None = None) -> Recorded:
    """The cycle's agent outputs by (agent, symbol, iteration), in the order they were recorded: read in one
    query per session, then kept up to date by this session's own records (outputs are never changed).
    ``symbol``: only that symbol's are needed (a symbol agent's step on the fleet reads just those, one
    query per session; the whole cycle's, if this session has read them, answer too)."""
    memo: dict[str | tuple[str, str], Recorded] = s.info.setdefault("agent_outputs", {})
    found = memo.get(cycle_id)
    if found is not None:
        return found if symbol is None else {k: r for k, r in found.items() if k[1] == symbol}
    if sole_writer(s):  # one transaction (in process): the whole cycle's, once, as the session's rows
        rows = () if cycles.opened_here(s, cycle_id) else \
            s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == cycle_id).order_by(AgentOutput.id))
        found = memo[cycle_id] = {(r.agent_type, r.symbol, r.iteration): r for r in rows}
        return found if symbol is None else {k: r for k, r in found.items() if k[1] == symbol}
    if symbol is None:
        found = memo[cycle_id] = _read_outputs(s, _READ_OUTPUTS, {"cycle_id": cycle_id})
        return found
    part = memo.get((cycle_id, symbol))
    if part is None:
        part = memo[(cycle_id, symbol)] = _read_outputs(s, _READ_SYMBOL_OUTPUTS, {"cycle_id": cycle_id,
                                                                                "symbol": symbol})
    return part


def _read_outputs(s: Any, statement: Any, params: dict[str, str]) -> Recorded:
    rows = (OutputRow(*r) for r in s.execute(statement, params))
    return {(r.agent_type, r.symbol, r.iteration): r for r in rows}


def _output_row(s: Any, cycle_id: str, agent: AgentType, symbol: str,
                iteration: int) -> AgentOutput | OutputRow | None:
    return _recorded(s, cycle_id, None if symbol == PORTFOLIO else symbol).get((agent.value, symbol, iteration))


def outputs(s: Any, cycle_id: str, agents: tuple[AgentType, ...], iteration: int | None = None,
            symbol: str | None = None) -> list[AgentOutput | OutputRow]:
    """The outputs of ``agents`` (at ``iteration``; of ``symbol`` only, if given)."""
    names = {a.value for a in agents}
    return [r for (agent, _, at), r in _recorded(s, cycle_id, symbol).items()
            if agent in names and (iteration is None or at == iteration)]


def build_context(s: Any, cycle_id: str, agent: AgentType, symbol: str | None, iteration: int) -> AgentContext:
    cycle = cycles.view(s, cycle_id)
    env = Environment(cycle.environment)
    analyses: dict[str, dict[str, dict[str, Any]]] = {}
    # Only the phases before this agent's: a peer of the same phase may or may not have finished, and
    # a context that depends on that race would make the agent (and its recorded prompt) irreproducible.
    for row in outputs(s, cycle_id, EARLIER_PHASES[agent], 0, symbol):  # a symbol agent sees its symbol's
        if row.status == "OK" and row.output is not None:
            analyses.setdefault(row.symbol, {})[row.agent_type] = row.output
    plan = previous = None
    objections: list[Objection] = []
    if agent in APPROVERS:
        plan = trader_plan(s, cycle_id, iteration)
    if agent is AgentType.TRADER and iteration > 1:
        previous = trader_plan(s, cycle_id, iteration - 1)
        objections = [o for v in verdicts(s, cycle_id, iteration - 1).values() for o in v.objections]
    observed = cycles.require(s, cycle_id, Observed)
    return assemble_context(
        CycleInputs(cycle_id=cycle_id, environment=env, observed=observed,
                    oriented=cycles.require(s, cycle_id, Oriented),
                    rules=observed.rules or active_trading_config(s, env).rules,
                    sectors=active_sectors(s, env) if agent in APPROVERS else {}),
        agent, symbol, iteration, analyses, plan, previous, objections)


class CycleInputs(NamedTuple):
    """What every agent of one cycle reads besides the other agents' outputs."""

    cycle_id: str
    environment: Environment
    observed: Observed  # as_of, portfolio, option marks
    oriented: Oriented  # feature snapshots
    rules: TradingRules
    sectors: dict[str, str]


def assemble_context(inputs: CycleInputs, agent: AgentType, symbol: str | None, iteration: int,
                     analyses: dict[str, dict[str, dict[str, Any]]], plan: DecisionPlan | None,
                     previous: DecisionPlan | None, objections: list[Objection]) -> AgentContext:
    """The context of one agent run: a symbol agent sees its symbol only; sectors go to the approvers, who
    check the plan against them, and option marks to the trader too, who may pick a contract."""
    snapshots = {k: v for k, v in inputs.oriented.snapshots.items() if symbol is None or k == symbol}
    observed = inputs.observed
    return AgentContext(
        cycle_id=inputs.cycle_id, environment=inputs.environment, as_of=observed.as_of,
        iteration=iteration, symbol=symbol, snapshots=snapshots,
        analyses=analyses if symbol is None else {symbol: analyses.get(symbol, {})},
        portfolio=observed.portfolio, rules=inputs.rules, plan=plan,
        previous_plan=previous, objections=objections,
        sectors=inputs.sectors if agent in APPROVERS else {},
        option_marks=dict(observed.option_marks) if agent in APPROVERS or agent is AgentType.TRADER else {})


_PLANS = cycles.Memo[DecisionPlan](32)  # trader plans read from the database, validated, in this process


def trader_plan(s: Any, cycle_id: str, iteration: int) -> DecisionPlan | None:
    row = _output_row(s, cycle_id, AgentType.TRADER, PORTFOLIO, iteration)
    if row is None or row.status != "OK":
        return None
    plan: DecisionPlan | None = getattr(row, "plan", None)  # validated once per row object (outputs never change)
    if plan is None:
        # Once per process as well (both approvers of an iteration run in the agents worker): a row read
        # through the statements above was committed, a first record that never changes.
        shared = cycles.memo_key(s, cycle_id, f"{cycle_id}:plan:{iteration}") if isinstance(row, OutputRow) else None
        plan = _PLANS.get(shared) if shared is not None else None
        if plan is None:
            plan = DecisionPlan.model_validate(row.output)
            if shared is not None:
                _PLANS.put(shared, plan)
        row.plan = plan  # type: ignore[union-attr]
    return plan


def verdicts(s: Any, cycle_id: str, iteration: int) -> dict[AgentType, ApprovalVerdict]:
    """Both approvers' verdicts; an approver that errored or is missing counts as a REJECT."""
    out = {}
    for agent in APPROVERS:
        row = _output_row(s, cycle_id, agent, PORTFOLIO, iteration)
        if row is not None and row.status == "OK" and row.output is not None:
            out[agent] = ApprovalVerdict.model_validate(row.output)
        else:
            out[agent] = failed_verdict(agent, row.error if row is not None else "no verdict recorded")
    return out


def failed_verdict(agent: AgentType, reason: str | None) -> ApprovalVerdict:
    """What an approver that errored counts as: a REJECT with the error as its critical objection."""
    return ApprovalVerdict(
        agent=agent.value, verdict=Verdict.REJECT, summary=f"{agent.value} failed: counts as REJECT",
        objections=[Objection(code="APPROVER_ERROR", severity=Severity.CRITICAL,
                              message=f"{agent.value} produced no valid verdict ({reason})")])
