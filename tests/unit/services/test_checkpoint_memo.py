"""A worker keeps the checkpoints it has read (they never change once recorded), but never answers with one
from another database, or from an earlier cycle of the same id whose rows were deleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete

from cream.schemas.cycle import Joined, Phase
from cream.schemas.decisions import Environment
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles
from cream.storage import db
from cream.storage.db import session_scope
from cream.storage.models import Checkpoint, Cycle

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)


def _record(url: str, book: str, marker: str) -> str:
    """The cycle of ``book`` at AT, its analysts' checkpoint naming ``marker``."""
    with session_scope(url) as s:
        row, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT, book=book),
                                   ["ADBE"])
        cycles.record(s, row.id, Joined(outputs={"marker": marker}), phase=Phase.ANALYSTS)
        return row.id


def _marker(url: str, cycle_id: str) -> str:
    with session_scope(url, readonly=True) as s:
        cycles.running(s, cycle_id)  # the cycle first, as every phase reads it: then the memo is consulted
        found = cycles.require(s, cycle_id, Joined, phase=Phase.ANALYSTS)
        return found.outputs["marker"]


def _database(tmp_path: Path, name: str) -> str:
    url = f"sqlite:///{tmp_path / name}.sqlite"
    db.migrate(url)
    return url


def test_the_same_cycle_in_two_databases_reads_each_ones_checkpoint(tmp_path: Path) -> None:
    book = f"memo-{uuid.uuid4().hex[:8]}"
    first, second = _database(tmp_path, "first"), _database(tmp_path, "second")
    cycle_id = _record(first, book, "FIRST")
    assert _record(second, book, "SECOND") == cycle_id
    assert [_marker(first, cycle_id), _marker(second, cycle_id), _marker(first, cycle_id)] == [
        "FIRST", "SECOND", "FIRST"]


def test_a_cycle_opened_again_after_its_rows_were_deleted_reads_its_new_checkpoint(tmp_path: Path) -> None:
    url, book = _database(tmp_path, "again"), f"memo-{uuid.uuid4().hex[:8]}"
    cycle_id = _record(url, book, "OLD")
    assert _marker(url, cycle_id) == "OLD"
    with session_scope(url) as s:
        s.execute(delete(Checkpoint).where(Checkpoint.cycle_id == cycle_id))
        s.execute(delete(Cycle).where(Cycle.id == cycle_id))
    assert _record(url, book, "NEW") == cycle_id
    assert _marker(url, cycle_id) == "NEW"
