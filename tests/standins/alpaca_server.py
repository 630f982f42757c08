"""A loopback stand-in for the Alpaca Trading API v2, speaking its wire format (JSON shapes, status codes,
error bodies ``{"code": ..., "message": ...}``) so the official alpaca-py client can be pointed at it.

In-memory state: account, positions, orders, assets. Marketable orders fill at once at the symbol's
configured price; the rest rest as ``new``. ``client_order_id`` uniqueness is enforced as Alpaca does.
Faults are queued with ``fail_next`` and apply to the next matching requests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "held", "accepted_for_bidding",
                 "pending_cancel", "pending_replace", "done_for_day", "calculated", "stopped"}

# Fault kinds.
ACCEPT_THEN_504 = "accept_then_504"  # the order is created, then the gateway answers 504
SLOW = "slow"  # on an order POST the order is created first, then the answer stalls for `seconds`
RATE_LIMIT = "rate_limit"  # 429 without processing
ERROR_500 = "error_500"  # 500 without processing
MALFORMED = "malformed"  # processed, then a 200 whose body is not valid JSON
HOLD = "hold"  # the request is held unread for `seconds`, then dropped: no order, no answer


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(x: float) -> str:
    return format(round(x, 6), "f").rstrip("0").rstrip(".") or "0"


@dataclass
class Fault:
    kind: str
    method: str
    path_prefix: str
    remaining: int
    seconds: float = 0.0


class AlpacaStandIn:
    """Start with ``with AlpacaStandIn() as alpaca: alpaca.url``; knobs and counters are attributes."""

    def __init__(self, api_key: str = "test-key", secret_key: str = "test-secret", fill_price: float = 100.0,
                 cash: float = 100_000.0) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.fill_price = fill_price
        self.prices: dict[str, float] = {}
        self.cash = cash
        self.market_open = True
        self.assets: dict[str, dict[str, Any]] = {}
        for sym in ("AAPL", "MSFT", "SPY", "TSLA"):
            self.add_asset(sym)
        self.add_asset("DELISTED", tradable=False)
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_client: dict[str, str] = {}
        self.positions: dict[str, dict[str, float]] = {}
        self.orders_created = 0
        self.requests: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> AlpacaStandIn:
        stand_in = self

        class Handler(_Handler):
            server_state = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="alpaca-standin",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- knobs -----------------------------------------------------------------------------------
    def add_asset(self, symbol: str, *, tradable: bool = True, asset_class: str = "us_equity") -> None:
        self.assets[symbol] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "class": asset_class, "exchange": "NASDAQ",
            "symbol": symbol, "name": f"{symbol} Inc. Common Stock", "status": "active" if tradable else "inactive",
            "tradable": tradable, "marginable": True, "maintenance_margin_requirement": 30, "shortable": True,
            "easy_to_borrow": True, "fractionable": True, "attributes": []}

    def fail_next(self, kind: str, times: int = 1, *, method: str = "POST", path: str = "/v2/orders",
                  seconds: float = 0.0) -> None:
        with self._lock:
            self._faults.append(Fault(kind, method, path, times, seconds))

    def price(self, symbol: str) -> float:
        return self.prices.get(symbol, self.fill_price)

    def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.remaining > 0 and f.method == method and path.startswith(f.path_prefix):
                    f.remaining -= 1
                    return f
        return None

    # --- resources -------------------------------------------------------------------------------
    def account(self) -> dict[str, Any]:
        long_value = sum(p["qty"] * self.price(s) * p["multiplier"] for s, p in self.positions.items())
        equity = self.cash + long_value
        return {
            "id": "904837e3-3b76-47ec-b432-046db621571b", "account_number": "PA3LJCC7K2A0", "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD", "buying_power": _num(2 * self.cash),
            "regt_buying_power": _num(2 * self.cash), "daytrading_buying_power": _num(4 * self.cash),
            "non_marginable_buying_power": _num(self.cash), "options_buying_power": _num(self.cash),
            "cash": _num(self.cash), "accrued_fees": "0", "portfolio_value": _num(equity),
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "created_at": "2024-01-02T15:04:05.123456Z",
            "trade_suspended_by_user": False, "multiplier": "2", "shorting_enabled": True,
            "equity": _num(equity), "last_equity": _num(equity), "long_market_value": _num(long_value),
            "short_market_value": "0", "initial_margin": "0", "maintenance_margin": "0",
            "last_maintenance_margin": "0", "sma": "0", "daytrade_count": 0, "options_approved_level": 3,
            "options_trading_level": 3}

    def position_json(self, symbol: str, p: dict[str, float]) -> dict[str, Any]:
        qty, avg, price, mult = p["qty"], p["avg"], self.price(symbol), p["multiplier"]
        option = mult != 1
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol,
            "exchange": "" if option else "NASDAQ", "asset_class": "us_option" if option else "us_equity",
            "asset_marginable": not option, "qty": _num(qty), "qty_available": _num(qty),
            "avg_entry_price": _num(avg), "side": "long" if qty > 0 else "short",
            "market_value": _num(qty * price * mult), "cost_basis": _num(qty * avg * mult),
            "unrealized_pl": _num(qty * (price - avg) * mult), "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0", "current_price": _num(price),
            "lastday_price": _num(price), "change_today": "0"}

    def clock(self) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0)
        nxt = (now + timedelta(days=1)).replace(hour=14, minute=30, second=0)
        close = now.replace(hour=21, minute=0, second=0)
        if close <= now:
            close += timedelta(days=1)
        return {"timestamp": now.isoformat(), "is_open": self.market_open, "next_open": nxt.isoformat(),
                "next_close": close.isoformat()}

    # --- orders ----------------------------------------------------------------------------------
    def create_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON) of an order POST, creating the order when it is valid."""
        with self._lock:
            cid = body.get("client_order_id") or str(uuid.uuid4())
            if cid in self.by_client:
                return 422, {"code": 40010001, "message": "client_order_id must be unique"}
            problem = self._invalid(body)
            if problem is not None:
                return problem
            order = self._new_order(body, cid, body.get("order_class") or "simple")
            self.orders[order["id"]] = order
            self.by_client[cid] = order["id"]
            self.orders_created += 1
            self._work(order)
            return 200, order

    def _invalid(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        def bad(msg: str) -> tuple[int, dict[str, Any]]:
            return 422, {"code": 40010001, "message": msg}

        order_class = body.get("order_class") or "simple"
        typ, tif = body.get("type"), body.get("time_in_force")
        if typ not in ("market", "limit", "stop", "stop_limit", "trailing_stop"):
            return bad(f"invalid order type: {typ}")
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            return bad("invalid time_in_force")
        try:
            qty = float(body.get("qty", 0))
        except (TypeError, ValueError):
            return bad("invalid qty")
        if qty <= 0:
            return bad("qty must be > 0")
        if typ in ("limit", "stop_limit") and body.get("limit_price") is None:
            return bad("limit_price is required for limit orders")
        if typ in ("stop", "stop_limit") and body.get("stop_price") is None:
            return bad("stop_price is required for stop orders")
        if order_class == "mleg":
            legs = body.get("legs") or []
            if not 2 <= len(legs) <= 4:
                return bad("mleg orders require 2 to 4 legs")
            if typ not in ("market", "limit"):
                return bad("mleg orders support only market and limit types")
            return None
        symbol = body.get("symbol")
        if symbol not in self.assets and not _looks_like_occ(symbol):
            return bad(f'asset "{symbol}" not found')
        if symbol in self.assets and not self.assets[symbol]["tradable"]:
            return bad(f"asset {symbol} is not tradable")
        if body.get("side") not in ("buy", "sell"):
            return bad("invalid side")
        if order_class == "bracket":
            if not (body.get("take_profit") or {}).get("limit_price"):
                return bad("bracket orders require take_profit.limit_price")
            if not (body.get("stop_loss") or {}).get("stop_price"):
                return bad("bracket orders require stop_loss.stop_price")
        if body["side"] == "buy" and qty * self.price(symbol) * (100 if _looks_like_occ(symbol) else 1) > 2 * self.cash:
            return 403, {"code": 40310000, "message": "insufficient buying power"}
        return None

    def _new_order(self, body: dict[str, Any], cid: str, order_class: str) -> dict[str, Any]:
        now = _now()
        symbol = body.get("symbol") or ""
        option = order_class == "mleg" or _looks_like_occ(symbol)
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()), "client_order_id": cid, "created_at": now, "updated_at": now,
            "submitted_at": now, "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": None if order_class == "mleg" else str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "symbol": symbol, "asset_class": "us_option" if option else "us_equity", "notional": None,
            "qty": _num(float(body["qty"])), "filled_qty": "0", "filled_avg_price": None, "order_class": order_class,
            "order_type": body.get("type"), "type": body.get("type"), "side": body.get("side") or "",
            "position_intent": body.get("position_intent"), "time_in_force": body.get("time_in_force"),
            "limit_price": _str(body.get("limit_price")), "stop_price": _str(body.get("stop_price")),
            "status": "accepted", "extended_hours": bool(body.get("extended_hours", False)), "legs": None,
            "trail_percent": None, "trail_price": None, "hwm": None, "subtag": None, "source": None,
            "expires_at": None}
        if order_class == "bracket":
            exit_side = "sell" if body["side"] == "buy" else "buy"
            tp = self._child(order, exit_side, "limit", limit=body["take_profit"]["limit_price"])
            sl = self._child(order, exit_side, "stop", stop=body["stop_loss"]["stop_price"])
            order["legs"] = [tp, sl]
        elif order_class == "mleg":
            order["legs"] = [dict(self._child(order, leg.get("side", "buy"), body["type"], symbol=leg["symbol"]),
                                  ratio_qty=_num(float(leg.get("ratio_qty", 1))), position_intent=leg.get("position_intent"),
                                  qty=_num(float(body["qty"]) * float(leg.get("ratio_qty", 1))))
                             for leg in body["legs"]]
        return order

    def _child(self, parent: dict[str, Any], side: str, typ: str, *, symbol: str | None = None,
               limit: float | None = None, stop: float | None = None) -> dict[str, Any]:
        return {**parent, "id": str(uuid.uuid4()), "client_order_id": str(uuid.uuid4()),
                "symbol": symbol if symbol is not None else parent["symbol"], "side": side, "type": typ,
                "order_type": typ, "limit_price": _str(limit), "stop_price": _str(stop), "legs": None,
                "status": "held"}

    def _work(self, order: dict[str, Any]) -> None:
        """Fill a marketable order at once at the configured price; leave the rest as ``new``."""
        order["status"] = "new"
        if not self.market_open:
            return
        if order["order_class"] == "mleg":
            if order["type"] == "market" or (order["limit_price"] is not None and self._mleg_net(order) <= float(
                    order["limit_price"])):
                for leg in order["legs"]:
                    self._fill(leg, float(leg["qty"]), self.price(leg["symbol"]))
                self._fill(order, float(order["qty"]), abs(self._mleg_net(order)), book=False)
            return
        price, side = self.price(order["symbol"]), 1 if order["side"] == "buy" else -1
        limit = float(order["limit_price"]) if order["limit_price"] else None
        stop = float(order["stop_price"]) if order["stop_price"] else None
        triggered = stop is None or side * (price - stop) >= 0
        marketable = limit is None or side * (limit - price) >= 0
        if triggered and marketable:
            self._fill(order, float(order["qty"]), price)
            for leg in order.get("legs") or []:
                leg["status"] = "new"

    def _mleg_net(self, order: dict[str, Any]) -> float:
        return sum((1 if leg["side"] == "buy" else -1) * float(leg["ratio_qty"]) * self.price(leg["symbol"])
                   for leg in order["legs"])

    def _fill(self, order: dict[str, Any], qty: float, price: float, *, book: bool = True) -> None:
        now = _now()
        order.update(status="filled", filled_qty=_num(qty), filled_avg_price=_num(price), filled_at=now,
                     updated_at=now)
        if not book:
            return
        symbol, sign = order["symbol"], 1 if order["side"] == "buy" else -1
        mult = 100 if order["asset_class"] == "us_option" else 1
        self.cash -= sign * qty * price * mult
        p = self.positions.setdefault(symbol, {"qty": 0.0, "avg": price, "multiplier": mult})
        new_qty = p["qty"] + sign * qty
        if new_qty == 0:
            del self.positions[symbol]
            return
        if p["qty"] == 0 or (p["qty"] > 0) == (sign > 0):
            p["avg"] = (p["qty"] * p["avg"] + sign * qty * price) / new_qty
        p["qty"] = new_qty

    def cancel(self, order_id: str) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, {"code": 40410000, "message": "order not found"}
            if order["status"] not in OPEN_STATUSES:
                return 422, {"code": 42210000, "message": f'order is already in "{order["status"]}" state'}
            now = _now()
            order.update(status="canceled", canceled_at=now, updated_at=now)
            for leg in order.get("legs") or []:
                if leg["status"] in OPEN_STATUSES:
                    leg.update(status="canceled", canceled_at=now, updated_at=now)
            return 204, None


def _str(x: object) -> str | None:
    return None if x is None else _num(float(x))  # type: ignore[arg-type]


def _looks_like_occ(symbol: object) -> bool:
    return isinstance(symbol, str) and len(symbol) > 15 and symbol[-9] in "CP" and symbol[-8:].isdigit()


class _Handler(BaseHTTPRequestHandler):
    server_state: AlpacaStandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, payload: Any = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): exactly what a stalled gateway looks like

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        st = self.server_state
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        st.requests.append((method, path))
        if self.headers.get("APCA-API-KEY-ID") != st.api_key or \
                self.headers.get("APCA-API-SECRET-KEY") != st.secret_key:
            return self._send(401, {"code": 40110000, "message": "request is not authorized"})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = st._take_fault(method, path)
        if fault is not None and fault.kind == HOLD:
            time.sleep(fault.seconds)
            self.close_connection = True
            return None
        if fault is not None and fault.kind == RATE_LIMIT:
            return self._send(429, {"code": 42910000, "message": "rate limit exceeded"})
        if fault is not None and fault.kind == ERROR_500:
            return self._send(500, {"code": 50010000, "message": "internal server error occurred"})
        if fault is not None and fault.kind == SLOW and method != "POST":
            time.sleep(fault.seconds)
        status, payload = self._route(method, path, query, body)
        if fault is None:
            return self._send(status, payload)
        if fault.kind == ACCEPT_THEN_504:
            return self._send(504, raw=b"<html><body><h1>504 Gateway Time-out</h1></body></html>")
        if fault.kind == SLOW:
            if method == "POST":
                time.sleep(fault.seconds)
            return self._send(status, payload)
        if fault.kind == MALFORMED:
            return self._send(200, raw=b'{"id": "truncated", "status": ')
        raise ValueError(f"unknown fault {fault.kind}")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        st = self.server_state
        not_found = {"code": 40410000, "message": "resource not found"}
        if method == "POST" and path == "/v2/orders":
            try:
                return st.create_order(json.loads(body or b"{}"))
            except json.JSONDecodeError:
                return 400, {"code": 40010000, "message": "request body format is invalid"}
        if method == "GET" and path == "/v2/account":
            return 200, st.account()
        if method == "GET" and path == "/v2/positions":
            with st._lock:
                return 200, [st.position_json(s, p) for s, p in st.positions.items()]
        if method == "GET" and path == "/v2/clock":
            return 200, st.clock()
        if method == "GET" and path.startswith("/v2/assets/"):
            symbol = path.rsplit("/", 1)[1]
            asset = st.assets.get(symbol)
            return (200, asset) if asset else (404, {"code": 40410000, "message": f"asset not found for {symbol}"})
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            cid = query.get("client_order_id", "")
            oid = st.by_client.get(cid)
            if oid is None:
                return 404, {"code": 40410000, "message": f"order not found for {cid}"}
            return 200, st.orders[oid]
        if method == "GET" and path == "/v2/orders":
            wanted = query.get("status", "open")
            with st._lock:
                orders = [o for o in st.orders.values() if wanted == "all"
                          or (wanted == "open") == (o["status"] in OPEN_STATUSES)]
            return 200, sorted(orders, key=lambda o: o["submitted_at"], reverse=True)
        if path.startswith("/v2/orders/"):
            oid = path.rsplit("/", 1)[1]
            if method == "DELETE":
                return st.cancel(oid)
            return (200, st.orders[oid]) if oid in st.orders else (404, not_found)
        return 404, not_found
