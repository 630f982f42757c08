"""A loopback stand-in for Polygon's REST API, speaking its documented wire format.

Bars come from real Polygon 5-minute files (``datetime,symbol,open,high,low,close,volume,vwap,
transactions``, prices as traded) aggregated to the requested window, as Polygon documents its
Custom Bars endpoint:

* windows are snapped to the clock: N-minute and N-hour windows start at multiples of the window
  (1-minute bars are split evenly out of each 5-minute bar, so they add back up to it), day windows
  at New York midnight; ``t`` is the window start in ms; a ``from`` inside a window is snapped back
  to its start; extended hours are included; a window with no trade has no bar;
* ``adjusted=true`` (the default) divides prices before each split's execution date by its ratio
  (and multiplies volumes), for every split the stand-in knows at request time (``add_split``
  teaches it one mid-run); dividends never adjust aggregates, as on Polygon; ``adjusted=false``
  serves the bars as traded;
* ``limit`` (default 5,000, at most 50,000) counts *base* aggregates, minutes for minute and hour
  windows (5 per 5-minute source bar) and days for day windows: a page holds the whole bars built
  from at most ``limit`` base bars, ``queryCount`` says how many, and ``next_url`` (a ``cursor``)
  continues after it; ``sort=desc`` pages newest first.

Endpoints: ``/v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}``, ``/v3/reference/splits``,
``/v3/reference/dividends``, ``/v2/snapshot/locale/us/markets/stocks/tickers/{t}``,
``/v2/last/nbbo/{t}``, ``/v3/snapshot/options/{underlying}`` (the chain) and
``/v3/snapshot/options/{underlying}/{contract}`` (one contract). Knobs: ``fail_next(n, 429 | 500 |
"malformed")``, ``add_split``, ``add_dividend``, ``unquoted`` (contracts served without a
``last_quote``, as Polygon does when it has none); every request is recorded (path, query, monotonic time).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlparse
from zoneinfo import ZoneInfo

import numpy as np

from cream.adapters.local_history import read_polygon_5m
from cream.adapters.resample import BarTable
from tests.standins.polygon_options import option_chain

NEW_YORK = ZoneInfo("America/New_York")
_SPAN_SECONDS = {"minute": 60, "hour": 3600}
_PRICES = ("o", "h", "l", "c", "vw")


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


def _aggregate(table: BarTable, keys_ms: np.ndarray, base: np.ndarray) -> tuple[list[dict[str, Any]], list[int]]:
    """One aggregate per run of equal keys, and the base bars (minutes or days) each was built from."""
    if len(table) == 0:
        return [], []
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
    return out, np.add.reduceat(base, first).astype(int).tolist()


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
        self.unquoted: set[str] = set()  # OCC tickers ("O:...") served without a last_quote
        self._aggregates: dict[tuple[str, int, str, bool], tuple[list[dict[str, Any]], list[int]]] = {}
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle and knobs ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # http.server's name
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
            self.unquoted.clear()

    def add_split(self, ticker: str, split: dict[str, Any]) -> None:
        """Polygon learns of a split (``execution_date``, ``split_from``, ``split_to``): from now on it is
        listed and adjusted aggregates divide the prices before its execution date."""
        with self._lock:
            self.splits_by_symbol.setdefault(ticker, []).append(dict(split))
            self._aggregates = {k: v for k, v in self._aggregates.items() if k[0] != ticker}

    def add_dividend(self, ticker: str, dividend: dict[str, Any]) -> None:
        """Polygon learns of a cash dividend: it is listed; aggregates are not adjusted for dividends."""
        with self._lock:
            self.dividends_by_symbol.setdefault(ticker, []).append(dict(dividend))

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
            if parts[:3] == ["v3", "snapshot", "options"] and len(parts) == 5:
                return self._contract(h, parts[3], unquote(parts[4]))
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

    @staticmethod
    def _state(query: dict[str, str]) -> dict[str, Any]:
        """The query a page answers: the request's, or the first page's carried in its cursor."""
        cursor = json.loads(base64.urlsafe_b64decode(query["cursor"])) if "cursor" in query else {}
        return {k: v for k, v in query.items() if k != "cursor"} | cursor

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str], path: str, default_limit: int,
              max_limit: int) -> tuple[list[dict[str, Any]], str | None]:
        state = self._state(query)
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
        return [dict(r) for r in self._windows(ticker, multiplier, timespan, adjusted)[0]]

    def _windows(self, ticker: str, multiplier: int, timespan: str,
                 adjusted: bool) -> tuple[list[dict[str, Any]], list[int]]:
        key = (ticker, multiplier, timespan, adjusted)
        with self._lock:
            known = self._aggregates.get(key)
            splits = list(self.splits_by_symbol.get(ticker, []))
        if known is None:
            known = self._compute(ticker, multiplier, timespan, splits if adjusted else [])
            with self._lock:
                self._aggregates[key] = known
        return known

    def _compute(self, ticker: str, multiplier: int, timespan: str,
                 splits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
        table = self._table(ticker)
        if table is None:
            return [], []
        if timespan == "day" and multiplier == 1:
            days = [datetime.fromtimestamp(int(t), NEW_YORK).date() for t in table.ts]
            keys = np.array([_ny_midnight_ms(d) for d in days], dtype=np.int64)
            base = np.r_[True, keys[1:] != keys[:-1]].astype(np.int64)  # one day bar per day
        elif timespan in _SPAN_SECONDS and multiplier > 0:
            step = multiplier * _SPAN_SECONDS[timespan]
            if step % 300:
                table = _minutes(table)
            keys = (table.ts - table.ts % step) * 1000
            base = np.full(len(table), 1 if step % 300 else 5, dtype=np.int64)
        else:
            raise ValueError(f"unsupported window {multiplier}/{timespan}")
        rows, bases = _aggregate(table, keys, base)
        for split in splits:  # the files hold prices as traded
            cut = _ny_midnight_ms(date.fromisoformat(split["execution_date"]))
            ratio = split["split_to"] / split["split_from"]
            for r in rows:
                if r["t"] < cut:
                    r.update({k: round(r[k] / ratio, 4) for k in _PRICES})
                    r["v"] = r["v"] * ratio
        return rows, bases

    @staticmethod
    def _bound_ms(value: str, upper: bool) -> int:
        if value.isdigit():
            return int(value)
        d = date.fromisoformat(value)
        return _ny_midnight_ms(d + timedelta(days=1)) - 1 if upper else _ny_midnight_ms(d)

    @staticmethod
    def _snap(ms: int, multiplier: int, timespan: str) -> int:
        """The start of the window holding ``ms`` (Polygon snaps ``from`` back to a whole window)."""
        if timespan in _SPAN_SECONDS:
            step = multiplier * _SPAN_SECONDS[timespan] * 1000
            return ms - ms % step
        return _ny_midnight_ms(datetime.fromtimestamp(ms / 1000, NEW_YORK).date())

    def _aggs(self, ticker: str, multiplier: int, timespan: str, lo: str, hi: str,
              query: dict[str, str]) -> dict[str, Any]:
        cursor = json.loads(base64.urlsafe_b64decode(query["cursor"])) if "cursor" in query else {}
        state = {k: v for k, v in query.items() if k != "cursor"} | cursor
        adjusted = str(state.get("adjusted", "true")).lower() != "false"
        a, b = self._snap(self._bound_ms(lo, False), multiplier, timespan), self._bound_ms(hi, True)
        rows, bases = self._windows(ticker, multiplier, timespan, adjusted)
        chosen = [i for i, r in enumerate(rows) if a <= r["t"] <= b]
        if state.get("sort", "asc") == "desc":
            chosen.reverse()
        # A page holds the whole bars built from at most ``limit`` base bars (at least one bar).
        limit, offset = min(int(state.get("limit", 5000)), 50000), int(state.get("offset", 0))
        stop, used = offset, 0
        while stop < len(chosen) and (stop == offset or used + bases[chosen[stop]] <= limit):
            used += bases[chosen[stop]]
            stop += 1
        page = [dict(rows[i]) for i in chosen[offset:stop]]
        body: dict[str, Any] = {"ticker": ticker, "queryCount": used, "resultsCount": len(page),
                                "adjusted": adjusted, "status": "OK", "request_id": uuid.uuid4().hex,
                                "count": len(page)}
        if page:
            body["results"] = page
        if stop < len(chosen):
            token = base64.urlsafe_b64encode(json.dumps(state | {"offset": stop}).encode()).decode()
            path = f"/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{lo}/{hi}"
            body["next_url"] = f"{self.url}{path}?cursor={token}"
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
        rows = [] if last is None else option_chain(underlying, *last)
        return [{k: v for k, v in r.items() if k != "last_quote"} if r["details"]["ticker"] in self.unquoted else r
                for r in rows]

    def _chain(self, h: BaseHTTPRequestHandler, underlying: str, query: dict[str, str], path: str) -> None:
        rows = self.option_contracts(underlying)
        if not rows:
            return self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex})
        rows = [r for r in rows if _chain_filters_pass(r["details"], self._state(query))]
        page, next_url = self._page(rows, query, path, 10, 250)
        body = {"status": "OK", "request_id": uuid.uuid4().hex, "results": page}
        if next_url:
            body["next_url"] = next_url
        self._json(h, 200, body)

    def _contract(self, h: BaseHTTPRequestHandler, underlying: str, ticker: str) -> None:
        """One contract's snapshot: the chain's object for it under ``results`` (Polygon's
        ``/v3/snapshot/options/{underlyingAsset}/{optionContract}``)."""
        found = next((r for r in self.option_contracts(underlying) if r["details"]["ticker"] == ticker), None)
        if found is None:
            return self._json(h, 404, {"status": "NOT_FOUND", "request_id": uuid.uuid4().hex,
                                       "message": "Contract not found."})
        self._json(h, 200, {"status": "OK", "request_id": uuid.uuid4().hex, "results": found})


_COMPARE = {"": lambda a, b: a == b, "gte": lambda a, b: a >= b, "gt": lambda a, b: a > b,
            "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b}


def _chain_filters_pass(details: dict[str, Any], query: dict[str, Any]) -> bool:
    """Polygon's chain snapshot filters: ``strike_price`` and ``expiration_date`` with an optional
    ``.gte``/``.gt``/``.lte``/``.lt``, and ``contract_type``."""
    for key, raw in query.items():
        field, _, op = str(key).partition(".")
        if field == "contract_type" and not op:
            if details["contract_type"] != raw:
                return False
        elif field in ("strike_price", "expiration_date") and op in _COMPARE:
            have, want = (details[field], float(raw)) if field == "strike_price" else (details[field], str(raw))
            if not _COMPARE[op](have, want):
                return False
    return True
