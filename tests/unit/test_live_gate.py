"""The LIVE gate: every combination of environment, confirmation and LIVE configuration, and its message."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cream.config import Settings
from cream.errors import ConfigurationError
from cream.live_gate import require_live_allowed
from cream.schemas.decisions import Environment
from cream.services.runtime_config import promote, seed_defaults
from cream.storage import db
from cream.storage.models import TradingConfigRow

CONFIG_STATES = ("none", "DRAFT", "TEST", "ACTIVE")
CONFIRMATIONS = (None, "", "live-v0", "live-v1")


@pytest.fixture()
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    db.migrate(url)
    with db.session_scope(url) as s:
        seed_defaults(s)
        yield s


def with_live_config(s: Session, state: str) -> None:
    if state == "none":
        return
    s.add(TradingConfigRow(id="live-v1", environment="LIVE", version=1, status="DRAFT"))
    s.flush()
    for _ in range(CONFIG_STATES.index(state) - 1):
        promote(s, "live-v1")
    assert s.get(TradingConfigRow, "live-v1").status == state  # type: ignore[union-attr]


@pytest.mark.parametrize(("env", "confirmation", "state"),
                         list(itertools.product(Environment, CONFIRMATIONS, CONFIG_STATES)))
def test_live_starts_only_with_live_env_the_right_confirmation_and_an_active_config(
        session: Session, tmp_path: Path, env: Environment, confirmation: str | None, state: str) -> None:
    with_live_config(session, state)
    settings = Settings(env=env, live_confirmation=confirmation, data_dir=tmp_path)
    allowed = env is Environment.LIVE and state == "ACTIVE" and confirmation == "live-v1"
    if allowed:
        assert require_live_allowed(settings, session) == "live-v1"
        return
    with pytest.raises(ConfigurationError) as refused:
        require_live_allowed(settings, session)
    message = str(refused.value)
    if env is not Environment.LIVE:
        assert message == f"this process runs {env.value}; LIVE trading needs CREAM_ENV=LIVE"
    elif state != "ACTIVE":
        assert message.startswith("LIVE refused: no ACTIVE LIVE trading_config")
        assert ("none" if state == "none" else f"live-v1 ({state})") in message
        assert "cream config promote ID" in message
    elif not confirmation:
        assert message.startswith("LIVE refused: no confirmation; set CREAM_LIVE_CONFIRMATION=live-v1")
    else:
        assert message.startswith("LIVE refused: CREAM_LIVE_CONFIRMATION names 'live-v0'")


def test_nothing_reaches_live_by_default(session: Session, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.env is Environment.BACKTEST and settings.live_confirmation is None
    assert not [r for r in session.query(TradingConfigRow).all() if r.environment == "LIVE"]  # never seeded


def test_promotion_archives_the_previous_active_config(session: Session) -> None:
    session.add(TradingConfigRow(id="paper-v2", environment="PAPER", version=2, status="DRAFT"))
    session.flush()
    assert promote(session, "paper-v2").status == "TEST"
    assert session.get(TradingConfigRow, "paper-v1").status == "ACTIVE"  # type: ignore[union-attr]
    assert promote(session, "paper-v2").status == "ACTIVE"
    assert session.get(TradingConfigRow, "paper-v1").status == "ARCHIVED"  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="only DRAFT and TEST can be promoted"):
        promote(session, "paper-v2")
    with pytest.raises(ConfigurationError, match="no trading_config 'nope'"):
        promote(session, "nope")
