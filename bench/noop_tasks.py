"""No-op tasks on each queue (loaded into the bench's workers with --include): the reference canvas."""

from __future__ import annotations

from workers.app import app


@app.task(name="cycles.bench_noop")
def cycles_noop(*_: object) -> str:
    return "ok"


@app.task(name="agents.bench_noop")
def agents_noop(*_: object) -> str:
    return "ok"


@app.task(name="data.bench_noop")
def data_noop(*_: object) -> str:
    return "ok"


@app.task(name="execution.bench_noop")
def execution_noop(*_: object) -> str:
    return "ok"
