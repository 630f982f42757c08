"""The candle cache on SQLite: stretches fetched once, and splits or dividends dropping what they made stale."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cream.adapters.candle_cache import CachedBar, CandleCache, CorporateAction, ny_midnight
from cream.storage import db

HOUR, DAY = 3600, 86400
START = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp())  # Monday
EX_DATE = date(2025, 6, 4)  # Wednesday
CUT = ny_midnight(EX_DATE)


def hourly(first: int, count: int, price: float = 100.0) -> list[CachedBar]:
    return [CachedBar(first + i * HOUR, first + (i + 1) * HOUR, price, price, price, price, 10.0, price, 1)
            for i in range(count)]


@pytest.fixture
def cache(tmp_path: Path) -> CandleCache:
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    db.migrate(url)
    cache = CandleCache(url)
    for symbol in ("MA", "COST"):  # five days of hourly bars, and the daily ones, each stretch recorded
        cache.store(symbol, "1h", hourly(START, 5 * 24), (START, START + 5 * DAY))
        cache.store(symbol, "1d", [CachedBar(START + d * DAY + 13 * HOUR, START + d * DAY + 20 * HOUR,
                                             1.0, 1.0, 1.0, 1.0, 1.0, None, None) for d in range(5)],
                    (START, START + 5 * DAY))
    return cache


def test_cached_stretches_are_never_missing_again(cache: CandleCache) -> None:
    assert cache.missing("MA", "1h", START - DAY, START + 6 * DAY) == [(START - DAY, START), (START + 5 * DAY, START + 6 * DAY)]
    cache.store("MA", "1h", hourly(START + 5 * DAY, 24), (START + 5 * DAY, START + 6 * DAY))
    assert cache.missing("MA", "1h", START, START + 6 * DAY) == []
    assert len(cache.read("MA", "1h", START, START + 6 * DAY)) == 6 * 24


def test_a_new_split_drops_every_bar_before_its_ex_date_and_nothing_else(cache: CandleCache) -> None:
    split = CorporateAction("split", EX_DATE, 4.0)
    dropped = cache.apply_corporate_actions("MA", [split], today=EX_DATE)
    assert dropped == (CUT - START) // HOUR + 2  # the hours before the cut, and two sessions
    for timeframe in ("1h", "1d"):
        assert len(cache.read("MA", timeframe, 0, CUT)) == 0
        assert cache.missing("MA", timeframe, START, START + 5 * DAY) == [(START, CUT)]
    assert int(cache.read("MA", "1h", 0, START + 5 * DAY).ts[0]) == CUT  # the bars from the ex-date on stay
    assert len(cache.read("COST", "1h", 0, START + 5 * DAY)) == 5 * 24  # another symbol is untouched
    assert cache.checked_on("MA") == EX_DATE and cache.checked_on("COST") is None


def test_an_event_already_seen_drops_nothing_again(cache: CandleCache) -> None:
    split = CorporateAction("split", EX_DATE, 4.0)
    cache.apply_corporate_actions("MA", [split], today=EX_DATE)
    cache.store("MA", "1h", hourly(START, 48, price=25.0), (START, START + 2 * DAY))  # fetched again, adjusted
    assert cache.apply_corporate_actions("MA", [split], today=date(2025, 6, 5)) == 0
    assert cache.read("MA", "1h", START, START + DAY).close.tolist() == [25.0] * 24
    assert cache.checked_on("MA") == date(2025, 6, 5)


def test_the_first_check_of_a_symbol_counts_every_listed_event_once(cache: CandleCache) -> None:
    # Bars cached before the symbol was ever checked: the latest event decides what is dropped.
    events = [CorporateAction("dividend", date(2025, 6, 3), 1.16), CorporateAction("dividend", date(2025, 3, 4), 1.16)]
    assert cache.apply_corporate_actions("COST", events, today=EX_DATE) > 0
    assert int(cache.read("COST", "1h", 0, START + 5 * DAY).ts[0]) == ny_midnight(date(2025, 6, 3))
    # An event Polygon lists late (ex-date before the last check) is new too: it drops the bars before it.
    cache.store("COST", "1h", hourly(START, 24), (START, START + DAY))
    late = CorporateAction("split", date(2025, 6, 2), 2.0)
    assert cache.apply_corporate_actions("COST", [*events, late], today=date(2025, 6, 5)) == 4  # 00:00-04:00 UTC
    assert cache.missing("COST", "1h", START, START + DAY) == [(START, ny_midnight(date(2025, 6, 2)))]
