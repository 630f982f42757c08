"""A loopback stand-in for the Alpaca Trading API v2, speaking its wire format (JSON shapes, status codes,
error bodies ``{"code": ..., "message": ...}``) so the official alpaca-py client can be pointed at it.

In-memory state: account, positions, orders, assets. Marketable orders fill at once at the symbol's
configured price; the rest rest as ``new``. ``client_order_id`` uniqueness is enforced as Alpaca does.
Faults are queued with ``fail_next`` and apply to the next matching requests.

With ``sessions=True`` the stand-in lives on the fleet's clock (``cream.clock``, which a test moves) and
keeps Alpaca's rules over time: orders fill only while the NYSE regular session is open (placed outside
it they wait, ``accepted``, for the open); DAY orders, DAY bracket legs included, expire at the close;
GTC orders persist (Alpaca cancels them 90 days after they were placed); a price path the test feeds
with ``tick`` triggers resting stops and limits; the legs of a bracket wait (``held``) until its entry
fills, then one filling cancels the other, as do the two sides of an OCO; a sell may not exceed the
shares not already held for other open sell orders ("insufficient qty available"); options orders take
DAY only; brackets and OCOs take DAY or GTC only. Without ``sessions`` the market is always open and
nothing expires, for tests of single requests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from cream import clock, market_calendar

OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "held", "accepted_for_bidding",
                 "pending_cancel", "pending_replace", "done_for_day", "calculated", "stopped"}

# Fault kinds.
ACCEPT_THEN_504 = "accept_then_504"  # the order is created, then the gateway answers 504
SLOW = "slow"  # on an order POST the order is created first, then the answer stalls for `seconds`
RATE_LIMIT = "rate_limit"  # 429 without processing
ERROR_500 = "error_500"  # 500 without processing
MALFORMED = "malformed"  # processed, then a 200 whose body is not valid JSON
HOLD = "hold"  # the request is held unread for `seconds`, then dropped: no order, no answer

GTC_LIFETIME = timedelta(days=90)  # Alpaca cancels a GTC order this long after it was placed


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
                 cash: float = 100_000.0, *, sessions: bool = False,
                 now: Callable[[], datetime] = clock.now) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.fill_price = fill_price
        self.prices: dict[str, float] = {}
        self.cash = cash
        self.sessions, self.now = sessions, now
        self.market_open = True  # without sessions: whether orders fill
        self.assets: dict[str, dict[str, Any]] = {}
        for sym in ("AAPL", "MSFT", "SPY", "TSLA"):
            self.add_asset(sym)
        self.add_asset("DELISTED", tradable=False)
        self.orders: dict[str, dict[str, Any]] = {}  # every order and leg, by id
        self.by_client: dict[str, str] = {}
        self.positions: dict[str, dict[str, float]] = {}
        self.fills: list[dict[str, Any]] = []  # every execution: order id, symbol, side, qty, price, at
        self.orders_created = 0
        self.requests: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._parent_of: dict[str, str] = {}  # leg id -> its order's id
        self._seen_until: datetime | None = None  # sessions: expiries worked up to here
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
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

    def tick(self, symbol: str, price: float) -> list[dict[str, Any]]:
        """The market trades ``symbol`` at ``price`` now (the fleet's clock): resting orders it reaches
        fill while the session is open. Returns the orders that filled."""
        with self._lock:
            self.catch_up()
            self.prices[symbol] = price
            return self._work_resting(symbol)

    def catch_up(self) -> None:
        """Apply what the clock passing does: DAY orders expire at each close, GTC ones after 90 days,
        and orders waiting for the open go live (market orders fill at the open's first price)."""
        with self._lock:
            if not self.sessions:
                return
            now = self.now()
            since = self._seen_until or now
            self._seen_until = max(since, now)
            for day in market_calendar.trading_days(since.date() - timedelta(days=1), now.date()):
                hours = market_calendar.session(day)
                if hours is not None and since < hours[1] <= now:
                    self._expire(lambda o, close=hours[1]: o["time_in_force"] == "day" and _time(o["created_at"]) < close,
                                 hours[1])
            self._expire(lambda o: o["time_in_force"] == "gtc" and now - _time(o["created_at"]) >= GTC_LIFETIME, now)
            if self.is_open():
                for symbol in sorted({o["symbol"] for o in self._open()}):
                    self._work_resting(symbol)

    def is_open(self) -> bool:
        if not self.sessions:
            return self.market_open
        now = self.now()
        hours = market_calendar.session(now.astimezone(market_calendar.NEW_YORK).date())
        return hours is not None and hours[0] <= now < hours[1]

    def view(self, order: dict[str, Any], *, nested: bool) -> dict[str, Any]:
        """The order's JSON: its legs rolled up under it when ``nested``, else null (each is its own order)."""
        legs = [dict(leg, legs=None) for leg in order.get("legs") or []] if nested and order.get("legs") else None
        return dict(order, legs=legs)

    def placed(self) -> list[dict[str, Any]]:
        """The orders clients sent (legs are listed under theirs), oldest first."""
        with self._lock:
            return sorted((o for o in self.orders.values() if o["id"] not in self._parent_of),
                          key=lambda o: o["created_at"])

    def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    def open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every live order and leg (of ``symbol``), as GET /v2/orders lists them."""
        with self._lock:
            self.catch_up()
            return [o for o in self._open() if symbol in (None, o["symbol"])]

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
        available = qty - self._held(symbol, "sell" if qty > 0 else "buy") * (1 if qty > 0 else -1)
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol,
            "exchange": "" if option else "NASDAQ", "asset_class": "us_option" if option else "us_equity",
            "asset_marginable": not option, "qty": _num(qty), "qty_available": _num(available),
            "avg_entry_price": _num(avg), "side": "long" if qty > 0 else "short",
            "market_value": _num(qty * price * mult), "cost_basis": _num(qty * avg * mult),
            "unrealized_pl": _num(qty * (price - avg) * mult), "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0", "unrealized_intraday_plpc": "0", "current_price": _num(price),
            "lastday_price": _num(price), "change_today": "0"}

    def clock(self) -> dict[str, Any]:
        if not self.sessions:
            now = datetime.now(UTC).replace(microsecond=0)
            nxt_open = (now + timedelta(days=1)).replace(hour=14, minute=30, second=0)
            close = now.replace(hour=21, minute=0, second=0)
            if close <= now:
                close += timedelta(days=1)
        else:
            now = self.now().replace(microsecond=0)
            nxt_open, close = _next_session_edges(now)
        return {"timestamp": now.isoformat(), "is_open": self.is_open(), "next_open": nxt_open.isoformat(),
                "next_close": close.isoformat()}

    # --- orders ----------------------------------------------------------------------------------
    def create_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON) of an order POST, creating the order when it is valid."""
        with self._lock:
            self.catch_up()
            cid = body.get("client_order_id") or str(uuid.uuid4())
            if cid in self.by_client:
                return 422, {"code": 40010001, "message": "client_order_id must be unique"}
            problem = self._invalid(body)
            if problem is not None:
                return problem
            order = self._new_order(body, cid, body.get("order_class") or "simple")
            self.orders[order["id"]] = order
            for leg in order.get("legs") or []:
                self.orders[leg["id"]], self._parent_of[leg["id"]] = leg, order["id"]
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
        if typ in ("limit", "stop_limit") and body.get("limit_price") is None and order_class != "oco":
            return bad("limit_price is required for limit orders")
        if typ in ("stop", "stop_limit") and body.get("stop_price") is None:
            return bad("stop_price is required for stop orders")
        if order_class == "mleg":
            legs = body.get("legs") or []
            if not 2 <= len(legs) <= 4:
                return bad("mleg orders require 2 to 4 legs")
            if typ not in ("market", "limit"):
                return bad("mleg orders support only market and limit types")
            if tif != "day":
                return bad("options orders only support day time_in_force")
            return None
        symbol = body.get("symbol")
        if symbol not in self.assets and not _looks_like_occ(symbol):
            return bad(f'asset "{symbol}" not found')
        if symbol in self.assets and not self.assets[symbol]["tradable"]:
            return bad(f"asset {symbol} is not tradable")
        if _looks_like_occ(symbol) and tif != "day":
            return bad("options orders only support day time_in_force")
        if body.get("side") not in ("buy", "sell"):
            return bad("invalid side")
        if order_class in ("bracket", "oco"):
            if tif not in ("day", "gtc"):
                return bad(f"{order_class} orders must be day or gtc")
            if order_class == "oco" and typ != "limit":
                return bad("oco orders must be limit orders")
            if not (body.get("take_profit") or {}).get("limit_price"):
                return bad(f"{order_class} orders require take_profit.limit_price")
            if not (body.get("stop_loss") or {}).get("stop_price"):
                return bad(f"{order_class} orders require stop_loss.stop_price")
        held = self.positions.get(symbol, {}).get("qty", 0.0)
        closing = (held > 0 and body["side"] == "sell") or (held < 0 and body["side"] == "buy")
        if closing and qty > abs(held) - self._held(symbol, body["side"]):
            return 403, {"code": 40310000, "message": f"insufficient qty available for order (requested: {_num(qty)}, "
                                                      f"available: {_num(abs(held) - self._held(symbol, body['side']))})"}
        if body["side"] == "buy" and qty * self.price(symbol) * (100 if _looks_like_occ(symbol) else 1) > 2 * self.cash:
            return 403, {"code": 40310000, "message": "insufficient buying power"}
        return None

    def _held(self, symbol: str, side: str) -> float:
        """Shares of ``symbol`` held for open ``side`` orders: a bracket's two legs, or an OCO's two sides,
        hold them once."""
        held: dict[str, float] = {}
        for o in self._open():
            if o["symbol"] == symbol and o["side"] == side and o["status"] != "held":
                root = self._parent_of.get(o["id"], o["id"])
                held[root] = max(held.get(root, 0.0), float(o["qty"]) - float(o["filled_qty"]))
        return sum(held.values())

    def _new_order(self, body: dict[str, Any], cid: str, order_class: str) -> dict[str, Any]:
        now = _stamp(self.now() if self.sessions else datetime.now(UTC))
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
        elif order_class == "oco":  # the order is the take-profit limit; its one leg the stop
            order["limit_price"] = _str(body["take_profit"]["limit_price"])
            order["legs"] = [dict(self._child(order, order["side"], "stop", stop=body["stop_loss"]["stop_price"]),
                                  status="new")]
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

    def _open(self) -> list[dict[str, Any]]:
        return sorted((o for o in self.orders.values() if o["status"] in OPEN_STATUSES),
                      key=lambda o: o["created_at"])

    def _work(self, order: dict[str, Any]) -> None:
        """A new order: live at once while the session is open (marketable ones fill), else waiting."""
        order["status"] = "new" if self.is_open() else "accepted"
        if not self.is_open():
            return
        if order["order_class"] == "mleg":
            if order["type"] == "market" or (order["limit_price"] is not None and self._mleg_net(order) <= float(
                    order["limit_price"])):
                for leg in order["legs"]:
                    self._fill(leg, float(leg["qty"]), self.price(leg["symbol"]))
                self._fill(order, float(order["qty"]), abs(self._mleg_net(order)), book=False)
            return
        self._work_resting(order["symbol"])

    def _work_resting(self, symbol: str) -> list[dict[str, Any]]:
        """Fill every live order of ``symbol`` the current price reaches, oldest first."""
        if not self.is_open():
            return []
        done = []
        price = self.price(symbol)
        for o in self._open():
            if o["symbol"] != symbol or o["status"] == "held" or o["order_class"] == "mleg" or o["status"] not in OPEN_STATUSES:
                continue
            if o["status"] == "accepted":
                o["status"] = "new"
            side = 1 if o["side"] == "buy" else -1
            limit = float(o["limit_price"]) if o["limit_price"] else None
            stop = float(o["stop_price"]) if o["stop_price"] else None
            triggered = stop is None or side * (price - stop) >= 0
            marketable = limit is None or side * (limit - price) >= 0
            if not (triggered and marketable):
                continue
            self._fill(o, float(o["qty"]) - float(o["filled_qty"]), price)
            done.append(o)
            self._after_fill(o)
        return done

    def _after_fill(self, order: dict[str, Any]) -> None:
        """A bracket's entry filled: its legs go live. A leg or an OCO side filled: the other side is canceled."""
        now = _stamp(self.now() if self.sessions else datetime.now(UTC))
        if order["order_class"] == "bracket" and order["id"] not in self._parent_of:
            for leg in order["legs"] or []:
                leg["status"], leg["updated_at"] = "new", now
            return
        root = self.orders[self._parent_of.get(order["id"], order["id"])]
        for other in (root, *(root.get("legs") or [])):
            if other["id"] != order["id"] and other["status"] in OPEN_STATUSES:
                other.update(status="canceled", canceled_at=now, updated_at=now)

    def _expire(self, due: Callable[[dict[str, Any]], bool], at: datetime) -> None:
        for o in self._open():
            if due(o):
                o.update(status="expired", expired_at=_stamp(at), updated_at=_stamp(at))

    def _mleg_net(self, order: dict[str, Any]) -> float:
        return sum((1 if leg["side"] == "buy" else -1) * float(leg["ratio_qty"]) * self.price(leg["symbol"])
                   for leg in order["legs"])

    def _fill(self, order: dict[str, Any], qty: float, price: float, *, book: bool = True) -> None:
        at = self.now() if self.sessions else datetime.now(UTC)
        now = _stamp(at)
        order.update(status="filled", filled_qty=_num(float(order["filled_qty"]) + qty), filled_avg_price=_num(price),
                     filled_at=now, updated_at=now)
        if not book:
            return
        symbol, sign = order["symbol"], 1 if order["side"] == "buy" else -1
        self.fills.append({"order_id": order["id"], "client_order_id": order["client_order_id"], "symbol": symbol,
                           "side": order["side"], "qty": qty, "price": price, "at": at})
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
            self.catch_up()
            order = self.orders.get(order_id)
            if order is None:
                return 404, {"code": 40410000, "message": "order not found"}
            if order["status"] not in OPEN_STATUSES:
                return 422, {"code": 42210000, "message": f'order is already in "{order["status"]}" state'}
            now = _stamp(self.now() if self.sessions else datetime.now(UTC))
            order.update(status="canceled", canceled_at=now, updated_at=now)
            for leg in order.get("legs") or []:
                if leg["status"] in OPEN_STATUSES:
                    leg.update(status="canceled", canceled_at=now, updated_at=now)
            return 204, None


def _next_session_edges(now: datetime) -> tuple[datetime, datetime]:
    """(next open, next close) strictly after ``now``, from the NYSE calendar."""
    opens, closes = [], []
    day = now.astimezone(market_calendar.NEW_YORK).date()
    while not (opens and closes):
        hours = market_calendar.session(day)
        if hours is not None:
            opens += [hours[0]] if hours[0] > now else []
            closes += [hours[1]] if hours[1] > now else []
        day += timedelta(days=1)
    return opens[0], closes[0]


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


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

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
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
        st.catch_up()  # the clock moved since the last request: closes passed, the open came
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
            return 200, st.view(st.orders[oid], nested=False)
        nested = query.get("nested", "false").lower() == "true"
        if method == "GET" and path == "/v2/orders":
            wanted, symbols = query.get("status", "open"), set(filter(None, query.get("symbols", "").split(",")))
            try:
                limit = int(query.get("limit", "50"))
            except ValueError:
                return 422, {"code": 40010001, "message": "invalid limit"}
            if not 1 <= limit <= 500:
                return 422, {"code": 40010001, "message": "limit must be between 1 and 500"}
            with st._lock:
                listed = [o for o in st.orders.values() if not (nested and o["id"] in st._parent_of)
                          and (not symbols or o["symbol"] in symbols)
                          and (wanted == "all" or (wanted == "open") == (o["status"] in OPEN_STATUSES))]
                listed.sort(key=lambda o: o["submitted_at"], reverse=query.get("direction", "desc") == "desc")
                return 200, [st.view(o, nested=nested) for o in listed[:limit]]
        if path.startswith("/v2/orders/"):
            oid = path.rsplit("/", 1)[1]
            if method == "DELETE":
                return st.cancel(oid)
            with st._lock:
                return (200, st.view(st.orders[oid], nested=nested)) if oid in st.orders else (404, not_found)
        return 404, not_found
