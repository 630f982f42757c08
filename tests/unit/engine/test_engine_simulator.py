"""The signal backtest simulator against vectorbt's from_signals on real and random bars, plus properties."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fills import BUY
from engine.signal_cells import signal_cells
from engine.simulator import portfolio_values_nb, positions_from_orders, simulate_signals
from tests.shared_data import POLYGON_5M, require

vbt = pytest.importorskip("vectorbt")
pd = pytest.importorskip("pandas")

DATA = POLYGON_5M
SYMBOLS = ("ADBE", "COST", "MA", "XLK")
N_BARS = 3000


def _load(sym: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with gzip.open(require(DATA / f"{sym}.csv.gz"), "rt", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i > 3 * N_BARS:
                break
            out[row["datetime"]] = {k: float(row[k]) for k in ("open", "high", "low", "close")}
    return out


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    """OHLC of the four symbols on their common timestamps (first N_BARS)."""
    per = [_load(s) for s in SYMBOLS]
    common = sorted(set.intersection(*(set(p) for p in per)))[:N_BARS]
    assert len(common) == N_BARS
    return {k: np.array([[p[t][k] for p in per] for t in common]) for k in ("open", "high", "low", "close")}


def _ma_signals(close: np.ndarray, fast: int = 10, slow: int = 40) -> tuple[np.ndarray, np.ndarray]:
    f = pd.DataFrame(close).rolling(fast).mean().to_numpy()
    s = pd.DataFrame(close).rolling(slow).mean().to_numpy()
    above = f > s
    prev = np.vstack([np.zeros((1, close.shape[1]), bool), above[:-1]])
    return above & ~prev, ~above & prev


def _compare(close: np.ndarray, entries: np.ndarray, exits: np.ndarray, cash_sharing: bool,
             ohlc: dict[str, np.ndarray] | None = None, call_seq: str = "default", **kw: object) -> int:
    extra = {} if ohlc is None else {"open": ohlc["open"], "high": ohlc["high"], "low": ohlc["low"]}
    pf = vbt.Portfolio.from_signals(
        pd.DataFrame(close), pd.DataFrame(entries), pd.DataFrame(exits), cash_sharing=cash_sharing,
        group_by=True if cash_sharing else None, call_seq=call_seq,
        **{k: pd.DataFrame(v) for k, v in extra.items()}, **kw)
    args = {"cash_sharing": cash_sharing, "call_seq": call_seq, "open_": extra.get("open"),
            "high": extra.get("high"), "low": extra.get("low"), **kw}
    ours = simulate_signals(close, entries, exits, **args)  # type: ignore[arg-type]
    value = pf.value().to_numpy().reshape(close.shape[0], -1)
    np.testing.assert_allclose(ours.final_value, value[-1], rtol=1e-9)
    np.testing.assert_allclose(ours.equity, value.sum(axis=1), rtol=1e-9)
    o = ours.orders
    full = simulate_signals(close, entries, exits, return_positions=True, **args)  # type: ignore[arg-type]
    assert ours.positions is None and full.positions is not None
    np.testing.assert_array_equal(full.equity, ours.equity)
    np.testing.assert_array_equal(full.orders.size, o.size)
    final_only = simulate_signals(close, entries, exits, equity_curve=False, **args)  # type: ignore[arg-type]
    assert final_only.equity is None and final_only.cash is None
    np.testing.assert_allclose(final_only.final_value, value[-1], rtol=1e-9)
    np.testing.assert_array_equal(final_only.orders.size, o.size)
    np.testing.assert_array_equal(final_only.orders.bar, o.bar)
    positions = positions_from_orders(*close.shape, o)
    np.testing.assert_array_equal(positions, full.positions)
    rebuilt = portfolio_values_nb(close, positions, np.column_stack([o.bar, o.symbol, o.side]),
                                  np.column_stack([o.size, o.price, o.fees]), float(kw["init_cash"]), cash_sharing)
    np.testing.assert_allclose(rebuilt, value, rtol=1e-9)
    rec = pf.orders.values
    assert len(rec) == len(o.size) > 0
    np.testing.assert_array_equal(rec["idx"], o.bar)
    np.testing.assert_array_equal(rec["col"], o.symbol)
    np.testing.assert_array_equal(rec["side"] == 0, o.side == BUY)
    np.testing.assert_allclose(rec["size"], o.size, rtol=1e-9)
    np.testing.assert_allclose(rec["price"], o.price, rtol=1e-12)
    np.testing.assert_allclose(rec["fees"], o.fees, rtol=1e-9, atol=1e-12)
    return len(rec)


COSTS = {"fees": 0.001, "fixed_fees": 1.0, "slippage": 0.0005, "init_cash": 100_000.0}


@pytest.mark.parametrize("cash_sharing", [False, True])
@pytest.mark.parametrize(
    "sizing",
    [{}, {"size": 20.0}, {"size": 10_000.0, "size_type": "value"}, {"size": 0.3, "size_type": "percent"},
     {"size": 30_000.0, "size_type": "value", "direction": "both"}, {"direction": "shortonly", "size": 50.0}],
)
def test_ma_crossover_on_real_bars_matches_vectorbt(bars: dict[str, np.ndarray], cash_sharing: bool,
                                                    sizing: dict[str, object]) -> None:
    entries, exits = _ma_signals(bars["close"])
    _compare(bars["close"], entries, exits, cash_sharing, **COSTS, **sizing)


@pytest.mark.parametrize("call_seq", ["default", "auto"])
def test_stops_and_whole_shares_on_real_bars_match_vectorbt(bars: dict[str, np.ndarray], call_seq: str) -> None:
    entries, exits = _ma_signals(bars["close"], 5, 20)
    _compare(bars["close"], entries, exits, True, ohlc=bars, call_seq=call_seq, sl_stop=0.004, tp_stop=0.006,
             size=25_000.0, size_type="value", size_granularity=1.0, **COSTS)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("cash_sharing", [False, True])
def test_random_signals_many_symbols_match_vectorbt(seed: int, cash_sharing: bool) -> None:
    rng = np.random.default_rng(seed)
    n, m = 1500, 40  # more symbols than one parallel block
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, m)), axis=0))
    high, low = close * (1 + rng.uniform(0, 0.01, (n, m))), close * (1 - rng.uniform(0, 0.01, (n, m)))
    ohlc = {"open": (high + low) / 2, "high": high, "low": low}
    entries, exits = rng.random((n, m)) < 0.03, rng.random((n, m)) < 0.03
    _compare(close, entries, exits, cash_sharing, ohlc=ohlc, call_seq="auto" if cash_sharing else "default",
             direction="both", size=2_000.0, size_type="value", sl_stop=0.02, tp_stop=0.03, **COSTS)


signal_panels = st.integers(0, 2**32 - 1).map(np.random.default_rng)


@settings(max_examples=25, deadline=None)
@given(rng=signal_panels, sharing=st.booleans())
def test_long_only_cash_never_negative(rng: np.random.Generator, sharing: bool) -> None:
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.05, (200, 3)), axis=0))
    res = simulate_signals(close, rng.random((200, 3)) < 0.2, rng.random((200, 3)) < 0.2, cash_sharing=sharing,
                           fees=0.01, fixed_fees=2.0, slippage=0.01, init_cash=1000.0, return_positions=True)
    assert (res.cash >= -1e-9).all()
    assert res.positions is not None and (res.positions >= 0.0).all()


@settings(max_examples=25, deadline=None)
@given(rng=signal_panels)
def test_no_signals_keeps_equity_constant(rng: np.random.Generator) -> None:
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.05, (100, 3)), axis=0))
    none = np.zeros((100, 3), bool)
    res = simulate_signals(close, none, none, cash_sharing=True, init_cash=500.0)
    assert (res.equity == 500.0).all() and len(res.orders.size) == 0


@settings(max_examples=25, deadline=None)
@given(rng=signal_panels, fee=st.floats(0.0, 0.02), fixed=st.floats(0.0, 5.0))
def test_fees_never_increase_final_equity(rng: np.random.Generator, fee: float, fixed: float) -> None:
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.05, (150, 2)), axis=0))
    entries, exits = rng.random((150, 2)) < 0.2, rng.random((150, 2)) < 0.2
    kw = {"size": 10.0, "init_cash": 1e6}  # fixed units: fees cannot change the trades
    free = simulate_signals(close, entries, exits, **kw)  # type: ignore[arg-type]
    paid = simulate_signals(close, entries, exits, fees=fee, fixed_fees=fixed, **kw)  # type: ignore[arg-type]
    assert paid.equity[-1] <= free.equity[-1] + 1e-9


def test_invalid_arguments_say_what_to_do() -> None:
    close = np.ones((3, 1))
    with pytest.raises(ValueError, match="percent"):
        simulate_signals(close, close > 0, close < 0, size=0.5, size_type="percent", direction="both")
    with pytest.raises(ValueError, match="shape"):
        simulate_signals(close, np.ones((2, 1), bool), close < 0)


@pytest.mark.parametrize("shape", [(7, 3), (1, 1), (1100, 1001)])  # tail cells; parallel chunks above 2**20
def test_signal_scan_finds_every_signal_cell(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    entries, exits = rng.random(shape) < 0.02, rng.random(shape) < 0.02
    flat = np.flatnonzero(entries | exits)
    for e, x in ((entries, exits), (np.asfortranarray(entries), np.asfortranarray(exits))):
        cells = signal_cells(e, x)
        np.testing.assert_array_equal(cells >> 2, flat)
        np.testing.assert_array_equal(cells & 1, entries.reshape(-1)[flat])
        np.testing.assert_array_equal(cells >> 1 & 1, exits.reshape(-1)[flat])


@pytest.mark.parametrize("cash_sharing", [False, True])
def test_nan_closes_value_positions_at_last_close_like_vectorbt(cash_sharing: bool) -> None:
    rng = np.random.default_rng(7)
    n, m = 800, 5
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, m)), axis=0))
    close[rng.random((n, m)) < 0.05] = np.nan
    close[:30, 1] = np.nan  # a symbol that starts trading late
    entries, exits = rng.random((n, m)) < 0.05, rng.random((n, m)) < 0.05
    _compare(close, entries, exits, cash_sharing, size=1_000.0, size_type="value", **COSTS)


@pytest.mark.parametrize("stops", [False, True])
@pytest.mark.parametrize("cash_sharing", [False, True])
def test_column_major_signals_give_the_same_backtest(stops: bool, cash_sharing: bool) -> None:
    rng = np.random.default_rng(3)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (600, 6)), axis=0))
    entries, exits = rng.random((600, 6)) < 0.04, rng.random((600, 6)) < 0.04
    kw: dict[str, object] = {"sl_stop": 0.01, "tp_stop": 0.02} if stops else {}
    kw |= {"cash_sharing": cash_sharing, "direction": "both", "size": 10.0}
    row = simulate_signals(close, entries, exits, **kw)  # type: ignore[arg-type]
    fortran = np.asfortranarray(entries), np.asfortranarray(exits)
    col = simulate_signals(close, *fortran, **kw)  # type: ignore[arg-type]
    assert len(row.orders.size) > 0
    np.testing.assert_array_equal(row.equity, col.equity)
    for a, b in zip(row.orders, col.orders):
        np.testing.assert_array_equal(a, b)
