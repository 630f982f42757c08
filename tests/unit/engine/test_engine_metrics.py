"""Performance metrics against textbook formulas and empyrical, on ADBE closes and random returns."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.metrics import (
    annual_return_nb,
    annual_volatility_nb,
    cagr_nb,
    calmar_nb,
    calmar_of_returns_nb,
    downside_deviation_nb,
    max_drawdown_nb,
    max_drawdown_of_returns_nb,
    performance_summary,
    returns_nb,
    sharpe_nb,
    sortino_nb,
)

PPY = 252 * 78  # 5-minute bars in a regular session year


def ref_returns(e: list[float]) -> list[float]:
    return [e[i] / e[i - 1] - 1 for i in range(1, len(e))]


def ref_max_drawdown(e: list[float]) -> float:
    worst = 0.0
    for t in range(len(e)):
        peak = max(e[: t + 1])
        worst = max(worst, (peak - e[t]) / peak)
    return worst


@pytest.fixture(scope="module")
def equity(adbe: dict[str, np.ndarray]) -> np.ndarray:
    return 100_000.0 * adbe["close"] / adbe["close"][0]


def test_returns_are_simple_and_one_shorter(equity: np.ndarray) -> None:
    np.testing.assert_allclose(returns_nb(equity), ref_returns(equity.tolist()), rtol=1e-9, atol=1e-15)
    assert returns_nb(equity).shape[0] == equity.shape[0] - 1


@pytest.mark.parametrize("rf", [0.0, 2e-6])
def test_sharpe_uses_sample_std_and_sqrt_annualisation(equity: np.ndarray, rf: float) -> None:
    excess = [r - rf for r in ref_returns(equity.tolist())]
    expected = statistics.fmean(excess) / statistics.stdev(excess) * math.sqrt(PPY)
    assert sharpe_nb(returns_nb(equity), PPY, rf) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("target", [0.0, 1e-5])
def test_sortino_matches_empyrical_definition(equity: np.ndarray, target: float) -> None:
    adj = [r - target for r in ref_returns(equity.tolist())]
    downside = math.sqrt(sum(min(a, 0.0) ** 2 for a in adj) / len(adj))
    expected = statistics.fmean(adj) / downside * math.sqrt(PPY)
    assert sortino_nb(returns_nb(equity), PPY, target) == pytest.approx(expected, rel=1e-9)


def test_max_drawdown_and_calmar_match_reference(equity: np.ndarray) -> None:
    e = equity.tolist()
    mdd = ref_max_drawdown(e)
    assert max_drawdown_nb(equity) == pytest.approx(mdd, rel=1e-9)
    cagr = (e[-1] / e[0]) ** (PPY / (len(e) - 1)) - 1
    assert cagr_nb(equity, PPY) == pytest.approx(cagr, rel=1e-9)
    assert calmar_nb(equity, PPY) == pytest.approx(cagr / mdd, rel=1e-9)


def test_hand_computed_values() -> None:
    # returns 1% and 3%: mean 2%, sample std sqrt(2)*1% -> Sharpe sqrt(2) per period
    assert sharpe_nb(np.array([0.01, 0.03]), 1.0, 0.0) == pytest.approx(math.sqrt(2.0))
    # -2% and +4%: downside sqrt(0.02^2/2); mean 1%
    assert sortino_nb(np.array([-0.02, 0.04]), 4.0, 0.0) == pytest.approx(0.01 / math.sqrt(0.0002) * 2.0)
    assert max_drawdown_nb(np.array([100.0, 120.0, 90.0, 130.0, 65.0, 140.0])) == pytest.approx(0.5)
    # 100 -> 200 over 2 periods at 4 periods a year: 2 ** (4 / 2) - 1 = 3
    assert cagr_nb(np.array([100.0, 50.0, 200.0]), 4.0) == pytest.approx(3.0)
    assert calmar_nb(np.array([100.0, 50.0, 200.0]), 4.0) == pytest.approx(3.0 / 0.5)


def test_undefined_results_are_nan() -> None:
    assert math.isnan(sharpe_nb(np.array([0.01]), 252.0, 0.0))
    assert math.isnan(sharpe_nb(np.array([0.01, 0.01, 0.01]), 252.0, 0.0))  # zero std
    assert math.isnan(sortino_nb(np.array([0.01, 0.02]), 252.0, 0.0))  # no downside
    assert math.isnan(max_drawdown_nb(np.array([100.0])))
    assert max_drawdown_nb(np.array([100.0, 101.0, 102.0])) == 0.0
    assert math.isnan(calmar_nb(np.array([100.0, 101.0, 102.0]), 252.0))  # zero drawdown
    assert math.isnan(cagr_nb(np.array([0.0, 1.0]), 252.0))
    assert returns_nb(np.array([1.0])).shape == (0,)


# ---- empyrical as the reference -----------------------------------------------------------

try:
    import empyrical
except ImportError:  # the textbook tests above still run
    empyrical = None
needs_empyrical = pytest.mark.skipif(empyrical is None, reason="empyrical-reloaded is not installed")

RNG = np.random.default_rng(20240611)
RANDOM_RETURNS = RNG.normal(0.0004, 0.012, 1000)
WITH_NAN = RANDOM_RETURNS.copy()
WITH_NAN[[3, 100, 555]] = np.nan


@pytest.fixture(scope="module")
def series(equity: np.ndarray) -> dict[str, np.ndarray]:
    return {"adbe": returns_nb(equity), "random": RANDOM_RETURNS, "with_nan": WITH_NAN}


CASES = [(name, ppy) for name in ("adbe", "random", "with_nan") for ppy in (252.0, float(PPY))]


def close(actual: float, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=1e-10, abs=1e-12)


@needs_empyrical
@pytest.mark.parametrize(("name", "ppy"), CASES)
@pytest.mark.parametrize("rf", [0.0, 1e-5, -3e-4])
def test_sharpe_matches_empyrical(series: dict[str, np.ndarray], name: str, ppy: float, rf: float) -> None:
    r = series[name]
    close(sharpe_nb(r, ppy, rf), empyrical.sharpe_ratio(r, risk_free=rf, annualization=ppy))


@needs_empyrical
@pytest.mark.parametrize(("name", "ppy"), CASES)
@pytest.mark.parametrize("required", [0.0, 2e-4, -1e-3])
def test_sortino_and_downside_match_empyrical(
    series: dict[str, np.ndarray], name: str, ppy: float, required: float
) -> None:
    r = series[name]
    expected = empyrical.sortino_ratio(r, required_return=required, annualization=ppy)
    close(sortino_nb(r, ppy, required), expected)
    close(downside_deviation_nb(r, required) * math.sqrt(ppy),
          empyrical.downside_risk(r, required_return=required, annualization=ppy))


@needs_empyrical
@pytest.mark.parametrize(("name", "ppy"), CASES)
def test_annual_return_volatility_drawdown_calmar_match_empyrical(
    series: dict[str, np.ndarray], name: str, ppy: float
) -> None:
    r = series[name]
    close(annual_return_nb(r, ppy), empyrical.annual_return(r, annualization=ppy))
    close(annual_volatility_nb(r, ppy), empyrical.annual_volatility(r, annualization=ppy))
    close(max_drawdown_of_returns_nb(r), -empyrical.max_drawdown(r))
    close(calmar_of_returns_nb(r, ppy), empyrical.calmar_ratio(r, annualization=ppy))


def test_equity_and_returns_forms_agree(equity: np.ndarray) -> None:
    r = returns_nb(equity)
    close(cagr_nb(equity, PPY), annual_return_nb(r, PPY))
    close(max_drawdown_nb(equity), max_drawdown_of_returns_nb(r))
    close(calmar_nb(equity, PPY), calmar_of_returns_nb(r, PPY))


def test_summary_wrapper_bundles_the_kernels(series: dict[str, np.ndarray]) -> None:
    r = series["random"]
    s = performance_summary(r, 252, risk_free=1e-5, required_return=2e-4)
    assert s == (
        annual_return_nb(r, 252.0), annual_volatility_nb(r, 252.0), sharpe_nb(r, 252.0, 1e-5),
        sortino_nb(r, 252.0, 2e-4), max_drawdown_of_returns_nb(r), calmar_of_returns_nb(r, 252.0), 1000,
    )
    with pytest.raises(ValueError, match="periods_per_year"):
        performance_summary(r, 0)
    with pytest.raises(ValueError, match="1-D"):
        performance_summary(np.ones((2, 2)), 252)


def test_returns_form_edge_cases() -> None:
    empty = np.zeros(0)
    assert math.isnan(annual_return_nb(empty, 252.0)) and math.isnan(max_drawdown_of_returns_nb(empty))
    assert math.isnan(annual_volatility_nb(np.array([0.01]), 252.0))
    assert annual_return_nb(np.array([0.5, -1.0]), 252.0) == -1.0  # wiped out
    assert max_drawdown_of_returns_nb(np.array([0.5, -1.0])) == 1.0
    assert max_drawdown_of_returns_nb(np.array([-0.1])) == pytest.approx(0.1)  # start is a peak
    assert math.isnan(calmar_of_returns_nb(np.array([0.01, 0.02]), 252.0))  # never below a peak
    assert math.isnan(sharpe_nb(np.array([np.nan, 0.01, np.nan]), 252.0, 0.0))  # one usable return
    # NaN is a flat period for compounding but still counts: 1.1 over 2 periods at 2/yr
    assert annual_return_nb(np.array([0.1, np.nan]), 2.0) == pytest.approx(0.1)


# ---- properties ---------------------------------------------------------------------------

# Per-period returns; below 1e-12 they are 0 (squares of ~1e-159 underflow, which no price series produces).
RETURN = st.floats(-0.99, 2.0, allow_nan=False).map(lambda x: 0.0 if abs(x) < 1e-12 else x)
RETURNS = st.lists(RETURN, min_size=2, max_size=60).map(lambda v: np.array(v, dtype=np.float64))


@settings(max_examples=200, deadline=None)
@given(RETURNS)
def test_drawdown_is_a_fraction_and_calmar_shares_cagr_sign(r: np.ndarray) -> None:
    mdd = max_drawdown_of_returns_nb(r)
    assert 0.0 <= mdd <= 1.0
    calmar = calmar_of_returns_nb(r, 252.0)
    if mdd > 0 and math.isfinite(calmar):
        assert np.sign(calmar) == np.sign(annual_return_nb(r, 252.0))


@settings(max_examples=200, deadline=None)
@given(RETURNS, st.floats(0.01, 10.0))
def test_scaling_returns_scales_nothing_in_the_ratios(r: np.ndarray, c: float) -> None:
    # Sharpe and Sortino (rf = 0) are scale free; flipping the sign flips Sharpe; vol scales by |c|.
    # Equal returns have no deviation but rounding noise (~1e-18), whose ratio scaling does not preserve.
    assume(np.ptp(r) > 1e-12)
    s = sharpe_nb(r, 252.0, 0.0)
    assert sharpe_nb(c * r, 252.0, 0.0) == pytest.approx(s, rel=1e-9, abs=1e-9, nan_ok=True)
    assert sharpe_nb(-r, 252.0, 0.0) == pytest.approx(-s, rel=1e-9, abs=1e-9, nan_ok=True)
    assert sortino_nb(c * r, 252.0, 0.0) == pytest.approx(sortino_nb(r, 252.0, 0.0), rel=1e-9, nan_ok=True)
    assert annual_volatility_nb(c * r, 252.0) == pytest.approx(c * annual_volatility_nb(r, 252.0), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(RETURNS)
def test_ratios_grow_with_the_period_count_as_sqrt(r: np.ndarray) -> None:
    s1 = sharpe_nb(r, 1.0, 0.0)
    assert sharpe_nb(r, 252.0, 0.0) == pytest.approx(s1 * math.sqrt(252.0), rel=1e-12, nan_ok=True)
    # a higher required return can only lower the Sortino numerator and raise the downside
    lo, hi = sortino_nb(r, 252.0, 0.0), sortino_nb(r, 252.0, 0.01)
    if math.isfinite(lo) and math.isfinite(hi):
        assert hi <= lo + 1e-12


@settings(max_examples=100, deadline=None)
@given(RETURNS)
def test_appending_a_gain_never_deepens_the_drawdown(r: np.ndarray) -> None:
    assert max_drawdown_of_returns_nb(np.append(r, 0.05)) == max_drawdown_of_returns_nb(r)
    assert max_drawdown_of_returns_nb(np.append(r, -0.05)) >= max_drawdown_of_returns_nb(r)
