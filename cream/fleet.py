"""The local fleet: embedded Redis (unless a broker URL is configured), one Celery worker per queue,
optionally beat (the commands that use it are in cream/fleet_commands.py).

- A worker that refuses to start writes ``cream worker refused to start: <reason>`` to its log and exits
  with 78; the fleet reports that reason instead of waiting for it.
- Once up, the fleet is supervised: an embedded Redis that dies is restarted on the same port, password
  and AOF; a worker or beat that dies (kill -9, out of memory) is restarted with the same name, queue
  and pool, with a backoff that grows if it keeps dying. Its unacknowledged message comes back to the
  new worker after the visibility timeout.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from cream import embedded_redis
from cream.config import Settings
from cream.embedded_redis import open_private, private_dir
from cream.errors import CreamError
from cream.processes import python_dying_with_us, signal_group

if TYPE_CHECKING:
    from celery import Celery

QUEUES = ("cycles", "agents", "data", "execution")
# (pool, concurrency) per queue. Agent calls spend their time waiting on the model, so the agents
# queue runs threads: a 20-symbol cycle's 60 analyst calls are all in flight at once. Everything
# else is CPU or database work in processes; execution stays one at a time.
POOLS = {"cycles": ("prefork", 1), "agents": ("threads", 64), "data": ("prefork", 1), "execution": ("prefork", 1)}
REFUSAL = "cream worker refused to start:"
REFUSAL_EXIT_CODE = 78  # EX_CONFIG: the worker's configuration (schema, keys, LIVE gate) is not usable
COMPILE_HINT = "a first start compiles the engine and can take minutes, later starts take seconds"

log = logging.getLogger("cream.fleet")


class FleetError(CreamError):
    """The fleet could not start or be used: the message says which part, why, and where to look."""


def refusal_reason(log_text: str) -> str | None:
    """The reason on the last ``cream worker refused to start: …`` line of a worker's log, if any."""
    for line in reversed(log_text.splitlines()):
        if REFUSAL in line:
            return line.split(REFUSAL, 1)[1].strip() or "no reason given"
    return None


@contextmanager
def _control(broker_url: str) -> Iterator[Celery]:
    from workers.app import make_app

    app = make_app()
    app.conf.broker_url = app.conf.result_backend = broker_url
    try:
        yield app
    finally:
        app.close()


def consumers(app: Celery, timeout: float = 1.0, nodes: list[str] | None = None) -> dict[str, set[str]]:
    """Queues each answering worker consumes, by worker name (whatever the names are)."""
    try:
        replies = app.control.inspect(timeout=timeout, destination=nodes,
                                      limit=len(nodes) if nodes else None).active_queues() or {}
    except Exception as exc:  # noqa: BLE001 - the broker is down or restarting: nobody answers
        log.debug("no answer from the broker: %s", exc)
        return {}
    return {worker: {q["name"] for q in queues or []} for worker, queues in replies.items()}


def queues_up(broker_url: str, timeout: float = 1.0) -> set[str]:
    """Queues that at least one worker on this broker consumes."""
    with _control(broker_url) as app:
        return set().union(*consumers(app, timeout).values())


class LocalFleet:
    def __init__(self, settings: Settings, beat: bool = False, queues: tuple[str, ...] = QUEUES,
                 worker_args: tuple[str, ...] = (), progress: bool = True, supervise: bool = True) -> None:
        self.settings, self.beat, self.queues, self.worker_args = settings, beat, queues, worker_args
        self.progress, self.supervise = progress, supervise
        self.commands: dict[str, list[str]] = {}  # process name -> its celery arguments
        self.restarts: dict[str, int] = {}
        self._next_restart: dict[str, float] = {}
        self._up = threading.Event()
        self.logs = settings.data_dir / "logs"
        self.lease: embedded_redis.Lease | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.nodes: dict[str, str] = {}  # process name -> Celery node name
        self.log_offsets: dict[str, int] = {}  # where each process's part of its (appended) log starts
        self.broker_url = ""
        self.redis_restarts = 0
        self._warmup: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(CREAM_BROKER_URL=self.broker_url, CREAM_DATA_DIR=str(self.settings.data_dir),
                   CREAM_ENV=self.settings.env.value)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def __enter__(self) -> Self:
        private_dir(self.settings.data_dir)
        private_dir(self.logs)
        started = time.monotonic()
        try:
            if self.settings.broker_url:
                self.broker_url = self.settings.broker_url
            else:
                self.lease = embedded_redis.acquire(self.settings.data_dir)
                self.broker_url = self.lease.url

            self._warm_engine(started + self.settings.startup_timeout)
            for q in self.queues:
                self.procs[q] = self._spawn(q, ["worker", "-Q", q, "-n", f"{q}-{os.getpid()}@%h",
                                                "--pool", POOLS[q][0], "--concurrency", str(POOLS[q][1]),
                                                "--loglevel", self.settings.log_level, "--without-gossip",
                                                "--without-mingle", *self.worker_args])
            if self.beat:
                self.procs["beat"] = self._spawn("beat", ["beat", "--loglevel", self.settings.log_level,
                                                          "-s", str(self.settings.data_dir / "beat-schedule")])
            self._watchdog = threading.Thread(target=self._keep_up, name="fleet-supervisor", daemon=True)
            self._watchdog.start()
            self.wait_ready(since=started)
            self._up.set()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def open_log(self, name: str) -> int:
        fd = open_private(self.logs / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.log_offsets[name] = os.fstat(fd).st_size
        return fd

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        from celery.utils.nodenames import host_format

        if "-n" in args:
            self.nodes[name] = host_format(args[args.index("-n") + 1])
        self.commands[name] = args
        fd = self.open_log(name)
        try:
            # umask 077: whatever a worker or beat writes (schedule, its pool's files) is the user's alone.
            command = python_dying_with_us(["-m", "celery", "-A", "workers.app", *args])
            return subprocess.Popen(command, env=self.env(), stdout=fd, stderr=subprocess.STDOUT,
                                    start_new_session=True, umask=0o077)
        finally:
            os.close(fd)

    def _warm_engine(self, deadline: float) -> None:
        """Compile the engine's kernels into numba's on-disk cache once, before the workers start, so four
        workers do not all compile the same kernels at once; with a warm cache this takes about a second."""
        fd = self.open_log("warmup")
        try:
            command = python_dying_with_us(["-c", "from engine.warmup import warm; warm()"])
            self._warmup = subprocess.Popen(command, env=self.env(), stdout=fd, stderr=subprocess.STDOUT,
                                            umask=0o077, start_new_session=True)
        finally:
            os.close(fd)
        t0, noted = time.monotonic(), False
        while self._warmup.poll() is None:
            if not noted and self.progress and time.monotonic() - t0 > 3:
                print("cream: compiling the engine (numba) once, before the workers start; a first start can take "
                      "minutes, later starts take seconds", file=sys.stderr)
                noted = True
            if time.monotonic() > deadline:
                raise FleetError(f"compiling the engine took over {self.settings.startup_timeout:.0f}s: raise "
                                 f"CREAM_STARTUP_TIMEOUT or see {self.logs / 'warmup.log'}")
            time.sleep(0.1)
        if self._warmup.returncode != 0:  # the workers warm the engine themselves and report what fails
            log.warning("engine warm-up exited with %s; see %s", self._warmup.returncode, self.logs / "warmup.log")

    def _keep_up(self) -> None:
        """The supervisor: restart a dead embedded Redis at once, and, once the fleet is up, a dead worker."""
        pause = 0.5
        while not self._stop.wait(pause):
            try:
                pid = embedded_redis.restart_if_dead(self.lease) if self.lease else None
                pause = 0.5
            except CreamError as exc:
                pause = min(30.0, pause * 2)
                log.error("the embedded Redis died and could not be restarted (next try in %.0fs): %s", pause, exc)
                continue
            if pid is not None:
                self.redis_restarts += 1
                log.warning("the embedded Redis of %s died; restarted it on the same port, password and AOF "
                            "(pid %d)", self.settings.data_dir, pid)
            if self.supervise and self._up.is_set():
                self._restart_dead_processes()

    def _restart_dead_processes(self) -> None:
        """A worker (or beat) that died is started again; one that keeps dying waits longer each time."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is None or time.monotonic() < self._next_restart.get(name, 0.0):
                continue
            code, reason = proc.returncode, refusal_reason(self._log_since_start(name))
            signal_group(proc.pid, signal.SIGKILL)  # pool children the dead worker left behind
            n = self.restarts[name] = self.restarts.get(name, 0) + 1
            self._next_restart[name] = time.monotonic() + min(60.0, 2.0 ** (n - 1))
            self.procs[name] = self._spawn(name, self.commands[name])
            log.warning("the %s process exited with %s%s; started it again (restart %d, pid %d)", name, code,
                        f" ({reason})" if reason else "", n, self.procs[name].pid)

    def _log_since_start(self, name: str) -> str:
        try:
            with open(self.logs / f"{name}.log", "rb") as f:
                f.seek(self.log_offsets.get(name, 0))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def raise_if_exited(self) -> None:
        """FleetError naming the first process that has exited, with a refusing worker's own reason."""
        for name, proc in self.procs.items():
            if proc.poll() is None:
                continue
            text = self._log_since_start(name)
            reason = refusal_reason(text)
            if reason is not None:
                raise FleetError(f"{name} worker refused to start: {reason}")
            what = f"{name} worker" if name in QUEUES else name
            raise FleetError(f"{what} exited with code {proc.returncode} before it was ready: "
                             f"see {self.logs / (name + '.log')}")

    def wait_ready(self, timeout: float | None = None, since: float | None = None) -> None:
        """Block until a worker this fleet started answers for every queue (or one of them exits), at most
        ``timeout`` seconds (CREAM_STARTUP_TIMEOUT) counted from ``since`` (default: now)."""
        timeout = self.settings.startup_timeout if timeout is None else timeout
        expected = {q: self.nodes[q] for q in self.queues if q in self.nodes}
        t0 = time.monotonic() if since is None else since
        next_note = time.monotonic() + 5.0
        with _control(self.broker_url) as app:
            while True:
                self.raise_if_exited()
                replies = consumers(app, 1.0, list(expected.values()))
                waiting = [q for q in self.queues if q not in replies.get(expected.get(q, ""), ())]
                if not waiting:
                    return
                elapsed = time.monotonic() - t0
                if elapsed > timeout:
                    raise FleetError(f"workers for {', '.join(waiting)} did not answer within {timeout:.0f}s: "
                                     f"see their logs in {self.logs}, or raise CREAM_STARTUP_TIMEOUT")
                if self.progress and time.monotonic() >= next_note:
                    up = [q for q in self.queues if q not in waiting]
                    print(f"cream: waiting for workers ({elapsed:.0f}s of {timeout:.0f}s): up "
                          f"{', '.join(up) or 'none'}; starting {', '.join(waiting)} ({COMPILE_HINT})", file=sys.stderr)
                    next_note += 10.0
                if not replies:
                    time.sleep(0.2)

    def watch(self) -> str:
        """Block while the fleet runs; without supervision, the name of the first process that exits."""
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None and not self.supervise:
                    return name
            time.sleep(0.5)

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(10)
        procs = [*self.procs.values(), *([self._warmup] if self._warmup else [])]
        for proc in procs:
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            signal_group(proc.pid, signal.SIGKILL)  # pool children left behind by a worker that died
        if self.lease is not None:
            embedded_redis.release(self.lease)
            self.lease = None
