"""Real servers for integration tests: redis-server and PostgreSQL on loopback, started per test session."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run the README's test command (it installs it)")
    port, home = free_port(), tempfile.mkdtemp(prefix="cream-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", home, "--save", "",
                             "--appendonly", "yes", "--maxmemory-policy", "noeviction"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: redis.Redis.from_url(url).ping(), "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run the README's test command (it installs it)")
    return found


class PostgresServer:
    """A throw-away PostgreSQL cluster that a test can stop and start again (an outage)."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="cream-pg-")
        os.chmod(self.home, 0o755)
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as the `postgres` system user
            user = pwd.getpwnam("postgres")
            os.chown(self.home, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = os.path.join(self.home, "data"), free_port()
        subprocess.run([*self.prefix, _pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "cream", "--no-sync"],
                       check=True, capture_output=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql+psycopg://cream@127.0.0.1:{self.port}/cream_test"

    def start(self) -> None:
        import psycopg

        self.proc = subprocess.Popen([*self.prefix, _pg_bin("postgres"), "-D", self.data, "-p", str(self.port),
                                      "-k", self.home, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                      "-c", "max_connections=200"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        admin = f"postgresql://cream@127.0.0.1:{self.port}/postgres"
        _wait(lambda: psycopg.connect(admin, connect_timeout=1).close(), "postgres")

    def stop(self) -> None:
        """Fast shutdown: every client is disconnected at once, as when the server goes away."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:  # the postmaster itself (runuser, when we run as root, does not pass SIGINT on)
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                os.kill(int(f.readline()), signal.SIGINT)
        except (OSError, ValueError):
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://cream@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE cream_test")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)


def _wait(probe: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()  # type: ignore[operator]
            return
        except Exception:  # noqa: BLE001 - not up yet: probed again until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {timeout}s") from None
            time.sleep(0.1)
