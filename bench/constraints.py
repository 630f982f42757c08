"""Pre-trade check speed: a 50-decision plan against a book of 500 positions, warm.

    .venv/bin/python bench/constraints.py [--decisions 50] [--positions 500] [--repeat 2000]

Times three layers on the same plan, in this run:
  * kernel  - engine.constraints.check_plan_nb on prepared arrays;
  * engine  - engine.risk_check.check_plan (array validation + kernel + result);
  * cream   - cream.risk.check_plan from a DecisionPlan and a PortfolioView (what the risk manager and
              the act step call), including building the arrays and the objections.
The target is under 1 ms for the engine call; ``*_over_budget`` is the time as a fraction of 1 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cream.risk import check_plan as cream_check
from cream.schemas.decisions import Decision, DecisionPlan, Environment, RiskLevels, Size, SizeUnit
from cream.schemas.instruments import Equity
from cream.schemas.portfolio import PortfolioView, PositionView
from cream.services.runtime_config import default_trading_config
from engine import constraints as c
from engine.risk_check import check_plan, held_rows, plan_rows

SECTORS = ("Information Technology", "Financials", "Health Care", "Energy", "Industrials", "Utilities",
           "Materials", "Consumer Staples", "Consumer Discretionary", "Real Estate", "Communication Services")


def median_us(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def book(rng: np.random.Generator, n: int, equity: float) -> tuple[PortfolioView, dict[str, float]]:
    prices = {f"H{i:03d}": float(rng.uniform(10, 400)) for i in range(n)}
    positions = {s: PositionView(instrument_id=s, quantity=int(rng.integers(-200, 200)) or 1, avg_entry_price=p,
                                 market_price=p) for s, p in prices.items()}
    values = [p.quantity * p.market_price for p in positions.values()]
    return PortfolioView(cash=equity, equity=equity, gross_exposure=sum(map(abs, values)), net_exposure=sum(values),
                         positions=positions, buying_power=2 * equity), prices


def plan(rng: np.random.Generator, n: int, prices: dict[str, float]) -> DecisionPlan:
    decisions = []
    for i in range(n):
        sym = f"P{i:03d}"
        prices[sym] = price = float(rng.uniform(10, 400))
        decisions.append(Decision(
            instrument=Equity(symbol=sym), action="BUY", direction="LONG",
            size=Size(quantity=int(rng.integers(1, 20)), unit=SizeUnit.SHARES),
            risk_levels=RiskLevels(stop_loss_level=round(price * 0.97, 2), take_profit_level=round(price * 1.06, 2)),
            strategy_family="TREND", rationale="bench", confidence=0.6))
    return DecisionPlan(cycle_id="bench", as_of_timestamp=datetime(2025, 6, 2, 15, tzinfo=UTC),
                        environment="BACKTEST", decisions=decisions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=50)
    ap.add_argument("--positions", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    equity = 50_000_000.0
    portfolio, prices = book(rng, args.positions, equity)
    p = plan(rng, args.decisions, prices)
    sectors = {s: SECTORS[i % len(SECTORS)] for i, s in enumerate(prices)}
    rules = default_trading_config(Environment.BACKTEST).rules.model_copy(
        update={"max_gross_notional": 1e12, "max_net_notional": 1e12})

    report = cream_check(p, portfolio, prices, rules, sectors=sectors)
    n = args.decisions
    rows = plan_rows(side=np.ones(n), qty=[d.size.quantity for d in p.decisions],
                     price=[prices[d.instrument_id] for d in p.decisions],
                     stop=[d.risk_levels.stop_loss_level for d in p.decisions],
                     target=[d.risk_levels.take_profit_level for d in p.decisions], sector=np.arange(n) % 11)
    held = held_rows([q.quantity * q.market_price for q in portfolio.positions.values()],
                     sector=np.arange(args.positions) % 11)
    account = np.array([equity, 2 * equity, 0.0])
    limits = c.default_limits()
    limits[c.LIM_MAX_GROSS] = limits[c.LIM_MAX_NET] = 1e12
    result = check_plan(rows, held, equity=equity, buying_power=2 * equity, limits=limits)
    print(f"plan: {n} decisions, book: {args.positions} positions; engine rows {len(result.rows)}, "
          f"approved {result.approved}; cream checks {len(report.checks())}, approved {report.approved}")

    kernel = median_us(lambda: c.check_plan_nb(rows, held, account, limits), args.repeat)
    engine = median_us(lambda: check_plan(rows, held, equity=equity, buying_power=2 * equity, limits=limits),
                       args.repeat)
    cream = median_us(lambda: cream_check(p, portfolio, prices, rules, sectors=sectors), max(args.repeat // 20, 20))
    print(f"kernel {kernel:.1f} us, engine {engine:.1f} us, cream (from pydantic objects) {cream:.1f} us")
    print(f"kernel_us: {kernel:.1f}")
    print(f"engine_check_us: {engine:.1f}")
    print(f"cream_check_us: {cream:.1f}")
    print(f"engine_over_budget: {engine / 1000:.3f}")
    print(f"cream_over_engine_ratio: {cream / engine:.1f}")


if __name__ == "__main__":
    main()
