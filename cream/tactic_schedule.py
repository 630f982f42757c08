"""Execution tactics as child-order schedules: one definition for every environment.

The simulated broker (BACKTEST) works a schedule against the bars that follow the cycle
(``engine.tactics.simulate_schedule``); PAPER and LIVE send the same children to the broker one by one
(``cream.services.child_orders``). Both take the schedule from ``child_schedule`` and these constants.

A tactic's children start over the next WORK_BARS hourly bars (TWAP and VWAP one per bar, ICEBERG
slices as the previous one fills); each child works for WORK_BARS bars from its start, all of them
together taking at most MAX_PARTICIPATION of a bar's volume (the simulator's assumption; a real broker
fills what it fills); what is left after that is canceled. PASSIVE_LIMIT is one limit child at the touch.
"""

from __future__ import annotations

import math

import numpy as np

from cream.schemas.decisions import ExecutionTactic
from engine import tactics

WORK_BARS = 3
MAX_PARTICIPATION = 0.10
ICEBERG_SLICES = 4
PROFILE_SESSIONS = 20  # VWAP volume profile: average volume per session hour over this many sessions
REFILL = tactics.REFILL  # a child's offset when it starts as its predecessor completes (ICEBERG)

Schedule = tuple[np.ndarray, np.ndarray, np.ndarray]  # bar offsets (int64), quantities, limits (NaN = market)


def profile_volume(volume: np.ndarray) -> np.ndarray:
    """The part of the past hourly volumes (oldest first) the VWAP profile averages: whole WORK_BARS
    groups, the newest last; empty when there are fewer bars than that."""
    if len(volume) < WORK_BARS:
        return np.zeros(0)
    return np.asarray(volume[-(len(volume) // WORK_BARS) * WORK_BARS:], dtype=np.float64)


def child_schedule(tactic: ExecutionTactic, quantity: int, limit: float, past_volume: np.ndarray) -> Schedule:
    """The children of ``quantity`` units worked by ``tactic``: (bar offset from the first bar, quantity,
    limit price). ``limit`` is NaN for market children; ``past_volume`` is ``profile_volume``'s (VWAP)."""
    qty = float(quantity)
    if tactic is ExecutionTactic.PASSIVE_LIMIT:
        return tactics.passive_limit_schedule_nb(qty, limit)
    if tactic is ExecutionTactic.TWAP:
        return tactics.twap_schedule_nb(qty, WORK_BARS, 1, limit, 1.0)
    if tactic is ExecutionTactic.VWAP:
        slots = np.arange(past_volume.shape[0], dtype=np.int64) % WORK_BARS
        profile = tactics.volume_profile_nb(np.ascontiguousarray(past_volume, dtype=np.float64), slots, WORK_BARS)
        return tactics.vwap_schedule_nb(qty, profile if profile.sum() > 0 else np.ones(WORK_BARS), limit, 1.0)
    return tactics.iceberg_schedule_nb(qty, float(math.ceil(qty / ICEBERG_SLICES)), limit)


def bars_needed(offsets: np.ndarray) -> int:
    """How many bars from the first one a schedule may work over (a refilled slice starts late)."""
    refills = int((offsets == REFILL).sum())
    last_start = int(offsets.max(initial=0)) + refills * WORK_BARS
    return last_start + WORK_BARS
