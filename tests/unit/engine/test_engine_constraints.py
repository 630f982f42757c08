"""Pre-trade constraint check: one case per violation code, risk-reducing orders, portfolio limits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from engine import constraint_codes as cc
from engine import constraints as c
from engine.constraints import default_limits
from engine.risk_check import ConstraintCheck, check_plan, held_rows, plan_rows

NAN = math.nan
# long entry: 100 @ 50 = $5,000 (5% of $100k), stop 48 / target 54 -> reward/risk 2
BASE: dict[str, Any] = {"side": 1, "qty": 100.0, "price": 50.0, "stop": 48.0, "target": 54.0, "sector": 0}
HELD_KEYS = ("notional", "sector", "delta_notional", "gamma", "vega", "theta")


def dec(**overrides: Any) -> dict[str, Any]:
    return {**BASE, **overrides}


def run(*decisions: dict[str, Any], held: tuple[dict[str, float], ...] = (), equity: float = 100_000.0,
        limits: np.ndarray | None = None, **account: Any) -> ConstraintCheck:
    keys = {k for d in decisions for k in d}
    defaults = {"current_qty": 0.0, "multiplier": 1.0, "level_sign": 1.0, "is_entry": 0.0, "sector": -1.0,
                "opened_today": 0.0, "delta": 0.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    defaults.update(level_price=NAN, underlying=NAN)  # NaN here means "the row's price"
    cols = {k: [d[k] if k in d else defaults[k] for d in decisions] for k in keys | set(defaults)}
    for k in ("level_price", "underlying"):
        cols[k] = [d.get(k, d["price"]) for d in decisions]
    h = held_rows(**{k: [row.get(k, -1.0 if k == "sector" else 0.0) for row in held] for k in HELD_KEYS})
    return check_plan(plan_rows(**cols), h, equity=equity, limits=limits, **account)


def test_default_limits_are_the_product_defaults() -> None:
    lim = default_limits()
    assert lim.dtype == np.float64 and lim.shape == (c.N_LIMITS,)
    expected = {c.LIM_MAX_UNITS: 1000, c.LIM_MAX_NOTIONAL: 50_000, c.LIM_MAX_PCT_EQUITY: 0.10,
                c.LIM_MAX_GROSS: 500_000, c.LIM_MAX_NET: 250_000, c.LIM_MAX_LEVERAGE: 2.0,
                c.LIM_MIN_RISK_REWARD: 1.5, c.LIM_MAX_DELTA_NOTIONAL: 100_000, c.LIM_MAX_GAMMA: 1000,
                c.LIM_MAX_VEGA: 5000, c.LIM_MIN_THETA: -500, c.LIM_PDT_MIN_EQUITY: 25_000,
                c.LIM_PDT_MAX_DAY_TRADES: 3}
    assert {k: lim[k] for k in expected} == expected


def test_clean_plan_is_approved_and_every_check_is_listed() -> None:
    res = run(
        dec(),
        dec(side=-1, price=20.0, stop=21.0, target=18.0, sector=1),  # short entry: target < price < stop
        dec(qty=5.0, price=2.0, multiplier=100.0, stop=1.5, target=3.0, sector=0, underlying=60.0,
            delta=0.5, gamma=0.05, vega=0.1, theta=-0.05),  # 5 calls: $1,000 premium
        dec(side=0, qty=0.0, stop=NAN, target=NAN, current_qty=10.0),  # held, not checked
        held=({"notional": 20_000.0, "sector": 2}, {"notional": -5_000.0, "sector": 2}),
        buying_power=50_000.0,
    )
    assert res.approved and res.names() == () and len(res.violations) == 0
    checks = {cc.CHECK_NAMES[int(r[c.R_CODE])] for r in res.rows}
    assert checks == {"STOP_LOSS_PRESENT", "TAKE_PROFIT_PRESENT", "STOP_LOSS_SIDE", "TAKE_PROFIT_SIDE",
                      "RISK_REWARD", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_GROSS_NOTIONAL",
                      "MAX_LEVERAGE", "MAX_NET_NOTIONAL", "SECTOR_CONCENTRATION", "BUYING_POWER",
                      "DELTA_NOTIONAL", "GAMMA", "VEGA", "THETA"}
    sector_rows = res.rows[res.rows[:, c.R_CODE] == cc.SECTOR_CONCENTRATION]
    assert sorted(sector_rows[:, c.R_SECTOR]) == [0, 1]  # sector 2 did not grow


OPTION = {"qty": 10.0, "price": 2.0, "multiplier": 100.0, "stop": 1.0, "target": 4.0, "underlying": 100.0}

# (code, decision overrides, held, account, index, measured value, limit)
VIOLATION_CASES: list[tuple[int, dict[str, Any], tuple[dict[str, float], ...], dict[str, float], int, float,
                            float]] = [
    (cc.STOP_LOSS_PRESENT, {"stop": NAN}, (), {}, 0, NAN, NAN),
    (cc.TAKE_PROFIT_PRESENT, {"target": NAN}, (), {}, 0, NAN, NAN),
    (cc.STOP_LOSS_SIDE, {"stop": 51.0}, (), {}, 0, 51.0, 50.0),
    (cc.TAKE_PROFIT_SIDE, {"target": 49.0}, (), {}, 0, 49.0, 50.0),
    (cc.RISK_REWARD, {"target": 51.0}, (), {}, 0, 0.5, 1.5),
    (cc.MAX_UNITS, {"qty": 1001.0, "price": 1.0, "stop": 0.9, "target": 1.2}, (), {}, 0, 1001.0, 1000.0),
    (cc.MAX_NOTIONAL, {"qty": 600.0, "price": 100.0, "stop": 95.0, "target": 110.0}, (), {"equity": 1e6}, 0,
     60_000.0, 50_000.0),
    (cc.MAX_PCT_EQUITY, {}, (), {"equity": 40_000.0}, 0, 0.125, 0.10),
    (cc.MAX_GROSS_NOTIONAL, {}, ({"notional": 250_000.0, "sector": 1}, {"notional": -248_000.0, "sector": 2}),
     {"equity": 1e7}, -1, 503_000.0, 500_000.0),
    (cc.MAX_NET_NOTIONAL, {}, ({"notional": 248_000.0, "sector": 1},), {"equity": 1e7}, -1, 253_000.0, 250_000.0),
    (cc.MAX_LEVERAGE, {}, ({"notional": 198_000.0},), {}, -1, 2.03, 2.0),
    (cc.SECTOR_CONCENTRATION, {}, ({"notional": 27_000.0, "sector": 0},), {}, -1, 0.32, 0.30),
    (cc.BUYING_POWER, {}, (), {"buying_power": 4_999.0}, -1, 5_000.0, 4_999.0),
    (cc.DELTA_NOTIONAL, {**OPTION, "delta": 0.6}, ({"delta_notional": 40_100.0},), {}, -1, 100_100.0, 100_000.0),
    (cc.GAMMA, {**OPTION, "gamma": 0.9}, ({"gamma": 200.0},), {}, -1, 1100.0, 1000.0),
    (cc.VEGA, {**OPTION, "vega": 0.2}, ({"vega": 4900.0},), {}, -1, 5100.0, 5000.0),
    (cc.THETA, {**OPTION, "theta": -0.1}, ({"theta": -450.0},), {}, -1, -550.0, -500.0),
    (cc.PATTERN_DAY_TRADER, {"side": -1, "current_qty": 100.0, "opened_today": 1.0}, (),
     {"equity": 20_000.0, "day_trades_5d": 3}, -1, 4.0, 3.0),
    (cc.INVALID_PRICE, {"price": 0.0}, (), {}, 0, 0.0, 0.0),
    (cc.INVALID_QUANTITY, {"qty": 0.0}, (), {}, 0, 0.0, 0.0),
    (cc.NON_POSITIVE_EQUITY, {}, (), {"equity": 0.0}, -1, 0.0, 0.0),
    (cc.INVALID_SIDE, {"side": 2}, (), {}, 0, 2.0, NAN),
    (cc.INVALID_MULTIPLIER, {"multiplier": -100.0}, (), {}, 0, -100.0, 0.0),
    (cc.INVALID_HELD_POSITION, {}, ({"notional": NAN},), {}, -1, 0.0, NAN),
    (cc.INVALID_GREEKS, {**OPTION, "vega": NAN}, (), {}, 0, NAN, NAN),
]


@pytest.mark.parametrize(("code", "overrides", "held", "account", "index", "value", "limit"), VIOLATION_CASES,
                         ids=[cc.VIOLATION_NAMES[case[0]] for case in VIOLATION_CASES])
def test_each_violation_is_reported_alone(code: int, overrides: dict[str, Any], held: tuple[dict[str, float], ...],
                                          account: dict[str, float], index: int, value: float, limit: float) -> None:
    res = run(dec(**overrides), held=held, **account)
    assert not res.approved
    assert res.names() == (cc.VIOLATION_NAMES[code],)
    row = res.critical[0]
    assert row[c.R_INDEX] == index
    assert row[c.R_VALUE] == pytest.approx(value, nan_ok=True)
    assert row[c.R_LIMIT] == pytest.approx(limit, nan_ok=True)


def test_every_code_has_a_case_and_names() -> None:
    assert len(cc.VIOLATION_NAMES) == len(cc.CHECK_NAMES) == cc.N_CODES
    assert {case[0] for case in VIOLATION_CASES} | {cc.UNKNOWN_SECTOR} == set(range(cc.N_CODES))
    assert len(set(cc.VIOLATION_NAMES)) == len(set(cc.CHECK_NAMES)) == cc.N_CODES


def test_unknown_sector_is_a_warning_not_a_rejection() -> None:
    res = run(dec(sector=-1))
    assert res.approved
    assert res.names(res.violations) == ("UNKNOWN_SECTOR",)
    assert "sector concentration not checked" in res.messages()[0]


def test_near_a_limit_warns_but_approves() -> None:
    res = run(dec(qty=950.0, price=1.0, stop=0.9, target=1.2))  # 95% of 1,000 units
    assert res.approved
    assert res.names(res.violations) == ("MAX_UNITS",)
    assert res.messages() == ["decision 0: MAX_UNITS WARNING 950 units (limit 1,000)"]


def test_all_violations_of_a_decision_are_reported() -> None:
    res = run(dec(qty=2000.0, price=100.0, stop=NAN, target=110.0))
    # $200k on $100k equity: leverage exactly 2.0 is allowed (limits are inclusive)
    assert set(res.names()) == {"MISSING_STOP_LOSS", "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY",
                                "SECTOR_CONCENTRATION"}
    assert "decision 0: MAX_UNITS CRITICAL 2,000 units (limit 1,000)" in res.messages()


def test_records_carry_each_check_as_fields() -> None:
    res = run(dec(qty=2000.0, price=100.0, stop=NAN, target=110.0))
    by_code = {r.code: r for r in res.records()}
    units, stop = by_code[cc.MAX_UNITS], by_code[cc.STOP_LOSS_PRESENT]
    assert (units.index, units.violation, units.status, units.value, units.limit, units.unit) == (
        0, "MAX_UNITS", "CRITICAL", 2000.0, 1000.0, "units")
    assert (stop.violation, stop.value, stop.explanation) == ("MISSING_STOP_LOSS", None,
                                                              "every order needs a stop-loss level")
    assert by_code[cc.TAKE_PROFIT_PRESENT].status == "PASS" and by_code[cc.TAKE_PROFIT_PRESENT].explanation is None
    assert [r.finding() for r in res.records(res.violations)] == [m.split(": ", 1)[1] for m in res.messages()]


def test_risk_reducing_orders_pass_even_when_every_limit_is_already_breached() -> None:
    # long 5,000 @ 100 = $500k against $100k equity plus $1M elsewhere: units, notional, pct,
    # gross, net, leverage and sector are all breached already; buying power is gone
    sell = dec(side=-1, qty=1000.0, price=100.0, stop=95.0, target=110.0, current_qty=5000.0)
    cover = dec(side=1, qty=1000.0, price=100.0, stop=105.0, target=90.0, current_qty=-5000.0)
    big = ({"notional": 1_000_000.0, "sector": 0, "delta_notional": 500_000.0, "theta": -900.0},)
    assert run(sell, held=big, buying_power=0.0).approved
    assert run(cover, held=({"notional": -1_000_000.0},), buying_power=0.0).approved
    assert run(sell, equity=-50_000.0).approved  # a blown account can still de-risk
    assert set(run({**sell, "side": 1}, held=big).names()) >= {
        "MAX_UNITS", "MAX_NOTIONAL", "MAX_PCT_EQUITY", "MAX_GROSS_NOTIONAL", "MAX_LEVERAGE", "SECTOR_CONCENTRATION"}


def test_greek_limits_are_on_the_book_after_the_plan() -> None:
    short_calls = {**OPTION, "side": -1, "stop": 3.0, "target": 0.4, "delta": 0.5, "gamma": 0.02}
    # The book is long $120k delta (already over): selling calls brings it down to $70k -> allowed.
    hedge = run(dec(**short_calls), held=({"delta_notional": 120_000.0},))
    assert hedge.approved
    delta_row = hedge.rows[hedge.rows[:, c.R_CODE] == cc.DELTA_NOTIONAL]
    assert len(delta_row) == 0  # |delta| fell, so the limit does not apply
    # Buying the same calls adds $50k to the $60k held -> $110k: rejected on the post-plan figure.
    res = run(dec(**{**OPTION, "delta": 0.5}), held=({"delta_notional": 60_000.0},))
    assert res.names() == ("MAX_DELTA_NOTIONAL",) and res.critical[0][c.R_VALUE] == pytest.approx(110_000.0)


def test_put_levels_in_the_underlying_are_checked_in_the_underlying_direction() -> None:
    # A long put profits when the underlying falls: stop above, target below the underlying's 100.
    put = dec(**{**OPTION, "level_price": 100.0, "level_sign": -1.0, "stop": 104.0, "target": 92.0, "delta": -0.4})
    assert run(put).approved
    wrong = dec(**{**OPTION, "level_price": 100.0, "level_sign": -1.0, "stop": 96.0, "target": 108.0})
    assert run(wrong).names() == ("STOP_WRONG_SIDE", "TARGET_WRONG_SIDE")


def test_pattern_day_trader_rule_only_below_the_equity_floor() -> None:
    close_today = dec(side=-1, current_qty=100.0, opened_today=1.0)
    assert run(close_today, equity=20_000.0, day_trades_5d=2).approved  # the 3rd day trade is allowed
    assert run(close_today, equity=30_000.0, day_trades_5d=10).approved  # not a PDT-restricted account
    assert run({**close_today, "opened_today": 0.0}, equity=20_000.0, day_trades_5d=3).approved  # overnight


def test_flip_is_checked_as_an_entry_in_the_new_direction() -> None:
    # long 100, sell 300 -> short 200: the long-style stop below the price is now wrong
    res = run(dec(side=-1, qty=300.0, current_qty=100.0))
    assert res.names() == ("STOP_WRONG_SIDE", "TARGET_WRONG_SIDE")


def test_buying_power_counts_only_the_exposure_added() -> None:
    flip = dec(side=-1, qty=300.0, current_qty=100.0, stop=52.0, target=44.0)  # new short of 200 @ 50
    res = run(flip, buying_power=10_000.0)
    row = res.rows[res.rows[:, c.R_CODE] == cc.BUYING_POWER][0]
    assert row[c.R_VALUE] == 10_000.0 and res.approved


def test_held_positions_in_the_plan_count_towards_gross() -> None:
    hold = dec(side=0, qty=0.0, price=100.0, stop=NAN, target=NAN, current_qty=4000.0, sector=1)  # $400k
    res = run(hold, dec(), held=({"notional": 98_000.0, "sector": 2},), equity=1e7)
    assert res.names() == ("MAX_GROSS_NOTIONAL", "MAX_NET_NOTIONAL")
    assert res.critical[0][c.R_VALUE] == pytest.approx(503_000.0)


def test_nan_limit_fails_closed() -> None:
    lim = default_limits()
    lim[c.LIM_MAX_UNITS] = NAN
    assert run(dec(), limits=lim).names() == ("MAX_UNITS",)


def test_wrapper_rejects_misaligned_arrays() -> None:
    with pytest.raises(ValueError, match="1-D array of one length"):
        plan_rows([1], [1.0, 2.0], [50.0], [48.0], [54.0])
    with pytest.raises(ValueError, match="limits"):
        check_plan(plan_rows(1, 1.0, 50.0, 48.0, 54.0), equity=1e5, limits=[1.0, 2.0])
    with pytest.raises(ValueError, match="plan_rows"):
        check_plan(np.zeros((1, 3)), equity=1e5)
