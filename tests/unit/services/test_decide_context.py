"""What each agent sees: only the phases before its own (a reproducible prompt), its own symbol, and for
the approvers the sectors and option marks."""

from __future__ import annotations

from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
from cream.schemas.cycle import Observed, Oriented
from cream.schemas.decisions import Environment
from cream.services.decide import EARLIER_PHASES, CycleInputs, assemble_context
from tests.unit.agents.agent_builders import AS_OF, CYCLE, RULES, portfolio, real_snapshots


def test_each_phase_sees_only_the_phases_before_it() -> None:
    assert all(EARLIER_PHASES[a] == () for a in ANALYSTS)
    assert all(EARLIER_PHASES[a] == ANALYSTS for a in RESEARCHERS)
    assert all(EARLIER_PHASES[a] == ANALYSTS + RESEARCHERS for a in (AgentType.TRADER, *APPROVERS))


def test_symbol_agents_see_their_symbol_and_approvers_the_sectors() -> None:
    snaps = real_snapshots()
    inputs = CycleInputs(CYCLE, Environment.BACKTEST, Observed(as_of=AS_OF, prices={}, portfolio=portfolio()),
                         Oriented(snapshots=snaps), RULES, {"XLK": "Information Technology"})
    analyses = {"XLK": {"technical_analyst": {"symbol": "XLK"}}, "MA": {"technical_analyst": {"symbol": "MA"}}}
    one = assemble_context(inputs, AgentType.BULLISH_RESEARCHER, "XLK", 0, analyses, None, None, [])
    assert set(one.snapshots) == {"XLK"} and set(one.analyses) == {"XLK"} and one.sectors == {}
    critic = assemble_context(inputs, AgentType.CRITIC, None, 1, analyses, None, None, [])
    assert set(critic.snapshots) == set(snaps) and critic.sectors == {"XLK": "Information Technology"}
    assert critic.as_of == AS_OF and critic.iteration == 1
