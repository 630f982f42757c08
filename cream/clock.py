"""The fleet's clock: the one "now" of trading time in every process.

Which cycle hour is current (triggers, beat), what a PAPER or LIVE cycle may act on, and — in tests —
where the broker stand-in's session is, all read ``now()``. In production it is the wall clock. A test
sets one time for the whole fleet (the CLI, every worker, beat and the broker stand-in) by pointing
``CREAM_CLOCK_FILE`` at a file that holds an ISO-8601 time; ``now()`` reads it on every call, so
rewriting the file (``set_time``) moves every process at once. The set clock stands still until it is
moved: a test decides exactly which hour it is.

LIVE refuses a set clock (``require_wall_clock``): a made-up hour must never send a real order.
Durations — timeouts, retries, stall detection — stay on the wall clock: they measure how long a
process has waited, not which hour the market is in.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from cream.errors import ConfigurationError

VARIABLE = "CREAM_CLOCK_FILE"


def now() -> datetime:
    """The fleet's current time (UTC, tz-aware)."""
    path = _clock_file()
    return datetime.now(UTC) if path is None else read_time(path)


def is_set() -> bool:
    """Whether this process reads a set clock rather than the wall clock."""
    return _clock_file() is not None


def read_time(path: Path) -> datetime:
    """The time written in ``path``; ConfigurationError naming the file when it holds none."""
    try:
        text = path.read_text().strip()
        at = datetime.fromisoformat(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{VARIABLE}={path} holds no ISO-8601 time ({type(exc).__name__}: {exc})") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigurationError(f"{VARIABLE}={path} holds a time without a UTC offset: {text}")
    return at.astimezone(UTC)


def set_time(path: Path, at: datetime) -> None:
    """Move the clock in ``path`` to ``at`` for every process reading it (atomically: a reader sees the
    old time or the new one, never half a file)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"the clock needs a tz-aware time, got {at!r}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(at.astimezone(UTC).isoformat())
    os.replace(tmp, path)


def require_wall_clock(environment_name: str) -> None:
    """LIVE trades on the wall clock only."""
    if environment_name == "LIVE" and _clock_file() is not None:
        raise ConfigurationError(f"LIVE runs on the wall clock: unset {VARIABLE} (it sets a test clock)")


def _clock_file() -> Path | None:
    # Read from the environment directly, not Settings: the broker stand-in and the beat schedule ask
    # too, and a test moves the clock without rebuilding anybody's settings.
    value = os.environ.get(VARIABLE, "").strip()
    return Path(value) if value else None
