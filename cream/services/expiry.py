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
from cream.schemas.instruments import OccSymbol, OptionRight, option_legs, underlying_of
from cream.schemas.market import Timeframe
from cream.schemas.orders import OrderPurpose
from cream.services import portfolio
from cream.storage.models import OrderRow, PositionRow


def expired(instrument_ids: list[str], as_of: datetime) -> dict[str, datetime]:
    """The option contracts and strategies among ``instrument_ids`` whose expiration session closed by
    ``as_of``, with that close (a strategy's legs share one expiry: ``option_marks.mark_multileg``)."""
    out = {}
    for instrument_id in instrument_ids:
        legs = option_legs(instrument_id)
        if legs:
            hours = market_calendar.session(OccSymbol.parse(legs[0][1]).expiration)
            if hours is not None and hours[1] <= as_of:
                out[instrument_id] = hours[1]
    return out


def settlement_prices(market: MarketData, contracts: dict[str, datetime]) -> dict[str, Decimal]:
    """The underlying's last close of each contract's expiration session (read outside any transaction)."""
    out = {}
    for instrument_id, closed in contracts.items():
        root = underlying_of(instrument_id)
        bars = market.bars(root, Timeframe.H1, closed, 1)
        if len(bars) == 0:
            raise LookupError(f"no {root} bar to settle {instrument_id} at its expiry {closed:%Y-%m-%d}")
        out[instrument_id] = Decimal(str(float(bars.close[-1])))
    return out


def settle_expired(s: Session, book: str, cycle_id: str, spots: dict[str, Decimal]) -> list[str]:
    """Settle each option or strategy position of ``spots`` (-> the underlying's settlement close) still
    held; what was done, one line each."""
    done = []
    for pos in list(portfolio.positions(s, book)):
        if pos.instrument_id in spots:
            legs = [(r, OccSymbol.parse(o)) for r, o in option_legs(pos.instrument_id)]
            hours = market_calendar.session(legs[0][1].expiration)
            assert hours is not None  # expired() found its session
            done.append(_settle(s, pos, legs, spots[pos.instrument_id], cycle_id, hours[1]))
    return done


def _settle(s: Session, pos: PositionRow, legs: list[tuple[int, OccSymbol]], spot: Decimal, cycle_id: str,
            expired_at: datetime) -> str:
    """Close the position at its legs' net intrinsic value per unit, then book the shares its
    in-the-money legs move: each contract held long (its ratio times the position, signed) is exercised,
    each held short assigned; a call held long or a put held short takes the shares, the others deliver
    them. The legs of a spread both in the money move shares that net out."""
    intrinsic = {c: max(spot - c.strike if c.right is OptionRight.CALL else c.strike - spot, Decimal(0))
                 for _, c in legs}
    value = sum((r * intrinsic[c] for r, c in legs), Decimal(0))
    in_money = [(r * pos.quantity, c) for r, c in legs if intrinsic[c] > 0]
    qty, mult = abs(pos.quantity), pos.multiplier
    purpose = (OrderPurpose.EXPIRY if not in_money else OrderPurpose.ASSIGNMENT
               if any(held < 0 for held, _ in in_money) else OrderPurpose.EXERCISE).value
    opened = pos.opened_cycle_id or cycle_id
    close = _order(s, ids.client_order_id(opened, pos.instrument_id, purpose), pos, pos.instrument_id,
                   "SELL" if pos.quantity > 0 else "BUY", qty, mult, value, purpose, cycle_id, expired_at)
    if close is None:
        return f"{purpose} {pos.instrument_id}: booked before"  # pragma: no cover - the position is gone by then
    portfolio.apply_fill(s, close, qty, value, Decimal(0), mult, expired_at)
    if not in_money:
        return f"EXPIRY {pos.instrument_id} {qty} worthless (underlying {spot})"
    shares = sum(held * mult * (1 if c.right is OptionRight.CALL else -1) for held, c in in_money)
    what = ", ".join(f"{'exercised' if held > 0 else 'assigned'} {abs(held)} {c.format()} at strike {c.strike}"
                     for held, c in in_money)
    root = legs[0][1].root
    if shares:
        moved = _order(s, ids.client_order_id(opened, f"{pos.instrument_id}:shares", purpose), pos, root,
                       "BUY" if shares > 0 else "SELL", abs(shares), 1, spot, purpose, cycle_id, expired_at)
        if moved is not None:
            portfolio.apply_fill(s, moved, abs(shares), spot, Decimal(0), 1, expired_at, cycle_id=cycle_id)
    moved_text = f"{'bought' if shares > 0 else 'sold'} {abs(shares)}" if shares else "no net"
    return f"{purpose} {pos.instrument_id} {qty} at {value} a unit: {what}; {moved_text} {root} shares (underlying {spot})"


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
