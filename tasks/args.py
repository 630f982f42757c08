"""The argument types of our tasks: every message is checked against its task's signature before it runs.

A message with the wrong arguments is refused with a one-line reason (never retried, never requeued);
it cannot fail or touch the cycle it names.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from cream.schemas.instruments import TICKER_PATTERN

CycleId = Annotated[str, StringConstraints(
    pattern=r"^(backtest|paper|live)-[a-z0-9][a-z0-9_-]{0,39}-[0-9]{8}T[0-9]{4}Z$", max_length=80)]
Ticker = Annotated[str, StringConstraints(pattern=TICKER_PATTERN)]
Iteration = Annotated[int, Field(ge=0, le=20)]
TriggerBody = Annotated[dict[str, Any], Field(max_length=20)]  # validated in full by CycleTrigger
ClientOrderId = Annotated[str, StringConstraints(pattern=r"^cream-[0-9a-f]{32}$")]
ChainLink = Annotated[int, Field(ge=1)]
