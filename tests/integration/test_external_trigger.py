"""Another system starts a cycle by publishing plain JSON to the `cycles` queue with kombu (no Cream
import needed); malformed or invalid messages never start a cycle and the reason is logged."""

from __future__ import annotations

import pickle

from kombu import Connection, Exchange
from sqlalchemy import func, select

from cream.storage.db import session_scope
from cream.storage.models import Cycle
from tests.integration.helpers import wait_for

GOOD = {"kind": "cream.cycle.trigger", "version": 1, "environment": "BACKTEST",
        "scheduled_for": "2025-09-19T18:30:00Z", "book": "external", "symbols": ["MA", "XLK"], "source": "airflow"}


def _publish(url: str, body: object, content_type: str = "application/json", raw: bool = False) -> None:
    with Connection(url) as conn:
        producer = conn.Producer()
        if raw:
            producer.publish(body, exchange=Exchange("cycles", type="direct"), routing_key="cycles",
                             content_type=content_type, content_encoding="binary")
        else:
            producer.publish(body, exchange=Exchange("cycles", type="direct"), routing_key="cycles",
                             serializer="json")


def _cycles_of(book: str) -> list[str]:
    with session_scope() as s:
        return list(s.scalars(select(Cycle.id).where(Cycle.book == book)))


def test_plain_kombu_trigger_starts_the_cycle_once(fleet) -> None:
    url = fleet.env["CREAM_BROKER_URL"]
    _publish(url, GOOD)
    _publish(url, {**GOOD, "scheduled_for": "2025-09-19T18:05:00+00:00"})  # same hour, another message
    (cycle_id,) = wait_for(lambda: _cycles_of("external"), what="the triggered cycle")
    assert cycle_id == "backtest-external-20250919T1800Z"
    fleet.runner.wait(cycle_id, timeout=120)
    wait_for(lambda: fleet.log("cycles").count("already triggered") >= 1, what="the duplicate to be seen")
    assert _cycles_of("external") == [cycle_id]
    with session_scope() as s:
        assert s.get(Cycle, cycle_id).symbols == ["MA", "XLK"]


def test_invalid_trigger_messages_are_rejected_with_a_logged_reason(fleet) -> None:
    url = fleet.env["CREAM_BROKER_URL"]
    bad = [
        ({k: v for k, v in GOOD.items() if k != "scheduled_for"} | {"book": "bad-missing"}, "scheduled_for"),
        (GOOD | {"book": "bad-naive", "scheduled_for": "2025-09-19T18:00:00"}, "needs a timezone"),
        (GOOD | {"book": "bad-ticker", "symbols": ["$$$"]}, "not a ticker"),
        (GOOD | {"book": "bad-extra", "quantity": 10_000}, "Extra inputs are not permitted"),
        (GOOD | {"book": "bad-live", "environment": "LIVE"}, "this fleet runs BACKTEST"),
        (GOOD | {"book": "bad-symbol", "symbols": ["ZZZZ"]}, "unknown symbol(s) ZZZZ"),
        ([GOOD], "expected a JSON object"),
    ]
    for body, _ in bad:
        _publish(url, body)
    _publish(url, b"{not json", raw=True)
    _publish(url, pickle.dumps(GOOD | {"book": "bad-pickle"}), content_type="application/x-python-serialize",
             raw=True)
    _publish(url, GOOD | {"book": "sentinel", "scheduled_for": "2025-09-18T14:00:00Z"})
    # The queue is FIFO with one consumer: once the sentinel's cycle exists, every message before it was seen.
    (sentinel,) = wait_for(lambda: _cycles_of("sentinel"), what="the sentinel cycle")
    fleet.runner.wait(sentinel, timeout=120)
    log = fleet.log("cycles")
    for _, reason in bad:
        assert reason in log, f"no logged rejection mentioning {reason!r}"
    assert "body is not valid JSON" in log and "ContentDisallowed" in log  # pickle is refused, never run
    with session_scope() as s:
        books = set(s.scalars(select(Cycle.book).where(Cycle.book.like("bad-%"))))
        assert books == set(), f"invalid triggers started cycles: {books}"
        assert s.scalar(select(func.count()).select_from(Cycle).where(Cycle.book == "sentinel")) == 1
