"""Indicator speed: engine kernels against TA-Lib on the same series, measured in the same run.

    .venv/bin/python bench/indicators.py [--n 1000000] [--repeats 15] [--data real|random]

``real`` (default) tiles the real ADBE 5-minute bars from ../shared/data/polygon-5m/ADBE.csv.gz to
``--n`` bars (a random walk if the file is absent). Both sides are warmed up first; each timing is
the best of ``--repeats`` single-threaded calls. Prints a table, then `name: value` lines: the
engine/TA-Lib time ratio per indicator and ``max_ratio``.
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
ADBE = ROOT.parent / "shared" / "data" / "polygon-5m" / "ADBE.csv.gz"


def series(n: int, data: str) -> tuple[dict[str, np.ndarray], str]:
    if data == "real" and ADBE.is_file():
        with gzip.open(ADBE, "rt", newline="") as fh:
            rows = [(float(r["high"]), float(r["low"]), float(r["close"]), float(r["volume"]))
                    for r in csv.DictReader(fh)]
        cols = np.array(rows).T
        reps = -(-n // cols.shape[1])
        # Each copy is shifted to continue from the previous close, so the tiles join without a jump.
        shift = np.cumsum(np.r_[0.0, np.full(reps - 1, cols[2, -1] - cols[2, 0])])
        tiled = [np.concatenate([c + s for s in shift])[:n] if i < 3 else np.tile(c, reps)[:n]
                 for i, c in enumerate(cols)]
        return dict(zip(("high", "low", "close", "volume"), tiled)), f"ADBE 5m tiled x{reps}"
    rng = np.random.default_rng(0)
    close = 500 + np.cumsum(rng.standard_normal(n)) * 0.1
    return {"high": close + rng.random(n), "low": close - rng.random(n), "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64)}, "random walk"


def best(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--data", choices=("real", "random"), default="real")
    args = p.parse_args()

    import talib

    from engine import indicators as ind

    s, label = series(args.n, args.data)
    h, lo, c, v = s["high"], s["low"], s["close"], s["volume"]
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "sma": (lambda: ind.sma_nb(c, 20), lambda: talib.SMA(c, 20)),
        "ema": (lambda: ind.ema_nb(c, 20), lambda: talib.EMA(c, 20)),
        "rsi": (lambda: ind.rsi_nb(c, 14), lambda: talib.RSI(c, 14)),
        "atr": (lambda: ind.atr_nb(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        "bollinger": (lambda: ind.bollinger_nb(c, 20, 2.0), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        "stochastic": (lambda: ind.stochastic_nb(h, lo, c, 14, 3, 3), lambda: talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)),
        "volume_sma": (lambda: ind.volume_sma_nb(v, 20), lambda: talib.SMA(v, 20)),
    }
    print(f"{args.n:,} bars ({label}), best of {args.repeats}")
    print(f"{'indicator':<12}{'engine ms':>11}{'talib ms':>10}{'ratio':>8}")
    ratios = {}
    for name, (engine_fn, talib_fn) in cases.items():
        te, tt = best(engine_fn, args.repeats), best(talib_fn, args.repeats)
        ratios[name] = te / tt
        print(f"{name:<12}{te * 1e3:>11.3f}{tt * 1e3:>10.3f}{ratios[name]:>8.2f}")
    for name, ratio in ratios.items():
        print(f"{name}_engine_over_talib: {ratio:.2f}")
    print(f"max_ratio: {max(ratios.values()):.2f}")


if __name__ == "__main__":
    main()
