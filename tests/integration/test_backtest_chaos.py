"""kill -9 during `cream backtest` (the real command, its private fleet, its embedded Redis): of a whole
worker, of the embedded Redis, and of the execution worker after the broker answered an order but before
the answer was written down. Each time the backtest finishes with the result of an undisturbed run:
the same equity curve, the same orders and fills, nothing left RUNNING. Recovery times are printed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ARGS = ("backtest", "--symbols", "ADBE,COST,MA,XLK", "--start", "2025-09-22", "--end", "2025-09-25", "--json")
# The workers of the command load the test's fault hooks (tests/integration/faults.py) through this.
SITECUSTOMIZE = "import tests.integration.faults  # noqa: F401  (fault hooks for the chaos tests)\n"


class Backtest:
    """`cream backtest` running in the background on its own data dir."""

    def __init__(self, data_dir: Path, hooks: Path) -> None:
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREAM_")}
        env.update(CREAM_DATA_DIR=str(data_dir), CREAM_VISIBILITY_TIMEOUT="10", CREAM_RESTORE_INTERVAL="1",
                   PYTHONPATH=os.pathsep.join([str(hooks), str(ROOT)]))
        self.proc = subprocess.Popen([sys.executable, "-m", "cream.cli", *ARGS], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, timeout: float = 300) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err[-3000:]
        return {"metrics": json.loads(out), "stderr": err, "book": self.result()}

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.data_dir / 'cream.db'}?mode=ro", uri=True, timeout=30)

    def ended(self) -> int:
        """Cycles of the backtest that have ended."""
        if not (self.data_dir / "cream.db").exists():
            return 0
        with self.db() as db:
            try:
                return db.execute("select count(*) from cycles where status != 'RUNNING'").fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    def result(self) -> dict[str, Any]:
        """Everything a user would compare: per hour, the cycle's outcome, the equity and every order."""
        with self.db() as db:
            rows = db.execute("""select strftime('%Y-%m-%dT%H', c.scheduled_for), c.status, c.reason, p.equity
                                 from cycles c join portfolio_snapshots p on p.cycle_id = c.id
                                 order by c.scheduled_for""").fetchall()
            orders = db.execute("""select strftime('%Y-%m-%dT%H', c.scheduled_for), o.instrument_id, o.side,
                                   o.quantity, o.purpose, o.status, o.filled_quantity, o.avg_fill_price, o.fees
                                   from orders o join cycles c on c.id = o.cycle_id
                                   order by c.scheduled_for, o.instrument_id, o.purpose""").fetchall()
            fills = db.execute("select count(*), sum(quantity) from fills").fetchone()
        return {"cycles": rows, "orders": orders, "fills": fills}

    def pids(self, name: str) -> list[int]:
        """Pids recorded by a fault hook (``<name>.pids`` in the data dir)."""
        path = self.data_dir / f"{name}.pids"
        return [int(line.split()[0]) for line in path.read_text().splitlines()] if path.exists() else []

    def worker_group(self, queue: str) -> int:
        """The process group of the command's worker for ``queue`` (its pool children included)."""
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"celery" in b" ".join(cmd) and b"-Q" in cmd and cmd[cmd.index(b"-Q") + 1] == queue.encode() \
                    and _env_of(int(entry)).get("CREAM_DATA_DIR") == str(self.data_dir):
                return os.getpgid(int(entry))
        raise AssertionError(f"no {queue} worker of {self.data_dir}")


def _env_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("hooks")
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return where


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory: pytest.TempPathFactory, hooks: Path) -> dict[str, Any]:
    run = Backtest(tmp_path_factory.mktemp("bt-undisturbed"), hooks).finish()
    assert run["book"]["orders"], "the window must trade, or the execution kill proves nothing"
    return run


def _same(run: dict[str, Any], undisturbed: dict[str, Any]) -> None:
    left = {k: v for k, v in run["metrics"].items() if k != "backtest_id"}
    right = {k: v for k, v in undisturbed["metrics"].items() if k != "backtest_id"}
    assert left == right
    assert run["book"] == undisturbed["book"]
    assert all(status in ("EXECUTED", "NO_TRADE") for _, status, _, _ in run["book"]["cycles"])


def _chaos(tmp_path: Path, hooks: Path, arm: Callable[[Backtest], None], strike: Callable[[Backtest], None],
           what: str) -> dict[str, Any]:
    """Start the backtest, arm a fault once a few cycles have ended, strike, and time the recovery."""
    bt = Backtest(tmp_path, hooks)
    wait_for(lambda: bt.ended() >= 3, timeout=240, what="three cycles")
    arm(bt)
    struck_at = strike(bt)
    before = bt.ended()  # every cycle but the one struck (the backtest runs one at a time)
    wait_for(lambda: bt.ended() > before, timeout=180, what="the struck cycle to end")
    recovery = time.monotonic() - struck_at
    run = bt.finish()
    print(f"\n{what}: recovered in {recovery:.1f}s (visibility timeout 10s)")
    run["recovery_s"] = recovery
    return run


def _pause_then_kill_worker(queue: str, task: str) -> tuple[Callable[[Backtest], None], Callable[[Backtest], float]]:
    def arm(bt: Backtest) -> None:
        (bt.data_dir / "slow-task").write_text(task)

    def strike(bt: Backtest) -> float:
        wait_for(lambda: bt.pids("slow-task"), timeout=60, what=f"{task} to pause")
        os.killpg(bt.worker_group(queue), signal.SIGKILL)
        struck = time.monotonic()
        (bt.data_dir / "slow-task").unlink()
        return struck

    return arm, strike


def test_kill_9_of_a_whole_worker_during_a_backtest(tmp_path: Path, hooks: Path, undisturbed: dict) -> None:
    run = _chaos(tmp_path, hooks, *_pause_then_kill_worker("data", "data.orient"), what="whole data worker")
    _same(run, undisturbed)
    assert "started it again" in run["stderr"]


def test_kill_9_of_the_embedded_redis_during_a_backtest(tmp_path: Path, hooks: Path, undisturbed: dict) -> None:
    def arm(bt: Backtest) -> None:
        (bt.data_dir / "slow-task").write_text("data.orient")  # a task in flight, its message unacked

    def strike(bt: Backtest) -> float:
        wait_for(lambda: bt.pids("slow-task"), timeout=60, what="orient to pause")
        os.kill(int((bt.data_dir / "redis" / "pid").read_text()), signal.SIGKILL)
        struck = time.monotonic()
        (bt.data_dir / "slow-task").unlink()
        return struck

    run = _chaos(tmp_path, hooks, arm, strike, what="embedded Redis")
    _same(run, undisturbed)
    assert "restarted it on the same port, password and AOF" in run["stderr"]


def test_kill_9_of_the_execution_worker_between_the_broker_and_the_database(tmp_path: Path, hooks: Path,
                                                                            undisturbed: dict) -> None:
    def arm(bt: Backtest) -> None:
        (bt.data_dir / "pause-after-submit").write_text("")

    def strike(bt: Backtest) -> float:
        wait_for(lambda: bt.pids("pause-after-submit"), timeout=120, what="an order answered by the broker")
        os.killpg(bt.worker_group("execution"), signal.SIGKILL)
        struck = time.monotonic()
        (bt.data_dir / "pause-after-submit").unlink()
        return struck

    run = _chaos(tmp_path, hooks, arm, strike, what="execution worker after the broker call")
    _same(run, undisturbed)
