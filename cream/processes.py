"""Signals and child processes of the commands that run a fleet (`cream fleet`, `cream cycle`,
`cream backtest`): SIGTERM, SIGHUP and Ctrl-C all unwind the same way, and the workers a command
started never outlive it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

# PR_SET_PDEATHSIG (Linux) survives the exec into the real program: the child gets SIGTERM when the
# thread that spawned it ends, even if its process was killed by SIGKILL and cleaned up nothing.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
                    "os.getppid() == int(sys.argv[1]) or sys.exit(1); os.execv(sys.executable, sys.argv[2:])")


class Interrupted(KeyboardInterrupt):
    """SIGTERM, SIGHUP or SIGINT arrived: unwind (stopping what was started) and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: KeyboardInterrupt) -> signal.Signals:
    """The signal behind an interrupt (a bare KeyboardInterrupt is Ctrl-C: SIGINT)."""
    return signal.Signals(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended: 143, 129, 130."""
    return 128 + signal_of(exc)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT raise :class:`Interrupted` once; later ones are ignored, so the
    clean-up the first one started (stopping workers and Redis) is not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Interrupted(signum)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def python_dying_with_us(args: list[str]) -> list[str]:
    """The command line of ``python *args`` that is sent SIGTERM when the calling thread's process ends.

    Spawn it from a thread that lives as long as the child should (the main thread)."""
    if sys.platform != "linux":
        return [sys.executable, *args]
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), sys.executable, *args]


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
