"""Two processes migrating a fresh database at once (two `cream cycle` on a new data dir, a compose
migration job beside a worker) take turns: both succeed and the schema is whole."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MIGRATE = "from cream.storage import db; db.migrate()"


def _migrate_twice_at_once(url: str, data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREAM_")}
    env.update(CREAM_DATABASE_URL=url, CREAM_DATA_DIR=str(data_dir))
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE], env=env, cwd=ROOT, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    engine = create_engine(url)
    try:
        assert {"cycles", "agent_outputs", "orders", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_two_migrations_of_a_fresh_sqlite_database_take_turns(tmp_path: Path, attempt: int) -> None:
    _migrate_twice_at_once(f"sqlite:///{tmp_path / 'cream.db'}", tmp_path)


@pytest.mark.parametrize("attempt", range(3))
def test_two_migrations_of_a_fresh_postgresql_database_take_turns(postgres_url: str, tmp_path: Path,
                                                                  attempt: int) -> None:
    name = f"cream_mig_{uuid.uuid4().hex[:8]}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    _migrate_twice_at_once(postgres_url.rsplit("/", 1)[0] + f"/{name}", tmp_path)
