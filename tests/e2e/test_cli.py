"""The CLI as a new user runs it: no configuration at all (SQLite + embedded Redis + a private fleet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def cream(tmp: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREAM_")}
    env["CREAM_DATA_DIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "cream.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_cycle_and_backtest_on_the_embedded_default(tmp_path: Path) -> None:
    first = cream(tmp_path, "cycle", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert {"cycle_id", "status", "plan", "approvals", "orders"} <= report.keys()
    assert report["status"] in ("EXECUTED", "NO_TRADE") and report["cycle_id"].startswith("backtest-default-")
    assert {a["agent"] for a in report["approvals"]} == {"risk_manager", "critic"}

    again = json.loads(cream(tmp_path, "cycle", "--json").stdout)
    assert again["cycle_id"] == report["cycle_id"] and again["already_ran"]
    assert again["orders"] == report["orders"]  # the hour ran once: no second set of orders

    bt = cream(tmp_path, "backtest", "--symbols", "XLK,MA", "--start", "2025-09-22", "--end", "2025-09-23",
               "--json")
    assert bt.returncode == 0, bt.stderr
    metrics = json.loads(bt.stdout)
    assert {"cycles", "trades", "total_return", "max_drawdown", "sharpe"} <= metrics.keys()
    assert metrics["cycles"] == 12 and metrics["failed_cycles"] == 0

    status = cream(tmp_path, "status")
    assert report["cycle_id"] in status.stdout
    assert not (tmp_path / "redis" / "url").exists(), "the private fleet's Redis was stopped at exit"


def test_unknown_symbol_is_a_clear_error_and_runs_nothing(tmp_path: Path) -> None:
    out = cream(tmp_path, "backtest", "--symbols", "NOPE", "--start", "2025-09-22", "--end", "2025-09-23")
    assert out.returncode == 2
    assert "unknown symbol(s) NOPE" in out.stderr and "Traceback" not in out.stderr


def test_live_cannot_be_reached_from_the_cli(tmp_path: Path) -> None:
    def live(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        full = dict(os.environ, CREAM_ENV="LIVE", CREAM_DATA_DIR=str(tmp_path), **env)
        return subprocess.run([sys.executable, "-m", "cream.cli", *args], env=full, capture_output=True,
                              text=True, timeout=120, check=False)

    out = live("cycle")
    assert out.returncode == 2 and "LIVE refused: no ACTIVE LIVE trading_config" in out.stderr
    assert "Traceback" not in out.stderr
    out = live("cycle", CREAM_LIVE_CONFIRMATION="live-v1")  # a confirmation alone changes nothing
    assert out.returncode == 2 and "no ACTIVE LIVE trading_config" in out.stderr
    assert not (tmp_path / "redis").exists()  # refused before any fleet started


def test_fast_backtest_runs_the_vectorised_trend_rule_without_a_fleet(tmp_path: Path) -> None:
    out = cream(tmp_path, "backtest", "--fast", "--symbols", "ADBE,COST,MA,XLK", "--start", "2024-01-02",
                "--end", "2025-09-25", "--json", timeout=120)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)
    assert m["mode"] == "fast" and m["bars"] > 3000 and m["trades"] > 50
    assert m["final_equity"] == pytest.approx(m["initial_cash"] * (1 + m["total_return"]))
    assert "starting the local fleet" not in out.stderr  # no Redis, no workers
    assert not (tmp_path / "redis").exists()
