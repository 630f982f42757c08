"""CycleTrigger: the JSON message that starts a cycle, published by other systems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cream.schemas.decisions import Environment
from cream.schemas.instruments import Equity
from cream.schemas.trigger import CycleTrigger


def trigger(**over: Any) -> CycleTrigger:
    body: dict[str, Any] = {"kind": "cream.cycle.trigger", "version": 1, "environment": "PAPER",
                            "scheduled_for": "2026-11-20T15:37:12.5Z", "symbols": ["AAPL", "MSFT"],
                            "source": "airflow"}
    return CycleTrigger.model_validate(body | over)


def test_documented_example_message_is_accepted() -> None:
    t = trigger(scheduled_for="2026-11-20T15:00:00Z", book="default")
    assert t.environment is Environment.PAPER
    assert t.scheduled_for == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert t.symbols == ["AAPL", "MSFT"]
    assert t.source == "airflow"


def test_scheduled_for_is_truncated_to_its_hour() -> None:
    assert trigger().scheduled_for == datetime(2026, 11, 20, 15, tzinfo=UTC)


def test_scheduled_for_is_converted_to_utc_before_truncation() -> None:
    # 10:59 in New York (UTC-5 in November) is 15:59 UTC -> hour 15 UTC.
    t = trigger(scheduled_for="2026-11-20T10:59:59-05:00")
    assert t.scheduled_for == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert t.scheduled_for.utcoffset() == timedelta(0)
    # A half-hour zone moves the instant into the previous UTC hour.
    ist = trigger(scheduled_for=datetime(2026, 11, 20, 21, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))))
    assert ist.scheduled_for == datetime(2026, 11, 20, 15, tzinfo=UTC)


def test_same_hour_in_any_spelling_gives_equal_triggers() -> None:
    a = trigger(scheduled_for="2026-11-20T15:01:00Z")
    b = trigger(scheduled_for="2026-11-20T16:59:00+01:00")
    assert a == b


def test_naive_time_is_rejected_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="needs a timezone"):
        trigger(scheduled_for="2026-11-20T15:00:00")


def test_symbols_are_normalised_and_deduplicated_in_order() -> None:
    t = trigger(symbols=[" msft", "aapl", "MSFT", "brk.b", "AAPL "])
    assert t.symbols == ["MSFT", "AAPL", "BRK.B"]


def test_symbols_may_be_omitted_for_the_whole_universe() -> None:
    body = {"environment": "BACKTEST", "scheduled_for": "2026-11-20T15:00:00Z"}
    t = CycleTrigger.model_validate(body)
    assert t.symbols is None and t.book == "default" and t.source == "unknown"


@pytest.mark.parametrize("bad", ["", "   ", "1ABC", "AAPL US", "AA-PL", "ABCDEFGHIJK", "$SPY"])
def test_bad_ticker_is_rejected_and_named(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a ticker"):
        trigger(symbols=["AAPL", bad])


def test_accepted_symbols_are_valid_equity_tickers() -> None:
    for s in trigger(symbols=["aapl", "brk.b", "x"]).symbols or []:
        assert Equity(symbol=s).symbol == s


@pytest.mark.parametrize("bad", ["ÄAPL", "AAPL²", "ÉTF"])
def test_non_ascii_ticker_is_rejected(bad: str) -> None:
    # Any ticker a trigger accepts must be one Equity accepts too.
    with pytest.raises(ValidationError, match="is not a ticker"):
        trigger(symbols=[bad])


def test_empty_or_oversized_symbol_list_is_rejected() -> None:
    with pytest.raises(ValidationError):
        trigger(symbols=[])
    with pytest.raises(ValidationError):
        trigger(symbols=[f"S{i}" for i in range(101)])


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="priority"):
        trigger(priority="high")


@pytest.mark.parametrize("over", [{"kind": "cream.order"}, {"version": 2}, {"environment": "SANDBOX"},
                                  {"book": "Main Book"}, {"book": "-x"}, {"source": ""}])
def test_wrong_kind_version_environment_or_book_is_rejected(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        trigger(**over)


def test_missing_environment_or_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match="environment"):
        CycleTrigger.model_validate({"scheduled_for": "2026-11-20T15:00:00Z"})
    with pytest.raises(ValidationError, match="scheduled_for"):
        CycleTrigger.model_validate({"environment": "PAPER"})


def test_trigger_survives_a_json_round_trip() -> None:
    t = trigger(book="swing_2")
    assert CycleTrigger.model_validate_json(t.model_dump_json()) == t
