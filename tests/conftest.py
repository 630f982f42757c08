"""Shared test configuration: no test reaches the network except loopback; sample data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's ~/.cream from tests."""
    os.environ.setdefault("CREAM_DATA_DIR", str(tmp_path_factory.mktemp("cream-home")))
