"""Settings from the environment (prefix ``CREAM_``): frozen, unknown keys rejected.

With nothing set, Cream runs BACKTEST on SQLite and an embedded Redis under ``~/.cream``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cream.schemas.decisions import Environment


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREAM_", frozen=True, extra="forbid")

    env: Environment = Environment.BACKTEST
    data_dir: Path = Field(default=Path.home() / ".cream")
    database_url: str | None = Field(default=None, description="Default: SQLite file in data_dir.")
    broker_url: str | None = Field(default=None, description="Redis URL. Default: embedded Redis.")
    result_backend: str | None = Field(default=None, description="Default: the broker URL.")
    history_dir: Path | None = Field(default=None, description="Local bars for BACKTEST. Default: sample.")
    book: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    # Redelivery of a task a dead worker held. Must exceed the longest task run plus every retry
    # countdown (cream/timeouts.py). Default: 240 s with rule agents, 420 s with LLM agents; tests
    # shorten it to prove redelivery inside their window.
    visibility_timeout: int | None = Field(default=None, ge=5)
    # How often a worker sweeps for messages a dead worker held past the visibility timeout.
    restore_interval: int = Field(default=30, ge=1)
    startup_timeout: float = Field(default=300.0, gt=0)  # seconds a local fleet's workers may take to start
    log_level: str = "INFO"
    # The id of the ACTIVE LIVE trading_config, typed by whoever starts LIVE (see cream.live_gate).
    live_confirmation: str | None = None
    # PAPER and LIVE: provider credentials under the providers' usual names (never logged), and endpoint
    # overrides (tests point the official clients at loopback stand-ins).
    polygon_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POLYGON_API_KEY", "CREAM_POLYGON_API_KEY"))
    alpaca_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ALPACA_API_KEY", "CREAM_ALPACA_API_KEY"))
    alpaca_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ALPACA_SECRET_KEY", "CREAM_ALPACA_SECRET_KEY"))
    polygon_base_url: str = "https://api.polygon.io"
    alpaca_base_url: str | None = Field(default=None, description="Default: Alpaca's paper or live endpoint.")
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY", "CREAM_GEMINI_API_KEY"))
    gemini_base_url: str | None = Field(default=None, description="Default: Google's endpoint. Loopback only.")
    gemini_max_retries: int = Field(default=3, ge=0)  # on 429, 5xx and timeouts, with backoff
    gemini_backoff_s: float = Field(default=1.0, ge=0)
    # Who the agents are. Default: rules in BACKTEST, Gemini in PAPER and LIVE (the only choice there).
    # In BACKTEST, "gemini" runs and records the LLM agents, "replay" re-runs from recorded replies only.
    agents: Literal["rules", "gemini", "replay"] | None = None
    polygon_requests_per_second: float = Field(default=5.0, gt=0)  # shared by every worker (Redis bucket)
    polygon_burst: int = Field(default=5, ge=1)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir / 'cream.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
