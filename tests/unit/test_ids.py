"""Deterministic identifiers: the cycle id is the hourly lock, the client_order_id the broker's idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cream.ids import child_order_id, client_order_id, cycle_id, decision_id
from cream.schemas.decisions import Environment

HOUR = datetime(2026, 11, 20, 15, tzinfo=UTC)
CYCLE = "paper-default-20261120T1500Z"


def test_cycle_id_names_environment_book_and_hour() -> None:
    assert cycle_id(Environment.PAPER, "default", HOUR) == CYCLE
    assert cycle_id(Environment.BACKTEST, "swing", HOUR) == "backtest-swing-20261120T1500Z"


def test_cycle_id_is_the_same_anywhere_inside_the_hour() -> None:
    ids = {cycle_id(Environment.PAPER, "default", HOUR + timedelta(minutes=m, seconds=s, microseconds=7))
           for m in (0, 1, 30, 59) for s in (0, 59)}
    assert ids == {CYCLE}


def test_cycle_id_is_the_same_for_one_instant_in_any_timezone() -> None:
    ny = HOUR.astimezone(timezone(timedelta(hours=-5)))
    tokyo = HOUR.astimezone(timezone(timedelta(hours=9)))
    assert cycle_id(Environment.PAPER, "default", ny) == cycle_id(Environment.PAPER, "default", tokyo) == CYCLE


def test_cycle_id_differs_by_environment_book_and_hour() -> None:
    base = cycle_id(Environment.PAPER, "default", HOUR)
    others = {
        cycle_id(Environment.LIVE, "default", HOUR),
        cycle_id(Environment.BACKTEST, "default", HOUR),
        cycle_id(Environment.PAPER, "swing", HOUR),
        cycle_id(Environment.PAPER, "default", HOUR + timedelta(hours=1)),
        cycle_id(Environment.PAPER, "default", HOUR - timedelta(seconds=1)),
        cycle_id(Environment.PAPER, "default", HOUR + timedelta(days=1)),
    }
    assert base not in others and len(others) == 6


def test_client_order_id_is_deterministic_and_broker_safe() -> None:
    a = client_order_id(CYCLE, "AAPL", "entry")
    assert a == client_order_id(CYCLE, "AAPL", "entry")
    assert a.startswith("cream-")
    # Alpaca caps client_order_id at 128 characters; keep it short and URL-safe.
    assert len(a) <= 48 and a.replace("-", "").isalnum()


@pytest.mark.parametrize("other", [
    (CYCLE, "AAPL", "stop_loss"),
    (CYCLE, "MSFT", "entry"),
    (CYCLE, "AAPL240802C00100000", "entry"),
    ("paper-default-20261120T1600Z", "AAPL", "entry"),
    ("live-default-20261120T1500Z", "AAPL", "entry"),
])
def test_client_order_id_differs_by_purpose_instrument_and_cycle(other: tuple[str, str, str]) -> None:
    assert client_order_id(*other) != client_order_id(CYCLE, "AAPL", "entry")


def test_client_order_id_parts_cannot_be_shifted_into_each_other() -> None:
    assert client_order_id("c", "AB", "entry") != client_order_id("cA", "B", "entry")
    assert client_order_id(CYCLE, "AAPL", "entry") != client_order_id(CYCLE, "AAPLentry", "")


def test_many_orders_in_one_cycle_get_distinct_ids() -> None:
    ids = {client_order_id(CYCLE, f"SYM{i}", purpose) for i in range(200) for purpose in ("entry", "exit", "close")}
    assert len(ids) == 600


def test_decision_id_is_deterministic_per_cycle_and_instrument() -> None:
    d = decision_id(CYCLE, "AAPL")
    assert d == decision_id(CYCLE, "AAPL") and d.startswith("dec-")
    assert d != decision_id(CYCLE, "MSFT")
    assert d != decision_id("paper-default-20261120T1600Z", "AAPL")


def test_child_order_ids_follow_from_the_parent_and_the_child_number() -> None:
    parent = client_order_id(CYCLE, "AAPL", "ENTRY")
    kids = [child_order_id(parent, n) for n in range(50)]
    assert kids == [child_order_id(parent, n) for n in range(50)] and len(set(kids)) == 50
    assert parent not in kids and child_order_id(client_order_id(CYCLE, "MSFT", "ENTRY"), 0) not in kids
    assert all(k.startswith("cream-") and len(k) <= 48 for k in kids)  # Alpaca takes up to 128 characters
