"""One act per book at a time, with two execution workers (as on two hosts sharing Redis and the database):
cycles of one book triggered at once never act on it together, and every order reaches the broker once."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from cream.fleet import POOLS, consumers
from cream.schemas.cycle import Acted, RiskChecked
from cream.services.cycles import get_cycle, load
from cream.storage.db import session_scope
from cream.storage.models import Checkpoint, DecisionRow, OrderRow
from tests.integration.helpers import trigger, wait_for

BOOK = "onebook"
# Past session hours of one book and the symbols each cycle trades. On the bundled sample, from a flat
# book, the rule agents short ADBE at the first, short COST at the second, and buy XLK at every other
# (and MA beside it at the third): each XLK buy fits the 10% of equity limit alone; whether a second one
# fits after the first depends on which hour's price it is checked at, so the test checks what each risk
# check counted rather than how many buys went through.
CYCLES = [(datetime(2025, 9, 2, 14, tzinfo=UTC), ["ADBE"]), (datetime(2025, 9, 25, 16, tzinfo=UTC), ["COST"]),
          (datetime(2025, 9, 5, 14, tzinfo=UTC), ["MA", "XLK"]),
          *((datetime(2025, 9, d, h, tzinfo=UTC), ["XLK"]) for d, h in [(24, 14), (24, 16), (24, 18), (25, 14),
                                                                          (25, 18)])]
SUBMIT_S = 1.0  # the simulated broker takes this long over each order: acts overlap unless serialised


@pytest.fixture()
def second_execution_worker(fleet) -> Iterator[str]:
    """Another execution worker beside the fleet's, consuming the same queue."""
    name, node = "execution-second", f"execution-second-{os.getpid()}@%h"
    proc = fleet.local._spawn(name, ["worker", "-Q", "execution", "-n", node, "--pool", POOLS["execution"][0],
                                     "--concurrency", str(POOLS["execution"][1]), "--loglevel", "INFO",
                                     "--without-gossip", "--without-mingle", "--include", "tests.integration.faults"])
    node = fleet.local.nodes[name]
    try:
        wait_for(lambda: "execution" in consumers(fleet.runner.app, 1.0, [node]).get(node, ()), timeout=120,
                 what="the second execution worker")
        yield name
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        for table in (fleet.local.nodes, fleet.local.commands):
            table.pop(name, None)


@pytest.fixture()
def slow_broker(fleet) -> Iterator[None]:
    (fleet.data_dir / "slow-submit.orders").unlink(missing_ok=True)
    (fleet.data_dir / "slow-submit").write_text(str(SUBMIT_S))
    yield
    (fleet.data_dir / "slow-submit").unlink(missing_ok=True)


def _held(cycle_ids: list[str]) -> list[dict]:
    """Each act's record: when it asked for the book's lock, held it, ran its risk check; its orders."""
    out = []
    with session_scope(readonly=True) as s:
        for cid in cycle_ids:
            done = load(s, cid, Acted)
            cycle = get_cycle(s, cid)
            assert done is not None, f"cycle {cid} never acted: {cycle.status} {cycle.reason}"
            risk = s.get(Checkpoint, f"{cid}:risk_check:0")
            units = [c["value"] for c in (RiskChecked.model_validate(risk.data).checks if risk else [])
                     if c["check"] == "MAX_UNITS" and c["instrument_id"] == "XLK"]
            asked = s.scalars(select(DecisionRow.size_value).where(DecisionRow.cycle_id == cid,
                                                                   DecisionRow.instrument_id == "XLK")).first()
            bought = sum(o.filled_quantity for o in s.scalars(select(OrderRow).where(
                OrderRow.cycle_id == cid, OrderRow.instrument_id == "XLK", OrderRow.side == "BUY")))
            out.append({"cycle": cid, "orders": done.orders, "risk_at": risk.created_at if risk else None,
                        "xlk_units": units[0] if units else None, "xlk_asked": asked, "xlk_bought": bought,
                        **{k: datetime.fromisoformat(v) for k, v in done.book_lock.items()}})
    return sorted(out, key=lambda a: a["held_from"])


def test_two_execution_workers_never_act_on_one_book_at_once(fleet, second_execution_worker, slow_broker) -> None:
    before = {name: _acts_run(fleet, name) for name in ("execution", second_execution_worker)}
    started = time.monotonic()
    cycle_ids = [fleet.runner.start(trigger(BOOK, hour, symbols))["cycle_id"] for hour, symbols in CYCLES]
    for cid in cycle_ids:
        assert fleet.runner.wait(cid, timeout=300).value in ("EXECUTED", "NO_TRADE")
    acts = _held(cycle_ids)
    print(f"\n{len(acts)} cycles in {time.monotonic() - started:.1f}s; acts (asked, held from, until, orders):")
    for a in acts:
        print(f"  {a['asked_at']:%H:%M:%S.%f} {a['held_from']:%H:%M:%S.%f} {a['held_until']:%H:%M:%S.%f} "
              f"{len(a['orders'])}")

    overlaps = [(a["cycle"], b["cycle"]) for a, b in itertools.pairwise(acts) if b["held_from"] < a["held_until"]]
    assert not overlaps, f"two acts held book {BOOK} at once: {overlaps}"
    for a in acts:  # the risk re-check ran inside the hold, after every earlier act had sent its orders
        assert a["risk_at"] is None or a["held_from"] <= a["risk_at"] <= a["held_until"], a
    trading = [a for a in acts if a["orders"]]
    assert len(trading) >= 3, "the ADBE, COST and an XLK order should all have been sent"
    contended = [b["cycle"] for a, b in itertools.pairwise(acts) if b["asked_at"] < a["held_until"]]
    assert contended, "no act ever waited for another: the two workers never acted at the same time"

    with session_scope(readonly=True) as s:
        orders = list(s.scalars(select(OrderRow).where(OrderRow.cycle_id.in_(cycle_ids))))
    sent = Counter(line.split()[1] for line in (fleet.data_dir / "slow-submit.orders").read_text().splitlines())
    assert sorted(sent) == sorted(o.id for o in orders), "every intent sent, and nothing else"
    assert set(sent.values()) == {1}, f"orders sent twice: {[k for k, n in sent.items() if n > 1]}"
    assert all(o.status != "PENDING" for o in orders)
    assert {o.id for o in orders} == {oid for a in acts for oid in a["orders"]}
    assert {o.instrument_id for o in orders} >= {"ADBE", "COST", "XLK"}
    # Each XLK risk check counted every share the acts before it bought (MAX_UNITS = held + asked), so
    # together they stayed inside the limit at each act's own prices; without the lock they saw a flat book.
    held, checked = 0, 0
    for a in acts:
        if a["xlk_units"] is not None:
            assert a["xlk_units"] == held + a["xlk_asked"], f"{a['cycle']}'s risk check missed XLK bought before it"
            checked += 1
        held += a["xlk_bought"]
    assert checked >= 5 and held > 0, "the XLK cycles should all have been checked, and one of them bought"
    ran = {name: _acts_run(fleet, name) - before[name] for name in before}
    assert all(ran.values()), f"both execution workers must take acts: {ran}"


def _acts_run(fleet, name: str) -> int:
    return len(re.findall(r"Task execution\.act\[[0-9a-f-]+\] succeeded", fleet.log(name)))
