"""The Alpaca broker (PAPER and LIVE) behind the ``Broker`` port, through the official alpaca-py client.

Two things alpaca-py does by default that an order path must not (alpaca-py 0.44, ``alpaca/common/rest.py``):

* ``RESTClient._one_request`` calls ``self._session.request(...)`` with no ``timeout``: a stalled
  connection hangs forever. We replace the client's ``requests.Session`` with one that puts
  ``timeout=`` on every request.
* ``RESTClient._request`` retries any request — POSTs included — that answers 429 or 504, up to
  3 times, 3 s apart. A 504 after an order POST is an ambiguous outcome; replaying the POST is the
  blind resubmission our rules forbid. ``retry_attempts=0`` cannot switch it off (the constructor
  ignores values <= 0), so we set ``_retry = 0`` and ``_retry_codes = []`` on the built client.
  Retrying GETs is the caller's business (TransientError → backoff), so nothing is retried here.

Both touch private attributes; ``_harden`` checks they exist so an alpaca-py upgrade that renames
them fails loudly at start instead of silently bringing back the hang and the retries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import requests
from alpaca.common.enums import BaseURL
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, QueryOrderStatus, TimeInForce
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OptionLegRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest

from cream.endpoints import endpoint
from cream.errors import (
    AmbiguousOutcome,
    ConfigurationError,
    CreamError,
    RejectedDefinitively,
    TransientError,
    UnknownInstrument,
)
from cream.ports import AccountSnapshot, ProtectiveLeg
from cream.schemas.decisions import OrderType, RiskDenomination
from cream.schemas.decisions import TimeInForce as PlanTif
from cream.schemas.instruments import OccSymbol, multi_leg_legs
from cream.schemas.orders import FillReport, OrderPurpose, OrderRequest, OrderSide, OrderStatus, OrderUpdate

_DUPLICATE = "client_order_id must be unique"
_LIST_LIMIT = 500  # Alpaca's maximum page of GET /v2/orders

_STATUS = {
    "new": OrderStatus.SUBMITTED, "accepted": OrderStatus.SUBMITTED, "pending_new": OrderStatus.SUBMITTED,
    "accepted_for_bidding": OrderStatus.SUBMITTED, "pending_replace": OrderStatus.SUBMITTED,
    "pending_cancel": OrderStatus.SUBMITTED, "pending_review": OrderStatus.SUBMITTED,
    "held": OrderStatus.SUBMITTED, "calculated": OrderStatus.SUBMITTED, "stopped": OrderStatus.SUBMITTED,
    "suspended": OrderStatus.SUBMITTED, "done_for_day": OrderStatus.SUBMITTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED, "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED, "expired": OrderStatus.CANCELED, "replaced": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}
_DONE_WITHOUT_FILL = {"canceled", "expired", "replaced"}


class Account(NamedTuple):
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    daytrade_count: int
    pattern_day_trader: bool
    status: str


class BrokerPosition(NamedTuple):
    symbol: str
    quantity: int  # signed: positive long, negative short
    avg_entry_price: Decimal
    market_price: Decimal | None
    asset_class: str


class Clock(NamedTuple):
    is_open: bool
    next_open: datetime
    next_close: datetime


class _TimeoutSession(requests.Session):
    """A session that never sends a request without a timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _harden(client: TradingClient, timeout: float) -> None:
    for attr in ("_session", "_retry", "_retry_codes"):
        if not hasattr(client, attr):
            raise ConfigurationError(f"alpaca-py changed RESTClient internals (no {attr}); review _harden in "
                                     "cream/adapters/alpaca_broker.py before trading")
    client._session = _TimeoutSession(timeout)
    client._retry = 0
    client._retry_codes = []


# --- mapping (pure) ------------------------------------------------------------------------------

def _price(p: float) -> float:
    """Alpaca accepts 2 decimals at or above $1 and 4 below."""
    return round(p, 2) if abs(p) >= 1 else round(p, 4)


def to_alpaca_request(order: OrderRequest) -> AlpacaOrderRequest:
    """The alpaca-py request for one of our orders (the client_order_id always set).

    A multi-leg instrument becomes an ``mleg`` order whose legs buy positive ratios (sell them when the
    order side is SELL); its limit is the net price, negative for the credit a SELL receives. An equity ENTRY carrying both levels on the entry side (BUY: stop below target;
    SELL: stop above target) becomes a bracket; a PROTECTION order becomes an OCO exit (take-profit limit
    and stop). STOP triggers at ``stop_price``; STOP_LIMIT triggers at ``stop_price``, limited at
    ``limit_price``. The time in force is ``time_in_force_for``'s; what Alpaca cannot honour is refused.
    """
    side = AlpacaSide.BUY if order.side is OrderSide.BUY else AlpacaSide.SELL
    common: dict[str, Any] = {"qty": order.quantity, "time_in_force": _TIF[time_in_force_for(order)],
                              "client_order_id": order.client_order_id}
    legs = multi_leg_legs(order.instrument_id)
    if legs is not None:
        flip = order.side is OrderSide.SELL
        common["order_class"] = OrderClass.MLEG
        common["legs"] = [OptionLegRequest(symbol=occ, ratio_qty=abs(r),
                                           side=AlpacaSide.BUY if (r > 0) != flip else AlpacaSide.SELL)
                          for r, occ in legs]
    else:
        common["symbol"], common["side"] = order.symbol, side
        if order.purpose is OrderPurpose.PROTECTION:
            assert order.stop_loss is not None and order.take_profit is not None
            return LimitOrderRequest(order_class=OrderClass.OCO, **common,
                                     take_profit=TakeProfitRequest(limit_price=_price(order.take_profit)),
                                     stop_loss=StopLossRequest(stop_price=_price(order.stop_loss)))
        if _is_bracket(order):
            assert order.stop_loss is not None and order.take_profit is not None
            common["order_class"] = OrderClass.BRACKET
            common["take_profit"] = TakeProfitRequest(limit_price=_price(order.take_profit))
            common["stop_loss"] = StopLossRequest(stop_price=_price(order.stop_loss))
    kind = OrderType(order.order_type)
    if kind is OrderType.MARKET:
        return MarketOrderRequest(**common)
    if legs is not None and kind is not OrderType.LIMIT:
        raise RejectedDefinitively(f"Alpaca multi-leg orders are market or limit only, not {kind}")
    needs = {OrderType.LIMIT: ("limit_price",), OrderType.STOP: ("stop_price",),
             OrderType.STOP_LIMIT: ("stop_price", "limit_price")}[kind]
    missing = [name for name in needs if getattr(order, name) is None]
    if missing:
        raise RejectedDefinitively(f"{kind} order {order.client_order_id} has no {' or '.join(missing)}")
    if kind is OrderType.LIMIT:
        assert order.limit_price is not None
        # an mleg limit is the strategy's net price: positive a debit paid, negative a credit received
        # (selling a debit strategy turns every leg around and receives its price)
        net = -order.limit_price if legs is not None and order.side is OrderSide.SELL else order.limit_price
        return LimitOrderRequest(limit_price=_price(net), **common)
    if kind is OrderType.STOP:
        return StopOrderRequest(stop_price=_price(order.stop_price), **common)  # type: ignore[arg-type]
    return StopLimitOrderRequest(stop_price=_price(order.stop_price),  # type: ignore[arg-type]
                                 limit_price=_price(order.limit_price), **common)  # type: ignore[arg-type]


_TIF = {PlanTif.DAY: TimeInForce.DAY, PlanTif.GTC: TimeInForce.GTC, PlanTif.IOC: TimeInForce.IOC,
        PlanTif.FOK: TimeInForce.FOK}


def time_in_force_for(order: OrderRequest) -> PlanTif:
    """How long the order lives at Alpaca; RejectedDefinitively (nothing sent) for what Alpaca cannot honour.

    Protection outlives the session: a bracket entered at MARKET goes GTC (the entry fills at once, so its
    time in force only decides how long its stop and target live) and a PROTECTION OCO is GTC. A resting
    bracket entry keeps the plan's DAY or GTC, which its legs share (DAY legs that expire at the close are
    re-placed as a GTC OCO by the next reconciliation). Options take DAY only; brackets and OCOs, DAY or GTC.
    """
    wanted, option = order.time_in_force, _is_option(order)
    if option and (wanted is not PlanTif.DAY or order.purpose is OrderPurpose.PROTECTION):
        what = "protection of an option position" if order.purpose is OrderPurpose.PROTECTION else f"{wanted} options orders"
        raise RejectedDefinitively(f"Alpaca cannot hold {what}: options orders are DAY only and never OCO "
                                   f"({order.client_order_id})")
    if order.purpose is OrderPurpose.PROTECTION:
        return PlanTif.GTC
    if _is_bracket(order):
        if wanted not in (PlanTif.DAY, PlanTif.GTC):
            raise RejectedDefinitively(f"Alpaca brackets are DAY or GTC; the plan asks {wanted} for "
                                       f"{order.client_order_id}")
        return PlanTif.GTC if OrderType(order.order_type) is OrderType.MARKET else wanted
    return wanted


def _is_option(order: OrderRequest) -> bool:
    if multi_leg_legs(order.instrument_id) is not None:
        return True
    try:
        OccSymbol.parse(order.symbol)
        return True
    except ValueError:
        return False


def _is_bracket(order: OrderRequest) -> bool:
    if order.purpose is not OrderPurpose.ENTRY or order.stop_loss is None or order.take_profit is None:
        return False
    if _is_option(order):
        return False  # Alpaca brackets are equities only
    if order.side is OrderSide.BUY:
        return order.stop_loss < order.take_profit
    return order.stop_loss > order.take_profit


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def to_order_update(raw: dict[str, Any]) -> OrderUpdate:
    """Our view of an Alpaca order object: status, and one fill for the filled quantity at its average
    price (Alpaca charges no commission, so fee 0)."""
    try:
        status_text = str(raw["status"])
        filled = Decimal(str(raw.get("filled_qty") or "0"))
        avg = raw.get("filled_avg_price")
        cid, broker_id = str(raw["client_order_id"]), str(raw["id"])
    except (KeyError, ArithmeticError) as exc:
        raise ValueError(f"Alpaca order object is missing or garbles {exc}: {str(raw)[:200]}") from exc
    status = _STATUS.get(status_text, OrderStatus.UNKNOWN)
    reason = None if status_text in ("new", "accepted", "filled", "partially_filled") else f"alpaca: {status_text}"
    if status is OrderStatus.UNKNOWN:
        reason = f"alpaca status {status_text!r} is not mapped: reconcile by hand"
    fills, final = [], False
    if filled > 0 and avg is not None and Decimal(str(avg)) != 0:
        ts = _ts(raw.get("filled_at")) or _ts(raw.get("updated_at")) or datetime.now(UTC)
        fills.append(FillReport(quantity=int(filled), price=abs(float(avg)), fee=0.0, ts=ts))
        if status_text in _DONE_WITHOUT_FILL:
            status, reason = OrderStatus.PARTIALLY_FILLED, f"alpaca: {status_text} after filling {filled}"
            final = True
    return OrderUpdate(client_order_id=cid, broker_order_id=broker_id, status=status, fills=fills, reason=reason,
                       final=final)


# --- adapter -------------------------------------------------------------------------------------

def _message(exc: APIError) -> str:
    text = str(exc)
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text[:200] or "no body"


class AlpacaBroker:
    """Account, positions, orders and the market clock at Alpaca. ``paper`` is required and decided by
    the caller from the environment; it alone picks the paper or live endpoint. ``url_override`` may
    only be a loopback stand-in (``cream.endpoints.endpoint``): paper can never reach the live host."""

    def __init__(self, api_key: str, secret_key: str, *, paper: bool, url_override: str | None = None,
                 timeout: float = 10.0) -> None:
        if not isinstance(paper, bool):
            raise ConfigurationError("AlpacaBroker needs paper=True or paper=False, derived from CREAM_ENV")
        if not timeout > 0:
            raise ConfigurationError(f"Alpaca timeout must be positive seconds, got {timeout}")
        self.paper, self.timeout = paper, timeout
        official = BaseURL.TRADING_PAPER.value if paper else BaseURL.TRADING_LIVE.value
        url = endpoint("CREAM_ALPACA_BASE_URL", url_override, official)
        self._client = TradingClient(api_key, secret_key, paper=paper, raw_data=True, url_override=url)
        _harden(self._client, timeout)

    @property
    def base_url(self) -> str:
        return str(getattr(self._client._base_url, "value", self._client._base_url))

    # --- transport: one place turns every failure into an error named for what to do -------------
    def _call(self, what: str, fn: Any, *args: Any, order_post: bool = False) -> Any:
        try:
            return fn(*args)
        except APIError as exc:
            raise self._api_error(what, exc, order_post) from exc
        except requests.exceptions.JSONDecodeError as exc:
            msg = f"Alpaca answered {what} with malformed JSON ({exc})"
            raise (AmbiguousOutcome(msg + ": look the order up") if order_post else TransientError(msg)) from exc
        except requests.Timeout as exc:
            msg = f"Alpaca did not answer {what} within {self.timeout}s"
            raise (AmbiguousOutcome(msg + ": look the order up") if order_post else TransientError(msg)) from exc
        except requests.RequestException as exc:
            msg = f"network failure on {what}: {exc}"
            raise (AmbiguousOutcome(msg + ": look the order up") if order_post else TransientError(msg)) from exc

    def _api_error(self, what: str, exc: APIError, order_post: bool) -> CreamError:
        code, msg = exc.status_code or 0, _message(exc)
        text = f"Alpaca answered {what} with HTTP {code}: {msg}"
        if code == 429:
            return TransientError(text + " (rate limited; back off)")
        if code >= 500:
            return AmbiguousOutcome(text + ": look the order up") if order_post else TransientError(text)
        if order_post and _DUPLICATE in msg:
            return AmbiguousOutcome(text + ": an order with this id already exists; look it up")
        if "asset" in msg.lower() and "not found" in msg.lower():
            return UnknownInstrument(text)
        if code in (401, 403) and not order_post:
            return ConfigurationError(text + " (check the Alpaca API key and secret and paper/live choice)")
        return RejectedDefinitively(text)

    # --- reads -----------------------------------------------------------------------------------
    def account(self) -> Account:
        raw = self._call("GET /v2/account", self._client.get_account)
        try:
            return Account(cash=Decimal(raw["cash"]), equity=Decimal(raw["equity"]),
                           buying_power=Decimal(raw["buying_power"]), daytrade_count=int(raw["daytrade_count"]),
                           pattern_day_trader=bool(raw["pattern_day_trader"]), status=str(raw["status"]))
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise TransientError(f"Alpaca account object is missing or garbles {exc}") from exc

    def positions(self) -> dict[str, int]:
        """The port's view: signed quantity per instrument id (share symbol or OCC symbol; Alpaca holds a
        multi-leg position as its separate option legs)."""
        return {p.symbol: p.quantity for p in self.position_details() if p.quantity != 0}

    def snapshot(self) -> AccountSnapshot:
        """The port's view of the account: the PAPER/LIVE book mirrors it at every observe."""
        account = self.account()
        return AccountSnapshot(float(account.cash), float(account.buying_power), account.daytrade_count,
                               {p.symbol: (p.quantity, float(p.avg_entry_price)) for p in self.position_details()
                                if p.quantity != 0})

    def position_details(self) -> list[BrokerPosition]:
        raws = self._call("GET /v2/positions", self._client.get_all_positions)
        try:
            return [BrokerPosition(symbol=p["symbol"], quantity=int(Decimal(p["qty"])),
                                   avg_entry_price=Decimal(p["avg_entry_price"]),
                                   market_price=Decimal(p["current_price"]) if p.get("current_price") else None,
                                   asset_class=p["asset_class"]) for p in raws]
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise TransientError(f"Alpaca position object is missing or garbles {exc}") from exc

    def clock(self) -> Clock:
        raw = self._call("GET /v2/clock", self._client.get_clock)
        try:
            return Clock(is_open=bool(raw["is_open"]), next_open=_ts(raw["next_open"]),  # type: ignore[arg-type]
                         next_close=_ts(raw["next_close"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise TransientError(f"Alpaca clock object is missing or garbles {exc}") from exc

    def asset(self, symbol: str) -> dict[str, Any]:
        """Alpaca's asset object; ``UnknownInstrument`` when Alpaca does not know the symbol."""
        raw = self._call(f"GET /v2/assets/{symbol}", self._client.get_asset, symbol)
        if not isinstance(raw, dict) or "tradable" not in raw:
            raise TransientError(f"Alpaca asset object for {symbol} has no tradable flag: {str(raw)[:200]}")
        return raw

    def tradable(self, symbols: list[str]) -> dict[str, bool]:
        """Symbol → can it be traded now (unknown symbols are not)."""
        result = {}
        for symbol in symbols:
            try:
                result[symbol] = bool(self.asset(symbol)["tradable"])
            except UnknownInstrument:
                result[symbol] = False
        return result

    def _update(self, what: str, raw: Any) -> OrderUpdate:
        try:
            return to_order_update(raw)
        except (ValueError, TypeError) as exc:
            raise TransientError(f"Alpaca answered {what} with an unusable order object: {exc}") from exc

    def order_by_client_id(self, client_order_id: str) -> OrderUpdate | None:
        """The order's state now, or None when Alpaca definitely has no order with this id (404)."""
        what = f"GET /v2/orders:by_client_order_id {client_order_id}"
        try:
            raw = self._call(what, self._client.get_order_by_client_id, client_order_id)
        except RejectedDefinitively as exc:
            if isinstance(exc.__cause__, APIError) and exc.__cause__.status_code == 404:
                return None
            raise
        return self._update(what, raw)

    def lookup(self, client_order_id: str) -> OrderUpdate | None:
        """The ``Broker`` port's name for ``order_by_client_id``."""
        return self.order_by_client_id(client_order_id)

    def open_orders(self) -> list[OrderUpdate]:
        return [self._update("GET /v2/orders", raw) for raw in self._open_raw()]

    def _open_raw(self) -> list[dict[str, Any]]:
        """Every open order and leg, each its own object (Alpaca lists at most 500 per request)."""
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=_LIST_LIMIT, nested=False)
        raws = self._call("GET /v2/orders", self._client.get_orders, query)
        if not isinstance(raws, list):
            raise TransientError(f"Alpaca answered GET /v2/orders with {type(raws).__name__}, not a list")
        if len(raws) >= _LIST_LIMIT:  # the oldest open orders were left off: a stop could look missing
            raise TransientError(f"Alpaca holds {_LIST_LIMIT} or more open orders: reconcile them by hand")
        return raws

    def live_stops(self) -> dict[str, int]:
        """The port's view: per symbol, the signed quantity open stop orders would close (legs waiting for
        their entry to fill, ``held``, guard nothing yet)."""
        stops: dict[str, int] = {}
        for raw in self._open_raw():
            try:
                if raw["type"] not in ("stop", "stop_limit", "trailing_stop") or raw["status"] == "held":
                    continue
                left = int(Decimal(str(raw["qty"])) - Decimal(str(raw.get("filled_qty") or "0")))
                sign = 1 if raw["side"] == "sell" else -1
                stops[raw["symbol"]] = stops.get(raw["symbol"], 0) + sign * left
            except (KeyError, TypeError, ArithmeticError) as exc:
                raise TransientError(f"Alpaca order object is missing or garbles {exc}") from exc
        return stops

    def protective_legs(self, client_order_id: str) -> list[ProtectiveLeg]:
        """The stop and target Alpaca holds for our order: a bracket's two legs, or an OCO's limit (the
        order itself) and its stop leg. Read with ``nested=true``: the legs are listed under the order."""
        what = f"GET /v2/orders:by_client_order_id {client_order_id}"
        found = self._call(what, self._client.get_order_by_client_id, client_order_id)
        try:
            order_id, order_class = str(found["id"]), found.get("order_class")
        except (KeyError, TypeError) as exc:
            raise TransientError(f"Alpaca answered {what} with an unusable order object: {exc}") from exc
        if order_class not in ("bracket", "oco"):
            return []
        what = f"GET /v2/orders/{order_id}?nested=true"
        raw = self._call(what, self._client.get_order_by_id, order_id, GetOrderByIdRequest(nested=True))
        sides = [*([raw] if order_class == "oco" else []), *(raw.get("legs") or [])]
        legs = []
        for side in sides:
            update = self._update(what, side)
            purpose = OrderPurpose.TAKE_PROFIT if side.get("type") == "limit" else OrderPurpose.STOP_LOSS
            legs.append(ProtectiveLeg(purpose, update.broker_order_id or "", update.status, update.fills))
        return legs

    def bracket_exit(self, instrument_id: str, quantity: int, multiplier: int, stop: float, target: float,
                     since: datetime, until: datetime,
                     levels_on: RiskDenomination = RiskDenomination.UNDERLYING_PRICE) -> None:
        """Alpaca holds each position's stop and target as orders of its own: their fills reach the book
        through reconciliation (cream.services.protection), never through this call."""

    def works_tactics(self) -> bool:
        """Alpaca has no TWAP, VWAP or iceberg orders: the fleet sends a tactic's children itself
        (cream.services.child_orders)."""
        return False

    # --- writes ----------------------------------------------------------------------------------
    def cancel(self, order_id: str) -> None:
        """Ask Alpaca to cancel; RejectedDefinitively if the order can no longer be canceled."""
        self._call(f"DELETE /v2/orders/{order_id}", self._client.cancel_order_by_id, order_id)

    def _post(self, request: AlpacaOrderRequest, client_order_id: str) -> OrderUpdate:
        what = f"POST /v2/orders {client_order_id}"
        raw = self._call(what, self._client.submit_order, request, order_post=True)
        try:
            return to_order_update(raw)
        except (ValueError, TypeError) as exc:
            raise AmbiguousOutcome(f"Alpaca answered {what} with an unusable order object ({exc}): "
                                   "look the order up") from exc

    def submit(self, order: OrderRequest) -> OrderUpdate:
        """Send one order. An ambiguous answer is resolved here by one lookup by client_order_id: found →
        its state; definitely absent → one more POST; otherwise status UNKNOWN for reconciliation.
        Raises RejectedDefinitively / UnknownInstrument when Alpaca refuses the order, TransientError
        when it was rate limited before taking it."""
        try:
            request = to_alpaca_request(order)
        except ValueError as exc:
            raise RejectedDefinitively(f"order {order.client_order_id} cannot be sent to Alpaca: {exc}") from exc
        try:
            return self._post(request, order.client_order_id)
        except AmbiguousOutcome as first:
            return self._resolve(order.client_order_id, request, first)

    def _resolve(self, client_order_id: str, request: AlpacaOrderRequest, cause: AmbiguousOutcome) -> OrderUpdate:
        try:
            found = self.order_by_client_id(client_order_id)
        except CreamError as exc:
            return OrderUpdate(client_order_id=client_order_id, status=OrderStatus.UNKNOWN,
                               reason=f"{cause}; lookup failed too ({exc}): reconcile before resubmitting")
        if found is not None:
            return found
        try:  # Alpaca has no such order: the first POST never took effect, so one more is safe
            return self._post(request, client_order_id)
        except AmbiguousOutcome as again:
            return OrderUpdate(client_order_id=client_order_id, status=OrderStatus.UNKNOWN,
                               reason=f"{again} (after a lookup found nothing): reconcile before resubmitting")
