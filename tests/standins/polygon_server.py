"""A loopback stand-in for Polygon's REST API, speaking its documented wire format.

Bars come from real Polygon 5-minute files (``datetime,symbol,open,high,low,close,volume,vwap,
transactions``) aggregated to the requested window: N-minute and N-hour buckets aligned on the clock
(1-minute bars are split evenly out of each 5-minute bar, so they add back up to it), day bars per
New York date stamped at New York midnight. Extended hours are included, as Polygon does.

Endpoints: ``/v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}`` (``adjusted``, ``sort``, ``limit``,
``next_url`` pages), ``/v3/reference/splits``, ``/v3/reference/dividends``,
``/v2/snapshot/locale/us/markets/stocks/tickers/{t}``, ``/v2/last/nbbo/{t}``,
``/v3/snapshot/options/{underlying}``. Knobs: ``fail_next(n, 429 | 500 | "malformed")``; every
request is recorded (path, query, monotonic time).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse
from zoneinfo import ZoneInfo

import numpy as np

from cream.adapters.local_history import read_polygon_5m
from cream.adapters.resample import BarTable

NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc
_SPAN_SECONDS = {"minute": 60, "hour": 3600}


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    at: float
    authorization: str


def _ny_midnight_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=NEW_YORK).timestamp() * 1000)


def _minutes(table: BarTable) -> BarTable:
    """Each 5-minute bar as five 1-minute bars that aggregate back to it."""
    n = len(table)
    k = np.arange(5)
    path = table.open[:, None] + (table.close - table.open)[:, None] * np.arange(6)[None, :] / 5
    o, c = path[:, :5], path[:, 1:]
    h, low = np.maximum(o, c), np.minimum(o, c)
    h[:, 1] = table.high  # the extremes happen inside the bar, so they survive re-aggregation
    low[:, 3] = table.low
    h, low = np.maximum(h, np.maximum(o, c)), np.minimum(low, np.minimum(o, c))
    trades = np.repeat(table.trades // 5, 5).reshape(n, 5)
    trades[:, 0] += table.trades % 5
    return BarTable(ts=(table.ts[:, None] + 60 * k[None, :]).ravel(), end=(table.ts[:, None] + 60 * (k + 1)).ravel(),
                    open=o.ravel(), high=h.ravel(), low=low.ravel(), close=c.ravel(),
                    volume=np.repeat(table.volume / 5, 5), vwap=np.repeat(table.vwap, 5), trades=trades.ravel())


def _aggregate(table: BarTable, keys_ms: np.ndarray) -> list[dict[str, Any]]:
    if len(table) == 0:
        return []
    first = np.flatnonzero(np.r_[True, keys_ms[1:] != keys_ms[:-1]])
    last = np.r_[first[1:], len(table)] - 1
    volume = np.add.reduceat(table.volume, first)
    notional = np.add.reduceat(table.vwap * table.volume, first)
    out = []
    for i, (a, b) in enumerate(zip(first.tolist(), last.tolist())):
        v = float(volume[i])
        out.append({"v": v, "vw": round(float(notional[i]) / v, 4) if v > 0 else float(table.close[b]),
                    "o": float(table.open[a]), "c": float(table.close[b]),
                    "h": float(table.high[a:b + 1].max()), "l": float(table.low[a:b + 1].min()),
                    "t": int(keys_ms[a]), "n": int(table.trades[a:b + 1].sum())})
    return out


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _bs(spot: float, strike: float, years: float, vol: float, call: bool, rate: float = 0.04) -> dict[str, float]:
    d1 = (math.log(spot / strike) + (rate + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    disc = math.exp(-rate * years)
    if call:
        price, delta = spot * _norm_cdf(d1) - strike * disc * _norm_cdf(d2), _norm_cdf(d1)
        theta = -spot * pdf * vol / (2 * math.sqrt(years)) - rate * strike * disc * _norm_cdf(d2)
    else:
        price, delta = strike * disc * _norm_cdf(-d2) - spot * _norm_cdf(-d1), _norm_cdf(d1) - 1
        theta = -spot * pdf * vol / (2 * math.sqrt(years)) + rate * strike * disc * _norm_cdf(-d2)
    return {"price": price, "delta": delta, "gamma": pdf / (spot * vol * math.sqrt(years)),
            "theta": theta / 365, "vega": spot * pdf * math.sqrt(years) / 100}


class PolygonStandIn:
    """``with PolygonStandIn(directory) as polygon: RESTClient(key, base=polygon.url)``."""

    def __init__(self, directory: Path, api_key: str = "test-key",
                 splits: dict[str, list[dict[str, Any]]] | None = None,
                 dividends: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.files = {p.name[: -len(".csv.gz")]: p for p in Path(directory).glob("*.csv.gz")}
        self.api_key = api_key
        self.splits_by_symbol = splits or {}
        self.dividends_by_symbol = dividends or {}
        self.requests: list[Recorded] = []
        self._faults: deque[tuple[int | str | None, str]] = deque()
        self._lock = threading.Lock()
        self._tables: dict[str, BarTable] = {}
        self._aggregates: dict[tuple[str, int, str, bool], list[dict[str, Any]]] = {}
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle and knobs ---------------------------------------------------------------------

    def __enter__(self) -> PolygonStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stand_in._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, n: int, kind: int | str, path_prefix: str = "/", after: int = 0) -> None:
        """The next ``n`` requests under ``path_prefix`` (once ``after`` of them have passed) answer
        HTTP ``kind`` or, for "malformed", broken JSON."""
        with self._lock:
            self._faults.extend([(None, path_prefix)] * after + [(kind, path_prefix)] * n)

    def count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(r.path.startswith(path_prefix) for r in self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    # --- dispatch --------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        query = dict(parse_qsl(parsed.query))
        auth = h.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Recorded(parsed.path, query, time.monotonic(), auth))
            fault = next((f for f in self._faults if parsed.path.startswith(f[1])), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None and fault[0] is not None:
            kind = fault[0]
            if kind == "malformed":
                return self._send(h, 200, b'{"status":"OK","results":[{"o":1.0,"h":')
            message = ("You've exceeded the maximum requests per minute, please wait or upgrade your "
                       "subscription to continue. https://polygon.io/pricing") if kind == 429 else "Internal error"
            return self._json(h, int(kind), {"status": "ERROR", "request_id": uuid.uuid4().hex, "error": message})
        if auth != f"Bearer {self.api_key}":
            return self._json(h, 401, {"status": "NOT_AUTHORIZED", "request_id": uuid.uuid4().hex,
                                       "message": "Unknown API Key"})
        parts = parsed.path.strip("/").split("/")
        try:
            if parts[:3] == ["v2", "aggs", "ticker"] and len(parts) == 9 and parts[4] == "range":
                return self._json(h, 200, self._aggs(parts[3], int(parts[5]), parts[6], parts[7], parts[8], query))
            if parts[:3] == ["v3", "reference", "splits"]:
                return self._json(h, 200, self._listing(self.splits_by_symbol, query, parsed.path))
            if parts[:3] == ["v3", "reference", "dividends"]:
                return self._json(h, 200, self._listing(self.dividends_by_symbol, query, parsed.path))
            if parts[:6] == ["v2", "snapshot", "locale", "us", "markets", "stocks"] and len(parts) == 8:
                return self._snapshot(h, parts[7])
            if parts[:3] == ["v2", "last", "nbbo"] and len(parts) == 4:
                return self._nbbo(h, parts[3])
            if parts[:3] == ["v3", "snapshot", "options"] and len(parts) == 4:
                return self._chain(h, parts[3], query, parsed.path)
        except ValueError as exc:
            return self._json(h, 400, {"status": "ERROR", "request_id": uuid.uuid4().hex, "error": str(exc)})
        self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex, "message": "Not found"})

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _json(self, h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        self._send(h, status, json.dumps(payload).encode())

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str], path: str, default_limit: int,
              max_limit: int) -> tuple[list[dict[str, Any]], str | None]:
        cursor = json.loads(base64.urlsafe_b64decode(query["cursor"])) if "cursor" in query else {}
        state = {k: v for k, v in query.items() if k != "cursor"} | cursor
        limit = min(int(state.get("limit", default_limit)), max_limit)
        offset = int(state.get("offset", 0))
        page = rows[offset:offset + limit]
        if offset + limit >= len(rows):
            return page, None
        token = base64.urlsafe_b64encode(json.dumps(state | {"offset": offset + limit}).encode()).decode()
        return page, f"{self.url}{path}?cursor={token}"

    # --- aggregates ------------------------------------------------------------------------------

    def _table(self, ticker: str) -> BarTable | None:
        if ticker not in self.files:
            return None
        with self._lock:
            if ticker not in self._tables:
                self._tables[ticker] = read_polygon_5m(self.files[ticker])
            return self._tables[ticker]

    def bars(self, ticker: str, multiplier: int, timespan: str, adjusted: bool = True) -> list[dict[str, Any]]:
        """Every aggregate of the ticker's history at this window (what the endpoint pages through)."""
        key = (ticker, multiplier, timespan, adjusted)
        with self._lock:
            known = self._aggregates.get(key)
        if known is None:
            known = self._compute(ticker, multiplier, timespan, adjusted)
            with self._lock:
                self._aggregates[key] = known
        return [dict(r) for r in known]

    def _compute(self, ticker: str, multiplier: int, timespan: str, adjusted: bool) -> list[dict[str, Any]]:
        table = self._table(ticker)
        if table is None:
            return []
        if timespan == "day" and multiplier == 1:
            days = [datetime.fromtimestamp(int(t), NEW_YORK).date() for t in table.ts]
            keys = np.array([_ny_midnight_ms(d) for d in days], dtype=np.int64)
        elif timespan in _SPAN_SECONDS and multiplier > 0:
            step = multiplier * _SPAN_SECONDS[timespan]
            if step % 300:
                table = _minutes(table)
            keys = (table.ts - table.ts % step) * 1000
        else:
            raise ValueError(f"unsupported window {multiplier}/{timespan}")
        rows = _aggregate(table, keys)
        if not adjusted:
            for split in self.splits_by_symbol.get(ticker, []):
                cut = _ny_midnight_ms(date.fromisoformat(split["execution_date"]))
                factor = split["split_to"] / split["split_from"]
                for r in rows:
                    if r["t"] < cut:
                        for k in ("o", "h", "l", "c", "vw"):
                            r[k] = round(r[k] * factor, 4)
                        r["v"] = r["v"] / factor
        return rows

    @staticmethod
    def _bound_ms(value: str, upper: bool) -> int:
        if value.isdigit():
            return int(value)
        d = date.fromisoformat(value)
        return _ny_midnight_ms(d + timedelta(days=1)) - 1 if upper else _ny_midnight_ms(d)

    def _aggs(self, ticker: str, multiplier: int, timespan: str, lo: str, hi: str,
              query: dict[str, str]) -> dict[str, Any]:
        state = query | (json.loads(base64.urlsafe_b64decode(query["cursor"])) if "cursor" in query else {})
        adjusted = str(state.get("adjusted", "true")).lower() != "false"
        a, b = self._bound_ms(lo, False), self._bound_ms(hi, True)
        rows = [r for r in self.bars(ticker, multiplier, timespan, adjusted) if a <= r["t"] <= b]
        if state.get("sort", "asc") == "desc":
            rows.reverse()
        page, next_url = self._page(rows, query, f"/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{lo}/{hi}",
                                    5000, 50000)
        body: dict[str, Any] = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page),
                                "adjusted": adjusted, "status": "OK", "request_id": uuid.uuid4().hex,
                                "count": len(page)}
        if page:
            body["results"] = page
        if next_url:
            body["next_url"] = next_url
        return body

    # --- reference data, snapshots, options ------------------------------------------------------

    def _listing(self, by_symbol: dict[str, list[dict[str, Any]]], query: dict[str, str], path: str) -> dict[str, Any]:
        cursor = json.loads(base64.urlsafe_b64decode(query["cursor"])) if "cursor" in query else {}
        ticker = cursor.get("ticker") or query.get("ticker")
        rows = [dict(r, ticker=t, id=f"E{abs(hash((t, json.dumps(r, sort_keys=True)))) % 10**12}")
                for t, records in sorted(by_symbol.items()) if ticker in (None, t) for r in records]
        page, next_url = self._page(rows, query, path, 10, 1000)
        body = {"status": "OK", "request_id": uuid.uuid4().hex, "results": page}
        if next_url:
            body["next_url"] = next_url
        return body

    def _last(self, ticker: str) -> tuple[float, int] | None:
        table = self._table(ticker)
        if table is None or len(table) == 0:
            return None
        return float(table.close[-1]), int(table.end[-1]) * 10**9

    def _snapshot(self, h: BaseHTTPRequestHandler, ticker: str) -> None:
        last = self._last(ticker)
        if last is None:
            return self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex,
                                       "message": "Ticker not found."})
        price, ns = last
        day = self.bars(ticker, 1, "day")[-1]
        prev = self.bars(ticker, 1, "day")[-2]
        self._json(h, 200, {"status": "OK", "request_id": uuid.uuid4().hex, "ticker": {
            "ticker": ticker, "todaysChange": round(price - prev["c"], 4),
            "todaysChangePerc": round((price / prev["c"] - 1) * 100, 4), "updated": ns,
            "day": {k: day[k] for k in ("o", "h", "l", "c", "v", "vw")},
            "prevDay": {k: prev[k] for k in ("o", "h", "l", "c", "v", "vw")},
            "lastQuote": {"p": round(price - 0.01, 2), "s": 2, "P": round(price + 0.01, 2), "S": 3, "t": ns},
            "lastTrade": {"c": [14, 41], "i": "71675577320245", "p": price, "s": 100, "t": ns, "x": 4},
            "min": {k: day[k] for k in ("o", "h", "l", "c", "v", "vw")} | {"t": ns // 10**6, "n": 1}}})

    def _nbbo(self, h: BaseHTTPRequestHandler, ticker: str) -> None:
        last = self._last(ticker)
        if last is None:
            return self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex})
        price, ns = last
        self._json(h, 200, {"status": "OK", "request_id": uuid.uuid4().hex, "results": {
            "T": ticker, "p": round(price - 0.01, 2), "s": 2, "P": round(price + 0.01, 2), "S": 3,
            "t": ns, "y": ns, "q": 1, "x": 11, "X": 12, "z": 3}})

    def option_contracts(self, underlying: str) -> list[dict[str, Any]]:
        """The chain: two monthly expiries, nine strikes around the last close, calls and puts."""
        last = self._last(underlying)
        if last is None:
            return []
        spot, ns = last
        today = datetime.fromtimestamp(ns / 1e9, UTC).date()
        step = 5.0 if spot > 100 else 1.0
        centre = round(spot / step) * step
        out = []
        for months in (1, 2):
            first = date(today.year + (today.month + months - 1) // 12, (today.month + months - 1) % 12 + 1, 1)
            expiry = first + timedelta(days=(4 - first.weekday()) % 7 + 14)  # third Friday
            years = (expiry - today).days / 365
            for i in range(-4, 5):
                strike = centre + i * step
                for call in (True, False):
                    vol = 0.25 + 0.02 * abs(i)
                    g = _bs(spot, strike, years, vol, call)
                    price = max(round(g["price"], 2), 0.01)
                    occ = f"{underlying}{expiry:%y%m%d}{'C' if call else 'P'}{int(round(strike * 1000)):08d}"
                    out.append({
                        "break_even_price": strike + price if call else strike - price,
                        "day": {"close": price, "open": price, "high": price, "low": price, "volume": 10,
                                "vwap": price, "change": 0, "change_percent": 0, "previous_close": price,
                                "last_updated": ns},
                        "details": {"contract_type": "call" if call else "put", "exercise_style": "american",
                                    "expiration_date": expiry.isoformat(), "shares_per_contract": 100,
                                    "strike_price": strike, "ticker": f"O:{occ}"},
                        "greeks": {k: round(g[k], 6) for k in ("delta", "gamma", "theta", "vega")},
                        "implied_volatility": vol, "open_interest": 100 + 10 * abs(i),
                        "last_quote": {"ask": round(price + 0.05, 2), "ask_size": 10,
                                       "bid": max(round(price - 0.05, 2), 0.0), "bid_size": 10,
                                       "last_updated": ns, "midpoint": price, "timeframe": "REAL-TIME"},
                        "last_trade": {"price": price, "size": 1, "sip_timestamp": ns, "exchange": 65,
                                       "conditions": [209], "timeframe": "REAL-TIME"},
                        "underlying_asset": {"price": spot, "ticker": underlying, "last_updated": ns,
                                             "timeframe": "REAL-TIME", "change_to_break_even": 0.0},
                    })
        return out

    def _chain(self, h: BaseHTTPRequestHandler, underlying: str, query: dict[str, str], path: str) -> None:
        rows = self.option_contracts(underlying)
        if not rows:
            return self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex})
        page, next_url = self._page(rows, query, path, 10, 250)
        body = {"status": "OK", "request_id": uuid.uuid4().hex, "results": page}
        if next_url:
            body["next_url"] = next_url
        self._json(h, 200, body)
