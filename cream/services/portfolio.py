"""The book: cash, positions, fills applied exactly once, marks and snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cream import market_calendar
from cream.market_calendar import NEW_YORK
from cream.ports import AccountSnapshot
from cream.schemas.decisions import Environment, RiskDenomination
from cream.schemas.instruments import multi_leg_legs, underlying_of
from cream.schemas.portfolio import PortfolioView, PositionView, WorkingOrderView
from cream.services.cycles import opened_here
from cream.storage.db import insert_later, memo
from cream.storage.models import Book, FillRow, OrderRow, PortfolioSnapshotRow, PositionRow, WorkRow
from cream.storage.writes import insert_once

# Simulated accounts are Reg T margin accounts: overnight buying power is twice equity less what is held.
REG_T_LEVERAGE = 2.0
PDT_WINDOW_SESSIONS = 5
WORKING_STATUSES = ("PENDING", "UNKNOWN", "SUBMITTED", "PARTIALLY_FILLED")  # the broker may still fill these


def ensure_book(s: Session, book: str, environment: Environment, initial_cash: float) -> Book:
    row, _ = insert_once(s, Book(id=book, environment=environment.value, initial_cash=Decimal(str(initial_cash)),
                                 cash=Decimal(str(initial_cash))), book)
    if row.environment != environment.value:
        raise ValueError(f"book {book} belongs to {row.environment}, not {environment.value}")
    return row


def positions(s: Session, book: str) -> list[PositionRow]:
    """The book's positions, read once per session: a position opened or closed here (``apply_fill``,
    ``mirror``) reads them again; a change to a held one shows in its row object."""
    memo: dict[str, list[PositionRow]] = s.info.setdefault("positions", {})
    if book not in memo:
        memo[book] = list(s.scalars(select(PositionRow).where(PositionRow.book == book)
                                    .order_by(PositionRow.instrument_id)))
    return list(memo[book])


def _opened_or_closed(s: Session, book: str) -> None:
    s.info.get("positions", {}).pop(book, None)


def mark(s: Session, book: str, prices: dict[str, float]) -> None:
    for p in positions(s, book):
        if p.instrument_id in prices:
            p.last_price = Decimal(str(prices[p.instrument_id]))


def day_trades(s: Session, book: str, as_of: datetime) -> int:
    """Day trades (fills that reduced a position opened the same session) in the last 5 sessions."""
    today = as_of.astimezone(NEW_YORK).date()
    days = market_calendar.trading_days(today - timedelta(days=14), today)[-PDT_WINDOW_SESSIONS:]
    if not days:
        return 0
    since = datetime.combine(days[0], datetime.min.time(), NEW_YORK)
    known = memo(s, "day_trades", ("fills", "orders"))
    if known is not None and (book, as_of) in known:
        return int(known[(book, as_of)])
    count = int(s.scalar(select(func.count()).select_from(FillRow).join(OrderRow, FillRow.order_id == OrderRow.id)
                         .where(OrderRow.book == book, FillRow.day_trade.is_(True), FillRow.ts >= since,
                                FillRow.ts <= as_of)) or 0)
    if known is not None:
        known[(book, as_of)] = count
    return count


def working_entries(s: Session, book: str) -> dict[str, WorkingOrderView]:
    """Per instrument, what open entry orders may still add: each order's quantity not yet filled, while the
    broker may still fill it (a parent worked as child orders counts once, for all its children)."""
    known = memo(s, "working_entries", ("orders", "order_work"))
    if known is not None and book in known:
        return dict(known[book])
    out: dict[str, WorkingOrderView] = {}
    for o in s.scalars(select(OrderRow).where(
            OrderRow.book == book, OrderRow.purpose == "ENTRY", OrderRow.parent_id.is_(None),
            OrderRow.status.in_(WORKING_STATUSES), OrderRow.closed_at.is_(None)).order_by(OrderRow.id)):
        left = (o.quantity - o.filled_quantity) * (1 if o.side == "BUY" else -1)
        if left == 0:
            continue
        work = s.get(WorkRow, o.id)
        price = o.limit_price if o.limit_price is not None else work.reference_price if work is not None else None
        before = out.get(o.instrument_id)
        out[o.instrument_id] = WorkingOrderView(
            instrument_id=o.instrument_id, quantity=left + (before.quantity if before else 0), multiplier=o.multiplier,
            price=float(price) if price is not None else before.price if before else None)
    if known is not None:
        known[book] = dict(out)
    return out


def view(s: Session, book: str, as_of: datetime | None = None) -> PortfolioView:
    """The book marked at its last prices; day trades counted up to ``as_of`` (default: none). Open entry
    orders are listed apart (``working_orders``): the risk check counts them, and they use buying power."""
    cash = float(s.get(Book, book).cash)  # type: ignore[union-attr]
    pos = {}
    for p in positions(s, book):
        price = float(p.last_price if p.last_price is not None else p.avg_entry_price)
        pos[p.instrument_id] = PositionView(
            instrument_id=p.instrument_id, quantity=p.quantity, avg_entry_price=float(p.avg_entry_price),
            multiplier=p.multiplier, market_price=price, opened_at=p.opened_at,
            stop_loss=float(p.stop_loss) if p.stop_loss is not None else None,
            take_profit=float(p.take_profit) if p.take_profit is not None else None,
            levels_on=RiskDenomination(p.levels_on or RiskDenomination.UNDERLYING_PRICE))
    values = [v.quantity * v.market_price * v.multiplier for v in pos.values()]
    equity, gross = cash + sum(values), sum(abs(v) for v in values)
    working = working_entries(s, book)
    committed = 0.0  # what the working orders will spend: their limit, else the held position's mark
    for k, w in working.items():
        price = w.price if w.price is not None else pos[k].market_price if k in pos else 0.0
        committed += abs(w.quantity) * price * w.multiplier
    return PortfolioView(cash=cash, equity=equity, gross_exposure=gross, net_exposure=sum(values), positions=pos,
                         buying_power=max(0.0, REG_T_LEVERAGE * equity - gross - committed),
                         day_trades_5d=day_trades(s, book, as_of) if as_of is not None else 0,
                         working_orders=working)


def apply_fill(s: Session, order: OrderRow, quantity: int, price: Decimal, fee: Decimal, multiplier: int,
               ts: datetime, stop: Decimal | None = None, target: Decimal | None = None,
               cycle_id: str | None = None, levels_on: str | None = None) -> FillRow:
    """Record one fill of ``order`` and move cash and the position. Callers guarantee it runs once per fill."""
    book, instrument_id, side = order.book, order.instrument_id, 1 if order.side == "BUY" else -1
    account = s.get(Book, book)
    if account is None:
        raise LookupError(f"no book {book}")
    account.cash -= side * quantity * price * multiplier + fee
    pos = s.get(PositionRow, (book, instrument_id))
    old = pos.quantity if pos else 0
    new = old + side * quantity
    opened = pos.opened_at if pos is not None else None
    fill = FillRow(id=f"{order.id}:{order.filled_quantity}", order_id=order.id, quantity=quantity, price=price,
                   fee=fee, ts=ts, day_trade=abs(new) < abs(old) and opened is not None
                   and opened.astimezone(NEW_YORK).date() == ts.astimezone(NEW_YORK).date())
    s.add(fill)
    order.filled_quantity += quantity
    if pos is None:
        pos = PositionRow(book=book, instrument_id=instrument_id, quantity=0, avg_entry_price=price,
                          multiplier=multiplier, opened_cycle_id=cycle_id, checked_until=ts)
        s.add(pos)
        _opened_or_closed(s, book)
    if new == 0:
        s.delete(pos)
        _opened_or_closed(s, book)
        return fill
    if old == 0 or (old > 0) != (new > 0):  # opened, or flipped through zero
        pos.avg_entry_price, pos.opened_cycle_id, pos.checked_until, pos.opened_at = price, cycle_id, ts, ts
    elif abs(new) > abs(old):  # added to the position
        pos.avg_entry_price = ((abs(old) * pos.avg_entry_price + quantity * price) / abs(new)).quantize(
            Decimal("0.000001"))
    pos.quantity, pos.last_price = new, price
    if stop is not None and target is not None and abs(new) >= abs(old):
        pos.stop_loss, pos.take_profit, pos.levels_on = stop, target, levels_on
    return fill


def snapshot(s: Session, book: str, cycle_id: str, ts: datetime) -> PortfolioSnapshotRow:
    v = view(s, book)
    row = PortfolioSnapshotRow(
        book=book, cycle_id=cycle_id, ts=ts, cash=Decimal(str(v.cash)), equity=Decimal(str(round(v.equity, 6))),
        gross_exposure=Decimal(str(round(v.gross_exposure, 6))), net_exposure=Decimal(str(round(v.net_exposure, 6))),
        positions=[p.model_dump(mode="json") for p in v.positions.values()])
    if opened_here(s, cycle_id):  # the cycle's first and only snapshot, read after it commits
        insert_later(s, row)
        return row
    existing = s.scalars(select(PortfolioSnapshotRow).where(PortfolioSnapshotRow.book == book,
                                                            PortfolioSnapshotRow.cycle_id == cycle_id)).first()
    if existing is not None:
        return existing
    s.add(row)
    return row


def _strategies_kept(ours: dict[str, PositionRow], broker: dict[str, tuple[int, float]], changes: list[str]
                     ) -> dict[str, tuple[int, float]]:
    """The broker's positions with each strategy of the book taken out of its legs where they hold it
    whole (each leg at least its ratio times the units, on the same side): the strategy is then kept at
    the book's quantity and entry price. A strategy whose legs no longer hold it (a leg assigned or
    closed outside Cream) is left out, and its legs mirror one by one."""
    left = dict(broker)
    kept: dict[str, tuple[int, float]] = {}
    for key, pos in sorted(ours.items()):
        legs = multi_leg_legs(key)
        if legs is None:
            continue
        need = [(occ, ratio * pos.quantity) for ratio, occ in legs]
        if all(occ in left and left[occ][0] * n > 0 and abs(left[occ][0]) >= abs(n) for occ, n in need):
            for occ, n in need:
                qty, avg = left.pop(occ)
                if qty != n:
                    left[occ] = (qty - n, avg)
            kept[key] = (pos.quantity, float(pos.avg_entry_price))
        else:
            changes.append(f"{key} {pos.quantity} -> its legs as the broker holds them")
    return {**left, **kept}


def mirror(s: Session, book: str, account: AccountSnapshot, ts: datetime) -> list[str]:
    """Make the book what the broker says (PAPER and LIVE): cash, and each position's quantity and entry
    price. Brackets held at the broker and anything done outside Cream show up here. A strategy the book
    holds stays one position while the broker holds all its legs (``_strategies_kept``). Returns what
    changed."""
    changes = []
    row = s.get(Book, book)
    if row is None:
        raise LookupError(f"no book {book}")
    cash = Decimal(str(account.cash))
    if row.cash != cash:
        changes.append(f"cash {row.cash} -> {cash}")
        row.cash = cash
    ours = {p.instrument_id: p for p in positions(s, book)}
    theirs = _strategies_kept(ours, dict(account.positions), changes)
    for key in [k for k in ours if multi_leg_legs(k) is not None and k not in theirs]:
        s.delete(ours.pop(key))  # its legs, as the broker holds them, are mirrored one by one below
        _opened_or_closed(s, book)
    pos: PositionRow | None
    for key, pos in ours.items():
        if key not in theirs:
            changes.append(f"{key} {pos.quantity} -> 0")
            s.delete(pos)
            _opened_or_closed(s, book)
    for key, (qty, avg) in theirs.items():
        if key in ours and multi_leg_legs(key) is not None:
            continue  # a strategy the broker's legs hold in full: the book keeps its own record of it
        pos = ours.get(key)
        if pos is None:
            pos = PositionRow(book=book, instrument_id=key, quantity=0, avg_entry_price=Decimal(str(avg)),
                              multiplier=1 if underlying_of(key) == key else 100, opened_at=ts, checked_until=ts)
            s.add(pos)
            _opened_or_closed(s, book)
        if pos.quantity != qty:
            changes.append(f"{key} {pos.quantity} -> {qty}")
            if pos.quantity * qty <= 0:  # opened or flipped outside Cream: no bracket of ours applies
                pos.stop_loss = pos.take_profit = None
                pos.opened_at = ts
            pos.quantity = qty
        pos.avg_entry_price = Decimal(str(avg)).quantize(Decimal("0.000001"))
    return changes
