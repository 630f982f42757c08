"""The local fleet's own rules, without starting workers: refusals read from a worker's log, one
`cream fleet` per data dir, signals that unwind, and a configured broker with no workers on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cream import embedded_redis
from cream.config import Settings
from cream.fleet import REFUSAL_EXIT_CODE, FleetError, LocalFleet, refusal_reason
from cream.fleet_commands import fleet_for_command, fleet_lock, running_fleet
from cream.processes import Interrupted, exit_code, stop_on_signals

SCHEMA = "database schema is at nothing, code expects 0005: run `cream db upgrade`"


@pytest.mark.parametrize("log, reason", [
    (f"cream worker refused to start: {SCHEMA}\n", SCHEMA),
    (("celery banner\n[2025-09-25 10:00:00,000: INFO/MainProcess] warming\n"
      "cream worker refused to start: LIVE refused: no ACTIVE LIVE trading_config\n"),
     "LIVE refused: no ACTIVE LIVE trading_config"),
    ("cream worker refused to start: first\nother\ncream worker refused to start: second  \n", "second"),
    ("cream worker refused to start:\n", "no reason given"),
    ("Traceback (most recent call last):\nImportError: boom\n", None),
    ("", None),
])
def test_the_refusal_reason_is_read_from_the_worker_log(log: str, reason: str | None) -> None:
    assert refusal_reason(log) == reason


def _fleet_with(tmp_path: Path, name: str, script: str) -> LocalFleet:
    """A fleet whose `name` process is a real process running ``script``, its output in the fleet's log."""
    fleet = LocalFleet(Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:1/0"), progress=False)
    fleet.logs.mkdir(parents=True, exist_ok=True)
    fd = fleet.open_log(name)
    fleet.procs[name] = subprocess.Popen([sys.executable, "-c", script], stdout=fd, stderr=subprocess.STDOUT)
    os.close(fd)
    fleet.procs[name].wait(30)
    return fleet


def test_a_worker_that_refuses_to_start_is_reported_in_one_line_with_its_reason(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "execution.log").write_text("cream worker refused to start: an older run's reason\n")
    script = (f"import sys; print('celery starting'); sys.stderr.write('cream worker refused to start: {SCHEMA}\\n');"
              f" sys.exit({REFUSAL_EXIT_CODE})")
    fleet = _fleet_with(tmp_path, "execution", script.replace("`", ""))
    with pytest.raises(FleetError) as raised:
        fleet.wait_ready(timeout=30)
    assert str(raised.value) == f"execution worker refused to start: {SCHEMA.replace('`', '')}"


def test_a_worker_that_dies_without_a_reason_points_to_its_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "data.log").write_text("cream worker refused to start: an older run's reason\n")
    fleet = _fleet_with(tmp_path, "data", "import sys; print('ImportError: boom'); sys.exit(1)")
    with pytest.raises(FleetError, match=r"^data worker exited with code 1 before it was ready: see .*data\.log$"):
        fleet.wait_ready(timeout=30)


def test_one_fleet_per_data_dir_and_the_second_is_told_the_pid_of_the_first(tmp_path: Path) -> None:
    assert running_fleet(tmp_path) is None
    with fleet_lock(tmp_path):
        assert running_fleet(tmp_path) == (os.getpid(), "embedded")
        with pytest.raises(FleetError) as raised, fleet_lock(tmp_path):
            pass
        assert str(raised.value) == (f"a fleet is already running on {tmp_path} (pid {os.getpid()}): stop it first, "
                                     f"or start this one with another CREAM_DATA_DIR")
    assert running_fleet(tmp_path) is None
    assert oct((tmp_path / "fleet.lock").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_unwinds_once_and_later_ones_do_not_cut_the_clean_up_short(sig: signal.Signals, code: int) -> None:
    before = signal.getsignal(sig)
    cleaned = False
    with pytest.raises(Interrupted) as raised, stop_on_signals():
        try:
            os.kill(os.getpid(), sig)
            raise AssertionError("the signal did not interrupt")
        finally:
            os.kill(os.getpid(), sig)  # a second one while cleaning up: ignored
            cleaned = True
    assert cleaned and exit_code(raised.value) == code
    assert signal.getsignal(sig) == before


def test_a_configured_broker_without_workers_is_an_error_and_starts_nothing(tmp_path: Path) -> None:
    with embedded_redis.shared(tmp_path / "elsewhere") as lease:
        settings = Settings(data_dir=tmp_path / "data", broker_url=lease.url)
        with pytest.raises(FleetError) as raised, fleet_for_command(settings):
            pass
    port = lease.url.rsplit(":", 1)[1]
    assert str(raised.value) == (f"no worker consumes queue(s) cycles, agents, data, execution on "
                                 f"redis://:***@127.0.0.1:{port}: start the fleet (docker compose up / cream fleet) "
                                 f"first")
    assert not (tmp_path / "data").exists(), "no private fleet, no embedded Redis, no logs"


def test_a_command_without_the_broker_url_of_the_running_fleet_is_told_to_set_it(tmp_path: Path) -> None:
    with fleet_lock(tmp_path, "configured"), pytest.raises(FleetError) as raised, \
            fleet_for_command(Settings(data_dir=tmp_path, broker_url=None)):
        pass
    assert str(raised.value) == (f"the fleet on {tmp_path} (pid {os.getpid()}) uses the broker of its CREAM_BROKER_URL: "
                                 f"set the same CREAM_BROKER_URL for this command")
    assert not (tmp_path / "redis").exists(), "no embedded Redis started beside it"
