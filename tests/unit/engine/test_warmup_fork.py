"""A process that forks its workers warms the serial kernels only: a parallel kernel run in the parent would
start GNU OpenMP, and a forked child running one in turn would be aborted (the data worker died on every
observe that marked an option chain)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from workers.lifecycle import forks

CHILD_RUNS_A_PARALLEL_KERNEL = textwrap.dedent("""
    import os, sys
    import numba
    from engine import options, warmup
    warmup.warm(parallel=sys.argv[1] == "all")
    pid = os.fork()
    if pid == 0:
        warmup.parallel_kernels()
        options.bs_greeks([100.0], [100.0], [0.1], [0.2], 0.05, 0.0, [True])
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    warmup.parallel_kernels()
    print(numba.threading_layer(), os.waitstatus_to_exitcode(status))
""")


def _child_exit(parent_warms: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD_RUNS_A_PARALLEL_KERNEL, parent_warms], capture_output=True,
                         text=True, timeout=300, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    layer, code = out.stdout.split()[-2:]
    return layer, int(code)


def test_a_child_forked_after_the_serial_warm_up_runs_parallel_kernels() -> None:
    assert _child_exit("serial")[1] == 0


def test_the_hazard_is_real_a_child_forked_after_parallel_kernels_ran_is_aborted() -> None:
    layer, code = _child_exit("all")
    if layer != "omp":
        pytest.skip(f"numba runs parallel kernels on {layer} here, which forks safely")
    assert code != 0


@pytest.mark.parametrize(("pool", "forked"), [("prefork", True), ("threads", False), ("solo", False), (None, True)])
def test_which_pools_fork(pool: str | None, forked: bool) -> None:
    assert forks(type("Worker", (), {"pool_cls": pool})()) is forked
