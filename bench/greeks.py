"""Option price + Greeks throughput: the engine's parallel Black-Scholes kernel against a vectorised
numpy/scipy Black-Scholes on the same inputs and QuantLib per contract, measured in the same run.

    .venv/bin/python bench/greeks.py [--n 10000000] [--repeat 5] [--quantlib-n 20000]

The engine fills a reused (6, n) output buffer, as a risk loop recomputing one book would (fresh
outputs are timed too: first-touch page faults on 480 MB are expensive here). Random European calls and puts (spot 10-500, moneyness 0.5-1.5, 1 day to 3 years, vol 5-150%,
rate 0-8%, dividend yield 0-4%). Engine and numpy are timed warm, best of --repeat, and each
computes price, delta, gamma, theta/day, vega and rho; QuantLib prices a --quantlib-n subset one
contract at a time (its per-contract rate scales to any n). The same contracts are then timed through
the multi-leg path (strategies of 1-4 legs, price and Greeks per strategy summed by ratio) and the book
path (each contract a signed position: delta notional, gamma, vega, theta in account currency), each
against the single-contract kernel per contract. Prints `name: value` lines at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Inputs = tuple[np.ndarray, ...]


def random_contracts(n: int, seed: int = 7) -> Inputs:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(10.0, 500.0, n)
    strike = spot * rng.uniform(0.5, 1.5, n)
    days = rng.integers(1, 3 * 365, n)
    return (spot, strike, days / 365.0, rng.uniform(0.05, 1.5, n), rng.uniform(0.0, 0.08, n),
            rng.uniform(0.0, 0.04, n), rng.random(n) < 0.5, days)


def numpy_greeks(s: np.ndarray, k: np.ndarray, t: np.ndarray, v: np.ndarray, r: np.ndarray,
                 q: np.ndarray, call: np.ndarray) -> tuple[np.ndarray, ...]:
    """Textbook vectorised Black-Scholes-Merton with scipy's ndtr, same conventions as the engine."""
    from scipy.special import ndtr

    w = np.where(call, 1.0, -1.0)
    sqrt_t = np.sqrt(t)
    sd = v * sqrt_t
    d1 = (np.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    dq, dr = np.exp(-q * t), np.exp(-r * t)
    nd1, nd2 = ndtr(w * d1), ndtr(w * d2)
    pdf = np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi)
    price = w * (s * dq * nd1 - k * dr * nd2)
    delta = w * dq * nd1
    gamma = dq * pdf / (s * sd)
    vega = s * dq * pdf * sqrt_t / 100.0
    theta = (-0.5 * s * dq * pdf * v / sqrt_t + w * (q * s * dq * nd1 - r * k * dr * nd2)) / 365.0
    rho = w * k * dr * t * nd2 / 100.0
    return price, delta, gamma, theta, vega, rho


def quantlib_rate(inputs: Inputs, n: int) -> float:
    """Contracts per second priced with QuantLib's AnalyticEuropeanEngine, all Greeks read."""
    import QuantLib as ql

    today = ql.Date(31, 7, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot, rate, div, vol = (ql.SimpleQuote(0.0) for _ in range(4))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate), dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol), dc)),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    s, k, _, v, r, q, call, days = (a[:n] for a in inputs)
    t0 = time.perf_counter()
    for i in range(n):
        spot.setValue(s[i])
        vol.setValue(v[i])
        rate.setValue(r[i])
        div.setValue(q[i])
        right = ql.Option.Call if call[i] else ql.Option.Put
        opt = ql.EuropeanOption(ql.PlainVanillaPayoff(right, k[i]), ql.EuropeanExercise(today + int(days[i])))
        opt.setPricingEngine(engine)
        opt.NPV(), opt.delta(), opt.gamma(), opt.thetaPerDay(), opt.vega(), opt.rho()
    return n / (time.perf_counter() - t0)


def best_time(fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--quantlib-n", type=int, default=20_000)
    args = p.parse_args()

    import numba

    from engine.options import bs_greeks, position_greeks_into_nb, strategy_greeks

    inputs = random_contracts(args.n)
    market = inputs[:7]
    bs_greeks(*(a[:100] for a in market))  # compile / load the cache
    buf = np.empty((6, args.n))  # a risk loop reuses its output buffer: no first-touch page faults
    t_engine = best_time(lambda: bs_greeks(*market, out=buf), args.repeat)
    t_fresh = best_time(lambda: bs_greeks(*market), args.repeat)
    # CPU seconds summed over threads: what the kernel costs, whatever else shares the machine.
    cpu_engine = best_time(lambda: bs_greeks(*market, out=buf), args.repeat, time.process_time)
    t_numpy = best_time(lambda: numpy_greeks(*market), max(1, args.repeat // 2))

    # Multi-leg strategies over the same contracts (1-4 legs each) and a book holding each of them.
    rng = np.random.default_rng(11)
    starts = np.concatenate([[0], np.cumsum(rng.integers(1, 5, args.n // 2 + 1))])
    starts = np.concatenate([starts[starts < args.n], [args.n]])
    ratio = rng.choice([-2.0, -1.0, 1.0, 2.0], args.n)
    strategy_out = np.empty((6, starts.shape[0] - 1))
    strategy_greeks(*(a[:100] for a in market), ratio[:100], [0, 100])
    t_strategy = best_time(lambda: strategy_greeks(*market, ratio, starts, out=strategy_out), args.repeat)
    flags = market[6].astype(np.int8)
    qty, mult, book_out = rng.integers(-20, 21, args.n).astype(float), np.full(args.n, 100.0), np.empty((4, args.n))
    position_greeks_into_nb(*market[:6], flags, qty, mult, book_out)
    t_book = best_time(lambda: position_greeks_into_nb(*market[:6], flags, qty, mult, book_out), args.repeat)

    ours = bs_greeks(*market)
    ref = numpy_greeks(*market)
    worst = max(float(np.max(np.abs(a - b) / (np.abs(b) + 1e-10))) for a, b in zip(ours, ref))
    ql_rate = quantlib_rate(inputs, min(args.quantlib_n, args.n))

    engine_rate, numpy_rate = args.n / t_engine, args.n / t_numpy
    print(f"{args.n:,} contracts, price + 5 Greeks, best of {args.repeat}, numba threads {numba.get_num_threads()}")
    print(f"engine: {t_engine * 1000:.1f} ms (reused output buffer), {t_fresh * 1000:.1f} ms (fresh outputs); "
          f"numpy/scipy: {t_numpy * 1000:.1f} ms; QuantLib: {ql_rate:,.0f} contracts/s on "
          f"{min(args.quantlib_n, args.n):,}")
    print(f"engine_options_per_s: {engine_rate:.3e}")
    print(f"engine_fresh_outputs_options_per_s: {args.n / t_fresh:.3e}")
    print(f"engine_options_per_cpu_s: {args.n / cpu_engine:.3e}")
    print(f"numpy_options_per_s: {numpy_rate:.3e}")
    print(f"quantlib_options_per_s: {ql_rate:.3e}")
    print(f"engine_over_numpy_ratio: {engine_rate / numpy_rate:.2f}")
    print(f"engine_over_quantlib_ratio: {engine_rate / ql_rate:.1f}")
    print(f"max_rel_diff_vs_numpy: {worst:.1e}")
    print(f"multileg: {starts.shape[0] - 1:,} strategies of 1-4 legs in {t_strategy * 1000:.1f} ms; book: "
          f"{args.n:,} positions in {t_book * 1000:.1f} ms")
    print(f"multileg_contracts_per_s: {args.n / t_strategy:.3e}")
    print(f"book_positions_per_s: {args.n / t_book:.3e}")
    print(f"multileg_over_single_per_contract: {t_engine / t_strategy:.2f}")
    print(f"book_over_single_per_contract: {t_engine / t_book:.2f}")


if __name__ == "__main__":
    main()
