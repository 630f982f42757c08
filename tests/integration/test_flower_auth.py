"""Flower runs only behind basic auth: the very command docker-compose.yml gives the `flower` service,
started against a real redis-server on a free loopback port, answers 401 to its UI and API without the
right credentials, and refuses to start at all without FLOWER_BASIC_AUTH."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.servers import free_port
from tests.unit.test_compose import command

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = "admin:correct-horse-battery,ops:staple-42"


def flower_environment(redis_url: str, home: Path, **extra: str) -> dict[str, str]:
    """What the flower container gets, on this machine: Flower bound to loopback on a free port (its
    FLOWER_ADDRESS / FLOWER_PORT variables; the command is compose's, unchanged)."""
    return {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home), "CREAM_ENV": "BACKTEST", "CREAM_DATA_DIR": str(home),
            "CREAM_DATABASE_URL": f"sqlite:///{home}/flower.db",
            "CREAM_BROKER_URL": redis_url.rsplit("/", 1)[0] + "/6",
            "FLOWER_ADDRESS": "127.0.0.1", "FLOWER_PORT": str(free_port()),
            "FLOWER_UNAUTHENTICATED_API": "true",  # must not open the API: the wrapper unsets it
            **extra}


@pytest.fixture(scope="module")
def flower(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("flower")
    env = flower_environment(redis_url, home, FLOWER_BASIC_AUTH=CREDENTIALS)
    url = f"http://127.0.0.1:{env['FLOWER_PORT']}"
    log = (home / "flower.log").open("wb")
    proc = subprocess.Popen(command("flower"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/healthcheck", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"Flower did not start:\n{(home / 'flower.log').read_text()}") from None
                time.sleep(0.2)
        assert f"Visit me at http://127.0.0.1:{env['FLOWER_PORT']}" in (home / "flower.log").read_text()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def get(url: str, auth: tuple[str, str] | None) -> int:
    with requests.Session() as session:
        session.trust_env = False  # no proxy between the test and loopback
        return session.get(url, auth=auth, timeout=15).status_code


@pytest.mark.parametrize("path", ["/", "/api/workers"])
def test_ui_and_api_answer_only_with_the_right_credentials(flower: str, path: str) -> None:
    assert get(flower + path, None) == 401
    assert get(flower + path, ("admin", "wrong")) == 401
    assert get(flower + path, ("someone", "correct-horse-battery")) == 401
    assert get(flower + path, ("admin", "correct-horse-battery")) == 200
    assert get(flower + path, ("ops", "staple-42")) == 200


@pytest.mark.parametrize("value", [None, "", "admin", "admin:", ":secret-pw", "admin:secret-pw,",
                                   ",admin:secret-pw", "admin:secret-pw,,ops:x"])
def test_flower_refuses_to_start_without_usable_credentials(redis_url: str, tmp_path: Path,
                                                            value: str | None) -> None:
    extra = {} if value is None else {"FLOWER_BASIC_AUTH": value}
    done = subprocess.run(command("flower"), env=flower_environment(redis_url, tmp_path, **extra), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and done.stderr.startswith("flower: ")
    assert "FLOWER_BASIC_AUTH" in done.stderr and "secret-pw" not in done.stderr
