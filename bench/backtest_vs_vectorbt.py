"""Signal backtest: engine.simulator against vectorbt's Portfolio.from_signals, same signals and conventions.

    .venv/bin/python bench/backtest_vs_vectorbt.py [--bars 20000 --symbols 500 --repeat 3]

(a) the four real 5-minute series (full history, inner-joined on datetime) with a 10/40 MA crossover,
one cash-shared portfolio; (b) a synthetic random-walk panel with random signals, one portfolio per
symbol. Both sides are timed warm (best of --repeat after a first call). vectorbt's time covers
from_signals plus value() (the equity curve our simulator returns); the from_signals-only ratio is
printed too. Ends with `name: value` lines.
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
    t_sig, _ = best_of(lambda: vbt.Portfolio.from_signals(c, e, x, **grp, **COSTS, **kw), repeat)
    t_vbt, value = best_of(lambda: vbt.Portfolio.from_signals(c, e, x, **grp, **COSTS, **kw).value(), repeat)
    t_eng, res = best_of(lambda: simulate_signals(close, entries, exits, cash_sharing=cash_sharing,
                                                  **COSTS, **kw), repeat)  # type: ignore[arg-type]
    v = np.asarray(value).reshape(close.shape[0], -1)
    diff = float(np.max(np.abs(res.final_value - v[-1]) / np.abs(v[-1])))  # type: ignore[attr-defined]
    diff = max(diff, float(np.max(np.abs(res.equity - v.sum(axis=1)) / np.abs(v.sum(axis=1)))))  # type: ignore[attr-defined]
    print(f"{name}: {close.shape[0]} bars x {close.shape[1]} symbols, {len(res.orders.size)} orders | "  # type: ignore[attr-defined]
          f"vectorbt {t_vbt * 1e3:.1f} ms (from_signals only {t_sig * 1e3:.1f}) | engine {t_eng * 1e3:.1f} ms | "
          f"max rel equity diff {diff:.1e}")
    return t_vbt / t_eng, t_sig / t_eng, diff


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bars", type=int, default=20_000)
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    close = real_close()
    entries, exits = ma_cross(close)
    real, real_sig, d1 = run_case("real", close, entries, exits, True, args.repeat,
                                  size=20_000.0, size_type="value", call_seq="auto")

    rng = np.random.default_rng(42)
    n, m = args.bars, args.symbols
    synth = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, (n, m)), axis=0))
    s_ent, s_ex = rng.random((n, m)) < 0.01, rng.random((n, m)) < 0.01
    syn, syn_sig, d2 = run_case("synthetic", synth, s_ent, s_ex, False, args.repeat, size=1_000.0,
                                size_type="value")

    print(f"real_speedup_vs_vectorbt: {real:.1f}")
    print(f"real_speedup_vs_vectorbt_from_signals_only: {real_sig:.1f}")
    print(f"synthetic_speedup_vs_vectorbt: {syn:.1f}")
    print(f"synthetic_speedup_vs_vectorbt_from_signals_only: {syn_sig:.1f}")
    print(f"max_rel_equity_diff: {max(d1, d2):.1e}")


if __name__ == "__main__":
    main()
