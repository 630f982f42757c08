"""Option marks for the risk check: premium and Greeks per unit, from a quote and the underlying price.

The implied volatility comes from the provider when it has one, otherwise it is solved from the
quote's price (engine.options.implied_vol); Greeks are Black-Scholes-Merton (engine.options). A quote
that no volatility in the engine's range reproduces cannot be marked: the instrument stays unpriced
and any plan touching it is rejected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache

from cream.errors import UnknownInstrument
from cream.ports import ChainContract
from cream.schemas.instruments import MultiLeg, OccSymbol, OptionLeg, multi_leg_legs
from cream.schemas.market import OptionMark
from engine.multileg import analyze_multileg
from engine.occ import years_to_expiry
from engine.options import bs_greeks, implied_vol

TICK = 0.01  # the smallest option price increment


def mark_option(occ_symbol: str, price: float, underlying_price: float, as_of: date, *, rate: float,
                div_yield: float = 0.0, implied_volatility: float | None = None) -> OptionMark:
    """Mark one contract; raises UnknownInstrument when it cannot be priced."""
    parts = OccSymbol.parse(occ_symbol)
    symbol = parts.format()
    t = float(years_to_expiry([parts.expiration.toordinal()], as_of)[0])
    is_call = parts.right.value == "CALL"
    vol = implied_volatility
    if vol is None:
        vol = float(implied_vol([price], [underlying_price], [float(parts.strike)], [t], rate, div_yield,
                                [is_call])[0])
    if not (vol and math.isfinite(vol) and vol > 0 and price > 0 and t > 0):
        raise UnknownInstrument(f"{symbol}: cannot mark (price {price}, underlying {underlying_price}, "
                                f"{t * 365:.0f} days to expiry, implied vol {vol})")
    g = bs_greeks([underlying_price], [float(parts.strike)], [t], [vol], rate, div_yield, [is_call])
    return OptionMark(instrument_id=symbol, premium=price, underlying_price=underlying_price,
                      delta=float(g.delta[0]), gamma=float(g.gamma[0]), vega=float(g.vega[0]),
                      theta=float(g.theta[0]), implied_volatility=vol)


@lru_cache(maxsize=8192)
def canonical(occ_symbol: str) -> str:
    """The OCC symbol as ``OptionMark.instrument_id`` spells it (a chain's contracts recur hour after hour)."""
    return OccSymbol.parse(occ_symbol).format()


def mark_quoted(contract: ChainContract, as_of: date, *, rate: float) -> OptionMark | None:
    """A provider's quote of one contract as a mark, or None when it cannot be one (the caller fails closed).

    The premium is the NBBO midpoint (a one-sided or crossed quote, or a missing underlying price, gives
    None: a last trade may be hours old); the volatility the provider's, else solved from the premium;
    the Greeks the provider's when it gives all four (same conventions), else Black-Scholes."""
    bid, ask, spot = contract.bid, contract.ask, contract.underlying_price
    if bid is None or ask is None or not ask >= bid > 0 or not spot or spot <= 0:
        return None
    greeks = {"delta": contract.delta, "gamma": contract.gamma, "vega": contract.vega, "theta": contract.theta}
    quote = {"bid": bid, "ask": ask, "model_priced": contract.model_priced}
    iv = contract.iv if contract.iv is not None and math.isfinite(contract.iv) and contract.iv > 0 else None
    given: dict[str, float] = {k: v for k, v in greeks.items() if v is not None and math.isfinite(v)}
    if iv is not None and len(given) == len(greeks):  # the provider's all: nothing to solve or compute
        if contract.expiry <= as_of:
            return None
        return OptionMark(instrument_id=canonical(contract.occ_symbol), premium=(bid + ask) / 2, underlying_price=spot,
                          implied_volatility=iv, **given, **quote)
    try:
        mark = mark_option(contract.occ_symbol, (bid + ask) / 2, spot, as_of, rate=rate, implied_volatility=iv)
    except UnknownInstrument:
        return None
    return mark.model_copy(update={**(given if len(given) == len(greeks) else {}), **quote})


def mark_multileg(strategy: MultiLeg, legs: Mapping[str, OptionMark], *, held: bool = False) -> OptionMark:
    """Mark one unit of a debit strategy (net premium paid > 0) from its legs' marks.

    Greeks add up by ratio; the quote is the legs' (buying one unit pays every bought leg's ask and gets
    every sold leg's bid; selling it the other way round) where every leg has one. A credit strategy is
    ordered as a SELL of its debit form (the risk check then counts its width less the credit,
    ``cream.risk``); given as a credit it is refused (UnknownInstrument), as are unbounded-loss
    combinations and legs without a mark. ``held``: a strategy already in the book whose legs' mids net
    to a tick or less (far out of the money near expiry) is marked at a tick rather than left unpriced.
    """
    missing = [leg.occ_symbol for leg in strategy.legs if leg.occ_symbol not in legs]
    if missing:
        raise UnknownInstrument(f"{strategy.instrument_id}: no mark for leg(s) {', '.join(missing)}")
    marks = [legs[leg.occ_symbol] for leg in strategy.legs]
    ratios = [float(leg.ratio) for leg in strategy.legs]
    parts = [OccSymbol.parse(leg.occ_symbol) for leg in strategy.legs]
    if len({p.expiration for p in parts}) != 1:
        raise UnknownInstrument(f"{strategy.instrument_id}: legs expire on different dates "
                                f"{sorted({p.expiration for p in parts})}")
    analysis = analyze_multileg([p.right.value == "CALL" for p in parts], [float(p.strike) for p in parts], ratios,
                                [m.premium for m in marks], multiplier=1.0)
    premium = max(analysis.net_premium, TICK) if held else analysis.net_premium
    if not analysis.valid or not math.isfinite(analysis.max_loss) or premium <= 0:
        why = (analysis.reason_name if not analysis.valid else "unbounded loss" if not math.isfinite(analysis.max_loss)
               else f"net credit {-analysis.net_premium:.4g}: credit strategies are ordered as a SELL of their "
               "debit form, every leg's ratio turned around")
        raise UnknownInstrument(f"{strategy.instrument_id}: cannot be risk-checked ({why})")
    quote = strategy_quote(ratios, marks)
    return OptionMark(
        instrument_id=strategy.instrument_id, premium=premium, underlying_price=marks[0].underlying_price,
        bid=quote[0] if quote is not None else None, ask=quote[1] if quote is not None else None,
        model_priced=any(m.model_priced for m in marks),
        **{g: sum(r * getattr(m, g) for r, m in zip(ratios, marks)) for g in ("delta", "gamma", "vega", "theta")})


def strategy_quote(ratios: Sequence[float], marks: Sequence[OptionMark]) -> tuple[float, float] | None:
    """(bid, ask) of one unit of a strategy from its legs' quotes: what selling it gets (each bought leg
    sold at its bid, each sold leg bought back at its ask) and what buying it pays (the other way round);
    None when a leg has no two-sided quote. The bid may be zero or negative: nobody pays for that unit."""
    quotes = [(m.bid, m.ask) for m in marks]
    if any(b is None or a is None for b, a in quotes):
        return None
    two_sided = [(float(b or 0.0), float(a or 0.0)) for b, a in quotes]
    bid = sum(r * (b if r > 0 else a) for r, (b, a) in zip(ratios, two_sided))
    ask = sum(r * (a if r > 0 else b) for r, (b, a) in zip(ratios, two_sided))
    return round(bid, 6), round(ask, 6)


def mark_strategies(instrument_ids: Iterable[str], legs: Mapping[str, OptionMark], *,
                    held: bool = False) -> dict[str, OptionMark]:
    """Marks of the multi-leg strategies among ``instrument_ids`` from their legs' marks; one that cannot
    be marked is left out (the caller fails closed on it)."""
    out = {}
    for instrument_id in instrument_ids:
        strategy = strategy_of(instrument_id)
        if strategy is None:
            continue
        try:
            out[instrument_id] = mark_multileg(strategy, legs, held=held)
        except UnknownInstrument:
            continue
    return out


def mark_of(instrument_id: str, marks: Mapping[str, OptionMark]) -> OptionMark | None:
    """The mark of a contract or a strategy (its own, else from its legs'); None when it has none."""
    known = marks.get(instrument_id)
    if known is not None or "+" not in instrument_id:
        return known
    return mark_strategies([instrument_id], marks, held=True).get(instrument_id)


def strategy_of(instrument_id: str) -> MultiLeg | None:
    """The strategy a multi-leg instrument id names; None for shares, a single contract or a malformed id."""
    try:
        legs = multi_leg_legs(instrument_id)
        return None if legs is None else MultiLeg(legs=[OptionLeg(occ_symbol=o, ratio=r) for r, o in legs])
    except ValueError:
        return None


def mark_all(quotes: Sequence[tuple[str, float, float]], as_of: date, *, rate: float) -> dict[str, OptionMark]:
    """Marks for (occ_symbol, price, underlying price) quotes; those that cannot be marked are left out."""
    out = {}
    for occ, price, spot in quotes:
        try:
            mark = mark_option(occ, price, spot, as_of, rate=rate)
        except UnknownInstrument:
            continue
        out[mark.instrument_id] = mark
    return out
