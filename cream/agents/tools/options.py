"""Option tools: the chain (the provider's in PAPER/LIVE, the model's in BACKTEST) and Black-Scholes Greeks
from the engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from cream.agents.port import AgentContext
from cream.agents.tools.args import ContractRef, GreeksArgs, OptionChainArgs
from cream.agents.tools.common import ToolError, iso, num, snapshot_of
from cream.errors import NoOptionData
from cream.market_calendar import NEW_YORK
from cream.ports import ChainContract, MarketData
from engine.occ import OccContract, years_to_expiry
from engine.options import bs_greeks

NO_CHAIN = "no option chain in this environment"
GREEKS = ("price", "delta", "gamma", "theta", "vega", "rho")
CONVENTIONS = ("per unit of the underlying (x100 per US equity contract); delta and gamma per $1, "
               "theta per calendar day, vega per vol point, rho per rate point")


def _contract_row(c: ChainContract) -> dict[str, Any]:
    bid, ask = c.bid, c.ask
    mid = (bid + ask) / 2 if bid is not None and ask is not None and ask >= bid > 0 else None
    return {"occ_symbol": c.occ_symbol, "type": c.type, "strike": num(c.strike), "expiry": iso(c.expiry),
            "bid": num(bid), "ask": num(ask), "mid": num(mid), "last": num(c.last), "iv": num(c.iv, 4),
            "delta": num(c.delta, 4), "gamma": num(c.gamma, 4), "theta": num(c.theta, 4),
            "vega": num(c.vega, 4),
            "open_interest": num(c.open_interest)}


def _wanted(c: ChainContract, args: OptionChainArgs) -> bool:
    """The request's filters, applied again to what the source returned (a source may ignore some)."""
    return ((args.contract_type is None or c.type == args.contract_type)
            and (args.expiration_gte is None or c.expiry >= args.expiration_gte)
            and (args.expiration_lte is None or c.expiry <= args.expiration_lte))


def option_chain(ctx: AgentContext, market: MarketData | None, args: OptionChainArgs) -> dict[str, Any]:
    """The ``limit`` contracts nearest the money from the provider's chain of a symbol of this cycle."""
    spot = snapshot_of(ctx, args.underlying).price
    if market is None:
        raise ToolError(NO_CHAIN)
    try:  # as of the cycle's hour: a backtest's source (local history) lists and prices it then, by the model
        chain = list(market.option_chain(args.underlying, expiration_gte=args.expiration_gte,
                                         expiration_lte=args.expiration_lte, contract_type=args.contract_type,
                                         as_of=ctx.as_of))
    except NoOptionData:  # a source with bars only (local history)
        raise ToolError(NO_CHAIN) from None
    except Exception as exc:  # noqa: BLE001 - the provider's failure is the tool's answer, not the agent's crash
        raise ToolError(f"the option chain of {args.underlying} could not be fetched "
                        f"({type(exc).__name__}: {str(exc)[:200]}).") from None
    chain = [c for c in chain if _wanted(c, args)]
    nearest = sorted(chain, key=lambda c: (abs(float(c.strike) - spot), c.expiry, c.type, c.occ_symbol))
    shown = sorted(nearest[:args.limit], key=lambda c: (c.expiry, c.type, float(c.strike), c.occ_symbol))
    return {"underlying": args.underlying, "underlying_price": num(spot), "contracts_listed": len(chain),
            "contracts": [_contract_row(c) for c in shown]}


def _occ(c: OccContract) -> str:
    return f"{c.underlying}{c.expiry:%y%m%d}{'C' if c.is_call else 'P'}{round(c.strike * 1000):08d}"


def _inputs(ctx: AgentContext, ref: ContractRef, args: GreeksArgs) -> tuple[OccContract, float, float, str]:
    """(contract, spot, volatility, where the volatility came from), or a ToolError for this contract."""
    c = ref.contract()
    spot = args.underlying_price
    if spot is None:
        spot = snapshot_of(ctx, c.underlying).price
    if args.volatility is not None:
        return c, spot, args.volatility, "argument"
    mark = ctx.option_marks.get(_occ(c))
    if mark is not None and mark.implied_volatility:
        return c, spot, mark.implied_volatility, "option_mark"
    raise ToolError("no implied volatility known for this contract: pass volatility (e.g. 0.3 for 30%).")


def _greeks_one(ctx: AgentContext, ref: ContractRef, args: GreeksArgs) -> dict[str, Any]:
    c, spot, vol, source = _inputs(ctx, ref, args)
    today = ctx.as_of.astimezone(NEW_YORK).date()
    t = float(years_to_expiry([c.expiry.toordinal()], today)[0])
    if t <= 0:
        raise ToolError(f"expires {c.expiry.isoformat()}, on or before the cycle date {today.isoformat()}.")
    g = bs_greeks([spot], [c.strike], [t], [vol], args.rate, args.dividend_yield, np.array([c.is_call]))
    return {"occ_symbol": _occ(c), "underlying": c.underlying, "right": "call" if c.is_call else "put",
            "strike": num(c.strike), "expiry": c.expiry.isoformat(), "days_to_expiry": c.expiry.toordinal()
            - today.toordinal(), "underlying_price": num(spot), "volatility": num(vol, 6),
            "volatility_source": source, "rate": args.rate, "dividend_yield": args.dividend_yield,
            **{name: num(float(getattr(g, name)[0])) for name in GREEKS}}


def get_greeks(ctx: AgentContext, args: GreeksArgs) -> dict[str, Any]:
    """Black-Scholes-Merton price and Greeks per contract, per unit of the underlying (x100 per contract)."""
    rows: list[dict[str, Any]] = []
    for ref in args.contracts:
        try:
            rows.append(_greeks_one(ctx, ref, args))
        except ToolError as exc:
            rows.append({"contract": ref.model_dump(mode="json", exclude_none=True), "error": str(exc)})
    return {"conventions": CONVENTIONS, "contracts": rows}
