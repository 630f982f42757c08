"""Real servers for integration tests: redis-server and PostgreSQL on loopback, started per test session."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
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


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; as root it runs as the `postgres` system user (it refuses root)."""
    home = tempfile.mkdtemp(prefix="cream-pg-")
    os.chmod(home, 0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(home, "data"), free_port()
    subprocess.run([*prefix, _pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "cream", "--no-sync"],
                   check=True, capture_output=True)
    proc = subprocess.Popen([*prefix, _pg_bin("postgres"), "-D", data, "-p", str(port), "-k", home,
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import psycopg

    admin = f"postgresql://cream@127.0.0.1:{port}/postgres"
    try:
        _wait(lambda: psycopg.connect(admin, connect_timeout=1).close(), "postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cream_test")
        yield f"postgresql+psycopg://cream@127.0.0.1:{port}/cream_test"
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(home, ignore_errors=True)


def _wait(probe: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()  # type: ignore[operator]
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {timeout}s") from None
            time.sleep(0.1)
