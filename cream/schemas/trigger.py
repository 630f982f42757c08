"""The JSON message another system publishes to the `cycles` queue to start a cycle.

Publish it with plain kombu (no import of Cream needed), content type ``application/json``::

    {"kind": "cream.cycle.trigger", "version": 1, "environment": "PAPER",
     "scheduled_for": "2026-11-20T15:00:00Z", "book": "default",
     "symbols": ["AAPL", "MSFT"], "source": "airflow"}

``scheduled_for`` is truncated to its hour: the cycle id is derived from environment, book and hour,
so the same hour triggered twice runs once. A message that does not validate never starts a cycle;
the worker logs why and drops it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import Field, ValidationError, field_validator

from cream.schemas.decisions import Environment
from cream.schemas.instruments import TICKER_PATTERN, Frozen

TRIGGER_KIND: Final = "cream.cycle.trigger"
TICKER = re.compile(TICKER_PATTERN)


class CycleTrigger(Frozen):
    kind: Literal["cream.cycle.trigger"] = TRIGGER_KIND
    version: Literal[1] = 1
    environment: Environment
    scheduled_for: datetime = Field(description="Any time inside the hour to run; timezone required.")
    book: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    symbols: list[str] | None = Field(default=None, min_length=1, max_length=100)
    source: str = Field(default="unknown", min_length=1, max_length=100)

    @field_validator("scheduled_for")
    @classmethod
    def _to_hour(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("scheduled_for needs a timezone (e.g. 2026-11-20T15:00:00Z)")
        return v.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    @field_validator("symbols")
    @classmethod
    def _tickers(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        out: list[str] = []
        for raw in v:
            s = raw.strip().upper()
            if not TICKER.fullmatch(s):
                raise ValueError(f"{s!r} is not a ticker")
            if s not in out:
                out.append(s)
        return out


def parse_trigger(body: Any) -> CycleTrigger:
    """The trigger in ``body``, or ValueError saying, in one line, what is wrong with it."""
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    try:
        return CycleTrigger.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    except Exception as exc:  # noqa: BLE001 - e.g. OverflowError from a date that cannot be moved to UTC
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
