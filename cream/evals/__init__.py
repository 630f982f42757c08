"""Agent evals: golden scenarios run against any AgentBackend, every output checked, reported per agent.

``cream evals`` (or ``run_evals(eval_backend("rules"))``) runs them; ``python -m cream.evals.make_golden``
rebuilds the scenario files from the bundled sample.
"""

from __future__ import annotations

from cream.agents.port import AgentBackend
from cream.errors import ConfigurationError
from cream.evals.report import EvalReport
from cream.evals.runner import run_evals
from cream.evals.scenarios import GoldenScenario, load_scenarios

BACKENDS = ("rules",)  # names `cream evals --agents` accepts

__all__ = ["BACKENDS", "EvalReport", "GoldenScenario", "eval_backend", "load_scenarios", "run_evals"]


def eval_backend(name: str) -> AgentBackend:
    """The agent implementation called ``name``; ConfigurationError for a name not known here."""
    if name == "rules":
        from cream.agents.rules.backend import RuleBasedAgents

        return RuleBasedAgents()
    raise ConfigurationError(f"unknown agent backend {name!r} for evals: use one of {', '.join(BACKENDS)}")
