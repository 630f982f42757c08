"""Property tests of the pre-trade check: limits are never silently exceeded, tightening never helps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import constraints as c
from engine.constraints import ConstraintCheck, check_plan, default_limits

KEYS = ("side", "qty", "price", "multiplier", "stop", "target", "is_entry", "current_qty")


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, Any]:
    side = draw(st.sampled_from([-1, 0, 1, 1]))
    qty = float(draw(st.integers(0, 1500)))
    current = float(draw(st.integers(-1500, 1500)))
    price = draw(st.floats(0.5, 500.0))
    post = current + side * qty
    direction = side if post == 0 else int(math.copysign(1, post))
    if draw(st.integers(0, 9)) == 0:
        direction = -direction  # brackets on the wrong side now and then
    risk = price * draw(st.floats(0.005, 0.2))
    stop = price - direction * risk
    target = price + direction * risk * draw(st.floats(0.5, 4.0))
    return {"side": side, "qty": qty, "price": price, "multiplier": draw(st.sampled_from([1.0, 100.0])),
            "stop": draw(st.sampled_from([stop] * 9 + [math.nan])), "target": target,
            "is_entry": draw(st.booleans()), "current_qty": current}


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    decs = draw(st.lists(decisions(), min_size=1, max_size=4))
    plan: dict[str, Any] = {k: [d[k] for d in decs] for k in KEYS}
    plan["other_notional"] = draw(st.lists(st.floats(-300_000.0, 300_000.0), max_size=3))
    plan["equity"] = draw(st.floats(-10_000.0, 5_000_000.0))
    scale = draw(st.lists(st.floats(0.2, 20.0), min_size=c.N_LIMITS, max_size=c.N_LIMITS))
    plan["limits"] = default_limits() * np.array(scale)
    return plan


def violations(res: ConstraintCheck) -> set[tuple[int, int]]:
    return set(zip(res.viol_index.tolist(), res.viol_code.tolist()))


@settings(max_examples=300, deadline=None)
@given(plans())
def test_approved_plan_never_grows_a_position_beyond_units_or_notional(plan: dict[str, Any]) -> None:
    res = check_plan(**plan)
    event("approved" if res.approved else "rejected")
    if not res.approved:
        return
    lim = plan["limits"]
    for side, qty, price, mult, cur in zip(plan["side"], plan["qty"], plan["price"], plan["multiplier"],
                                           plan["current_qty"]):
        post = cur + side * qty
        if abs(post) > abs(cur):
            assert abs(post) <= lim[c.LIM_MAX_UNITS]
            assert abs(post) * price * mult <= lim[c.LIM_MAX_NOTIONAL]


@settings(max_examples=300, deadline=None)
@given(plans(), st.integers(0, c.N_LIMITS - 1), st.floats(0.01, 0.99))
def test_tightening_one_limit_never_approves_a_rejected_plan(plan: dict[str, Any], which: int,
                                                              factor: float) -> None:
    before = check_plan(**plan)
    tight = plan["limits"].copy()
    # the reward/risk limit is a minimum: tightening raises it; every other limit is a maximum
    tight[which] = tight[which] / factor if which == c.LIM_MIN_RISK_REWARD else tight[which] * factor
    after = check_plan(**{**plan, "limits": tight})
    event("rejected before" if not before.approved else "approved before")
    assert violations(before) <= violations(after)
    if not before.approved:
        assert not after.approved
