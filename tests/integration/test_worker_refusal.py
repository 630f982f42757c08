"""A misconfigured worker exits before it consumes anything: code 78 and one line saying why. It is
started here exactly as docker compose starts one (`celery -A workers.app worker -Q …`), on a real Redis
holding a message it must not take."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from cream.storage import db
from tests.integration.hostile_messages import GOOD_TRIGGER, json_message

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
REFUSED = "cream worker refused to start:"


def _worker(queue: str, broker: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CREAM_")}
    full.update(CREAM_DATA_DIR=str(data_dir), CREAM_BROKER_URL=broker, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queue,
                           "-n", f"{queue}@refusal", "--pool", "solo", "--without-gossip", "--without-mingle"],
                          env=full, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def broker(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.lpush(*json_message("cycles", GOOD_TRIGGER))  # must still be there after the refusal
    return url


@pytest.fixture()
def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cream.db'}"
    db.migrate(url)
    return url


@pytest.mark.parametrize("env, says", [
    ({"CREAM_ENV": "PAPER"}, ("environment: PAPER needs POLYGON_API_KEY, ALPACA_API_KEY, ALPACA_SECRET_KEY, "
                              "GEMINI_API_KEY in the environment")),
    ({"CREAM_ENV": "LIVE"}, "LIVE refused: no ACTIVE LIVE trading_config"),
    ({"CREAM_FOO": "1"}, "CREAM_FOO"),
    ({"CREAM_ENVIRONMENT": "LIVE"}, "CREAM_ENVIRONMENT"),
    ({"CREAM_ENV": "live"}, "CREAM_ENV"),
    ({"CREAM_ALPACA_BASE_URL": "http://127.0.0.1@api.alpaca.markets", "CREAM_ENV": "PAPER",
      "POLYGON_API_KEY": "k", "ALPACA_API_KEY": "k", "ALPACA_SECRET_KEY": "s", "GEMINI_API_KEY": "g"},
     "CREAM_ALPACA_BASE_URL"),
])
def test_a_misconfigured_worker_exits_78_before_it_consumes(broker: str, migrated: str, tmp_path: Path,
                                                            env: dict[str, str], says: str) -> None:
    out = _worker("cycles", broker, tmp_path, CREAM_DATABASE_URL=migrated, **env)
    lines = [line for line in out.stderr.splitlines() if REFUSED in line]
    assert out.returncode == 78, out.stderr[-2000:]
    assert len(lines) == 1 and says in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert redis.Redis.from_url(broker).llen("cycles") == 1  # nothing was consumed


def test_a_worker_on_an_unmigrated_database_exits_78(broker: str, tmp_path: Path) -> None:
    out = _worker("data", broker, tmp_path, CREAM_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert out.returncode == 78 and f"{REFUSED} database: database schema is at nothing" in out.stderr
    assert redis.Redis.from_url(broker).llen("cycles") == 1
