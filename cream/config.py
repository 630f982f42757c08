"""Settings from the environment (prefix ``CREAM_``): frozen, unknown keys rejected.

With nothing set, Cream runs BACKTEST on SQLite and an embedded Redis under ``~/.cream``.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from cream.errors import ConfigurationError
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.decisions import Environment

BOOK_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
BOOK_RULE = "1-40 lower-case letters, digits, '_' or '-', starting with a letter or digit"
# CREAM_ variables read only by the project's own shell scripts (scripts/setup.sh, test.sh,
# backtest-sample.sh), never by Settings: allowed in the environment, see README "Configuration".
SCRIPT_VARIABLES = frozenset({"CREAM_VENV"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREAM_", frozen=True, extra="forbid")

    env: Environment = Environment.BACKTEST
    data_dir: Path = Field(default=Path.home() / ".cream")
    database_url: str | None = Field(default=None, description="Default: SQLite file in data_dir.")
    broker_url: str | None = Field(default=None, description="Redis URL. Default: embedded Redis.")
    result_backend: str | None = Field(default=None, description="Default: the broker URL.")
    history_dir: Path | None = Field(default=None, description="Local bars for BACKTEST. Default: sample.")
    option_model: OptionModel = OptionModel()  # BACKTEST's option pricing, as JSON (schemas.config.OptionModel)
    option_chains: OptionChains = OptionChains()  # what of each chain observe marks, as JSON (same module)
    book: str = "default"  # BOOK_PATTERN
    # Redelivery of a task a dead worker held. Must exceed the longest task run plus every retry
    # countdown (cream/timeouts.py). Default: 240 s with rule agents, 420 s with LLM agents; tests
    # shorten it to prove redelivery inside their window.
    visibility_timeout: int | None = Field(default=None, ge=5)
    # How often a worker sweeps for messages a dead worker held past the visibility timeout.
    restore_interval: int = Field(default=30, ge=1)
    startup_timeout: float = Field(default=300.0, gt=0)  # seconds a local fleet's workers may take to start
    log_level: str = "INFO"
    # Tests only: a file holding the fleet's current time (cream.clock); LIVE refuses it.
    clock_file: Path | None = None
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

    def __init__(self, **values: Any) -> None:
        """Settings from the environment; ConfigurationError, in one line, for an unknown CREAM_ variable
        or a value that does not validate."""
        unknown = unknown_variables(os.environ)
        if unknown:
            raise ConfigurationError(describe_unknown(unknown))
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(describe_invalid(exc)) from None
        except SettingsError as exc:  # a JSON value that is not JSON (CREAM_OPTION_MODEL)
            field = re.search(r'field "(\w+)"', str(exc))
            name = (str(self.model_config.get("env_prefix") or "") + (field.group(1) if field else "?")).upper()
            raise ConfigurationError(f"{name}: not a JSON object; fix or unset it") from None

    @field_validator("*", mode="before")
    @classmethod
    def _not_empty(cls, v: Any, info: ValidationInfo) -> Any:
        if not (isinstance(v, str) and not v.strip()):
            return v
        if cls.model_fields[info.field_name or ""].default is None:
            return None  # an optional setting given empty is unset: an empty key is a missing key
        raise ValueError("it is empty")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @field_validator("book")
    @classmethod
    def _book(cls, v: str) -> str:
        if not re.fullmatch(BOOK_PATTERN, v):
            raise ValueError(f"a book name is {BOOK_RULE}")
        return v

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        if v.upper() not in LOG_LEVELS:
            raise ValueError(f"use one of {', '.join(LOG_LEVELS)}")
        return v.upper()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith(("postgresql://", "postgres://")):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir / 'cream.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def known_variables() -> frozenset[str]:
    """Every CREAM_ variable Cream reads: one per Settings field (its alias if it has one), and the scripts'."""
    prefix = str(Settings.model_config.get("env_prefix") or "")
    names = set(SCRIPT_VARIABLES)
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        else:
            names.add(alias if isinstance(alias, str) else prefix + name)
    return frozenset(n.upper() for n in names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Names in ``environ`` with the CREAM_ prefix (any case, as pydantic-settings reads them) that
    nothing reads: a typo there would otherwise be ignored in silence."""
    known = known_variables()
    return sorted(k for k in environ if k.upper().startswith("CREAM_") and k.upper() not in known)


def describe_unknown(names: list[str]) -> str:
    shown = [_show_name(n) + (f" (did you mean {close}?)" if (close := _close_variable(n)) else "") for n in names]
    return (f"unknown environment variable{'s' if len(names) > 1 else ''} {', '.join(shown)}: unset "
            f"{'them' if len(names) > 1 else 'it'} (README.md, Configuration, lists every CREAM_ variable)")


def _close_variable(name: str) -> str | None:
    """The known variable ``name`` was probably meant to be, if one is close (a typo, or a longer name)."""
    tails = {k.removeprefix("CREAM_"): k for k in known_variables() if k.startswith("CREAM_")}
    tail = name.upper().removeprefix("CREAM_")
    close = difflib.get_close_matches(tail, tails, n=1) or [t for t in sorted(tails) if tail.startswith(t)][-1:]
    return tails[close[0]] if close else None


def describe_invalid(exc: ValidationError) -> str:
    """One line naming each variable that does not validate, its value and what it may be."""
    prefix = str(Settings.model_config.get("env_prefix") or "")
    parts = []
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else "settings"
        field = Settings.model_fields.get(loc)
        variable = (prefix + loc).upper() if field is not None else loc.upper()
        secret = field is None or field.validation_alias is not None  # provider keys: never echoed
        value = "" if secret else f"={_show_value(error.get('input'))}"
        choices = _choices(field) if field is not None else []
        message = str(error["msg"]).removeprefix("Value error, ")
        why = (f"must be one of {', '.join(choices)} (exact spelling, no spaces)" if choices
               else message[:1].lower() + message[1:])
        inner = ".".join(str(k) for k in error["loc"][1:])  # a key inside a JSON value (CREAM_OPTION_MODEL)
        parts.append(f"{variable}{value}: {inner + ' ' if inner else ''}{why}")
    return "; ".join(parts) + f"; fix or unset {'them' if len(parts) > 1 else 'it'}"


def _choices(field: FieldInfo) -> list[str]:
    """The values an enum or Literal field allows ([] for any other type)."""
    annotation = field.annotation
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    out: list[str] = []
    for member in members:
        if isinstance(member, type) and issubclass(member, Enum):
            out += [str(m.value) for m in member]
        elif get_origin(member) is Literal:
            out += [str(a) for a in get_args(member)]
    return out


def _show_value(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return ascii(text if len(text) <= limit else text[:limit] + "...")


def _show_name(name: str) -> str:
    return name if name.isascii() and name.isprintable() else ascii(name)
