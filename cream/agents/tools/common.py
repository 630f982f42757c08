"""What every tool shares: the error a tool answers with, JSON-safe numbers, the cycle's symbols."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cream.agents.port import AgentContext
from cream.schemas.market import FeatureSnapshot

SIGNIFICANT_DIGITS = 7  # enough for cents on six-figure prices and for small Greeks alike


class ToolError(Exception):
    """A tool cannot answer; the message (one sentence) goes back to the model as {"error": ...}."""


def num(value: float | Decimal | None, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """A float rounded to ``digits`` significant digits; None for missing or non-finite values."""
    if value is None:
        return None
    x = float(value)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def snapshot_of(ctx: AgentContext, symbol: str) -> FeatureSnapshot:
    """The cycle's snapshot of ``symbol``, or a ToolError naming the symbols the cycle has."""
    snap = ctx.snapshots.get(symbol)
    if snap is None:
        have = ", ".join(sorted(ctx.snapshots)) or "none"
        raise ToolError(f"{symbol!r} is not in this cycle (symbols: {have}).")
    return snap


def capped(items: list[Any], cap: int) -> tuple[list[Any], int]:
    """The first ``cap`` items and how many were left off."""
    return items[:cap], max(0, len(items) - cap)
