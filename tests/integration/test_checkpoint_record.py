"""A checkpoint's first record wins on both databases: recording it again, in another transaction or in the
same one, writes nothing, says so (``wrote`` is what hands a cycle on), and returns the first record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cream.schemas.cycle import Joined, Phase
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.storage import db
from cream.storage.db import session_scope

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    found = (f"sqlite:///{tmp_path / 'record.sqlite'}" if request.param == "sqlite"
             else request.getfixturevalue("postgres_url"))
    db.migrate(found)
    return found


def test_the_first_record_of_a_checkpoint_wins(url: str) -> None:
    with session_scope(url) as s:
        row, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT,
                                                   book=f"r{uuid.uuid4().hex[:10]}"), ["ADBE"])
        cycle_id = row.id
    with session_scope(url) as s:
        first, wrote = cycles.record(s, cycle_id, Joined(outputs={"ADBE": "OK"}), phase=Phase.ANALYSTS)
    assert wrote
    with session_scope(url) as s:
        again, wrote = cycles.record(s, cycle_id, Joined(outputs={"ADBE": "ERROR"}), phase=Phase.ANALYSTS)
        assert (again, wrote) == (first, False)
        again, wrote = cycles.record(s, cycle_id, Joined(outputs={"ADBE": "ERROR"}), phase=Phase.ANALYSTS)
        assert (again, wrote) == (first, False)
    with session_scope(url) as s:  # a record and its repeat in one transaction
        first, wrote = cycles.record(s, cycle_id, Joined(outputs={"ADBE": "OK"}), phase=Phase.RESEARCH)
        again, wrote_again = cycles.record(s, cycle_id, Joined(outputs={}), phase=Phase.RESEARCH)
        assert wrote and (again, wrote_again) == (first, False)
    with session_scope(url, readonly=True) as s:
        cycles.running_view(s, cycle_id)
        assert cycles.require(s, cycle_id, Joined, phase=Phase.ANALYSTS).outputs == {"ADBE": "OK"}
