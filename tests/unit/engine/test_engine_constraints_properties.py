"""Property tests of the pre-trade check: an approved plan, once executed, breaches no limit it could
have breached; tightening any limit never approves more."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import constraints as c
from engine.constraints import default_limits
from engine.risk_check import ConstraintCheck, check_plan, held_rows, plan_rows

GREEKS = ("delta", "gamma", "vega", "theta")


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, Any]:
    side = draw(st.sampled_from([-1, 0, 1, 1]))
    qty = float(draw(st.integers(1, 1500)))
    current = float(draw(st.integers(-1500, 1500)))
    option = draw(st.booleans())
    price = draw(st.floats(0.5, 50.0)) if option else draw(st.floats(0.5, 500.0))
    post = current + side * qty
    direction = side if post == 0 else int(math.copysign(1, post))
    if draw(st.integers(0, 9)) == 0:
        direction = -direction  # brackets on the wrong side now and then
    risk = price * draw(st.floats(0.005, 0.2))
    greek = st.floats(-1.0, 1.0) if option else st.just(0.0)
    return {"side": side, "qty": qty, "price": price, "multiplier": 100.0 if option else 1.0,
            "stop": draw(st.sampled_from([price - direction * risk] * 9 + [math.nan])),
            "target": price + direction * risk * draw(st.floats(0.5, 4.0)), "current_qty": current,
            "sector": float(draw(st.integers(-1, 3))), "opened_today": float(draw(st.booleans())),
            "underlying": price * 20 if option else price,
            **{g: draw(greek) for g in GREEKS}}


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    decs = draw(st.lists(decisions(), min_size=1, max_size=5))
    held = draw(st.lists(st.tuples(st.floats(-300_000.0, 300_000.0), st.integers(-1, 3),
                                   st.floats(-50_000, 50_000), st.floats(-500, 500), st.floats(-3000, 3000),
                                   st.floats(-400, 100)), max_size=3))
    scale = np.array(draw(st.lists(st.floats(0.2, 20.0), min_size=c.N_LIMITS, max_size=c.N_LIMITS)))
    limits = default_limits() * scale
    limits[c.LIM_WARN_FRACTION] = 0.9
    return {"decisions": decs, "held": held, "equity": draw(st.floats(-10_000.0, 5_000_000.0)),
            "buying_power": draw(st.floats(0.0, 2_000_000.0)), "day_trades_5d": draw(st.integers(0, 5)),
            "limits": limits}


def check(p: dict[str, Any], limits: np.ndarray | None = None) -> ConstraintCheck:
    cols = {k: [d[k] for d in p["decisions"]] for k in p["decisions"][0]}
    h = None
    if p["held"]:
        n, sec, dn, g, v, t = (list(x) for x in zip(*p["held"]))
        h = held_rows(n, sector=sec, delta_notional=dn, gamma=g, vega=v, theta=t)
    return check_plan(plan_rows(**cols), h, equity=p["equity"], buying_power=p["buying_power"],
                      day_trades_5d=p["day_trades_5d"], limits=p["limits"] if limits is None else limits)


def execute(p: dict[str, Any]) -> dict[str, Any]:
    """The book before and after filling every order of the plan (an independent recomputation)."""
    book: dict[str, Any] = {k: [0.0, 0.0] for k in ("gross", "net", *GREEKS)}
    sectors: dict[int, list[float]] = {}
    added = 0.0
    for notional, sector, *greeks in p["held"]:
        for when in (0, 1):
            book["gross"][when] += abs(notional)
            book["net"][when] += notional
            for g, value in zip(GREEKS, greeks):
                book[g][when] += value
            if sector >= 0:
                sectors.setdefault(sector, [0.0, 0.0])[when] += abs(notional)
    for d in p["decisions"]:
        post = d["current_qty"] + d["side"] * d["qty"]
        flips = post * d["current_qty"] < 0
        if abs(post) > abs(d["current_qty"]) or flips:
            added += (abs(post) - (0 if flips else abs(d["current_qty"]))) * d["price"] * d["multiplier"]
        for when, q in ((0, d["current_qty"]), (1, post)):
            value = q * d["price"] * d["multiplier"]
            book["gross"][when] += abs(value)
            book["net"][when] += value
            book["delta"][when] += q * d["multiplier"] * d["delta"] * d["underlying"]
            for g in GREEKS[1:]:
                book[g][when] += q * d["multiplier"] * d[g]
            if d["sector"] >= 0:
                sectors.setdefault(int(d["sector"]), [0.0, 0.0])[when] += abs(value)
    return {"book": book, "sectors": sectors, "added": added}


@settings(max_examples=400, deadline=None)
@given(plans())
def test_an_approved_plan_once_executed_breaches_no_limit(p: dict[str, Any]) -> None:
    res = check(p)
    event("approved" if res.approved else "rejected")
    if not res.approved:
        return
    lim, eq = p["limits"], p["equity"]
    for d in p["decisions"]:
        post = d["current_qty"] + d["side"] * d["qty"]
        if d["side"] != 0 and abs(post) > abs(d["current_qty"]):
            assert abs(post) <= lim[c.LIM_MAX_UNITS]
            assert abs(post) * d["price"] * d["multiplier"] <= lim[c.LIM_MAX_NOTIONAL] * (1 + 1e-12)
            assert abs(post) * d["price"] * d["multiplier"] <= lim[c.LIM_MAX_PCT_EQUITY] * eq * (1 + 1e-12)
    after = execute(p)
    book, tol = after["book"], 1e-9
    if book["gross"][1] > book["gross"][0]:
        assert book["gross"][1] <= lim[c.LIM_MAX_GROSS] * (1 + tol)
        assert book["gross"][1] <= lim[c.LIM_MAX_LEVERAGE] * eq * (1 + tol)
    if abs(book["net"][1]) > abs(book["net"][0]):
        assert abs(book["net"][1]) <= lim[c.LIM_MAX_NET] * (1 + tol)
    for g, slot in (("delta", c.LIM_MAX_DELTA_NOTIONAL), ("gamma", c.LIM_MAX_GAMMA), ("vega", c.LIM_MAX_VEGA)):
        if abs(book[g][1]) > abs(book[g][0]):
            assert abs(book[g][1]) <= lim[slot] * (1 + tol) + tol
    if book["theta"][1] < book["theta"][0]:
        assert book["theta"][1] >= lim[c.LIM_MIN_THETA] * (1 + tol) - tol
    for pre, post in after["sectors"].values():
        if post > pre:
            assert post <= lim[c.LIM_MAX_SECTOR_PCT] * eq * (1 + tol)
    assert after["added"] <= p["buying_power"] * (1 + tol) + tol


@settings(max_examples=400, deadline=None)
@given(plans(), st.integers(0, c.N_LIMITS - 2), st.floats(0.01, 0.99))
def test_tightening_one_limit_never_approves_more(p: dict[str, Any], which: int, factor: float) -> None:
    before = check(p)
    tight = p["limits"].copy()
    # minimums (reward/risk, the PDT equity floor) rise when tightened; theta's floor (negative) rises
    # towards zero; every other limit is a maximum and falls.
    if which in (c.LIM_MIN_RISK_REWARD, c.LIM_PDT_MIN_EQUITY):
        tight[which] = tight[which] / factor
    else:
        tight[which] = tight[which] * factor
    after = check(p, tight)
    event("rejected before" if not before.approved else "approved before")
    if not before.approved:
        assert not after.approved
    assert set(before.names()) <= set(after.names())
