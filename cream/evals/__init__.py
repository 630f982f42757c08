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

BACKENDS = ("rules", "gemini", "replay")  # names `cream evals --agents` accepts

__all__ = ["BACKENDS", "EvalReport", "GoldenScenario", "eval_backend", "load_scenarios", "run_evals"]


def eval_backend(name: str) -> AgentBackend:
    """The agent implementation called ``name``; ConfigurationError for a name not known here."""
    if name == "rules":
        from cream.agents.rules.backend import RuleBasedAgents

        return RuleBasedAgents()
    if name in ("gemini", "replay"):
        return _llm_backend(name)
    raise ConfigurationError(f"unknown agent backend {name!r} for evals: use one of {', '.join(BACKENDS)}")


def _llm_backend(name: str) -> AgentBackend:
    """The LLM agents with BACKTEST's agent_configs: Gemini (GEMINI_API_KEY; every exchange recorded,
    so a later ``--agents replay`` re-runs the evals with no network), or the recordings alone."""
    from cream import runtime
    from cream.agents.llm_agents import LlmAgents
    from cream.schemas.decisions import Environment
    from cream.services.runtime_config import agent_configs, seed_defaults
    from cream.storage import db

    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
        configs = agent_configs(s, Environment.BACKTEST)
    # No cycle, so no ledger; the tools read the scenario's context (no market for option chains).
    return LlmAgents(runtime.language_model(name), configs, implementation=name)
