"""Shared test configuration: no test reaches the network except loopback; sample data paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Never touch the user's ~/.cream from tests. Set before any test module is imported: importing the
# Celery app reads (and caches) the settings.
os.environ.setdefault("CREAM_DATA_DIR", tempfile.mkdtemp(prefix="cream-home-"))
