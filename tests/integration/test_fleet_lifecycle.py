"""The fleet's life as users run it, as real `cream` processes: one `cream fleet` per data dir, SIGTERM
and SIGHUP stopping everything, concurrent commands sharing one embedded Redis, a killed Redis coming
back with its data, private files, and a configured broker used whatever its workers are called.

The tests on the running `cream fleet` share one (module fixture, started once) and run in file order;
the last one stops it with SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from cream import embedded_redis
from cream.config import Settings
from cream.fleet import FleetError, LocalFleet, queues_up

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HOUR = "2025-09-24T15:00:00Z"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREAM_")}
    return {**env, "CREAM_DATA_DIR": str(data_dir), **extra}


def cream(data_dir: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cream.cli", *args], env=_env(data_dir, **extra), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo += children.get(p, [])
    return found


def alive(pids: set[int]) -> set[int]:
    def running(p: int) -> bool:
        try:
            with open(f"/proc/{p}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    return {p for p in pids if running(p)}


def wait_for(probe, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.2)
    return value


def assert_private(data_dir: Path) -> None:
    wrong = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in [data_dir, *data_dir.rglob("*")]
             if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)}
    assert wrong == {}, "every file is 0600 and every directory 0700"


@dataclass
class RunningFleet:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return embedded_redis.url_file(self.data_dir).read_text().strip()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFleet]:
    """`cream fleet --no-beat` on a fresh data dir, its output in files."""
    data_dir = tmp_path_factory.mktemp("fleet")
    out, err = data_dir.parent / "fleet.out", data_dir.parent / "fleet.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "cream.cli", "fleet", "--no-beat"], env=_env(data_dir),
                                cwd=ROOT, stdout=o, stderr=e)
    running = RunningFleet(proc, data_dir, out, err)
    try:
        wait_for(lambda: "fleet up" in out.read_text() or proc.poll() is not None, 240, "cream fleet to start")
        assert proc.poll() is None, err.read_text()
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_the_fleet_banner_hides_the_password_and_redis_refuses_clients_without_it(fleet: RunningFleet) -> None:
    secret = (fleet.data_dir / "redis" / "password").read_text()
    banner = fleet.out.read_text()
    assert f"broker redis://:***@127.0.0.1:{urlsplit(fleet.url).port}/0" in banner and secret not in banner
    with socket.create_connection(("127.0.0.1", urlsplit(fleet.url).port), timeout=2) as s:
        s.sendall(b"LRANGE cycles 0 -1\r\n")
        assert s.recv(100).startswith(b"-NOAUTH")
    with pytest.raises(redis.ResponseError, match="unknown command `CONFIG`"):
        redis.Redis.from_url(fleet.url).execute_command("CONFIG", "GET", "*")


def test_a_second_fleet_on_the_data_dir_is_refused_naming_the_first(fleet: RunningFleet) -> None:
    second = cream(fleet.data_dir, "fleet", "--no-beat", timeout=60)
    assert second.returncode == 2
    assert second.stderr == (f"cream: a fleet is already running on {fleet.data_dir} (pid {fleet.proc.pid}): "
                             f"stop it first, or start this one with another CREAM_DATA_DIR\n")


def test_a_cycle_uses_the_running_fleet_instead_of_starting_one(fleet: RunningFleet) -> None:
    out = cream(fleet.data_dir, "cycle", "--at", HOUR, "--json", "--symbols", "XLK")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] in ("EXECUTED", "NO_TRADE")
    assert "starting the local fleet" not in out.stderr


def test_a_killed_redis_comes_back_with_its_data_and_the_workers_reconnect(fleet: RunningFleet) -> None:
    client = redis.Redis.from_url(fleet.url)
    client.set("written-before-the-kill", "kept")
    old = embedded_redis.server_pid(fleet.data_dir)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := embedded_redis.server_pid(fleet.data_dir)) != old and p, 30, "Redis to restart")
    assert client.get("written-before-the-kill") == b"kept"  # same port, password and AOF
    wait_for(lambda: queues_up(fleet.url) >= {"cycles", "agents", "data", "execution"}, 60, "workers to reconnect")
    assert f"restarted it on the same port, password and AOF (pid {new})" in fleet.err.read_text()
    for queue in ("cycles", "agents", "data", "execution"):
        log = (fleet.data_dir / "logs" / f"{queue}.log").read_text()
        assert "Connection to broker lost" in log and log.rindex("Connected to redis://:**@") > log.index("lost")


def test_nothing_in_the_logs_carries_the_password(fleet: RunningFleet) -> None:
    secret = (fleet.data_dir / "redis" / "password").read_text()
    logs = [*(fleet.data_dir / "logs").glob("*.log"), fleet.data_dir / "redis" / "redis.log"]
    assert len(logs) >= 6
    assert [p.name for p in logs if secret in p.read_text(errors="replace")] == []
    assert secret not in fleet.out.read_text() + fleet.err.read_text()
    command_lines = [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive(descendants(fleet.proc.pid))]
    assert len(command_lines) >= 6 and not any(secret.encode() in c for c in command_lines)  # `ps` shows it to all


def test_sigterm_stops_the_fleet_its_workers_and_redis(fleet: RunningFleet) -> None:
    processes = descendants(fleet.proc.pid)
    redis_pid = embedded_redis.server_pid(fleet.data_dir)
    assert redis_pid in processes and len(processes) >= 8  # cream, redis, 4 workers, prefork children
    fleet.proc.send_signal(signal.SIGTERM)
    assert fleet.proc.wait(60) == 143
    assert alive(processes) == set(), "no orphan worker, pool child or redis-server"
    assert embedded_redis.server_processes(fleet.data_dir) == []
    assert not embedded_redis.url_file(fleet.data_dir).exists()
    assert "stopped by SIGTERM" in fleet.err.read_text()


@pytest.mark.parametrize("command, sig", [(("cycle", "--at", HOUR), signal.SIGTERM),
                                          (("backtest", "--symbols", "XLK", "--start", "2025-09-22", "--end",
                                            "2025-09-23"), signal.SIGHUP)], ids=["cycle-SIGTERM", "backtest-SIGHUP"])
def test_a_signal_to_a_command_stops_its_private_fleet(tmp_path: Path, command: tuple[str, ...],
                                                       sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cream.cli", *command], env=_env(tmp_path), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once the workers exist (they are still starting or the command is running).
    processes = wait_for(lambda: len(descendants(proc.pid)) >= 6, 120, "the workers") and descendants(proc.pid)
    time.sleep(1)
    processes |= descendants(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert alive(processes) == set()
    assert embedded_redis.server_processes(tmp_path) == []


def test_a_worker_that_refuses_to_start_stops_the_start_with_its_reason(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The database was never migrated: the first worker to check says so, and nothing is left running."""
    for name in [k for k in os.environ if k.startswith("CREAM_")]:  # the workers get this process's environment
        monkeypatch.delenv(name)
    with pytest.raises(FleetError) as raised, LocalFleet(Settings(data_dir=tmp_path), progress=False):
        pass
    assert re.fullmatch(r"(cycles|agents|data|execution) worker refused to start: database: database schema is at "
                        r"nothing, code expects \w+: run `cream db upgrade`", str(raised.value)), raised.value
    assert embedded_redis.server_processes(tmp_path) == []


def test_a_command_killed_by_sigkill_leaves_no_worker_and_its_redis_goes_with_the_next_command(
        tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cream.cli", "cycle", "--at", HOUR], env=_env(tmp_path), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(descendants(proc.pid)) >= 6, 120, "the workers")
    processes, redis_pid = descendants(proc.pid), embedded_redis.server_pid(tmp_path)
    proc.kill()  # no clean-up at all
    proc.wait()
    wait_for(lambda: alive(processes) == {redis_pid}, 30, "the workers to end with the command that started them")
    again = cream(tmp_path, "cycle", "--at", HOUR, "--json")  # adopts the Redis the killed command left
    assert again.returncode == 0, again.stderr
    assert embedded_redis.server_processes(tmp_path) == []


@pytest.fixture(scope="module")
def concurrent_cycles(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[subprocess.CompletedProcess[str]]]]:
    """Three trials of two `cream cycle` started at once on a fresh data dir."""
    trials = []
    for trial in range(3):
        data_dir = tmp_path_factory.mktemp(f"concurrent{trial}")  # fresh: both migrate it at once, too
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: cream(data_dir, "cycle", "--at", HOUR, "--json", "--symbols", "MA"),  # noqa: B023 - used up in this iteration
                                 range(2)))
        trials.append((data_dir, runs))
    return trials


def test_two_cycles_at_once_on_a_fresh_data_dir_both_succeed_and_leave_no_redis(
        concurrent_cycles: list[tuple[Path, list[subprocess.CompletedProcess[str]]]]) -> None:
    for data_dir, runs in concurrent_cycles:
        assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
        reports = [json.loads(r.stdout) for r in runs]
        assert reports[0]["cycle_id"] == reports[1]["cycle_id"]
        assert embedded_redis.server_processes(data_dir) == [], "no orphan redis-server"
        assert not embedded_redis.url_file(data_dir).exists()


def test_every_file_under_the_data_dir_is_private_after_cycles(
        concurrent_cycles: list[tuple[Path, list[subprocess.CompletedProcess[str]]]]) -> None:
    for data_dir, _ in concurrent_cycles:
        assert {"cream.db", "logs", "redis"} <= {p.name for p in data_dir.iterdir()}
        assert_private(data_dir)
        secret = (data_dir / "redis" / "password").read_text()
        assert [p.name for p in data_dir.rglob("*.log") if secret in p.read_text(errors="replace")] == []


def test_a_configured_broker_is_used_whatever_its_workers_are_called(tmp_path: Path, redis_url: str) -> None:
    """Workers named as in docker-compose.yml (`cycles@host`, …): used, never a private fleet beside them."""
    broker = redis_url.rsplit("/", 1)[0] + "/5"
    env = {"CREAM_BROKER_URL": broker}
    assert cream(tmp_path, "db", "upgrade", **env).returncode == 0
    logs = {name: tmp_path.parent / f"{tmp_path.name}-{name.split('@')[0]}.log"
            for name in ("cycles@%h", "agents@%h")}  # outside the data dir, which must get no logs of its own
    workers = []
    for name, queues, pool in (("cycles@%h", "cycles,data,execution", "prefork"), ("agents@%h", "agents", "threads")):
        with open(logs[name], "wb") as log:
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues, "-n", name, "--pool",
                 pool, "--concurrency", "4", "--without-gossip", "--without-mingle"],
                env=_env(tmp_path, **env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def up() -> bool:
        assert all(w.poll() is None for w in workers), "a worker exited"
        return queues_up(broker) >= {"cycles", "agents", "data", "execution"}

    try:
        try:
            wait_for(up, 240, "compose workers")
        except AssertionError as exc:  # say why, from the workers' own logs
            raise AssertionError(f"{exc}; " + " | ".join(
                f"{n}: {p.read_text(errors='replace')[-2000:]}" for n, p in logs.items())) from None
        out = cream(tmp_path, "cycle", "--at", HOUR, "--json", "--symbols", "COST", **env)
        assert out.returncode == 0, out.stderr
        assert "starting the local fleet" not in out.stderr and not (tmp_path / "logs").exists()
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait(60)
    out = cream(tmp_path, "cycle", "--at", HOUR, **env)
    assert out.returncode == 2
    assert out.stderr == (f"cream: no worker consumes queue(s) cycles, agents, data, execution on {broker}: start the "
                          f"fleet (docker compose up / cream fleet) first\n")
    assert not (tmp_path / "logs").exists() and not (tmp_path / "redis").exists()
