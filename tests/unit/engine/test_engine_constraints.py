"""Pre-trade constraint check: one case per violation code, risk-reducing orders, portfolio limits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from engine import constraints as c
from engine.constraints import ConstraintCheck, check_plan, default_limits

NAN = math.nan
# long entry: 100 @ 50 = $5,000 (5% of $100k), stop 48 / target 54 -> reward/risk 2
BASE = {"side": 1, "qty": 100.0, "price": 50.0, "multiplier": 1.0, "stop": 48.0, "target": 54.0,
        "is_entry": True, "current_qty": 0.0}


def run(*decisions: dict[str, Any], other: tuple[float, ...] = (), equity: float = 100_000.0,
        limits: np.ndarray | None = None) -> ConstraintCheck:
    cols = {k: [d[k] for d in decisions] for k in BASE}
    return check_plan(**cols, other_notional=list(other), equity=equity, limits=limits)


def dec(**overrides: Any) -> dict[str, Any]:
    return {**BASE, **overrides}


def test_default_limits_are_the_product_defaults() -> None:
    lim = default_limits()
    assert lim.dtype == np.float64 and lim.shape == (c.N_LIMITS,)
    assert lim[c.LIM_MAX_UNITS] == 1000 and lim[c.LIM_MAX_NOTIONAL] == 50_000
    assert lim[c.LIM_MAX_PCT_EQUITY] == 0.10 and lim[c.LIM_MAX_GROSS] == 500_000
    assert lim[c.LIM_MAX_NET] == 250_000 and lim[c.LIM_MAX_LEVERAGE] == 2.0
    assert lim[c.LIM_MIN_RISK_REWARD] == 1.5


def test_clean_plan_is_approved() -> None:
    res = run(
        dec(),
        dec(side=-1, price=20.0, stop=21.0, target=18.0),  # short entry: target < price < stop
        dec(qty=5.0, price=2.0, multiplier=100.0, stop=1.5, target=3.0),  # options: $1,000
        dec(side=0, qty=0.0, stop=NAN, target=NAN, current_qty=10.0),  # held, not checked
        other=(20_000.0, -5_000.0),
    )
    assert res.approved and res.names() == () and res.viol_index.dtype == np.int64


# (code, decision overrides, other notionals, equity, index, measured value, limit)
VIOLATION_CASES: list[tuple[int, dict[str, Any], tuple[float, ...], float, int, float, float]] = [
    (c.MISSING_STOP_LOSS, {"stop": NAN}, (), 1e5, 0, NAN, NAN),
    (c.MISSING_TAKE_PROFIT, {"target": NAN}, (), 1e5, 0, NAN, NAN),
    (c.STOP_WRONG_SIDE, {"stop": 51.0}, (), 1e5, 0, 51.0, 50.0),
    (c.TARGET_WRONG_SIDE, {"target": 49.0}, (), 1e5, 0, 49.0, 50.0),
    (c.RISK_REWARD_TOO_LOW, {"target": 51.0}, (), 1e5, 0, 0.5, 1.5),
    (c.MAX_UNITS, {"qty": 1001.0, "price": 1.0, "stop": 0.9, "target": 1.2}, (), 1e5, 0, 1001.0, 1000.0),
    (c.MAX_NOTIONAL, {"qty": 600.0, "price": 100.0, "stop": 95.0, "target": 110.0}, (), 1e6, 0,
     60_000.0, 50_000.0),
    (c.MAX_PCT_EQUITY, {}, (), 40_000.0, 0, 0.125, 0.10),
    (c.MAX_GROSS_NOTIONAL, {}, (250_000.0, -248_000.0), 1e7, -1, 503_000.0, 500_000.0),
    (c.MAX_NET_NOTIONAL, {}, (248_000.0,), 1e7, -1, 253_000.0, 250_000.0),
    (c.MAX_LEVERAGE, {}, (198_000.0,), 1e5, -1, 2.03, 2.0),
    (c.INVALID_PRICE, {"price": 0.0}, (), 1e5, 0, 0.0, 0.0),
    (c.INVALID_QUANTITY, {"qty": 0.0}, (), 1e5, 0, 0.0, 0.0),
    (c.NON_POSITIVE_EQUITY, {}, (), 0.0, -1, 0.0, 0.0),
    (c.INVALID_SIDE, {"side": 2}, (), 1e5, 0, 2.0, NAN),
    (c.INVALID_MULTIPLIER, {"multiplier": -100.0}, (), 1e5, 0, -100.0, 0.0),
    (c.INVALID_OTHER_NOTIONAL, {}, (NAN,), 1e5, -1, NAN, NAN),
]


@pytest.mark.parametrize(("code", "overrides", "other", "equity", "index", "value", "limit"), VIOLATION_CASES,
                         ids=[c.VIOLATION_NAMES[case[0]] for case in VIOLATION_CASES])
def test_each_violation_is_reported_alone(code: int, overrides: dict[str, Any], other: tuple[float, ...],
                                          equity: float, index: int, value: float, limit: float) -> None:
    res = run(dec(**overrides), other=other, equity=equity)
    assert not res.approved
    assert res.names() == (c.VIOLATION_NAMES[code],)
    assert res.viol_index.tolist() == [index]
    assert res.viol_value[0] == pytest.approx(value, nan_ok=True)
    assert res.viol_limit[0] == pytest.approx(limit, nan_ok=True)


def test_every_violation_code_has_a_case_and_a_name() -> None:
    assert len(c.VIOLATION_NAMES) == c.N_VIOLATION_CODES
    assert {case[0] for case in VIOLATION_CASES} == set(range(c.N_VIOLATION_CODES))
    for code, name in enumerate(c.VIOLATION_NAMES):
        assert getattr(c, name) == code


def test_all_violations_of_a_decision_are_reported() -> None:
    res = run(dec(qty=2000.0, price=100.0, stop=NAN, target=110.0))
    # $200k on $100k equity: leverage exactly 2.0 is allowed (limits are inclusive)
    assert set(res.names()) == {"MISSING_STOP_LOSS", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY"}
    assert res.messages()[1] == "decision 0: MAX_UNITS 2000 (limit 1000)"


def test_risk_reducing_orders_pass_even_when_every_limit_is_already_breached() -> None:
    # long 5,000 @ 100 = $500k against $100k equity plus $1M elsewhere: units, notional, pct,
    # gross, net and leverage are all breached already
    sell = dec(side=-1, qty=1000.0, price=100.0, stop=95.0, target=110.0, is_entry=False, current_qty=5000.0)
    cover = dec(side=1, qty=1000.0, price=100.0, stop=105.0, target=90.0, is_entry=False, current_qty=-5000.0)
    assert run(sell, other=(1_000_000.0,)).approved
    assert run(cover, other=(-1_000_000.0,)).approved
    assert run(sell, equity=-50_000.0).approved  # a blown account can still de-risk
    assert set(run(dec(**{**sell, "side": 1, "is_entry": True}), other=(1e6,)).names()) >= {
        "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_GROSS_NOTIONAL", "MAX_LEVERAGE"}


def test_flip_is_checked_as_an_entry_in_the_new_direction() -> None:
    # long 100, sell 300 -> short 200: the long-style stop below the price is now wrong
    res = run(dec(side=-1, qty=300.0, current_qty=100.0, is_entry=False))
    assert res.names() == ("STOP_WRONG_SIDE", "TARGET_WRONG_SIDE")


def test_held_positions_in_the_plan_count_towards_gross() -> None:
    hold = dec(side=0, qty=0.0, price=100.0, stop=NAN, target=NAN, current_qty=4000.0)  # $400k
    res = run(hold, dec(), other=(98_000.0,), equity=1e7)
    assert res.names() == ("MAX_GROSS_NOTIONAL", "MAX_NET_NOTIONAL")
    assert res.viol_value[0] == pytest.approx(503_000.0)


def test_nan_limit_fails_closed() -> None:
    lim = default_limits()
    lim[c.LIM_MAX_UNITS] = NAN
    assert run(dec(), limits=lim).names() == ("MAX_UNITS",)


def test_wrapper_rejects_misaligned_arrays() -> None:
    with pytest.raises(ValueError, match="one element per decision"):
        check_plan([1], [1.0, 2.0], [50.0], [1.0], [48.0], [54.0], [True], [0.0], [], 1e5)
    with pytest.raises(ValueError, match="limits"):
        check_plan([1], [1.0], [50.0], [1.0], [48.0], [54.0], [True], [0.0], [], 1e5, limits=[1.0, 2.0])
