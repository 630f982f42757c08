"""The cycle pipeline in process against the same pipeline on the fleet: a four-symbol backtest with rule
agents, both measured in the same run, on the embedded default (SQLite) or ``--database-url``.

    .venv/bin/python bench/inprocess_backtest.py [--weeks 8] [--fleet-days 5] [--database-url URL]

In process: ``--weeks`` of hourly cycles (``cream backtest --in-process``). On the fleet: the first
``--fleet-days`` session days of the same window, through Redis and one real worker per queue
(``cream backtest``). Prints cycles per second of each and the speedup, then `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOLS = ["ADBE", "COST", "MA", "XLK"]
START = date(2025, 3, 3)  # a Monday inside the bundled sample


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--weeks", type=int, default=8)
    p.add_argument("--fleet-days", type=int, default=5)
    p.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temporary data dir)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cream-bench-"))
    os.environ.update(CREAM_DATA_DIR=str(tmp), CREAM_ENV="BACKTEST")
    for name in ("CREAM_BROKER_URL", "CREAM_DATABASE_URL", "CREAM_AGENTS"):
        os.environ.pop(name, None)
    if args.database_url:
        os.environ["CREAM_DATABASE_URL"] = args.database_url

    from cream import runtime
    from cream.config import get_settings
    from cream.fleet import LocalFleet
    from cream.runner import CycleRunner
    from cream.services.backtest import run_backtest
    from cream.services.inprocess import InProcessRunner
    from cream.services.runtime_config import seed_defaults
    from cream.storage import db

    db.migrate()
    with db.session_scope() as s:
        seed_defaults(s)
    market = runtime.market_data()
    end = START + timedelta(weeks=args.weeks) - timedelta(days=3)
    fleet_end = START + timedelta(days=args.fleet_days - 1)
    run_backtest(InProcessRunner(runtime.PORTS), market, SYMBOLS, START, START)  # compiles and warms the engine
    t0 = time.perf_counter()
    local = run_backtest(InProcessRunner(runtime.PORTS), market, SYMBOLS, START, end)
    local_s = time.perf_counter() - t0
    with LocalFleet(get_settings()) as fleet:
        runner = CycleRunner(fleet.broker_url)
        run_backtest(runner, market, SYMBOLS, START, START)  # warms the workers
        t0 = time.perf_counter()
        remote = run_backtest(runner, market, SYMBOLS, START, fleet_end)
        fleet_s = time.perf_counter() - t0
        runner.close()
    shutil.rmtree(tmp, ignore_errors=True)
    local_rate, fleet_rate = local["cycles"] / local_s, remote["cycles"] / fleet_s
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"in process: {local['cycles']} cycles, {len(SYMBOLS)} symbols, {local_s:.2f}s ({backend})")
    print(f"fleet:      {remote['cycles']} cycles, {len(SYMBOLS)} symbols, {fleet_s:.2f}s")
    print(f"inprocess_cycles_per_s: {local_rate:.1f}")
    print(f"fleet_cycles_per_s: {fleet_rate:.2f}")
    print(f"inprocess_over_fleet_speedup: {local_rate / fleet_rate:.1f}")


if __name__ == "__main__":
    main()
