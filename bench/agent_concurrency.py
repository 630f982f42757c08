"""Agent concurrency: a 20-symbol cycle with the LLM agents, every model call taking 1 s at the stand-in.

    .venv/bin/python bench/agent_concurrency.py [--symbols 20] [--latency 1.0] [--skip-serial]

The real google-genai client in the agents worker (threads pool) talks to the loopback Gemini
stand-in, which sleeps ``--latency`` seconds before each reply; the technical analyst and the trader
each make one tool call first (two model calls). The cycle should last about as long as its longest
chain of phases (analyst → researcher → trader → approver), not as long as all its calls in a row.

Reference, measured in the same run: the same cycle with the agents worker at concurrency 1, which
makes the calls one after the other. Prints the figures, then `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "cream" / "data" / "sample"
BASES = ("ADBE", "COST", "MA", "XLK")
HOUR = datetime(2025, 9, 25, 19, tzinfo=UTC)


def history_dir(tmp: Path, n: int) -> list[str]:
    """The sample's four symbols, then renamed copies of their real bars up to ``n`` symbols."""
    symbols = []
    for i in range(n):
        base = BASES[i % len(BASES)]
        symbol = base if i < len(BASES) else f"{base[:3]}{i}"
        for tf in ("1h", "1d"):
            shutil.copy(SAMPLE / f"{base}.{tf}.csv.gz", tmp / f"{symbol}.{tf}.csv.gz")
        symbols.append(symbol)
    return symbols


def run_cycle(book: str, symbols: list[str], worker_args: tuple[str, ...]) -> tuple[float, str]:
    from cream.config import get_settings
    from cream.fleet import LocalFleet
    from cream.runner import CycleRunner
    from cream.schemas.decisions import Environment
    from cream.schemas.trigger import CycleTrigger

    with LocalFleet(get_settings(), worker_args=worker_args) as fleet:
        runner = CycleRunner(fleet.broker_url)
        t0 = time.perf_counter()
        cycle_id, _ = runner.run(CycleTrigger(environment=Environment.BACKTEST, scheduled_for=HOUR, book=book,
                                              symbols=symbols, source="bench"), timeout=900)
        wall = time.perf_counter() - t0
        runner.close()
    return wall, cycle_id


def chain_seconds(cycle_id: str) -> dict[str, Any]:
    """The longest chain of agent runs (per phase, the slowest; phases in a row) and their plain sum."""
    from sqlalchemy import select

    from cream.schemas.agents import ANALYSTS, APPROVERS, RESEARCHERS, AgentType
    from cream.storage import db
    from cream.storage.models import AgentOutput, Checkpoint, Cycle

    with db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(AgentOutput).where(AgentOutput.cycle_id == cycle_id)))
        cycle = s.get(Cycle, cycle_id)
        status, reason = (cycle.status, cycle.reason) if cycle else ("?", None)
        marks = {c.phase: c.created_at for c in s.scalars(select(Checkpoint).where(Checkpoint.cycle_id == cycle_id))}
    seconds = [(r.agent_type, r.iteration, r.duration_ms / 1000) for r in rows]

    def slowest(agents: tuple[AgentType, ...], iteration: int) -> float:
        return max((d for a, i, d in seconds if a in {x.value for x in agents} and i == iteration), default=0.0)

    iterations = sorted({i for a, i, _ in seconds if a == AgentType.TRADER.value})
    longest = slowest(ANALYSTS, 0) + slowest(RESEARCHERS, 0) + sum(
        slowest((AgentType.TRADER,), i) + slowest(APPROVERS, i) for i in iterations)
    # The agent phases in the cycle: from the orient checkpoint (the data is ready) to the last gate.
    agents_phase = (marks["gate"] - marks["orient"]).total_seconds() if {"gate", "orient"} <= set(marks) else 0.0
    spans = [("analysts", "orient", "analysts", slowest(ANALYSTS, 0)),
             ("research", "analysts", "research", slowest(RESEARCHERS, 0)),
             ("trader+approvers", "research", "gate", longest - slowest(ANALYSTS, 0) - slowest(RESEARCHERS, 0))]
    phases = {name: ((marks[b] - marks[a]).total_seconds(), chain) for name, a, b, chain in spans
              if {a, b} <= set(marks)}
    return {"longest_chain_s": longest, "phases": phases, "agent_seconds_sum": sum(d for _, _, d in seconds), "runs": len(rows),
            "agents_phase_s": agents_phase,
            "errors": sum(1 for r in rows if r.status != "OK"), "status": status, "reason": reason,
            "iterations": len(iterations)}


def peak_in_flight(times: list[float], latency: float) -> int:
    events = sorted([(t, 1) for t in times] + [(t + latency, -1) for t in times], key=lambda e: (e[0], e[1]))
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--symbols", type=int, default=20)
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--skip-serial", action="store_true", help="skip the concurrency-1 reference run")
    p.add_argument("--keep", action="store_true", help="keep the data directory (database, worker logs)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cream-bench-agents-"))
    (tmp / "history").mkdir()
    symbols = history_dir(tmp / "history", args.symbols)

    from tests.standins.gemini_agents import agent_responder
    from tests.standins.gemini_server import gemini_standin

    with gemini_standin(agent_responder()) as server:
        server.delay_s = args.latency
        os.environ.update(CREAM_DATA_DIR=str(tmp), CREAM_HISTORY_DIR=str(tmp / "history"), CREAM_ENV="BACKTEST",
                          CREAM_AGENTS="gemini", GEMINI_API_KEY="bench-key", CREAM_GEMINI_BASE_URL=server.base_url)
        for name in ("CREAM_BROKER_URL", "CREAM_DATABASE_URL"):
            os.environ.pop(name, None)
        prepare(symbols)
        wall, cycle_id = run_cycle("bench-threads", symbols, ())
        parallel = chain_seconds(cycle_id)
        calls = len(server.requests)
        peak = peak_in_flight([r.at for r in server.requests], args.latency)
        serial_wall = None
        if not args.skip_serial:
            server.requests.clear()
            serial_wall, _ = run_cycle("bench-serial", symbols, ("--concurrency", "1"))
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, symbols, wall, parallel, calls, peak, serial_wall)


def prepare(symbols: list[str]) -> None:
    from sqlalchemy import update

    from cream.services.runtime_config import SAMPLE_SECTORS, seed_defaults
    from cream.storage import db
    from cream.storage.models import UniverseConfigRow

    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
        sectors = {x: SAMPLE_SECTORS[next(b for b in BASES if x.startswith(b[:3]))] for x in symbols}
        s.execute(update(UniverseConfigRow).where(UniverseConfigRow.environment == "BACKTEST")
                  .values(static_symbols=symbols, sectors=sectors))


def report(args: argparse.Namespace, symbols: list[str], wall: float, parallel: dict[str, Any], calls: int,
           peak: int, serial_wall: float | None) -> None:
    print(f"{len(symbols)} symbols, {args.latency:.1f} s per model call, {calls} model calls; cycle "
          f"{parallel['status']}{' (' + parallel['reason'] + ')' if parallel['reason'] else ''}, "
          f"{parallel['iterations']} trader iteration(s), {parallel['errors']} agent error(s)")
    print(f"threads pool: cycle {wall:.1f} s, of which the agent phases (orient done -> gate) "
          f"{parallel['agents_phase_s']:.1f} s; longest chain of agent runs {parallel['longest_chain_s']:.1f} s; "
          f"agent runs end to end {parallel['agent_seconds_sum']:.1f} s; peak {peak} calls in flight")
    for name, (wall_s, chain_s) in parallel["phases"].items():
        print(f"  {name:<17} phase {wall_s:5.1f} s, its slowest agent run(s) {chain_s:5.1f} s")
    if serial_wall is not None:
        print(f"concurrency 1 (reference): cycle {serial_wall:.1f} s")
    print(f"model_calls: {calls}")
    print(f"cycle_wall_s: {wall:.2f}")
    print(f"longest_chain_s: {parallel['longest_chain_s']:.2f}")
    print(f"wall_over_longest_chain: {wall / parallel['longest_chain_s']:.2f}")
    print(f"agents_phase_s: {parallel['agents_phase_s']:.2f}")
    print(f"agents_phase_over_longest_chain: {parallel['agents_phase_s'] / parallel['longest_chain_s']:.2f}")
    print(f"agent_seconds_sum: {parallel['agent_seconds_sum']:.2f}")
    print(f"peak_calls_in_flight: {peak}")
    if serial_wall is not None:
        print(f"serial_cycle_wall_s: {serial_wall:.2f}")
        print(f"serial_over_threads_ratio: {serial_wall / wall:.2f}")


if __name__ == "__main__":
    main()
