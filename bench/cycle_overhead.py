"""Cycle overhead: our cycle (rule-based agents, 10 symbols) against the same canvas shape of no-op tasks,
both through Redis and real worker processes, measured in the same run.

    .venv/bin/python bench/cycle_overhead.py [--cycles 15]

Ten symbols: the bundled sample's four, plus renamed copies of their real bars (the sample ships four).
Prints the median wall time of each and the ratio, then `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "cream" / "data" / "sample"
EXTRA = {"ADBX": "ADBE", "COSX": "COST", "MAX": "MA", "XLKX": "XLK", "ADBY": "ADBE", "COSY": "COST"}


def history_dir(tmp: Path) -> list[str]:
    for f in SAMPLE.glob("*.csv.gz"):
        shutil.copy(f, tmp / f.name)
    for new, old in EXTRA.items():
        for tf in ("1h", "1d"):
            shutil.copy(SAMPLE / f"{old}.{tf}.csv.gz", tmp / f"{new}.{tf}.csv.gz")
    return ["ADBE", "COST", "MA", "XLK", *EXTRA]


def noop_canvas(symbols: list[str]) -> object:
    from celery import chain, chord, signature

    def si(q: str) -> object:
        return signature(f"{q}.bench_noop", immutable=True)

    return chain(si("data"), si("data"),
                 chord([si("agents") for _ in symbols for _ in range(3)], si("cycles")),
                 chord([si("agents") for _ in symbols for _ in range(2)], si("cycles")),
                 si("agents"), chord([si("agents"), si("agents")], si("cycles")), si("execution"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, default=15)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cream-bench-"))
    (tmp / "history").mkdir()
    symbols = history_dir(tmp / "history")
    os.environ.update(CREAM_DATA_DIR=str(tmp), CREAM_HISTORY_DIR=str(tmp / "history"), CREAM_ENV="BACKTEST")
    os.environ.pop("CREAM_BROKER_URL", None)
    os.environ.pop("CREAM_DATABASE_URL", None)

    from cream import market_calendar
    from cream.config import get_settings
    from cream.fleet import LocalFleet
    from cream.runner import CycleRunner
    from cream.schemas.decisions import Environment
    from cream.schemas.trigger import CycleTrigger
    from cream.services.runtime_config import seed_defaults
    from cream.storage import db

    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
    hours = market_calendar.cycle_times_between(date(2025, 6, 2), date(2025, 9, 25))[: args.cycles + 1]
    with LocalFleet(get_settings(), worker_args=("--include", "bench.noop_tasks")) as fleet:
        runner = CycleRunner(fleet.broker_url)
        noop, ours = [], []
        for i, hour in enumerate(hours):
            t0 = time.perf_counter()
            noop_canvas(symbols).apply_async().get(timeout=60)  # type: ignore[attr-defined]
            t1 = time.perf_counter()
            runner.run(CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book="bench",
                                    symbols=symbols, source="bench"), timeout=120)
            t2 = time.perf_counter()
            if i:  # the first round warms connections and caches
                noop.append(t1 - t0)
                ours.append(t2 - t1)
        runner.close()
    shutil.rmtree(tmp, ignore_errors=True)
    m_noop, m_ours = statistics.median(noop), statistics.median(ours)
    print(f"no-op canvas (same shape, {len(symbols)} symbols): median {m_noop * 1000:.1f} ms over {len(noop)}")
    print(f"cream cycle (rule-based agents, {len(symbols)} symbols): median {m_ours * 1000:.1f} ms over {len(ours)}")
    print(f"noop_canvas_median_ms: {m_noop * 1000:.1f}")
    print(f"cycle_median_ms: {m_ours * 1000:.1f}")
    print(f"cycle_over_noop_ratio: {m_ours / m_noop:.2f}")


if __name__ == "__main__":
    main()
