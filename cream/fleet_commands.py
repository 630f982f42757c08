"""The commands that use a fleet: `cream fleet` runs one in the foreground (:func:`run_foreground`);
`cream cycle` and `cream backtest` use the fleet that is there or start a private one
(:func:`fleet_for_command`).

- One `cream fleet` per data dir: it holds ``<data_dir>/fleet.lock`` (an exclusive flock) for its life.
- SIGTERM, SIGHUP and Ctrl-C stop a fleet the same way: workers, beat, then the embedded Redis if no
  other command uses it. The command exits with 128 + the signal's number (143, 129, 130).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cream import embedded_redis
from cream.config import Settings
from cream.embedded_redis import open_private, private_dir
from cream.endpoints import redact_url
from cream.fleet import COMPILE_HINT, QUEUES, FleetError, LocalFleet, _control, consumers
from cream.processes import exit_code, signal_of, stop_on_signals


@contextmanager
def fleet_lock(data_dir: Path, broker: str = "embedded") -> Iterator[None]:
    """Held for the life of `cream fleet`: a second one on the same data dir is refused, naming the first.
    The file holds the fleet's pid and its broker ("embedded" or "configured")."""
    fd = open_private(private_dir(data_dir) / "fleet.lock")
    try:
        if not embedded_redis.lock_within(fd, 1.0):  # running_fleet() holds it shared for an instant
            pid = (os.pread(fd, 64, 0).decode(errors="replace").split() or ["unknown"])[0]
            raise FleetError(f"a fleet is already running on {data_dir} (pid {pid}): stop it first, "
                             f"or start this one with another CREAM_DATA_DIR")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{broker}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def running_fleet(data_dir: Path) -> tuple[int, str] | None:
    """The pid and broker ("embedded" or "configured") of the `cream fleet` running on this data dir."""
    path = data_dir / "fleet.lock"
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        words = [*os.pread(fd, 64, 0).decode(errors="replace").split(), "-1", "embedded"]
        return (int(words[0]) if words[0].isdigit() else -1), words[1]
    finally:
        os.close(fd)


def _require_consumers(broker_url: str, queues: tuple[str, ...] = QUEUES) -> None:
    with _control(broker_url) as app:
        found = set().union(*consumers(app, 2.0).values())
    missing = [q for q in queues if q not in found]
    if missing:
        raise FleetError(f"no worker consumes queue(s) {', '.join(missing)} on {redact_url(broker_url)}: "
                         f"start the fleet (docker compose up / cream fleet) first")


def _wait_for_fleet(settings: Settings, broker_url: str, pid: int) -> None:
    """Wait for the `cream fleet` of ``pid`` (which may still be starting) to answer on every queue."""
    t0, next_note = time.monotonic(), time.monotonic() + 5.0
    with _control(broker_url) as app:
        while True:
            replies = consumers(app, 1.0)
            waiting = [q for q in QUEUES if q not in set().union(*replies.values())]
            if not waiting:
                return
            if running_fleet(settings.data_dir) is None:
                raise FleetError(f"the fleet (pid {pid}) on {settings.data_dir} stopped: start it again, or stop "
                                 f"it for good and this command starts its own")
            elapsed = time.monotonic() - t0
            if elapsed > settings.startup_timeout:
                raise FleetError(f"the fleet (pid {pid}) has no worker for {', '.join(waiting)} after "
                                 f"{elapsed:.0f}s: see {settings.data_dir / 'logs'}")
            if time.monotonic() >= next_note:
                print(f"cream: waiting for the running fleet (pid {pid}, {elapsed:.0f}s): starting "
                      f"{', '.join(waiting)} ({COMPILE_HINT})", file=sys.stderr)
                next_note += 10.0
            if not replies:
                time.sleep(0.2)


@contextmanager
def fleet_for_command(settings: Settings) -> Iterator[str]:
    """The broker URL of a fleet serving every queue, for the duration of one command.

    With ``CREAM_BROKER_URL`` set: the fleet on that broker, whatever its workers are called, or a
    FleetError if a queue has no worker (never a private fleet on a production broker). Otherwise: the
    `cream fleet` running on the data dir, or a private fleet started (and stopped) for this command.
    A signal stops what was started and exits 128 + its number."""
    try:
        with stop_on_signals():
            if settings.broker_url:
                _require_consumers(settings.broker_url)
                yield settings.broker_url
            elif (running := running_fleet(settings.data_dir)) is not None:
                pid, broker = running
                if broker != "embedded":
                    raise FleetError(f"the fleet on {settings.data_dir} (pid {pid}) uses the broker of its "
                                     f"CREAM_BROKER_URL: set the same CREAM_BROKER_URL for this command")
                with embedded_redis.shared(settings.data_dir) as lease:
                    _wait_for_fleet(settings, lease.url, pid)
                    yield lease.url
            else:
                print("starting the local fleet (embedded Redis, one worker per queue)…", file=sys.stderr)
                with LocalFleet(settings) as fleet:
                    yield fleet.broker_url
    except KeyboardInterrupt as exc:
        print(f"cream: stopped by {signal_of(exc).name}; the workers this command started are stopped",
              file=sys.stderr)
        raise SystemExit(exit_code(exc)) from None


def run_foreground(settings: Settings, beat: bool, prepare: Callable[[], Any] = lambda: None) -> int:
    """`cream fleet`: run until a signal (exit 128 + its number) or until a process exits (exit 1)."""
    with fleet_lock(settings.data_dir, "configured" if settings.broker_url else "embedded"), stop_on_signals():
        try:
            prepare()
            with LocalFleet(settings, beat=beat) as fleet:
                print(f"fleet up: broker {redact_url(fleet.broker_url)}, workers {', '.join(QUEUES)}"
                      f"{', beat' if beat else ''}; logs in {fleet.logs}. Ctrl-C or SIGTERM stops it.", flush=True)
                try:
                    name = fleet.watch()
                except KeyboardInterrupt:
                    print("stopping…", file=sys.stderr, flush=True)
                    raise
                print(f"cream: the {name} process exited with code {fleet.procs[name].returncode}; stopping the "
                      f"fleet: see {fleet.logs / (name + '.log')}", file=sys.stderr)
                return 1
        except KeyboardInterrupt as exc:
            print(f"cream: stopped by {signal_of(exc).name}: the fleet is down (its embedded Redis too, unless "
                  f"another command still uses it)", file=sys.stderr)
            return exit_code(exc)
