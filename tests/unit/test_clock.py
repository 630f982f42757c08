"""The fleet's clock: the wall clock unless a test sets one for every process through a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cream import clock
from cream.errors import ConfigurationError


def test_without_a_clock_file_it_is_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.VARIABLE, raising=False)
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC) and not clock.is_set()


def test_a_set_clock_stands_still_until_it_is_moved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.VARIABLE, str(path))
    clock.set_time(path, datetime(2025, 9, 24, 11, 0, 30, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2025, 9, 24, 11, 0, 30, tzinfo=UTC)
    clock.set_time(path, datetime(2025, 9, 24, 12, tzinfo=UTC) - timedelta(hours=4))  # any offset is UTC here
    assert clock.now() == datetime(2025, 9, 24, 8, tzinfo=UTC) and clock.now().tzinfo is UTC
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("text", ["", "tomorrow", "2025-09-24T11:00:00"])
def test_a_clock_file_without_a_time_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              text: str) -> None:
    path = tmp_path / "clock"
    path.write_text(text)
    monkeypatch.setenv(clock.VARIABLE, str(path))
    with pytest.raises(ConfigurationError, match="CREAM_CLOCK_FILE"):
        clock.now()


def test_live_refuses_a_set_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(clock.VARIABLE, str(tmp_path / "clock"))
    clock.require_wall_clock("PAPER")
    with pytest.raises(ConfigurationError, match="LIVE runs on the wall clock"):
        clock.require_wall_clock("LIVE")
    monkeypatch.delenv(clock.VARIABLE)
    clock.require_wall_clock("LIVE")
