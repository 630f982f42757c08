"""Performance metrics against textbook references, on ADBE closes used as an equity curve."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from engine.metrics import calmar_nb, cagr_nb, max_drawdown_nb, returns_nb, sharpe_nb, sortino_nb

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
