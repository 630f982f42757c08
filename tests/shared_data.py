"""The real market data in ``../shared/data`` beside the checkout (Polygon 5-minute bars, an option chain).

Tests that need it call ``require(path)``: without the data a test is skipped with the reason on a
developer's machine, and fails under CI (``CI`` set), where the data must be present - a missing
directory must never turn a red build green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POLYGON_5M = SHARED_DATA / "polygon-5m"
OPTION_CHAIN = SHARED_DATA / "option-chains-2024-07-31.csv.gz"


def require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is missing: the real market data must sit in ../shared/data beside the checkout"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
