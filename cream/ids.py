"""Deterministic identifiers: every side effect is keyed on one of these, never on a Celery task id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cream.schemas.decisions import Environment


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def cycle_id(environment: Environment, book: str, scheduled_hour: datetime) -> str:
    """`paper-default-20261120T1500Z`: one cycle per environment, book and hour."""
    hour = scheduled_hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return f"{environment.value.lower()}-{book}-{hour:%Y%m%dT%H%MZ}"


def decision_id(cycle: str, instrument_id: str) -> str:
    return f"dec-{_digest(cycle, instrument_id)}"


def client_order_id(cycle: str, instrument_id: str, purpose: str) -> str:
    """The broker-side idempotency key: a redelivered execution task derives the same id."""
    return f"cream-{_digest(cycle, instrument_id, purpose, length=32)}"


def child_order_id(parent_id: str, child: int) -> str:
    """Child ``child`` (0, 1, ...) of a parent order worked by an execution tactic: every delivery of the
    task that sends it derives the same id, so the broker refuses a second copy."""
    return f"cream-{_digest(parent_id, 'child', str(child), length=32)}"
