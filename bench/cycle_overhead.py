"""Cycle overhead: our cycle (rule-based agents, 10 symbols) against a cycle of no-op tasks of the same
shape (bench/noop_tasks.py), both through Redis and real worker processes, measured in the same run.

    .venv/bin/python bench/cycle_overhead.py [--cycles 15] [--postgres | --database-url URL]

The reference moves the way ours does: a start task whose answer the client waits for, then each task
sends the steps after it (a group side by side, the last member of a group sends the join), the same
number of tasks on the same queues; the client polls for the end every 10 ms, as ``CycleRunner`` does.
Ten symbols: the bundled sample's four, plus renamed copies of their real bars (the sample ships four).
The database: SQLite in a temporary directory (default), a throwaway PostgreSQL (``--postgres``, the
tests' server) or ``--database-url`` (an empty database). Prints the median wall time of each and the
ratio, then `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
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


def run_noop(app: object, symbols: list[str], run: str, poll: float = 0.01) -> None:
    """One reference cycle: its start answered, then its last step seen done."""
    import redis

    from bench.noop_tasks import done_key

    answer = app.send_task("cycles.bench_start", args=[run, len(symbols)], queue="cycles")  # type: ignore[attr-defined]
    answer.get(timeout=60, disable_sync_subtasks=False)
    answer.forget()
    r = redis.Redis.from_url(app.conf.broker_url)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while not r.exists(done_key(run)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no-op cycle {run} did not end within 60s")
        time.sleep(poll)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, default=15)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="an empty database to run in (default: SQLite in a temporary dir)")
    where.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL for the run")
    p.add_argument("--keep", action="store_true", help="keep the data directory (database, worker logs)")
    args = p.parse_args()
    with ExitStack() as stack:
        url = args.database_url
        if args.postgres:
            from tests.integration.servers import postgres_server

            url = stack.enter_context(postgres_server()).url
        measure(args.cycles, url, args.keep)


def measure(cycles: int, database_url: str | None, keep: bool = False) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cream-bench-"))
    (tmp / "history").mkdir()
    symbols = history_dir(tmp / "history")
    os.environ.update(CREAM_DATA_DIR=str(tmp), CREAM_HISTORY_DIR=str(tmp / "history"), CREAM_ENV="BACKTEST")
    os.environ.pop("CREAM_BROKER_URL", None)
    os.environ.pop("CREAM_DATABASE_URL", None)
    if database_url:
        os.environ["CREAM_DATABASE_URL"] = database_url

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
    hours = market_calendar.cycle_times_between(date(2025, 6, 2), date(2025, 9, 25))[: cycles + 1]
    with LocalFleet(get_settings(), worker_args=("--include", "bench.noop_tasks")) as fleet:
        runner = CycleRunner(fleet.broker_url)
        noop, ours = [], []
        for i, hour in enumerate(hours):
            t0 = time.perf_counter()
            run_noop(runner.app, symbols, f"{os.getpid()}-{i}")
            t1 = time.perf_counter()
            runner.run(CycleTrigger(environment=Environment.BACKTEST, scheduled_for=hour, book="bench",
                                    symbols=symbols, source="bench"), timeout=120)
            t2 = time.perf_counter()
            if i:  # the first round warms connections and caches
                noop.append(t1 - t0)
                ours.append(t2 - t1)
        runner.close()
    if keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    database = "SQLite" if not database_url or database_url.startswith("sqlite") else "PostgreSQL"
    m_noop, m_ours = statistics.median(noop), statistics.median(ours)
    print(f"database: {database}")
    print(f"no-op cycle (same tasks and fan-out, {len(symbols)} symbols): median {m_noop * 1000:.1f} ms over {len(noop)}")
    print(f"cream cycle (rule-based agents, {len(symbols)} symbols): median {m_ours * 1000:.1f} ms over {len(ours)}")
    print(f"noop_cycle_median_ms: {m_noop * 1000:.1f}")
    print(f"cycle_median_ms: {m_ours * 1000:.1f}")
    print(f"cycle_over_noop_ratio: {m_ours / m_noop:.2f}")


if __name__ == "__main__":
    main()
