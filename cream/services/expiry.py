"""Options at expiry in BACKTEST (at a broker, the broker settles them and the book mirrors its account).

At the first observe at or after the close of its expiration day, each option position is settled at the
underlying's last close of that session, S:
- out of the money: it expires worthless, closed at 0 (purpose EXPIRY);
- in the money, long: exercised automatically, short: assigned (as OCC exercises anything $0.01 in the
  money). The contract is closed at its intrinsic value and the shares it delivers are booked at S (purpose
  EXERCISE or ASSIGNMENT): cash moves by the strike times the shares, as a physical exercise does, the
  option's own P&L is intrinsic less premium, and the shares are held at S with no stop or target (the
  next cycle's agents decide what to do with them).
No fee on either leg. Dividends are not modelled, so no short call is assigned early before an
ex-dividend date. Every settlement is an order and a fill with an id derived from the position, so a
redelivered observe books it once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from cream import ids, market_calendar
from cream.ports import MarketData
from cream.schemas.instruments import OccSymbol, OptionRight, is_option
from cream.schemas.market import Timeframe
from cream.schemas.orders import OrderPurpose
from cream.services import portfolio
from cream.storage.models import OrderRow, PositionRow


def expired(instrument_ids: list[str], as_of: datetime) -> dict[str, datetime]:
    """The option contracts among ``instrument_ids`` whose expiration session closed by ``as_of``, with
    that close."""
    out = {}
    for instrument_id in instrument_ids:
        if is_option(instrument_id):
            hours = market_calendar.session(OccSymbol.parse(instrument_id).expiration)
            if hours is not None and hours[1] <= as_of:
                out[instrument_id] = hours[1]
    return out


def settlement_prices(market: MarketData, contracts: dict[str, datetime]) -> dict[str, Decimal]:
    """The underlying's last close of each contract's expiration session (read outside any transaction)."""
    out = {}
    for instrument_id, closed in contracts.items():
        root = OccSymbol.parse(instrument_id).root
        bars = market.bars(root, Timeframe.H1, closed, 1)
        if len(bars) == 0:
            raise LookupError(f"no {root} bar to settle {instrument_id} at its expiry {closed:%Y-%m-%d}")
        out[instrument_id] = Decimal(str(float(bars.close[-1])))
    return out


def settle_expired(s: Session, book: str, cycle_id: str, spots: dict[str, Decimal]) -> list[str]:
    """Settle each option position of ``spots`` (contract -> the underlying's settlement close) still held;
    what was done, one line each."""
    done = []
    for pos in list(portfolio.positions(s, book)):
        if pos.instrument_id in spots:
            contract = OccSymbol.parse(pos.instrument_id)
            hours = market_calendar.session(contract.expiration)
            assert hours is not None  # expired() found its session
            done.append(_settle(s, pos, contract, spots[pos.instrument_id], cycle_id, hours[1]))
    return done


def _settle(s: Session, pos: PositionRow, contract: OccSymbol, spot: Decimal, cycle_id: str,
            expired_at: datetime) -> str:
    call = contract.right is OptionRight.CALL
    intrinsic = max(spot - contract.strike if call else contract.strike - spot, Decimal(0))
    qty, mult = abs(pos.quantity), pos.multiplier
    purpose = (OrderPurpose.EXPIRY if intrinsic == 0 else OrderPurpose.EXERCISE if pos.quantity > 0
               else OrderPurpose.ASSIGNMENT).value
    opened = pos.opened_cycle_id or cycle_id
    close = _order(s, ids.client_order_id(opened, pos.instrument_id, purpose), pos, pos.instrument_id,
                   "SELL" if pos.quantity > 0 else "BUY", qty, mult, intrinsic, purpose, cycle_id, expired_at)
    if close is None:
        return f"{purpose} {pos.instrument_id}: booked before"  # pragma: no cover - the position is gone by then
    portfolio.apply_fill(s, close, qty, intrinsic, Decimal(0), mult, expired_at)
    if intrinsic == 0:
        return f"EXPIRY {pos.instrument_id} {qty} worthless (underlying {spot})"
    # A long call or a short put takes the shares; a long put or a short call delivers them.
    receives = call == (pos.quantity > 0)
    shares = _order(s, ids.client_order_id(opened, f"{pos.instrument_id}:shares", purpose), pos, contract.root,
                    "BUY" if receives else "SELL", qty * mult, 1, spot, purpose, cycle_id, expired_at)
    if shares is not None:
        portfolio.apply_fill(s, shares, qty * mult, spot, Decimal(0), 1, expired_at, cycle_id=cycle_id)
    return (f"{purpose} {pos.instrument_id} {qty}: {'bought' if receives else 'sold'} {qty * mult} "
            f"{contract.root} at strike {contract.strike} (underlying {spot})")


def _order(s: Session, order_id: str, pos: PositionRow, instrument_id: str, side: str, qty: int, mult: int,
           price: Decimal, purpose: str, cycle_id: str, ts: datetime) -> OrderRow | None:
    if s.get(OrderRow, order_id) is not None:
        return None
    row = OrderRow(id=order_id, book=pos.book, cycle_id=cycle_id, decision_id=None, instrument_id=instrument_id,
                   side=side, quantity=qty, multiplier=mult, order_type="MARKET", purpose=purpose,
                   limit_price=None, status="FILLED", avg_fill_price=price, fees=Decimal(0),
                   broker_order_id=f"sim-{purpose.lower()}-{order_id[-12:]}", submitted_at=ts)
    s.add(row)
    s.flush()
    return row
