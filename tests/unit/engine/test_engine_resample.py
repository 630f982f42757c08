"""The bar aggregation kernel: one output bar per run of equal bucket ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.resample import aggregate_bars, aggregate_bars_nb, bucket_starts_nb


def test_hand_example() -> None:
    ids = np.array([0, 0, 0, 5, 7, 7], dtype=np.int64)
    o = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    h = o + np.array([1.0, 5.0, 1.0, 1.0, 1.0, 3.0])
    lo = o - np.array([0.5, 0.5, 3.0, 1.0, 1.0, 0.1])
    c = o + 0.25
    v = np.array([10.0, 0.0, 30.0, 5.0, 1.0, 1.0])
    first, ao, ah, al, ac, av, aq = aggregate_bars_nb(ids, o, h, lo, c, v, o * v)
    np.testing.assert_array_equal(first, [0, 3, 4])
    np.testing.assert_array_equal(ao, [1.0, 4.0, 5.0])
    np.testing.assert_array_equal(ah, [7.0, 5.0, 9.0])
    np.testing.assert_array_equal(al, [0.0, 3.0, 4.0])
    np.testing.assert_array_equal(ac, [3.25, 4.25, 6.25])
    np.testing.assert_array_equal(av, [40.0, 5.0, 2.0])
    np.testing.assert_array_equal(aq / av, [(10 + 90) / 40, 4.0, 5.5])  # vwap


def test_empty_input() -> None:
    empty = np.zeros(0)
    out = aggregate_bars_nb(np.zeros(0, np.int64), empty, empty, empty, empty, empty, empty)
    assert all(a.shape == (0,) for a in out)


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=20), seed=st.integers(0, 2**32 - 1))
def test_matches_pandas_groupby(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.cumsum(rng.integers(1, 100, len(sizes))), sizes).astype(np.int64)
    o, h, lo, c = (100 + rng.standard_normal(ids.shape[0]) for _ in range(4))
    v = rng.integers(0, 1000, ids.shape[0]).astype(np.float64)
    got = aggregate_bars(ids, o, h, lo, c, v, c * v)
    ref = pd.DataFrame({"id": ids, "o": o, "h": h, "lo": lo, "c": c, "v": v, "q": c * v}).groupby("id").agg(
        o=("o", "first"), h=("h", "max"), lo=("lo", "min"), c=("c", "last"), v=("v", "sum"), q=("q", "sum"))
    np.testing.assert_array_equal(ids[got.first], ref.index.to_numpy())
    for name, col in zip(("open", "high", "low", "close"), ("o", "h", "lo", "c")):
        np.testing.assert_array_equal(getattr(got, name), ref[col].to_numpy())
    np.testing.assert_allclose(got.volume, ref["v"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.notional, ref["q"].to_numpy(), rtol=1e-12)
    assert got.volume.sum() == pytest.approx(v.sum(), rel=1e-12)  # volume conserved


def test_wrapper_rejects_unsorted_ids_and_ragged_columns() -> None:
    x = np.ones(3)
    with pytest.raises(ValueError, match="non-decreasing"):
        aggregate_bars(np.array([1, 0, 2]), x, x, x, x, x)
    with pytest.raises(ValueError, match="equal length"):
        aggregate_bars(np.array([0, 1]), x, x, x, x, x)
    assert aggregate_bars(np.array([0, 0, 1]), x, x, x, x, x).notional.tolist() == [0.0, 0.0]
    np.testing.assert_array_equal(bucket_starts_nb(np.array([3, 3, 4, 4, 4, 9], dtype=np.int64)), [0, 2, 5])
