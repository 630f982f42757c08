"""Signal backtest: engine.simulator against vectorbt's Portfolio.from_signals, same signals and conventions.

    .venv/bin/python bench/backtest_vs_vectorbt.py [--bars 20000 --symbols 500 --repeat 5]

Data: (a) the four real 5-minute series (full history, inner-joined on datetime) with a 10/40 MA
crossover, one cash-shared portfolio (call_seq="auto", 20k per entry); (b) a synthetic random-walk panel
with random 1% entries/exits, one portfolio per symbol (1k per entry). Fees, fixed fees and slippage on.

Timing (every number is the best of --repeat after one warm-up call, so numba/vectorbt compilation
and caches are excluded; the machine may be shared, hence best-of). Each side computes the same thing:
- final equity: vectorbt ``from_signals(...)`` + ``pf.final_value()`` against one complete
  ``simulate_signals(..., equity_curve=False)`` (input checks, signal scan, order execution, order
  records, final values) -> ``*_speedup_vs_vectorbt``; against ``from_signals`` alone as well;
- equity curve: ``from_signals(...)`` + ``pf.value()`` against ``simulate_signals(...)`` (the default,
  which also values every bar) -> ``*_speedup_equity_curve``.
Positions are not requested on either side.
Inputs are built once outside the timed region on both sides (DataFrames for vectorbt, arrays here).
Accuracy: max relative difference of the final equity and of the equity curve against vectorbt.
Ends with `name: value` lines; ratios are reference time / engine time.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "polygon-5m"
COSTS = {"fees": 0.0005, "fixed_fees": 1.0, "slippage": 0.0002, "init_cash": 100_000.0}


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def real_close() -> np.ndarray:
    series = []
    for sym in ("ADBE", "COST", "MA", "XLK"):
        with gzip.open(DATA / f"{sym}.csv.gz", "rt", newline="") as fh:
            series.append({r["datetime"]: float(r["close"]) for r in csv.DictReader(fh)})
    common = sorted(set.intersection(*(set(s) for s in series)))
    return np.array([[s[t] for s in series] for t in common])


def ma_cross(close: np.ndarray, fast: int = 10, slow: int = 40) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    above = (pd.DataFrame(close).rolling(fast).mean() > pd.DataFrame(close).rolling(slow).mean()).to_numpy()
    prev = np.vstack([np.zeros((1, close.shape[1]), bool), above[:-1]])
    return above & ~prev, ~above & prev


def run_case(name: str, close: np.ndarray, entries: np.ndarray, exits: np.ndarray, cash_sharing: bool,
             repeat: int, **kw: object) -> tuple[float, float, float]:
    import pandas as pd
    import vectorbt as vbt

    from engine.simulator import simulate_signals

    c, e, x = pd.DataFrame(close), pd.DataFrame(entries), pd.DataFrame(exits)
    grp = {"cash_sharing": True, "group_by": True} if cash_sharing else {}
    def from_signals() -> vbt.Portfolio:
        return vbt.Portfolio.from_signals(c, e, x, **grp, **COSTS, **kw)

    t_sig, _ = best_of(from_signals, repeat)
    t_fin, fin = best_of(lambda: from_signals().final_value(), repeat)
    t_val, value = best_of(lambda: from_signals().value(), repeat)
    def engine(curve: bool) -> object:
        return simulate_signals(close, entries, exits, cash_sharing=cash_sharing, equity_curve=curve,
                                **COSTS, **kw)  # type: ignore[arg-type]

    t_eng, res = best_of(lambda: engine(True), repeat)
    t_end, fin_only = best_of(lambda: engine(False), repeat)
    v, f = np.asarray(value).reshape(close.shape[0], -1), np.atleast_1d(np.asarray(fin, dtype=float))
    diff = max(float(np.max(np.abs(r.final_value - f) / np.abs(f))) for r in (res, fin_only))  # type: ignore[attr-defined]
    diff = max(diff, float(np.max(np.abs(res.equity - v.sum(axis=1)) / np.abs(v.sum(axis=1)))))  # type: ignore[attr-defined]
    print(f"{name}: {close.shape[0]} bars x {close.shape[1]} symbols, {len(res.orders.size)} orders | "  # type: ignore[attr-defined]
          f"vectorbt from_signals {t_sig * 1e3:.1f} ms, +final_value {t_fin * 1e3:.1f}, +value() "
          f"{t_val * 1e3:.1f} | engine final equity {t_end * 1e3:.2f} ms, with curve {t_eng * 1e3:.2f} | "
          f"max rel equity diff {diff:.1e}")
    return t_fin / t_end, t_sig / t_end, t_val / t_eng, diff


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bars", type=int, default=20_000)
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()

    close = real_close()
    entries, exits = ma_cross(close)
    real, real_sig, real_curve, d1 = run_case("real", close, entries, exits, True, args.repeat,
                                  size=20_000.0, size_type="value", call_seq="auto")

    rng = np.random.default_rng(42)
    n, m = args.bars, args.symbols
    synth = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, (n, m)), axis=0))
    s_ent, s_ex = rng.random((n, m)) < 0.01, rng.random((n, m)) < 0.01
    syn, syn_sig, syn_curve, d2 = run_case("synthetic", synth, s_ent, s_ex, False, args.repeat, size=1_000.0,
                                size_type="value")

    print(f"real_speedup_vs_vectorbt: {real:.1f}")
    print(f"synthetic_speedup_vs_vectorbt: {syn:.1f}")
    print(f"real_speedup_vs_from_signals_only: {real_sig:.1f}")
    print(f"synthetic_speedup_vs_from_signals_only: {syn_sig:.1f}")
    print(f"real_speedup_equity_curve: {real_curve:.1f}")
    print(f"synthetic_speedup_equity_curve: {syn_curve:.1f}")
    print(f"max_rel_equity_diff: {max(d1, d2):.1e}")


if __name__ == "__main__":
    main()
