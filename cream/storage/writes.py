"""Idempotent writes: the first writer of a deterministic key wins, later writers read its row."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cream.storage.db import sole_writer
from cream.storage.models import Base

RowT = TypeVar("RowT", bound=Base)


def insert_once(session: Session, row: RowT, key: object) -> tuple[RowT, bool]:
    """Insert ``row`` unless a row with primary key ``key`` exists; return (row in db, inserted)."""
    existing = session.get(type(row), key)
    if existing is not None:
        return existing, False
    if sole_writer(session):  # nobody else can insert it meanwhile: no savepoint needed
        session.add(row)
        return row, True
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent writer (a redelivered task, a duplicate trigger) got there first.
        existing = session.get(type(row), key)
        if existing is None:
            raise
        return existing, False
    return row, True
