"""Bad input to `cream`, as a user types it: one line on stderr, exit 2, no traceback, nothing left RUNNING.

Every case runs the CLI as a subprocess with no CREAM_ variable but its own CREAM_DATA_DIR (like
tests/e2e/test_cli.py). All of them are refused before a fleet starts, so they run side by side in a
few seconds; the one test that needs a fleet (a backtest cut short by its timeout) is at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cream.cli import _failed_cycles_verdict

OK = ("--symbols", "XLK", "--start", "2025-09-22", "--end", "2025-09-23")  # a valid backtest window
ONE_THOUSAND = ",".join(f"S{i}" for i in range(1000))


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    expect: str  # a fragment the one line must hold: the right error, not just any error
    env: dict[str, str] = field(default_factory=dict)  # "{dir}" is replaced by the case's data dir
    absent: str = "\x00"  # a fragment that must not appear (a password)
    fresh: bool = False  # a new data dir; else one holding a migrated database (as after any first use)


CASES = [
    # settings: bad values, unknown variables (refused at start, whatever the command)
    Case("env-garbage", ("status",), "CREAM_ENV='garbage': must be one of BACKTEST, PAPER, LIVE",
         {"CREAM_ENV": "garbage"}),
    Case("env-lower-case", ("cycle",), "CREAM_ENV='live': must be one of BACKTEST, PAPER, LIVE",
         {"CREAM_ENV": "live"}),
    Case("env-spaces", ("cycle",), "CREAM_ENV=' LIVE '", {"CREAM_ENV": " LIVE "}),
    Case("env-empty", ("backtest", *OK), "CREAM_ENV='': must be one of", {"CREAM_ENV": ""}),
    Case("env-control-char", ("status",), "CREAM_ENV='LI\\nVE'", {"CREAM_ENV": "LI\nVE"}),
    Case("unknown-variable", ("status",), "unknown environment variable CREAM_FOO", {"CREAM_FOO": "1"}),
    Case("unknown-variable-typo", ("cycle",), "CREAM_ENVIRONMENT (did you mean CREAM_ENV?)",
         {"CREAM_ENVIRONMENT": "LIVE"}),
    Case("unknown-variable-lower-case", ("status",), "cream_foo", {"cream_foo": "1"}),
    Case("visibility-not-a-number", ("status",), "CREAM_VISIBILITY_TIMEOUT='abc'", {"CREAM_VISIBILITY_TIMEOUT": "abc"}),
    Case("polygon-burst-huge", ("status",), "CREAM_POLYGON_BURST", {"CREAM_POLYGON_BURST": "-" + "9" * 400}),
    Case("book-variable", ("cycle",), "CREAM_BOOK='BAD BOOK'", {"CREAM_BOOK": "BAD BOOK"}),
    Case("agents-unknown", ("cycle",), "CREAM_AGENTS='gpt': must be one of rules, gemini, replay",
         {"CREAM_AGENTS": "gpt"}),
    Case("log-level", ("status",), "CREAM_LOG_LEVEL='LOUD'", {"CREAM_LOG_LEVEL": "LOUD"}),
    Case("paper-without-keys", ("cycle",), "PAPER needs POLYGON_API_KEY", {"CREAM_ENV": "PAPER"}),
    # services: data dir, database, broker
    Case("data-dir-empty", ("status",), "CREAM_DATA_DIR='': it is empty", {"CREAM_DATA_DIR": ""}),
    Case("data-dir-read-only", ("status",), "(CREAM_DATA_DIR) is not a writable directory",
         {"CREAM_DATA_DIR": "{read_only}/cream"}),
    Case("data-dir-is-a-file", ("cycle",), "it is not a directory", {"CREAM_DATA_DIR": "{file}"}),
    Case("database-unreachable", ("status",), "cannot use the database postgresql+psycopg://u:***@127.0.0.1:1/x",
         {"CREAM_DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/x"}, absent="secretpw", fresh=True),
    Case("database-garbage", ("db", "upgrade"), "CREAM_DATABASE_URL 'garbage' cannot be opened",
         {"CREAM_DATABASE_URL": "garbage"}),
    Case("database-no-driver", ("config", "list"), "cannot be opened (No module named",
         {"CREAM_DATABASE_URL": "mysql://u:secretpw@127.0.0.1/x"}, absent="secretpw"),
    Case("broker-unreachable-cycle", ("cycle",), "cannot reach the broker at redis://127.0.0.1:1/0",
         {"CREAM_BROKER_URL": "redis://127.0.0.1:1/0"}),
    Case("broker-unreachable-backtest", ("backtest", *OK), "cannot reach the broker at redis://:***@127.0.0.1:1/0",
         {"CREAM_BROKER_URL": "redis://:secretpw@127.0.0.1:1/0"}, absent="secretpw"),
    Case("broker-unreachable-fleet", ("fleet", "--no-beat"), "cannot reach the broker",
         {"CREAM_BROKER_URL": "redis://127.0.0.1:1/0"}),
    Case("broker-not-redis", ("cycle",), "is not a Redis URL", {"CREAM_BROKER_URL": "garbage"}),
    Case("history-damaged", ("backtest", "--fast", *OK), "cannot read the market data in",
         {"CREAM_HISTORY_DIR": "{bad_history}"}),
    Case("history-dir-missing", ("backtest", "--fast", *OK), "/nonexistent-history",
         {"CREAM_HISTORY_DIR": "/nonexistent-history"}),
    # cycle
    Case("symbols-dollar", ("cycle", "--symbols", "X$K"), "'X$K' is not a ticker", fresh=True),
    Case("symbols-one-thousand", ("cycle", "--symbols", ONE_THOUSAND), "1000 symbols: a cycle takes at most 100"),
    Case("symbols-empty", ("cycle", "--symbols", ""), "give at least one ticker"),
    Case("symbols-unicode", ("cycle", "--symbols", "ÄBC"), "'ÄBC' is not a ticker"),
    Case("symbols-newline", ("cycle", "--symbols", "XLK\nMA"), "'XLK\\nMA' is not a ticker"),
    Case("symbols-very-long", ("cycle", "--symbols", "A" * 100_000), "is not a ticker"),
    Case("symbols-unknown", ("cycle", "--symbols", "NOPE"), "unknown symbol(s) NOPE", fresh=True),
    Case("book-space", ("cycle", "--book", "BAD BOOK"), "'BAD BOOK' is not a book name"),
    Case("book-empty", ("cycle", "--book", ""), "'' is not a book name"),
    Case("at-not-a-date", ("cycle", "--at", "notadate"), "'notadate' is not an ISO date-time"),
    Case("at-saturday", ("cycle", "--at", "2025-09-20T15:00:00Z"), "(Sat 11:00 New York) is not a cycle hour"),
    Case("at-night", ("cycle", "--at", "2025-09-24T03:00:00Z"), "is not a cycle hour"),
    Case("at-before-data", ("cycle", "--at", "1990-01-02T15:00:00Z"), "outside the market data"),
    Case("at-after-data", ("cycle", "--at", "2030-01-02T15:00:00Z"), "outside the market data"),
    Case("at-year-9999", ("cycle", "--at", "9999-12-31T23:00:00-05:00"), "is not an ISO date-time"),
    Case("at-bad-offset", ("cycle", "--at", "2025-09-24T15:00:00+25:00"), "is not an ISO date-time"),
    Case("at-control-char", ("cycle", "--at", "2025-09-24\x07T15:00"), "is not an ISO date-time"),
    Case("timeout-negative", ("cycle", "--timeout", "-5"), "argument --timeout: '-5'"),
    Case("timeout-nan", ("cycle", "--timeout", "nan"), "argument --timeout: 'nan'"),
    Case("timeout-text", ("cycle", "--timeout", "soon"), "'soon' is not a number of seconds"),
    # backtest
    Case("backtest-missing-args", ("backtest",), "the following arguments are required: --symbols, --start, --end"),
    Case("backtest-one-thousand", ("backtest", "--symbols", ONE_THOUSAND, *OK[2:]), "1000 symbols"),
    Case("backtest-unknown-symbol", ("backtest", "--symbols", "NOPE", *OK[2:]), "unknown symbol(s) NOPE"),
    Case("start-not-a-date", ("backtest", "--symbols", "XLK", "--start", "notadate", "--end", "2025-09-23"),
         "'notadate' is not a date: use YYYY-MM-DD"),
    Case("start-february-30", ("backtest", "--symbols", "XLK", "--start", "2025-02-30", "--end", "2025-03-03"),
         "'2025-02-30' is not a date (day is out of range for month)"),
    Case("end-huge-year", ("backtest", "--symbols", "XLK", "--start", "2025-09-22", "--end", "99999-01-01"),
         "'99999-01-01' is not a date"),
    Case("end-before-start", ("backtest", "--symbols", "XLK", "--start", "2025-09-23", "--end", "2025-09-22"),
         "is before --start"),
    Case("window-1990", ("backtest", "--symbols", "XLK", "--start", "1990-01-02", "--end", "1990-01-31"),
         "the market data covers 2023-09-27 to 2025-09-25", fresh=True),
    Case("window-all-time", ("backtest", "--symbols", "XLK", "--start", "0001-01-01", "--end", "9999-12-31"),
         "is not inside the market data"),
    Case("window-weekend", ("backtest", "--symbols", "XLK", "--start", "2025-09-20", "--end", "2025-09-21"),
         "no session cycle hour with data from 2025-09-20 to 2025-09-21"),
    Case("fast-window-weekend", ("backtest", "--fast", "--symbols", "XLK", "--start", "2025-09-20",
                                 "--end", "2025-09-21"), "no session cycle hour"),
    Case("backtest-timeout-negative", ("backtest", *OK, "--timeout", "-1"), "argument --timeout"),
    # status, schema, db, config, evals, replay, and argparse itself
    Case("limit-negative", ("status", "--limit", "-5"), "argument --limit: '-5': give a number from 1"),
    Case("limit-huge", ("status", "--limit", "1" + "0" * 30), "give a number from 1 to 100,000"),
    Case("limit-text", ("status", "--limit", "many"), "'many' is not a whole number"),
    Case("schema-out-empty", ("schema", "--out", ""), "give a directory"),
    Case("schema-out-unwritable", ("schema", "--out", "{file}/schemas"), "cannot use"),
    Case("db-unknown-action", ("db", "downgrade"), "invalid choice: 'downgrade'"),
    Case("config-promote-without-id", ("config", "promote"), "promote needs the id of a trading_config"),
    Case("config-promote-unknown", ("config", "promote", "nope"), "no trading_config 'nope'"),
    Case("evals-unknown-scenario", ("evals", "--scenario", "nope"), "unknown scenario(s) nope"),
    Case("replay-not-migrated", ("replay", "nope"), "run `cream db upgrade`", fresh=True),
    Case("replay-unknown-cycle", ("replay", "nope"), "no cycle 'nope'"),
    Case("replay-missing-id", ("replay",), "the following arguments are required: cycle_id"),
    Case("no-command", (), "the following arguments are required: command"),
    Case("unknown-command", ("frobnicate",), "invalid choice: 'frobnicate'"),
    Case("unknown-flag", ("status", "--frob"), "unrecognized arguments: --frob"),
    Case("unknown-flag-control-chars", ("status", "--fr\nob\x1b[31m"), "unrecognized arguments: --fr\\nob\\x1b[31m"),
]


def cream(data_dir: Path, *args: str, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.upper().startswith("CREAM_")}
    full["CREAM_DATA_DIR"] = str(data_dir)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "cream.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, check=False)


def running_rows(data_dir: Path) -> list[tuple[str, str]]:
    """(table, id) of every cycle or backtest still RUNNING in the data dir's SQLite database."""
    path = data_dir / "cream.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return [(table, row[0]) for table in ("cycles", "backtests") if table in tables
                for row in db.execute(f"SELECT id FROM {table} WHERE status = 'RUNNING'")]


def _fill(text: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        text = text.replace("{" + key + "}", value)
    return text


def _read_only_dir(base: Path) -> Path:
    """A directory this process cannot write: mode 0555, or (as root, who ignores modes) /sys."""
    path = base / "read-only"
    path.mkdir()
    path.chmod(0o555)
    return Path("/sys") if os.access(path, os.W_OK) else path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Every case's result, run four at a time (each case waits mostly on imports)."""
    base = tmp_path_factory.mktemp("cli-inputs")
    (base / "a-file").write_text("not a directory\n")
    (base / "bad-history").mkdir()
    (base / "bad-history" / "XLK.csv.gz").write_bytes(b"not gzip")
    places = {"read_only": str(_read_only_dir(base)), "file": str(base / "a-file"),
              "bad_history": str(base / "bad-history")}

    template = base / "template"
    assert cream(template, "db", "upgrade").returncode == 0

    def run(case: Case) -> tuple[subprocess.CompletedProcess[str], Path]:
        data_dir = base / case.name
        if not case.fresh:  # migrating a new database takes longer than most cases
            data_dir.mkdir()
            shutil.copyfile(template / "cream.db", data_dir / "cream.db")
        env = {k: _fill(v, places | {"dir": str(data_dir)}) for k, v in case.env.items()}
        args = [_fill(a, places | {"dir": str(data_dir)}) for a in case.args]
        return cream(data_dir, *args, env=env), data_dir

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip((c.name for c in CASES), pool.map(run, CASES)))


def test_the_inputs_are_many_and_distinct() -> None:
    assert len(CASES) >= 59 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, outcomes: dict) -> None:
    out, data_dir = outcomes[case.name]
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("cream: ") and case.expect in lines[0], lines[0]
    assert case.absent not in out.stderr
    assert out.returncode == 2, out.stderr
    assert "starting the local fleet" not in out.stderr and not (data_dir / "redis").exists()
    assert running_rows(data_dir) == []


def test_status_still_works(tmp_path: Path) -> None:
    out = cream(tmp_path, "status", "--limit", "5", env={"CREAM_VENV": str(tmp_path / "venv")})  # a script's variable
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no cycles yet: try `cream cycle`" and out.stderr == ""


def test_fast_backtest_still_works(tmp_path: Path) -> None:
    out = cream(tmp_path, "backtest", "--fast", "--symbols", "xlk,MA", "--start", "2025-06-02", "--end", "2025-09-25",
                "--json")
    assert out.returncode == 0, out.stderr
    metrics = json.loads(out.stdout)
    assert metrics["mode"] == "fast" and metrics["symbols"] == ["XLK", "MA"] and metrics["bars"] > 500
    assert metrics["start"].startswith("2025-06-02") and metrics["end"].startswith("2025-09-25")
    assert "starting the local fleet" not in out.stderr and not (tmp_path / "redis").exists()


def test_a_backtest_whose_cycles_all_failed_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert _failed_cycles_verdict({"backtest_id": "bt-1", "cycles_planned": 12, "failed_cycles": 12}) == 1
    assert "cream: all 12 cycles of backtest bt-1 FAILED" in capsys.readouterr().err
    assert _failed_cycles_verdict({"backtest_id": "bt-2", "cycles_planned": 12, "failed_cycles": 3}) == 0
    assert "cream: 3 of 12 cycles FAILED" in capsys.readouterr().err
    assert _failed_cycles_verdict({"backtest_id": "bt-3", "cycles_planned": 12, "failed_cycles": 0}) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.integration
def test_a_backtest_cut_short_leaves_nothing_running(tmp_path: Path) -> None:
    """The one case that needs the fleet: the first cycle outlives its timeout; backtest and cycle end FAILED."""
    out = cream(tmp_path, "backtest", "--symbols", "XLK", "--start", "2025-09-24", "--end", "2025-09-24",
                "--timeout", "0.001", timeout=300)
    assert "Traceback" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]  # the fleet's start-up notes come first
    assert out.returncode == 2 and last.startswith("cream: cycle ") and "did not end within" in last, out.stderr
    assert running_rows(tmp_path) == []
    with sqlite3.connect(tmp_path / "cream.db") as db:
        (book, status, metrics), = db.execute("SELECT id, status, metrics FROM backtests").fetchall()
        cycles = db.execute("SELECT status, reason FROM cycles WHERE book = ?", (book,)).fetchall()
    assert status == "FAILED" and "CycleTimeout" in json.loads(metrics)["error"]
    assert cycles and all(s == "FAILED" and r.startswith("backtest aborted: CycleTimeout") for s, r in cycles)
    assert not (tmp_path / "redis" / "url").exists(), "the private fleet was stopped"
