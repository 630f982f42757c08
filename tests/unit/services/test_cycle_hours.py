"""Which hour a cycle may run: BACKTEST any past session hour within the data, PAPER and LIVE the current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cream.adapters.local_history import LocalHistory
from cream.errors import InvalidTrigger
from cream.schemas.decisions import Environment
from cream.services.cycle_hours import current_cycle_hour, require_cycle_hour
from cream.timeouts import TRIGGER_EARLY, TRIGGER_GRACE

HOUR = datetime(2025, 9, 24, 15, tzinfo=UTC)  # Wednesday 11:00 New York


@pytest.fixture(scope="module")
def market() -> LocalHistory:
    return LocalHistory()


@pytest.mark.parametrize("env", [Environment.PAPER, Environment.LIVE])
@pytest.mark.parametrize("now", [HOUR - TRIGGER_EARLY, HOUR, HOUR + timedelta(minutes=1), HOUR + TRIGGER_GRACE])
def test_paper_and_live_run_the_current_hour(market: LocalHistory, env: Environment, now: datetime) -> None:
    assert current_cycle_hour(now) == HOUR
    require_cycle_hour(env, HOUR, market, now=now)


@pytest.mark.parametrize("now, word", [
    (HOUR + TRIGGER_GRACE + timedelta(seconds=1), "past"),  # stale: its grace is over
    (HOUR + timedelta(hours=1, minutes=1), "past"),  # the next hour is current
    (HOUR - TRIGGER_EARLY - timedelta(seconds=1), "future"),
    (HOUR - timedelta(days=365 * 5), "future"),
])
def test_paper_refuses_any_other_hour_with_its_reason(market: LocalHistory, now: datetime, word: str) -> None:
    with pytest.raises(InvalidTrigger, match=f"is a {word} hour: PAPER runs only the current cycle hour") as err:
        require_cycle_hour(Environment.PAPER, HOUR, market, now=now)
    assert f"it is {now:%Y-%m-%dT%H:%M:%SZ}" in str(err.value)


def test_between_cycle_hours_no_hour_is_current() -> None:
    assert current_cycle_hour(datetime(2025, 9, 24, 22, tzinfo=UTC)) is None  # 18:00 New York
    assert current_cycle_hour(datetime(2025, 9, 27, 15, tzinfo=UTC)) is None  # a Saturday
    assert current_cycle_hour(HOUR + TRIGGER_GRACE + timedelta(seconds=1)) is None


def test_backtest_runs_any_past_session_hour_within_the_data_whatever_the_clock(market: LocalHistory) -> None:
    past = datetime(2025, 9, 23, 17, tzinfo=UTC)
    require_cycle_hour(Environment.BACKTEST, past, market, now=past + timedelta(days=800))
    with pytest.raises(InvalidTrigger, match="outside the market data"):
        require_cycle_hour(Environment.BACKTEST, datetime(2035, 9, 24, 15, tzinfo=UTC), market)


@pytest.mark.parametrize("env", list(Environment))
def test_no_environment_runs_outside_the_session(market: LocalHistory, env: Environment) -> None:
    saturday = datetime(2025, 9, 27, 15, tzinfo=UTC)
    with pytest.raises(InvalidTrigger, match="not a cycle hour"):
        require_cycle_hour(env, saturday, market, now=saturday)


def test_cream_cycle_in_paper_without_at_runs_the_current_hour(market: LocalHistory, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path) -> None:
    from cream import clock
    from cream.cli_checks import cycle_hour
    from cream.errors import InvalidRequest

    path = tmp_path / "clock"
    monkeypatch.setenv(clock.VARIABLE, str(path))
    clock.set_time(path, HOUR + timedelta(minutes=7))
    assert cycle_hour(None, None, Environment.PAPER, market) == HOUR
    clock.set_time(path, datetime(2025, 9, 24, 22, tzinfo=UTC))  # 18:00 New York
    with pytest.raises(InvalidRequest, match=r"no cycle hour is current .* the next is 2025-09-25T14:00Z"):
        cycle_hour(None, None, Environment.PAPER, market)
    with pytest.raises(InvalidTrigger, match="is a past hour"):
        cycle_hour(None, HOUR, Environment.PAPER, market)
