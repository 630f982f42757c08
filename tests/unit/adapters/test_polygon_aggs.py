"""Polygon's aggregates as bars: 5-minute windows binned into the regular session exactly as LocalHistory bins them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cream.adapters.local_history import read_polygon_5m
from cream.adapters.polygon_aggs import FRAMES, parse_aggs, to_frame
from cream.adapters.polygon_http import MalformedResponse
from cream.adapters.resample import BarTable, to_daily, to_hourly
from cream.schemas.market import Timeframe
from tests.shared_data import POLYGON_5M, require

WEEK = (1732492800, 1733184000)  # 2024-11-25 to 2024-12-03 UTC: Thanksgiving and its early close


@pytest.fixture(scope="module")
def five_minutes() -> BarTable:
    table = read_polygon_5m(require(POLYGON_5M / "XLK.csv.gz"))
    return table.select((table.ts >= WEEK[0]) & (table.ts < WEEK[1]))


def as_aggs(table: BarTable) -> list[dict[str, Any]]:
    """The bars as Polygon's JSON has them (t in ms), newest first: order is Polygon's business."""
    return [{"t": int(t) * 1000, "o": o, "h": h, "l": lo, "c": c, "v": v, "vw": w, "n": int(n)}
            for t, _, o, h, lo, c, v, w, n in zip(*table)][::-1]


@pytest.mark.parametrize(("timeframe", "binned"), [(Timeframe.H1, to_hourly), (Timeframe.D1, to_daily)])
def test_hourly_and_daily_bars_are_local_histories_bins_of_the_same_five_minute_bars(
        five_minutes: BarTable, timeframe: Timeframe, binned: Any) -> None:
    frame = FRAMES[timeframe]
    assert (frame.multiplier, frame.timespan) == (5, "minute")  # not Polygon's clock hours or New York days
    got, want = to_frame(parse_aggs(as_aggs(five_minutes), frame, "test"), frame, "test"), binned(five_minutes)
    assert len(got) == len(want) > 0
    for name, a, b in zip(BarTable._fields, got, want):
        np.testing.assert_array_equal(a, b, err_msg=name)
    if timeframe is Timeframe.D1:  # Friday after Thanksgiving: 09:30 to 13:00 ET
        assert (1732890600, 1732903200) in set(zip(got.ts.tolist(), got.end.tolist()))


def test_minute_frames_are_polygons_windows_as_sent(five_minutes: BarTable) -> None:
    frame = FRAMES[Timeframe.M5]
    got = to_frame(parse_aggs(as_aggs(five_minutes), frame, "test"), frame, "test")
    assert got.ts.tolist() == five_minutes.ts.tolist()[::-1]  # extended hours kept, provider order kept
    assert np.all(got.end - got.ts == 300)


def test_a_broken_aggregate_is_a_malformed_response(five_minutes: BarTable) -> None:
    frame = FRAMES[Timeframe.H1]
    aggs = as_aggs(five_minutes)
    with pytest.raises(MalformedResponse, match=r"lacks a field.*nothing was stored"):
        parse_aggs([*aggs[:3], {k: v for k, v in aggs[3].items() if k != "c"}], frame, "1h bars XLK")
    # 15:55 UTC moved to 15:57 (mid-session): off the 5-minute grid, it would straddle the 16:00 bin boundary
    at_55 = next(a for a in aggs if a["t"] // 1000 % 3600 == 3300 and 15 <= a["t"] // 1000 % 86400 // 3600 < 18)
    off_grid = [dict(at_55, t=at_55["t"] + 120_000)]
    with pytest.raises(MalformedResponse, match="straddle"):
        to_frame(parse_aggs(off_grid, frame, "1h bars XLK"), frame, "1h bars XLK")
