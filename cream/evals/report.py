"""The eval report: every check result and agent error, summarised per agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cream.schemas.agents import AgentType


@dataclass(frozen=True)
class CheckResult:
    scenario: str
    agent: AgentType
    symbol: str | None
    check: str
    passed: bool
    reason: str = ""  # one line, when it failed


@dataclass(frozen=True)
class AgentEvent:
    """One agent run in a scenario: ``error`` if its output was unusable, ``skipped`` if it could not run."""

    scenario: str
    agent: AgentType
    symbol: str | None
    error: str | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class AgentSummary:
    agent: AgentType
    scenarios_run: int
    checks_passed: int
    checks_failed: int
    errors: int
    skipped: int
    failures: list[CheckResult]
    error_events: list[AgentEvent]

    def to_json(self) -> dict[str, Any]:
        return {
            "scenarios_run": self.scenarios_run, "checks_passed": self.checks_passed,
            "checks_failed": self.checks_failed, "errors": self.errors, "skipped": self.skipped,
            "failures": [{"scenario": f.scenario, "symbol": f.symbol, "check": f.check, "reason": f.reason}
                         for f in self.failures],
            "error_details": [{"scenario": e.scenario, "symbol": e.symbol, "error": e.error}
                              for e in self.error_events],
        }


def _where(scenario: str, symbol: str | None) -> str:
    return f"{scenario}[{symbol}]" if symbol else scenario


@dataclass
class EvalReport:
    implementation: str
    scenarios: list[str]
    results: list[CheckResult] = field(default_factory=list)
    events: list[AgentEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed and no agent produced an unusable output."""
        return all(r.passed for r in self.results) and not any(e.error for e in self.events)

    def summary(self, agent: AgentType) -> AgentSummary:
        results = [r for r in self.results if r.agent is agent]
        events = [e for e in self.events if e.agent is agent]
        return AgentSummary(
            agent=agent, scenarios_run=len({e.scenario for e in events if e.skipped is None}),
            checks_passed=sum(r.passed for r in results), checks_failed=sum(not r.passed for r in results),
            errors=sum(e.error is not None for e in events),
            skipped=sum(e.skipped is not None for e in events),
            failures=[r for r in results if not r.passed], error_events=[e for e in events if e.error])

    def per_agent(self) -> dict[AgentType, AgentSummary]:
        return {a: self.summary(a) for a in AgentType}

    def failed_checks(self, agent: AgentType) -> set[tuple[str, str]]:
        """(scenario, check) pairs that failed for ``agent``."""
        return {(r.scenario, r.check) for r in self.results if r.agent is agent and not r.passed}

    def to_json(self) -> dict[str, Any]:
        return {"implementation": self.implementation, "ok": self.ok, "scenarios": self.scenarios,
                "agents": {a.value: s.to_json() for a, s in self.per_agent().items()}}

    def table(self) -> str:
        head = f"{'agent':<22}{'scenarios':>10}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}"
        title = f"evals: {self.implementation} on {len(self.scenarios)} golden scenario(s)"
        lines = [title, head, "-" * len(head)]
        problems: list[str] = []
        for agent, s in self.per_agent().items():
            lines.append(f"{agent.value:<22}{s.scenarios_run:>10}{s.checks_passed:>8}{s.checks_failed:>8}"
                         f"{s.errors:>8}{s.skipped:>9}")
            problems += [f"  FAIL  {agent.value:<20} {_where(f.scenario, f.symbol):<34} {f.check}: {f.reason}"
                         for f in s.failures]
            problems += [f"  ERROR {agent.value:<20} {_where(e.scenario, e.symbol):<34} {e.error}"
                         for e in s.error_events]
        passed = sum(r.passed for r in self.results)
        lines += [""] + problems + ([""] if problems else [])
        lines.append(f"{'OK' if self.ok else 'FAILED'}: {passed}/{len(self.results)} checks passed, "
                     f"{sum(e.error is not None for e in self.events)} agent error(s)")
        return "\n".join(lines)
