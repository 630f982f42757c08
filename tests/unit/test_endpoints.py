"""Endpoint overrides are parsed as URLs: only a loopback URL replaces a provider's official endpoint,
and the clients Cream builds (alpaca-py, polygon-api-client, google-genai) contact nothing else."""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import urllib3
from google.genai._api_client import join_url_path

from cream import runtime
from cream.adapters.alpaca_broker import AlpacaBroker
from cream.adapters.candle_cache import CandleCache
from cream.adapters.polygon_data import PolygonMarketData
from cream.endpoints import endpoint
from cream.errors import ConfigurationError
from cream.llm.gemini import GeminiModel
from cream.schemas.decisions import Environment
from cream.services.runtime_config import active_trading_config, promote
from cream.storage.db import session_scope
from cream.storage.models import TradingConfigRow
from tests.integration.helpers import cream_environment

PAPER_HOST, LIVE_HOST = "paper-api.alpaca.markets", "api.alpaca.markets"
POLYGON_HOST, GEMINI_HOST = "api.polygon.io", "generativelanguage.googleapis.com"
PASSWORD = "s3cret-Pw"
OVERRIDES = ("CREAM_ALPACA_BASE_URL", "CREAM_POLYGON_BASE_URL", "CREAM_GEMINI_BASE_URL")
# google-genai runs on httpx or on its drop-in fork httpx2, whichever is installed.
httpx = importlib.import_module("httpx2" if importlib.util.find_spec("httpx") is None else "httpx")

REFUSED = [
    # reported: userinfo smuggling, a suffix domain
    "http://127.0.0.1@api.alpaca.markets", "http://127.0.0.1.evil.example",
    # userinfo with and without a password, and in other places
    f"http://user:{PASSWORD}@127.0.0.1:8080", "http://user@127.0.0.1",
    f"http://127.0.0.1:{PASSWORD}@evil.example",
    "http://127.0.0.1:8080@api.polygon.io", "http://@127.0.0.1", "http://evil.example#@127.0.0.1",
    "http://evil.example?@127.0.0.1", "http://127.0.0.1\\@evil.example", "http://127.0.0.1:8080\\@evil.example",
    # spellings of loopback that are not the plain ones
    "http://LOCALHOST:8080", "http://Localhost", "http://localhost.", "http://localhost.:8080",
    "http://127.0.0.1.", "http://localhost.evil.example", "http://localhost:8080.evil.example",
    "http://0x7f.1", "http://0x7f000001", "http://2130706433", "http://127.1", "http://0177.0.0.1",
    "http://127.000.000.001", "http://0.0.0.0", "http://0", "http://127.0.0.1.nip.io",
    # IPv6
    "http://[::ffff:8.8.8.8]", "http://[::ffff:127.0.0.1]", "http://[::ffff:7f00:1]", "http://[::1%25lo]",
    "http://[::]", "http://[::2]", "http://[fe80::1]", "http://::1", "http://[::1", "http://::1]:80",
    "http://[::1]x", "http://[127.0.0.1]",
    # ports
    "http://127.0.0.1:99999", "http://127.0.0.1:0", "http://127.0.0.1:-1", "http://127.0.0.1:+80",
    "http://127.0.0.1:80a", "http://127.0.0.1:", "http://127.0.0.1:80:80", "http://127.0.0.1:８０",
    # schemes
    "file:///etc/passwd", "javascript:", "javascript:alert(1)", "ftp://127.0.0.1", "ws://127.0.0.1",
    "127.0.0.1:8080", "//127.0.0.1", "http:/127.0.0.1", "http:127.0.0.1", "http:\\\\127.0.0.1",
    # percent-encoding, unicode digits and look-alikes
    "http://%31%32%37.0.0.1", "http://127.0.0.1%2eevil.example", "http://localhost%00.evil.example",
    "http://127.0.0.1/%2e%2e/x", "http://１２７.０.０.１", "http://١٢٧.0.0.1", "http://127。0。0。1",
    "http://ⓛocalhost", "http://locaⅼhost",
    # whitespace and control characters (urllib.parse silently drops some of them)
    "http://127.0.0.1\t.evil.example", "http://127.0.0.1\n", " http://127.0.0.1", "http://127.0.0.1 ",
    "http://127.0.0.1 @evil.example", "http://127.0.0.1\x00.evil.example", "http://127.0.0.1\r\n.evil.example",
    # no host at all, queries, fragments
    "", " ", "http://", "http://:8080", "http:///v2", "http://127.0.0.1/?x=1", "http://127.0.0.1#x",
    "http://127.0.0.1/v2?apiKey=x",
    # the live host in PAPER, and other real hosts
    "https://api.alpaca.markets", "https://paper-api.alpaca.markets.evil.example", "http://evil.example",
]

ACCEPTED = [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("http://127.1.2.3", "http://127.1.2.3"),
    ("https://localhost:8443/v1/", "https://localhost:8443/v1"),
    ("http://localhost", "http://localhost"),
    ("http://[::1]:9000", "http://[::1]:9000"),
    ("http://[0:0:0:0:0:0:0:1]:9000/", "http://[::1]:9000"),
    ("HTTP://127.0.0.1:08080", "http://127.0.0.1:8080"),
]


def _loopback(host: str | None) -> bool:
    host = (host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.mark.parametrize("url", REFUSED)
def test_an_override_that_is_not_a_plain_loopback_url_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        endpoint("CREAM_ALPACA_BASE_URL", url, "https://paper-api.alpaca.markets")
    message = str(refused.value)
    assert message.startswith("CREAM_ALPACA_BASE_URL is refused: ")
    assert "loopback" in message and "unset it to use https://paper-api.alpaca.markets" in message
    assert "\n" not in message and "\r" not in message and PASSWORD not in message


@pytest.mark.parametrize(("url", "normalised"), ACCEPTED)
def test_a_loopback_override_is_accepted_normalised_and_every_client_library_sees_loopback(
        url: str, normalised: str) -> None:
    got = endpoint("CREAM_POLYGON_BASE_URL", url, "https://api.polygon.io")
    assert got == normalised
    # The host each HTTP stack would connect to: requests/urllib3 (alpaca-py, polygon) and httpx (google-genai).
    prepared = requests.Request("GET", f"{got}/v2/account").prepare().url
    assert _loopback(urllib3.util.parse_url(prepared).host)
    assert _loopback(urllib3.util.parse_url(f"{got}/v2/aggs").host)
    assert _loopback(httpx.URL(f"{got}/v1beta/models/m:generateContent").host)


def test_without_an_override_the_official_url_and_the_official_url_itself_is_no_override() -> None:
    official = "https://api.polygon.io"
    assert endpoint("CREAM_POLYGON_BASE_URL", None, official) == official
    assert endpoint("CREAM_POLYGON_BASE_URL", "https://api.polygon.io/", official) == official


def test_adapters_built_directly_check_their_endpoint_too(tmp_path: Path) -> None:
    smuggled = "http://127.0.0.1@api.alpaca.markets"
    with pytest.raises(ConfigurationError, match="CREAM_ALPACA_BASE_URL"):
        AlpacaBroker("k", "s", paper=True, url_override=smuggled)
    with pytest.raises(ConfigurationError, match="CREAM_ALPACA_BASE_URL"):
        AlpacaBroker("k", "s", paper=True, url_override="https://api.alpaca.markets")  # paper never goes live
    with pytest.raises(ConfigurationError, match="CREAM_POLYGON_BASE_URL"):
        cache = CandleCache(f"sqlite:///{tmp_path}/c.db")
        PolygonMarketData("k", smuggled, limiter=None, cache=cache)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="CREAM_GEMINI_BASE_URL"):
        GeminiModel("k", base_url="http://127.0.0.1.evil.example")
    assert AlpacaBroker("k", "s", paper=True).base_url == "https://paper-api.alpaca.markets"
    assert AlpacaBroker("k", "s", paper=False).base_url == "https://api.alpaca.markets"


# --- the clients cream.runtime builds from the environment ---------------------------------------


def _clear_caches() -> None:
    runtime.market_data.cache_clear()
    runtime.language_model.cache_clear()
    runtime._alpaca.cache_clear()


@contextmanager
def fleet_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Iterator[None]:
    """A PAPER process with every key set, the given endpoint overrides and no others; caches cleared."""
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    env = {"CREAM_ENV": "PAPER", "CREAM_DATA_DIR": str(tmp_path),
           "CREAM_DATABASE_URL": f"sqlite:///{tmp_path}/e.db",
           "CREAM_BROKER_URL": "redis://127.0.0.1:9/0",  # never contacted: clients are built, not used
           "POLYGON_API_KEY": "pk", "ALPACA_API_KEY": "ak", "ALPACA_SECRET_KEY": "as", "GEMINI_API_KEY": "gk",
           # google-genai sends the key here when no base URL is passed: ours always passes one
           "GOOGLE_GEMINI_BASE_URL": "http://evil.example", **overrides}
    _clear_caches()
    try:
        with cream_environment(env):
            yield
    finally:
        _clear_caches()


def alpaca_host(environment: Environment) -> str | None:
    """The host alpaca-py's TradingClient sends ``GET /v2/account`` to (it joins base, version, path)."""
    with session_scope(readonly=True) as s:
        broker = runtime.broker(environment, active_trading_config(s, environment))
    base = broker._client._base_url  # type: ignore[attr-defined]
    return urllib3.util.parse_url(requests.Request("GET", f"{base}/v2/account").prepare().url).host


def polygon_host() -> str | None:
    """The host polygon-api-client's urllib3 pool is asked for (it requests ``BASE + path``)."""
    market = runtime.market_data()
    base = market.http.client.BASE  # type: ignore[attr-defined]
    return urllib3.util.parse_url(f"{base}/v2/aggs/ticker/X").host


def gemini_host() -> str | None:
    """The host of the generateContent request google-genai's own HTTP client builds."""
    api = runtime.language_model("gemini").inner._client._api_client  # type: ignore[attr-defined]
    url = join_url_path(api._http_options.base_url, "v1beta/models/m:generateContent")
    return str(api._httpx_client.build_request("POST", url).url.host)


def test_paper_without_overrides_contacts_the_official_paper_hosts(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with fleet_environment(tmp_path, monkeypatch):
        runtime.require_environment(Environment.PAPER)
        assert alpaca_host(Environment.PAPER) == PAPER_HOST
        assert polygon_host() == POLYGON_HOST
        assert gemini_host() == GEMINI_HOST  # not GOOGLE_GEMINI_BASE_URL's host


def test_paper_with_loopback_overrides_contacts_only_the_stand_ins(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with fleet_environment(tmp_path, monkeypatch, CREAM_ALPACA_BASE_URL="http://127.0.0.1:8001/",
                           CREAM_POLYGON_BASE_URL="http://localhost:8002",
                           CREAM_GEMINI_BASE_URL="http://[::1]:8003"):
        runtime.require_environment(Environment.PAPER)
        assert alpaca_host(Environment.PAPER) == "127.0.0.1"
        assert polygon_host() == "localhost"
        assert gemini_host() == "::1"


SMUGGLED = ["http://127.0.0.1@api.alpaca.markets", "http://localhost:1@api.polygon.io",
            "http://127.0.0.1.evil.example", "http://[::ffff:8.8.8.8]", f"http://u:{PASSWORD}@127.0.0.1",
            "https://api.alpaca.markets"]


@pytest.mark.parametrize("url", SMUGGLED)
@pytest.mark.parametrize("variable", OVERRIDES)
def test_a_smuggled_host_stops_the_process_at_start_and_no_client_is_built(
        variable: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = {"CREAM_ALPACA_BASE_URL": lambda: alpaca_host(Environment.PAPER),
             "CREAM_POLYGON_BASE_URL": polygon_host, "CREAM_GEMINI_BASE_URL": gemini_host}[variable]
    with fleet_environment(tmp_path, monkeypatch, **{variable: url}):
        with pytest.raises(ConfigurationError, match=f"^{variable} is refused") as at_start:
            runtime.require_environment(Environment.PAPER)  # what the CLI and every worker run first
        with pytest.raises(ConfigurationError, match=f"^{variable} is refused"):
            build()
    assert PASSWORD not in str(at_start.value)


def test_a_bad_gemini_override_stops_a_backtest_with_gemini_agents(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with fleet_environment(tmp_path, monkeypatch, CREAM_ENV="BACKTEST", CREAM_AGENTS="gemini",
                           CREAM_GEMINI_BASE_URL="http://127.0.0.1@generativelanguage.googleapis.com"):
        with pytest.raises(ConfigurationError, match=r"^CREAM_GEMINI_BASE_URL is refused"):
            runtime.require_environment(Environment.BACKTEST)


@pytest.mark.parametrize(("override", "host"), [(None, LIVE_HOST), ("http://127.0.0.1:8001", "127.0.0.1")])
def test_live_past_the_gate_contacts_the_live_host_or_a_loopback_stand_in(
        override: str | None, host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"CREAM_ALPACA_BASE_URL": override} if override else {}
    with fleet_environment(tmp_path, monkeypatch, CREAM_ENV="LIVE", CREAM_LIVE_CONFIRMATION="live-v1", **extra):
        with session_scope() as s:
            s.add(TradingConfigRow(id="live-v1", environment="LIVE", version=1, status="DRAFT"))
            s.flush()
            promote(s, "live-v1")
            promote(s, "live-v1")
        runtime.require_environment(Environment.LIVE)
        assert alpaca_host(Environment.LIVE) == host
        # The same settings in a PAPER process never reach the live host.
        assert alpaca_host(Environment.PAPER) == (PAPER_HOST if override is None else "127.0.0.1")
