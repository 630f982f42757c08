"""Shared fixture: real ADBE 5-minute bars for the engine tests."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from tests.shared_data import POLYGON_5M, require

ADBE_PATH = POLYGON_5M / "ADBE.csv.gz"
N_ROWS = 3000


@pytest.fixture(scope="session")
def adbe() -> dict[str, np.ndarray]:
    """First 3000 bars of ADBE as float64 arrays keyed open/high/low/close/volume."""
    cols: dict[str, list[float]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    with gzip.open(require(ADBE_PATH), "rt", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i == N_ROWS:
                break
            for k, v in cols.items():
                v.append(float(row[k]))
    assert len(cols["close"]) == N_ROWS
    return {k: np.array(v, dtype=np.float64) for k, v in cols.items()}
