"""Whole cycles on real workers with the LLM agents: the google-genai client in the agents worker's
threads talks to the Gemini stand-in; then a replay of the same hour from the recordings alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from cream.cli import main
from cream.config import Settings
from cream.fleet import LocalFleet
from cream.runner import CycleRunner
from cream.schemas.agents import AgentType
from cream.services.replay import replay_cycle
from cream.services.reports import cycle_report
from cream.storage import db
from cream.storage.models import AgentOutput, LlmExchange, LlmUsage, TradingConfigRow
from tests.integration.helpers import ORDER_HOUR, cream_environment, trigger
from tests.standins.gemini_agents import agent_responder
from tests.standins.gemini_server import GeminiStandIn, gemini_standin

pytestmark = pytest.mark.integration
KEY = "AIza-cycle-test-key-5b9c"


class LlmFleet:
    def __init__(self, server: GeminiStandIn, fleet: LocalFleet, env: dict[str, str]) -> None:
        self.server, self.fleet, self.env = server, fleet, env
        self.runner = CycleRunner(env["CREAM_BROKER_URL"])

    def run(self, book: str, hour: Any = ORDER_HOUR) -> dict[str, Any]:
        cycle_id, _ = self.runner.run(trigger(book, hour), timeout=180)
        with db.session_scope(readonly=True) as s:
            return cycle_report(s, cycle_id)

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.fleet.logs.glob("*.log"))


@pytest.fixture(scope="module")
def llm(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmFleet]:
    data = tmp_path_factory.mktemp("llm-cycle")
    with gemini_standin(agent_responder()) as server:
        env = {"CREAM_ENV": "BACKTEST", "CREAM_AGENTS": "gemini", "CREAM_DATA_DIR": str(data),
               "CREAM_DATABASE_URL": f"sqlite:///{data}/llm.db", "CREAM_BROKER_URL": redis_url.rsplit("/", 1)[0] + "/4",
               "GEMINI_API_KEY": KEY, "CREAM_GEMINI_BASE_URL": server.base_url, "CREAM_GEMINI_BACKOFF_S": "0.01",
               "CREAM_VISIBILITY_TIMEOUT": "10", "CREAM_RESTORE_INTERVAL": "1"}
        with cream_environment(env), LocalFleet(Settings()) as fleet:
            f = LlmFleet(server, fleet, env)
            yield f
            f.runner.close()


def _plan(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (report["plan"] or {}).items() if k != "cycle_id"}


def test_a_cycle_past_its_llm_budget_ends_no_trade(llm: LlmFleet) -> None:
    _set_budget(0.0002)
    try:
        report = llm.run("llm-budget")
    finally:
        _set_budget(5.0)
    assert report["status"] == "NO_TRADE" and "LLM budget spent" in report["reason"], report
    assert report["orders"] == [] and report["plan"] is None


def _set_budget(dollars: float) -> None:
    with db.session_scope() as s:
        s.execute(update(TradingConfigRow).where(TradingConfigRow.environment == "BACKTEST")
                  .values(max_llm_cost_per_cycle=dollars))


def test_a_critic_that_never_gives_a_valid_verdict_ends_the_cycle_no_trade(llm: LlmFleet) -> None:
    def garbled(agent: AgentType, answer: dict[str, Any]) -> dict[str, Any]:
        return {"agent": "critic", "verdict": "MAYBE"} if agent is AgentType.CRITIC else answer
    llm.server.responder = agent_responder(edit=garbled)
    try:
        report = llm.run("llm-critic")
    finally:
        llm.server.responder = agent_responder()
    assert report["status"] == "NO_TRADE" and report["orders"] == [], report
    assert report["iterations"] == 3 and "no consensus" in report["reason"]
    assert "critic produced no valid verdict" in report["reason"] and "does not fit ApprovalVerdict" in report["reason"]
    critic = [a for a in report["approvals"] if a["agent"] == "critic"]
    assert [a["verdict"] for a in critic] == ["ERROR"] * 3
    # The critic's failures were recorded too: the cycle replays to the same plan and the same NO_TRADE.
    calls = len(llm.server.requests)
    replayed = replay_cycle(report["cycle_id"])
    assert replayed.matches and replayed.outcome == "NO_TRADE" and replayed.iterations == 3
    assert len(llm.server.requests) == calls


# Last: it stops the stand-in.

def test_an_llm_cycle_records_everything_and_its_replay_gives_the_same_plan(
        llm: LlmFleet, capsys: pytest.CaptureFixture[str]) -> None:
    recorded = llm.run("llm-rec")
    assert recorded["status"] == "EXECUTED", recorded
    assert recorded["orders"] and all(o["status"] == "FILLED" for o in recorded["orders"])
    with db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == recorded["cycle_id"])))
        usage = list(s.scalars(select(LlmUsage).where(LlmUsage.cycle_id == recorded["cycle_id"])))
        exchanges = s.scalars(select(LlmExchange)).all()
    assert {(r.implementation, r.status) for r in rows} == {("gemini", "OK")}
    assert {r.agent_type: r.prompt_version for r in rows}[AgentType.TRADER.value] == "trader/v2"
    assert {u.agent_type for u in usage} == {a.value for a in AgentType}
    assert all(u.cost_usd > 0 and u.prompt_tokens > 0 and not u.replayed for u in usage)
    assert len(exchanges) >= len(usage) - 1 and any(e.tool_results for e in exchanges)
    assert recorded["llm"]["calls"] == len(usage) and recorded["llm"]["cost_usd"] > 0
    assert KEY not in llm.logs()

    # The replay: another fleet, CREAM_AGENTS=replay, the stand-in gone. Same hour, a fresh book.
    calls = len(llm.server.requests)
    llm.server.stop()
    replay_env = {**llm.env, "CREAM_AGENTS": "replay", "CREAM_BROKER_URL": llm.env["CREAM_BROKER_URL"][:-1] + "5"}
    with cream_environment(replay_env), LocalFleet(Settings()):
        runner = CycleRunner(replay_env["CREAM_BROKER_URL"])
        cycle_id, _ = runner.run(trigger("llm-rep"), timeout=180)
        runner.close()
        with db.session_scope(readonly=True) as s:
            replayed = cycle_report(s, cycle_id)
            implementations = set(s.scalars(select(AgentOutput.implementation).where(AgentOutput.cycle_id == cycle_id)))
            spent = [(u.replayed, u.cost_usd) for u in s.scalars(select(LlmUsage).where(LlmUsage.cycle_id == cycle_id))]
    assert len(llm.server.requests) == calls  # not one call reached the network
    assert _plan(replayed) == _plan(recorded) and replayed["status"] == "EXECUTED"
    in_process = replay_cycle(recorded["cycle_id"])  # the recorded cycle itself, from its checkpoints
    assert in_process.matches and in_process.errors == [] and in_process.outcome == "APPROVED"
    capsys.readouterr()
    assert main(["replay", recorded["cycle_id"]]) == 0
    assert f"replay of {recorded['cycle_id']}: same plan (APPROVED" in capsys.readouterr().out
    assert [(o["instrument"], o["side"], o["quantity"]) for o in replayed["orders"]] == \
        [(o["instrument"], o["side"], o["quantity"]) for o in recorded["orders"]]
    assert implementations == {"replay"} and spent and set(spent) == {(True, 0.0)}
