"""Ports: the small contracts each outside system is reached through (one adapter per real system).

Tests pass in an adapter that implements the same port; nothing patches internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, Protocol

import numpy as np

from cream.schemas.config import OptionChains
from cream.schemas.decisions import RiskDenomination
from cream.schemas.market import OptionMark, Timeframe
from cream.schemas.orders import FillReport, OrderPurpose, OrderRequest, OrderStatus, OrderUpdate
from cream.schemas.trigger import CycleTrigger


class Bars(NamedTuple):
    """Columnar OHLCV bars of one symbol and timeframe, oldest first.

    ``ts`` is the bar start in epoch seconds (UTC); ``end`` the bar end (exclusive), also epoch seconds.
    """

    ts: np.ndarray  # int64
    end: np.ndarray  # int64
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass(frozen=True)
class ChainContract:
    """One contract of an option chain with its quote; Greeks per share (delta per $1, vega per vol point,
    theta per day). Numbers the source left out (a contract nobody quoted) are None."""

    occ_symbol: str  # OCC symbol without a provider prefix, e.g. "AAPL230616C00150000"
    underlying: str
    expiry: date
    type: str  # "call" | "put"
    strike: float
    bid: float | None
    ask: float | None
    last: float | None
    iv: float | None
    delta: float | None
    gamma: float | None
    theta: float | None
    vega: float | None
    underlying_price: float | None
    open_interest: float | None = None
    shares_per_contract: int = 100
    model_priced: bool = False  # quoted by a model (BACKTEST), not by a market

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None and self.ask >= self.bid > 0:
            return (self.bid + self.ask) / 2
        return self.last


class MarketData(Protocol):
    """Where candles and quotes come from (local history in BACKTEST, Polygon in PAPER and LIVE)."""

    def symbols(self) -> list[str]:
        """Symbols this source can serve."""
        ...

    def bars(self, symbol: str, timeframe: Timeframe, as_of: datetime, lookback: int) -> Bars:
        """The last ``lookback`` bars that had closed by ``as_of`` (bar end <= as_of).

        Raises ``UnknownInstrument`` for a symbol the source does not have.
        """
        ...

    def bars_between(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> Bars:
        """Bars whose end lies in (start, end]."""
        ...

    def latest(self) -> datetime:
        """The end of the newest bar any symbol has: the last moment this source knows."""
        ...

    def earliest(self) -> datetime:
        """The end of the oldest bar any symbol has: no cycle before it can see a price."""
        ...

    def option_chain(self, underlying: str, *, expiration_gte: date | None = None,
                     expiration_lte: date | None = None, contract_type: str | None = None,
                     strike_gte: float | None = None, strike_lte: float | None = None,
                     as_of: datetime | None = None) -> list[ChainContract]:
        """Every listed contract on ``underlying`` (within the filters; ``contract_type`` "call" or "put")
        with its quote, Greeks and implied volatility: a live source's as of now, a historical one's
        (local history: model-priced, ``cream.option_model``) as of ``as_of`` (default: its newest bar).
        Raises ``NoOptionData`` when the source has no option chains."""
        ...

    def option_window(self, underlying: str, spot: float, as_of: datetime,
                      window: OptionChains) -> list[ChainContract]:
        """The contracts of ``underlying``'s chain in ``window`` around ``spot`` (``cream.option_window``),
        quoted as ``option_chain`` quotes them; ``NoOptionData`` as there."""
        ...

    def option_marks(self, contracts: list[str], as_of: datetime) -> dict[str, OptionMark]:
        """Premium and Greeks per unit of each OCC contract, from its quote at ``as_of`` (a live source:
        its latest quote; local history: the model's price at ``as_of``), keyed by the OCC symbol as
        ``OptionMark.instrument_id`` spells it. A contract without a usable quote is left out: the caller
        fails closed on it."""
        ...


class AccountSnapshot(NamedTuple):
    """A broker account as the broker records it: the book mirrors it in PAPER and LIVE."""

    cash: float
    buying_power: float
    day_trades: int  # in the last 5 sessions, as the broker counts them
    positions: dict[str, tuple[int, float]]  # instrument id -> (signed quantity, average entry price)


class ProtectiveLeg(NamedTuple):
    """One side of the protection a broker holds for an order: a bracket's stop or target leg, or a side of
    an OCO exit."""

    purpose: OrderPurpose  # STOP_LOSS or TAKE_PROFIT
    broker_order_id: str
    status: OrderStatus
    fills: list[FillReport]


class BracketExit(NamedTuple):
    """A stop-loss or take-profit the broker filled while working a position's bracket itself."""

    purpose: OrderPurpose  # STOP_LOSS or TAKE_PROFIT
    price: float  # per unit, as filled (a stop pays slippage; a target fills at its level)
    fee: float
    ts: datetime  # when it filled


class Broker(Protocol):
    """Where orders go (the simulated broker in BACKTEST, Alpaca in PAPER and LIVE).

    ``submit`` raises TransientError when nothing was sent (safe to retry), AmbiguousOutcome when the
    order may exist (resolve with ``lookup``), RejectedDefinitively when the broker refused it.
    """

    def submit(self, order: OrderRequest) -> OrderUpdate:
        """Send one order; the same client_order_id twice must never create two orders."""
        ...

    def lookup(self, client_order_id: str) -> OrderUpdate | None:
        """The broker's view of an order now; None when the broker has no order with this id."""
        ...

    def tradable(self, symbols: list[str]) -> dict[str, bool]:
        """Whether the broker lets each symbol be traded now (unknown symbols are not)."""
        ...

    def positions(self) -> dict[str, int] | None:
        """Signed quantity per instrument id at the broker; None when the book itself is the record
        (the simulated broker)."""
        ...

    def snapshot(self) -> AccountSnapshot | None:
        """Cash, buying power, day trades and positions at the broker; None for the simulated broker."""
        ...

    def live_stops(self) -> dict[str, int] | None:
        """Per instrument, the signed quantity live stop orders at the broker would close (a sell stop
        guarding a long counts positive, a buy stop guarding a short negative); None for the simulated
        broker, which works the book's stops itself."""
        ...

    def cancel(self, broker_order_id: str) -> None:
        """Ask the broker to cancel an order or leg; RejectedDefinitively when it can no longer be."""
        ...

    def protective_legs(self, client_order_id: str) -> list[ProtectiveLeg] | None:
        """The stop and target the broker holds for one of our orders (bracket legs, or the sides of an
        OCO), with their fills; [] when it holds none; None for the simulated broker."""
        ...

    def bracket_exit(self, instrument_id: str, quantity: int, multiplier: int, stop: float, target: float,
                     since: datetime, until: datetime,
                     levels_on: RiskDenomination = RiskDenomination.UNDERLYING_PRICE) -> BracketExit | None:
        """The first leg of a position's bracket (``stop``, ``target``: levels of the underlying's price, or
        of an option's premium) the broker filled in (since, until]; None when neither level traded. A broker that holds stops and targets as orders of its own (Alpaca)
        always answers None: its exits reach the book through reconciliation (cream.services.protection)."""
        ...

    def works_tactics(self) -> bool:
        """Whether the broker works an order's execution tactic itself (the simulated broker: child orders
        over the bars that follow); otherwise the fleet sends the children (cream.services.child_orders)."""
        ...


class Runner(Protocol):
    """Runs one cycle to its end: the fleet (``cream.runner.CycleRunner``: every step a Celery task) or this
    process (``cream.services.inprocess.InProcessRunner``)."""

    def run(self, trigger: CycleTrigger, timeout: float | None = None) -> tuple[str, bool]:
        """Start (or find) the trigger's cycle and wait until it ends; (cycle_id, newly run by this call)."""
        ...
