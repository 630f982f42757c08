"""A fresh BACKTEST book in the configured (test) database, migrated and seeded."""

from __future__ import annotations

import uuid

from cream.schemas.decisions import Environment
from cream.services import portfolio
from cream.services.runtime_config import seed_defaults
from cream.storage import db
from cream.storage.db import session_scope


def new_book(prefix: str, cash: float = 100_000.0) -> str:
    db.migrate()
    with session_scope() as s:
        seed_defaults(s)
    book = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with session_scope() as s:
        portfolio.ensure_book(s, book, Environment.BACKTEST, cash)
    return book
