"""The local fleet: embedded Redis (unless a broker URL is configured), one Celery worker per queue,
optionally beat. Used by `cream fleet` in the foreground and by `cream cycle` / `cream backtest`,
which reuse a running fleet or start a private one for the duration of the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from cream import embedded_redis
from cream.config import Settings
from cream.errors import CreamError

QUEUES = ("cycles", "agents", "data", "execution")
# (pool, concurrency) per queue. Agent calls spend their time waiting on the model, so the agents
# queue runs threads: a 20-symbol cycle's 60 analyst calls are all in flight at once. Everything
# else is CPU or database work in processes; execution stays one at a time.
POOLS = {"cycles": ("prefork", 1), "agents": ("threads", 64), "data": ("prefork", 1), "execution": ("prefork", 1)}


class FleetError(CreamError):
    """The fleet could not start: the message says which part and where its log is."""


def queues_up(broker_url: str, timeout: float = 1.0) -> set[str]:
    """Queues that have a worker answering a ping (workers are named `{queue}-…@host`)."""
    from workers.app import make_app

    app = make_app()
    app.conf.broker_url = app.conf.result_backend = broker_url
    try:
        return {next(iter(r)).split("-", 1)[0] for r in (app.control.ping(timeout=timeout) or [])}
    finally:
        app.close()


class LocalFleet:
    def __init__(self, settings: Settings, beat: bool = False, queues: tuple[str, ...] = QUEUES,
                 worker_args: tuple[str, ...] = ()) -> None:
        self.settings, self.beat, self.queues, self.worker_args = settings, beat, queues, worker_args
        self.logs = settings.data_dir / "logs"
        self.redis: subprocess.Popen[bytes] | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.broker_url = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(CREAM_BROKER_URL=self.broker_url, CREAM_DATA_DIR=str(self.settings.data_dir),
                   CREAM_ENV=self.settings.env.value)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def __enter__(self) -> LocalFleet:
        self.logs.mkdir(parents=True, exist_ok=True)
        url = self.settings.broker_url or embedded_redis.running_url(self.settings.data_dir)
        if url is None:
            url, self.redis = embedded_redis.start(self.settings.data_dir)
        self.broker_url = url
        try:
            for q in self.queues:
                self.procs[q] = self._spawn(q, ["worker", "-Q", q, "-n", f"{q}-{os.getpid()}@%h",
                                                "--pool", POOLS[q][0], "--concurrency", str(POOLS[q][1]),
                                                "--loglevel", self.settings.log_level, "--without-gossip",
                                                "--without-mingle", *self.worker_args])
            if self.beat:
                self.procs["beat"] = self._spawn("beat", ["beat", "--loglevel", self.settings.log_level,
                                                          "-s", str(self.settings.data_dir / "beat-schedule")])
            self.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", *args], env=self.env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until a worker of every queue answers a ping."""
        deadline, missing = time.monotonic() + timeout, set(self.queues)
        while missing:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise FleetError(f"{name} worker exited with {proc.returncode}; see {self.logs / (name + '.log')}")
            missing -= queues_up(self.broker_url, 0.5)
            if missing and time.monotonic() > deadline:
                raise FleetError(f"workers for {sorted(missing)} did not answer within {timeout:.0f}s; "
                                 f"see {self.logs}")

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.redis is not None:
            embedded_redis.stop(self.redis, self.settings.data_dir)
