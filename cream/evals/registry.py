"""Every named check, per agent, and the default set a scenario of each kind asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cream.evals import analyst_checks as a
from cream.evals import approver_checks as ap
from cream.evals.subject import Check
from cream.evals.trader_checks import CRITIC_DOMAIN, TRADER
from cream.schemas.agents import AgentType

if TYPE_CHECKING:
    from cream.evals.scenarios import Expectation, GoldenScenario

CHECKS: dict[AgentType, dict[str, Check]] = {
    AgentType.TECHNICAL_ANALYST: a.TECHNICAL,
    AgentType.NEWS_ANALYST: a.NEWS,
    AgentType.FUNDAMENTALS_ANALYST: a.FUNDAMENTALS,
    AgentType.BULLISH_RESEARCHER: a.RESEARCH,
    AgentType.BEARISH_RESEARCHER: a.RESEARCH,
    AgentType.TRADER: TRADER,
    AgentType.RISK_MANAGER: ap.RISK_MANAGER,
    AgentType.CRITIC: ap.CRITIC,
}
EXPECTATION_CHECKS = ("expected_verdict", "names_offender")
__all__ = ["CHECKS", "CRITIC_DOMAIN", "default_checks", "unknown_checks"]


def default_checks(kind: str, expect: dict[AgentType, Expectation]) -> dict[AgentType, list[str]]:
    """chain: every check of every agent; approvers: the gate's checks. Expectation checks only where the
    scenario states an expected verdict (names_offender only with an offender)."""
    agents = list(CHECKS) if kind == "chain" else [AgentType.RISK_MANAGER, AgentType.CRITIC]
    out: dict[AgentType, list[str]] = {}
    for agent in agents:
        names = [n for n in CHECKS[agent] if n not in EXPECTATION_CHECKS]
        if kind == "approvers" and agent is AgentType.CRITIC:
            names.remove("rejects_unsound_plan")  # no trader ran: the expectation says what is unsound
        e = expect.get(agent)
        if e is not None:
            names += ["expected_verdict"] + (["names_offender"] if e.offender else [])
        out[agent] = names
    return out


def unknown_checks(scenario: GoldenScenario) -> list[str]:
    return [f"{agent.value}.{n}" for agent, names in scenario.checks.items() for n in names
            if n not in CHECKS[agent]]
