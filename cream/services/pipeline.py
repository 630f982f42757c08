"""The cycle, defined once: its phases as functions of the cycle's recorded state, run by two runners.

observe → orient → [technical, news, fundamentals × symbols] ⇒ analysts joined
        → [bullish, bearish × symbols] ⇒ research joined → trader(i) → [risk manager(i), critic(i)]
        ⇒ gate(i): APPROVED → act | REVISE → trader(i+1) … | NO_TRADE

Each phase reads what the phases before it recorded (typed checkpoints and agent outputs), records its
own output once (the first record wins) and returns the steps that follow it, to be run side by side.
Who runs them is the runner's business:

- the fleet runner (``tasks``): each step is a Celery task on its queue; a task sends the steps its
  phase returned, so the agents of a group fan out across workers;
- the in-process runner (``cream.services.inprocess``): the same functions called one after the other
  in one process, for BACKTEST with deterministic agents, ``cream replay`` and ``cream evals``.

A step hands the cycle on only when it recorded its phase (``wrote``) or when an earlier run of the same
step may have died between recording and handing on (``again``: a redelivered or retried message).
A member of a group hands on to the group's join once every output of the group is recorded; the join
checks again, so a member run twice never moves the cycle twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from cream.agents.port import AgentBackend
from cream.errors import InvalidTrigger, TransientError, UnknownInstrument
from cream.ports import Broker, MarketData
from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.schemas.config import OptionChains, TradingConfig
from cream.schemas.cycle import (
    Acted,
    CycleStatus,
    GateOutcome,
    Joined,
    Observed,
    Oriented,
    Phase,
    Planned,
    Resumed,
)
from cream.schemas.decisions import Environment
from cream.schemas.instruments import underlying_of
from cream.schemas.trigger import CycleTrigger, parse_trigger
from cream.services import act as acting
from cream.services import cycles, decide, expiry, observe, portfolio, protection
from cream.services.approval import gate as decide_gate
from cream.services.cycle_hours import require_cycle_hour
from cream.services.llm_budget import over_budget
from cream.services.runtime_config import active_trading_config, active_universe
from cream.storage.db import session_scope

log = logging.getLogger(__name__)


class StepKind(StrEnum):
    OBSERVE = "observe"
    ORIENT = "orient"
    AGENT = "agent"
    ANALYSTS_DONE = "analysts_done"
    RESEARCH_DONE = "research_done"
    GATE = "gate"
    ACT = "act"


class Step(NamedTuple):
    kind: StepKind
    agent: AgentType | None = None
    symbol: str | None = None
    iteration: int = 0


Next = tuple[Step, ...]  # the steps that follow, to be run side by side

# The join each group of agents hands on to.
JOIN_OF: dict[AgentType, StepKind] = {
    **dict.fromkeys(ANALYSTS, StepKind.ANALYSTS_DONE), **dict.fromkeys(RESEARCHERS, StepKind.RESEARCH_DONE),
    **dict.fromkeys(APPROVERS, StepKind.GATE)}


@dataclass(frozen=True)
class Ports:
    """Where a cycle's phases reach the outside: built per environment by the composition root."""

    market: Callable[[], MarketData]
    broker: Callable[[Environment, TradingConfig], Broker]
    agents: Callable[[Environment], AgentBackend]
    # What of each cycle symbol's option chain observe marks in an environment, and the rate a quote without
    # a volatility is solved at (default: none marked; the composition root passes the settings').
    option_chains: Callable[[Environment], tuple[OptionChains, float]] = lambda _env: (OptionChains(enabled=False),
                                                                                      0.0)


# The fleet's task of each step (tasks.*): the name a failure is reported under, in either runner.
STEP_TASKS: dict[StepKind, str] = {
    StepKind.OBSERVE: "data.observe", StepKind.ORIENT: "data.orient", StepKind.ANALYSTS_DONE: "cycles.analysts_done",
    StepKind.RESEARCH_DONE: "cycles.research_done", StepKind.GATE: "cycles.gate", StepKind.ACT: "execution.act"}


def step_name(step: Step) -> str:
    return f"agents.{step.agent.value}" if step.agent is not None else STEP_TASKS[step.kind]


# --- the route ------------------------------------------------------------------------------------


def following(symbols: list[str], after: Phase | None, iteration: int = 0) -> Next:
    """The steps after checkpoint ``after`` (None: the cycle's first); a resumed cycle starts here."""
    if after is None:
        return (Step(StepKind.OBSERVE),)
    if after is Phase.OBSERVE:
        return (Step(StepKind.ORIENT),)
    if after is Phase.ORIENT:
        return tuple(Step(StepKind.AGENT, a, s) for s in symbols for a in ANALYSTS)
    if after is Phase.ANALYSTS:
        return tuple(Step(StepKind.AGENT, a, s) for s in symbols for a in RESEARCHERS)
    if after is Phase.RESEARCH:
        return (Step(StepKind.AGENT, AgentType.TRADER, iteration=1),)
    if after is Phase.TRADER:
        return tuple(Step(StepKind.AGENT, a, iteration=iteration) for a in APPROVERS)
    if after is Phase.GATE:  # the gate chose REVISE
        return (Step(StepKind.AGENT, AgentType.TRADER, iteration=iteration + 1),)
    if after is Phase.APPROVAL:
        return (Step(StepKind.ACT),)
    raise ValueError(f"no step follows {after.value}")


RESUME_AT = {Phase.RISK_CHECK: Phase.APPROVAL, Phase.ACT: Phase.APPROVAL}


def resume_point(cycle_id: str, max_resumes: int) -> tuple[list[str], Next] | None:
    """Where a RUNNING cycle whose messages were lost goes on: its symbols and the steps after its last
    checkpoint (recorded as a RESUME marker); None if it ended, FAILED once it stalled ``max_resumes`` times."""
    with session_scope() as s:
        cycle = cycles.get_cycle(s, cycle_id)
        if cycle.status != CycleStatus.RUNNING.value:
            return None
        done = cycles.checkpoints(s, cycle_id)
        resumes = sum(1 for c in done if c.phase == Phase.RESUME.value)
        if resumes >= max_resumes:
            cycles.fail(s, cycle_id, f"stalled {resumes} times; given up")
            return None
        last = next((c for c in reversed(done) if c.phase != Phase.RESUME.value), None)
        after = RESUME_AT.get(Phase(last.phase), Phase(last.phase)) if last else None
        iteration = last.iteration if last else 0
        if after is Phase.GATE and last is not None and last.data.get("outcome") == GateOutcome.APPROVED.value:
            after = Phase.APPROVAL
        cycles.record(s, cycle_id, Resumed(after=after), resumes + 1)
        symbols = list(cycle.symbols)
    log.warning("cycle %s resumed after %s", cycle_id, after.value if after else "start")
    return symbols, following(symbols, after, iteration)


# --- opening ----------------------------------------------------------------------------------------


class Opened(NamedTuple):
    cycle_id: str
    symbols: list[str]
    created: bool  # False: the hour's cycle existed (a second trigger), nothing to run
    status: str


def open_cycle(body: Any, fleet_env: Environment, ports: Ports) -> Opened:
    """Open the cycle of a trigger's hour; InvalidTrigger, UnknownInstrument or ConfigurationError say
    why a trigger starts nothing."""
    try:
        trigger = parse_trigger(body)
    except ValueError as exc:
        raise InvalidTrigger(str(exc)) from None
    if trigger.environment is not fleet_env:
        raise InvalidTrigger(f"trigger is for {trigger.environment.value}, this fleet runs {fleet_env.value}")
    market = ports.market()
    require_cycle_hour(trigger.environment, trigger.scheduled_for, market)
    symbols = _tradable_symbols(trigger, market, ports)
    with session_scope() as s:
        row, created = cycles.open_cycle(s, trigger, symbols)
        return Opened(row.id, symbols, created, row.status)


def _tradable_symbols(trigger: CycleTrigger, market: MarketData, ports: Ports) -> list[str]:
    with session_scope(readonly=True) as s:
        symbols = trigger.symbols or active_universe(s, trigger.environment)
        config = active_trading_config(s, trigger.environment)
    known = set(market.symbols())
    unknown = [x for x in symbols if x not in known]
    if unknown:
        raise UnknownInstrument(f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if trigger.environment is Environment.BACKTEST:
        return list(symbols)
    tradable = ports.broker(trigger.environment, config).tradable(symbols)  # what can be traded today
    refused = [x for x in symbols if not tradable.get(x)]
    if refused:
        log.warning("not tradable at the broker, left out of the cycle: %s", ", ".join(refused))
    if len(refused) == len(symbols):
        raise UnknownInstrument(f"none of {', '.join(refused)} is tradable at the broker")
    return [x for x in symbols if tradable.get(x)]


# --- the phases ---------------------------------------------------------------------------------------


def run(step: Step, cycle_id: str, ports: Ports, again: bool = False) -> Next:
    """Run one step of the cycle; the steps that follow it. A step of a cycle that has ended (a peer failed
    it, its budget ran out) does nothing: each phase checks in the first session it opens."""
    try:
        return _run(step, cycle_id, ports, again)
    except cycles.CycleEnded as ended:
        log.info("%s: nothing to do", ended)
        return ()


def _run(step: Step, cycle_id: str, ports: Ports, again: bool) -> Next:
    if step.kind is StepKind.OBSERVE:
        return observe_phase(cycle_id, ports, again)
    if step.kind is StepKind.ORIENT:
        return orient_phase(cycle_id, ports, again)
    if step.kind is StepKind.AGENT:
        assert step.agent is not None
        return agent_phase(cycle_id, step.agent, step.symbol, step.iteration, ports, again)
    if step.kind is StepKind.ANALYSTS_DONE:
        return join_phase(cycle_id, Phase.ANALYSTS, again)
    if step.kind is StepKind.RESEARCH_DONE:
        return join_phase(cycle_id, Phase.RESEARCH, again)
    if step.kind is StepKind.GATE:
        return gate_phase(cycle_id, step.iteration, again)
    act_phase(cycle_id, ports)
    return ()


def observe_phase(cycle_id: str, ports: Ports, again: bool) -> Next:
    """Prices and the book at the cycle's hour; PAPER/LIVE: first the book brought up to the broker."""
    with session_scope(readonly=True) as s:
        cycle = cycles.running_view(s, cycle_id)
        symbols = list(cycle.symbols)
        if cycles.load(s, cycle_id, Observed) is not None:
            return following(symbols, Phase.OBSERVE) if again else ()
        env, as_of, book = Environment(cycle.environment), cycle.scheduled_for, cycle.book
        # Held positions and open entry orders outside the cycle's symbols need a mark too: the risk check
        # counts both, and fails closed on what it cannot price.
        held = [p.instrument_id for p in portfolio.positions(s, book)] + list(portfolio.working_entries(s, book))
        config = active_trading_config(s, env)
    broker = ports.broker(env, config)
    reconciled = protection.reconcile_book(broker, book, cycle_id)
    account = broker.snapshot()  # PAPER/LIVE: the account as the broker records it
    held = sorted(set(held) | set(account.positions if account else ()))
    market = ports.market()
    # BACKTEST settles what expired (PAPER/LIVE: the broker has, and the book mirrors it); the rest of the
    # held options are marked; the shares an exercise moves need a price like any held shares.
    settling = expiry.expired(held, as_of) if account is None else {}
    spots = expiry.settlement_prices(market, settling)
    prices = observe.last_prices(market, symbols, [*held, *(underlying_of(c) for c in settling)], as_of)
    marks = observe.held_marks(market, [h for h in held if h not in settling], as_of)
    window, rate = ports.option_chains(env)
    marks = {**observe.chain_marks(market, {k: prices[k] for k in symbols}, as_of, window, rate=rate), **marks}
    with session_scope() as s:
        if cycles.load(s, cycle_id, Observed) is not None:
            return following(symbols, Phase.OBSERVE) if again else ()
        seen = observe.observe(s, cycle_id, prices, broker, config, account, marks, spots)
        # Another act on the book may have opened a position since ``held`` was read: unpriced, the risk
        # check would fail closed on it. Nothing is recorded; the step is tried again and prices it.
        opened = {*seen.portfolio.positions, *seen.portfolio.working_orders} - set(prices) - set(held) - set(marks)
        if opened:
            raise TransientError(f"the book changed while it was observed ({', '.join(sorted(opened))} opened "
                                 "by another act): observing again")
        _, wrote = cycles.record(s, cycle_id, seen.model_copy(update={"reconciliation": reconciled}))
    return following(symbols, Phase.OBSERVE) if wrote or again else ()


def orient_phase(cycle_id: str, ports: Ports, again: bool) -> Next:
    """A feature snapshot per symbol from the bars closed by the cycle's hour."""
    with session_scope(readonly=True) as s:
        cycle = cycles.running_view(s, cycle_id)
        symbols, as_of = list(cycle.symbols), cycle.scheduled_for
        done = cycles.load(s, cycle_id, Oriented) is not None
    if done:
        return following(symbols, Phase.ORIENT) if again else ()
    oriented = observe.orient(ports.market(), symbols, as_of)
    with session_scope() as s:
        _, wrote = cycles.record(s, cycle_id, oriented)
    return following(symbols, Phase.ORIENT) if wrote or again else ()


def agent_phase(cycle_id: str, agent: AgentType, symbol: str | None, iteration: int, ports: Ports,
                again: bool) -> Next:
    """One agent's output recorded (an error is recorded too: fail closed); the trader's plan hands on to
    the approvers, any other agent to its group's join once the whole group is recorded."""
    ran = decide.run_agent(cycle_id, agent, ports.agents, symbol=symbol, iteration=iteration)
    if agent is AgentType.TRADER:
        with session_scope() as s:
            _, wrote = cycles.record(s, cycle_id, Planned(agent=agent.value, symbol=decide.PORTFOLIO,
                                                          status=ran.status), iteration)
        return following([], Phase.TRADER, iteration) if wrote or again else ()
    complete = ran.group_complete
    if complete is None:  # after the output's own commit: of members finishing together, the last to commit
        with session_scope(readonly=True) as s:  # sees every output (inside, a peer's would be hidden)
            complete = decide.phase_complete(s, cycle_id, decide.GROUP_OF[agent], iteration, ran.symbols)
    return (Step(JOIN_OF[agent], iteration=iteration),) if complete else ()


def join_phase(cycle_id: str, phase: Phase, again: bool) -> Next:
    """Record the group's phase once all its outputs are in, then hand the cycle on; a cycle past its LLM
    budget ends NO_TRADE here."""
    agents = ANALYSTS if phase is Phase.ANALYSTS else RESEARCHERS
    with session_scope() as s:
        symbols = list(cycles.running_view(s, cycle_id).symbols)
        rows = decide.outputs(s, cycle_id, agents, 0)
        if not decide.phase_complete(s, cycle_id, agents, 0, symbols):
            return ()  # sent early by a member run twice: the last member sends it again
        summary = Joined(outputs={f"{r.agent_type}/{r.symbol}": r.status for r in rows})
        _, wrote = cycles.record(s, cycle_id, summary, phase=phase)
        spent = over_budget(s, cycle_id)
        if spent:
            cycles.conclude(s, cycle_id, CycleStatus.NO_TRADE, spent)
    if spent:
        log.warning("cycle %s ends NO_TRADE: %s", cycle_id, spent)
        return ()
    return following(symbols, phase) if wrote or again else ()


def gate_phase(cycle_id: str, iteration: int, again: bool) -> Next:
    """Both approvers must APPROVE; a rejection goes back to the trader (services.approval)."""
    with session_scope() as s:
        env = Environment(cycles.running_view(s, cycle_id).environment)
        if not decide.phase_complete(s, cycle_id, APPROVERS, iteration):
            return ()
        limit = active_trading_config(s, env).max_consensus_iterations
        gated, wrote = decide_gate(s, cycle_id, iteration, limit)
    if not (wrote or again):
        return ()
    if gated.outcome is GateOutcome.APPROVED:
        return following([], Phase.APPROVAL)
    if gated.outcome is GateOutcome.REVISE:
        return following([], Phase.GATE, iteration)
    return ()


def act_phase(cycle_id: str, ports: Ports) -> Acted:
    """The engine's last word on the approved plan, then the broker (services.act)."""
    with session_scope(readonly=True) as s:
        env = Environment(cycles.view(s, cycle_id).environment)
        broker = ports.broker(env, active_trading_config(s, env))
    return acting.act(cycle_id, broker, ports.market)
