"""First engine call in a fresh process, as a worker makes it at start (engine.warmup.warm), with
numba's on-disk cache warm, against the same with an empty cache (every kernel compiled), same run.

    .venv/bin/python bench/cold_start.py [--runs 3]

Each measurement is a new Python process: import numpy and numba first (a worker has them loaded by
the time it warms the engine), then time ``import engine...; warm()``. The warm-cache figure is the
median of --runs processes after one process has filled the cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import time, numpy, numba
t = time.perf_counter()
from engine.warmup import warm
warm()
first = time.perf_counter() - t
t = time.perf_counter()
warm()
print(first, time.perf_counter() - t)
"""


def run_child(cache_dir: str) -> tuple[float, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        cold, again = run_child(cache)  # empty cache: compiles and writes every kernel
        print(f"empty cache: first warm() {cold:.2f} s (second call in that process {again * 1e3:.1f} ms)")
        warm = [run_child(cache) for _ in range(args.runs)]
    first = statistics.median(w[0] for w in warm)
    jit = statistics.median(w[1] for w in warm)
    print(f"warm cache:  first warm() {first:.3f} s over {args.runs} fresh processes; "
          f"a second warm() {jit * 1e3:.1f} ms")
    print(f"cold_cache_first_call_s: {cold:.2f}")
    print(f"warm_cache_first_call_s: {first:.3f}")
    print(f"already_compiled_call_ms: {jit * 1e3:.1f}")
    print(f"cold_over_warm_ratio: {cold / first:.1f}")


if __name__ == "__main__":
    main()
