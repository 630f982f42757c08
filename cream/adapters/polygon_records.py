"""Plain records parsed from Polygon's JSON: option contracts, splits, dividends, quotes.

Field names follow Polygon's public API documentation. A missing required field raises
``MalformedResponse``; optional numbers Polygon leaves out (a contract nobody quoted) are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from cream.adapters.polygon_http import MalformedResponse
from cream.ports import ChainContract
from cream.schemas.market import Quote


@dataclass(frozen=True)
class Split:
    execution_date: date
    split_from: float
    split_to: float

    @property
    def ratio(self) -> float:
        """Shares after per share before (4.0 for a 4-for-1 split)."""
        return self.split_to / self.split_from


@dataclass(frozen=True)
class Dividend:
    ex_dividend_date: date
    cash_amount: float
    currency: str | None
    pay_date: date | None
    frequency: int | None
    dividend_type: str | None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _required(record: dict[str, Any], *path: str, what: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            raise MalformedResponse(f"Polygon {what}: missing {'.'.join(path)} in {str(record)[:200]}")
        node = node[key]
    return node


def parse_option(item: dict[str, Any]) -> ChainContract:
    if not isinstance(item, dict):
        raise MalformedResponse(f"Polygon option chain: a contract is not an object: {str(item)[:100]}")
    what = "option chain"
    details = item.get("details") or {}
    greeks = item.get("greeks") or {}
    quote = item.get("last_quote") or {}
    trade = item.get("last_trade") or {}
    underlying = item.get("underlying_asset") or {}
    ticker = str(_required(item, "details", "ticker", what=what))
    try:
        expiry = date.fromisoformat(str(_required(item, "details", "expiration_date", what=what)))
    except ValueError as exc:
        raise MalformedResponse(f"Polygon {what}: bad expiration_date for {ticker}: {exc}") from None
    kind = str(_required(item, "details", "contract_type", what=what)).lower()
    strike = _num(_required(item, "details", "strike_price", what=what))
    if strike is None or kind not in {"call", "put"}:
        raise MalformedResponse(f"Polygon {what}: {ticker} has strike {strike!r} and type {kind!r}")
    return ChainContract(
        occ_symbol=ticker.removeprefix("O:"), underlying=str(underlying.get("ticker") or ""),
        expiry=expiry, type=kind, strike=strike,
        bid=_num(quote.get("bid")), ask=_num(quote.get("ask")),
        last=_num(trade.get("price")) or _num((item.get("day") or {}).get("close")),
        iv=_num(item.get("implied_volatility")), delta=_num(greeks.get("delta")),
        gamma=_num(greeks.get("gamma")), theta=_num(greeks.get("theta")), vega=_num(greeks.get("vega")),
        underlying_price=_num(underlying.get("price")), open_interest=_num(item.get("open_interest")),
        shares_per_contract=int(_num(details.get("shares_per_contract")) or 100),
    )


def parse_split(item: dict[str, Any]) -> Split:
    day = _day(_required(item, "execution_date", what="splits"))
    split_from, split_to = _num(item.get("split_from")), _num(item.get("split_to"))
    if day is None or not split_from or not split_to:
        raise MalformedResponse(f"Polygon splits: bad record {str(item)[:200]}")
    return Split(day, split_from, split_to)


def parse_dividend(item: dict[str, Any]) -> Dividend:
    day = _day(_required(item, "ex_dividend_date", what="dividends"))
    amount = _num(_required(item, "cash_amount", what="dividends"))
    if day is None or amount is None:
        raise MalformedResponse(f"Polygon dividends: bad record {str(item)[:200]}")
    frequency = _num(item.get("frequency"))
    return Dividend(day, amount, item.get("currency"), _day(item.get("pay_date")),
                    int(frequency) if frequency is not None else None, item.get("dividend_type"))


def _from_nanos(value: Any) -> datetime | None:
    n = _num(value)
    return datetime.fromtimestamp(n / 1e9, UTC) if n else None


def parse_quote(symbol: str, page: dict[str, Any]) -> Quote:
    """A ``Quote`` from ``/v2/snapshot/locale/us/markets/stocks/tickers/{ticker}``."""
    ticker = page.get("ticker")
    if not isinstance(ticker, dict):
        raise MalformedResponse(f"Polygon snapshot {symbol}: no 'ticker' object in the answer")
    nbbo, trade = ticker.get("lastQuote") or {}, ticker.get("lastTrade") or {}
    day, prev = ticker.get("day") or {}, ticker.get("prevDay") or {}
    last = _num(trade.get("p")) or _num(day.get("c")) or _num(prev.get("c"))
    ts = _from_nanos(nbbo.get("t")) or _from_nanos(trade.get("t")) or _from_nanos(ticker.get("updated"))
    if last is None or ts is None:
        raise MalformedResponse(f"Polygon snapshot {symbol}: no last price or time in the answer")
    try:
        return Quote(symbol=symbol, ts=ts, bid=_num(nbbo.get("p")) or 0.0, ask=_num(nbbo.get("P")) or 0.0,
                     bid_size=_num(nbbo.get("s")) or 0.0, ask_size=_num(nbbo.get("S")) or 0.0, last=last)
    except ValidationError as exc:
        raise MalformedResponse(f"Polygon snapshot {symbol}: unusable quote ({exc.errors()[0]['msg']})") from None
