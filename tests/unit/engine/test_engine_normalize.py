"""Z-score and percentile-rank normalisers against pandas and against their last-value versions."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.normalize import percentile_rank_last_nb, rolling_percentile_nb, rolling_zscore_nb, zscore_last_nb


@pytest.mark.parametrize("window", [2, 20, 100, 5000])
def test_zscore_and_percentile_rank_of_last_value(adbe: dict[str, np.ndarray], window: int) -> None:
    x = adbe["close"].copy()
    x[-7] = np.nan  # NaNs inside the window are ignored
    w = [v for v in x[-window:].tolist() if not math.isnan(v)]
    last = w[-1]
    z = (last - statistics.fmean(w)) / statistics.pstdev(w)
    rank = 100 * sum(v <= last for v in w) / len(w)
    assert zscore_last_nb(x, window) == pytest.approx(z, rel=1e-9)
    assert percentile_rank_last_nb(x, window) == pytest.approx(rank, rel=1e-12)


def test_zscore_and_percentile_rank_undefined_cases() -> None:
    assert math.isnan(zscore_last_nb(np.array([1.0, 2.0, 3.0]), 1))  # one value
    assert math.isnan(zscore_last_nb(np.array([5.0, 5.0, 5.0]), 3))  # zero std
    assert math.isnan(zscore_last_nb(np.array([0.1, 0.1, 0.1]), 3))  # zero std despite rounding
    assert math.isnan(zscore_last_nb(np.array([1.0, np.nan, 2.0, np.nan]), 4))  # last is NaN
    tiny = np.array([1.40918812e-159, 0.0])  # a variance of ~5e-319: subnormal, digits lost
    assert math.isnan(zscore_last_nb(tiny, 2)) and math.isnan(rolling_zscore_nb(tiny, 2)[-1])
    assert math.isnan(percentile_rank_last_nb(np.array([1.0, np.nan]), 2))
    assert percentile_rank_last_nb(np.array([3.0, 1.0, 2.0, 4.0, 2.0]), 4) == 75.0


@pytest.mark.parametrize("window", [2, 20, 100])
def test_rolling_normalisers_match_pandas(adbe: dict[str, np.ndarray], window: int) -> None:
    x = adbe["volume"].copy()
    x[[10, 500, 501, 2000]] = np.nan
    s = pd.Series(x)
    r = s.rolling(window, min_periods=2)
    z = np.array((s - r.mean()) / r.std(ddof=0))
    z[np.isnan(x)] = np.nan
    np.testing.assert_allclose(rolling_zscore_nb(x, window), z, rtol=1e-9, atol=1e-9)
    pct = 100 * s.rolling(window, min_periods=1).rank(method="max", pct=True).to_numpy()
    np.testing.assert_allclose(rolling_percentile_nb(x, window), pct, rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 80), elements=st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False), st.just(np.nan), st.sampled_from([1.0, 2.0]))),
    window=st.integers(1, 25))
@example(x=np.array([1.40918812e-159, 0.0]), window=2)  # a subnormal variance (found by this test)
def test_property_rolling_equals_last_value_versions(x: np.ndarray, window: int) -> None:
    z = rolling_zscore_nb(x, window)
    p = rolling_percentile_nb(x, window)
    for i in range(x.shape[0]):
        zl = zscore_last_nb(x[: i + 1], window)
        assert (math.isnan(z[i]) and math.isnan(zl)) or z[i] == pytest.approx(zl, rel=1e-7, abs=1e-7)
        pl = percentile_rank_last_nb(x[: i + 1], window)
        assert (math.isnan(p[i]) and math.isnan(pl)) or p[i] == pl
