"""The rule trader's options playbook: which defined-risk strategy a view becomes, sized by what it can lose.

Used only where the cycle marked the symbol's option chain (``OptionChains``); otherwise the view trades
as shares. For a view beyond the action threshold:
- a HIGH_VOL regime (or the technical analyst's HIGH volatility) sells premium with defined risk: a credit
  vertical on the view's side (bullish: the bull put spread, i.e. the put debit spread SOLD; bearish: the
  bear call spread, the call debit spread SOLD), short strike the out-of-the-money contract nearest
  ``SHORT_DELTA``, long strike the next listed one further out;
- a trending regime on a stock a round lot of which costs more than the per-instrument allocation buys a
  debit vertical: long the contract nearest the money, short the one ``DEBIT_WIDTH_STRIKES`` strikes
  further out;
- anything else stays shares.
The nearest listed expiry of the marked window is used. Quantity: the risk budget (``RISK_PER_TRADE`` of
equity, halved on event or macro risk) over the strategy's max loss per contract (the debit paid at the
ask; the width less the credit received at the bid), within the per-instrument limits. Levels are of the
strategy's premium: a debit spread is stopped at half its premium, a credit spread targets
``CREDIT_KEPT`` of its credit; both at a reward/risk above the configured minimum. The order is a limit
at the strategy's net ask (buy) or bid (sell), DAY.

Held options are managed like shares: closed when the research turns against the view they express
(their delta), closed the session before they expire (no exercise or assignment is left to chance),
held with their bracket otherwise.
"""

from __future__ import annotations

import math

from cream import market_calendar
from cream.agents.port import AgentContext
from cream.option_marks import mark_of, strategy_of
from cream.schemas.decisions import (
    Action,
    Decision,
    Direction,
    OrderPlan,
    OrderType,
    References,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
    StrategyFamily,
)
from cream.schemas.instruments import MultiLeg, OccSymbol, OptionContract, OptionLeg, OptionRight, option_legs
from cream.schemas.market import OptionMark, RegimeLabel
from cream.schemas.portfolio import PositionView

RISK_PER_TRADE = 0.01  # at most 1% of equity lost if the strategy ends at its max loss
LIMIT_HEADROOM = 0.95
SHORT_DELTA = 0.30  # a credit spread sells the out-of-the-money contract with |delta| nearest this
DEBIT_WIDTH_STRIKES = 2  # a debit spread's short leg: this many listed strikes beyond its long leg
DEBIT_STOP = 0.5  # a debit spread is stopped at this fraction of its premium
CREDIT_KEPT = 0.75  # a credit spread is bought back once this much of its credit is kept
RR_MARGIN = 0.1  # levels sit this far above the minimum reward/risk, clear of rounding
TREND_REGIMES = (RegimeLabel.BULL_TREND, RegimeLabel.BEAR_TREND)
CONTRACT = 100


def strategy_for(ctx: AgentContext, symbol: str, direction: Direction, volatility: str, halve: bool,
                 why: str) -> tuple[Decision | None, str] | None:
    """The playbook's decision for a new ``direction`` view of ``symbol`` (with a note), (None, why not)
    when an options strategy is called for but cannot be built, or None when the view trades as shares."""
    chain = _chain(ctx, symbol)
    if not chain:
        return None
    snap, rules = ctx.snapshots[symbol], ctx.rules
    bullish = direction is Direction.LONG
    if snap.regime.regime is RegimeLabel.HIGH_VOL or volatility == "HIGH":
        built = _credit_vertical(chain, snap.price, bullish)
        kind = f"{'bull put' if bullish else 'bear call'} credit spread (high volatility: premium sold, risk defined)"
    elif snap.regime.regime in TREND_REGIMES and CONTRACT * snap.price > ctx.portfolio.equity * rules.max_pct_equity:
        built = _debit_vertical(chain, snap.price, bullish)
        kind = (f"{'bull call' if bullish else 'bear put'} debit spread (trend; a round lot of {symbol} exceeds "
                f"the per-instrument allocation)")
    else:
        return None
    if built is None:
        return None, f"{symbol}: no trade, no {kind.split(' (')[0]} in the marked chain ({why})"
    strategy, sell = built
    mark = mark_of(strategy.instrument_id, ctx.option_marks)
    if mark is None or mark.bid is None or mark.ask is None:
        return None, f"{symbol}: no trade, {strategy.instrument_id} has no two-sided quote ({why})"
    width = _width(strategy)
    loss = (width - mark.bid) if sell else mark.ask  # per unit, at the price the order will get
    levels = _levels(mark.premium, width, sell, rules.min_risk_reward_ratio)
    if levels is None or not 0 < loss < math.inf or (sell and mark.bid <= 0):
        return None, f"{symbol}: no trade, {kind.split(' (')[0]} at {mark.premium:.2f} has no sound levels ({why})"
    budget = ctx.portfolio.equity * RISK_PER_TRADE * (0.5 if halve else 1.0)
    qty = min(int(budget / (loss * CONTRACT)), int(rules.max_units),
              int(rules.max_notional * LIMIT_HEADROOM / (loss * CONTRACT)),
              int(ctx.portfolio.equity * rules.max_pct_equity * LIMIT_HEADROOM / (loss * CONTRACT)))
    if qty <= 0:
        return None, f"{symbol}: no trade, one {kind.split(' (')[0]} loses up to ${loss * CONTRACT:,.0f} ({why})"
    limit = math.floor(mark.bid * 100) / 100 if sell else math.ceil(mark.ask * 100) / 100
    decision = Decision(
        instrument=strategy, action=Action.SELL if sell else Action.BUY,
        direction=Direction.SHORT if sell else Direction.LONG, size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
        order_plan=OrderPlan(entry_order_type=OrderType.LIMIT, entry_limit_price=limit),
        risk_levels=levels, strategy_family=StrategyFamily.VOLATILITY if sell else StrategyFamily.TREND,
        confidence=0.6,
        rationale=(f"{'Bullish' if bullish else 'Bearish'} {symbol} ({why}): {kind}, {strategy.instrument_id} "
                   f"{'sold' if sell else 'bought'} at {limit:.2f} (mid {mark.premium:.2f}, width {width:g}); max "
                   f"loss ${loss * CONTRACT:,.0f} a contract, {qty} contracts for a ${budget:,.0f} risk budget; "
                   f"stop {levels.stop_loss_level}, target {levels.take_profit_level} of the premium."),
        references=References(used_indicators=["atr_14_1d"] if "atr_14_1d" in snap.indicators else []))
    return decision, f"{symbol}: {decision.action.value} {qty} {kind.split(' (')[0]}, {why}"


def manage(ctx: AgentContext, symbol: str, delta: float, why: str) -> list[tuple[Decision, str]]:
    """A decision for each option position held on ``symbol``: close it when the research turns against
    its view or it expires by the next session, hold it otherwise."""
    out = []
    threshold = ctx.rules.conviction_delta_action
    for pos in ctx.portfolio.positions.values():
        legs = option_legs(pos.instrument_id)
        if not legs or OccSymbol.parse(legs[0][1]).root != symbol:
            continue
        instrument = _instrument(pos.instrument_id)
        mark = mark_of(pos.instrument_id, ctx.option_marks)
        view = (mark.delta if mark is not None else 0.0) * pos.quantity
        expiry = OccSymbol.parse(legs[0][1]).expiration
        if expiry <= market_calendar.next_session(ctx.as_of.astimezone(market_calendar.NEW_YORK).date()):
            reason = f"expires {expiry}: closed before the close of its last session, no exercise or assignment"
        elif (view > 0 and delta < -threshold) or (view < 0 and delta > threshold):
            reason = f"research turned against its {'bullish' if view > 0 else 'bearish'} view ({why})"
        else:
            out.append((Decision(instrument=instrument, action=Action.HOLD,
                                 direction=Direction.LONG if pos.quantity > 0 else Direction.SHORT,
                                 size=Size(quantity=abs(pos.quantity), unit=SizeUnit.CONTRACTS),
                                 risk_levels=_held_levels(pos), strategy_family=StrategyFamily.TREND, confidence=0.5,
                                 rationale=f"Hold {pos.instrument_id}: no reason to change it ({why})."),
                        f"{symbol}: hold {pos.instrument_id}"))
            continue
        close = Decision(
            instrument=instrument, action=Action.SELL if pos.quantity > 0 else Action.BUY, direction=Direction.FLAT,
            size=Size(quantity=abs(pos.quantity), unit=SizeUnit.CONTRACTS), risk_levels=_held_levels(pos),
            strategy_family=StrategyFamily.TREND, confidence=0.6, rationale=f"Close {pos.instrument_id}: {reason}.")
        out.append((close, f"{symbol}: close {pos.instrument_id}, {reason}"))
    return out


def _chain(ctx: AgentContext, symbol: str) -> list[tuple[OccSymbol, OptionMark]]:
    """The marked contracts of ``symbol`` at its nearest marked expiry."""
    listed = []
    for key, mark in ctx.option_marks.items():
        if "+" in key or not key.startswith(symbol):
            continue
        try:
            parts = OccSymbol.parse(key)
        except ValueError:
            continue
        if parts.root == symbol and parts.expiration > ctx.as_of.date():
            listed.append((parts, mark))
    if not listed:
        return []
    nearest = min(p.expiration for p, _ in listed)
    return sorted(((p, m) for p, m in listed if p.expiration == nearest), key=lambda pm: pm[0].strike)


def _side(chain: list[tuple[OccSymbol, OptionMark]], right: OptionRight) -> list[tuple[OccSymbol, OptionMark]]:
    return [(p, m) for p, m in chain if p.right is right]


def _credit_vertical(chain: list[tuple[OccSymbol, OptionMark]], spot: float, bullish: bool
                     ) -> tuple[MultiLeg, bool] | None:
    """(the debit form, sold): bullish, the put debit spread from the short put down to the next strike."""
    right = OptionRight.PUT if bullish else OptionRight.CALL
    side = _side(chain, right)
    out_of_money = [i for i, (p, _) in enumerate(side) if (float(p.strike) < spot if bullish else float(p.strike) > spot)]
    if not out_of_money:
        return None
    short = min(out_of_money, key=lambda i: abs(abs(side[i][1].delta) - SHORT_DELTA))
    far = short - 1 if bullish else short + 1
    if not 0 <= far < len(side):
        return None
    # the debit form: long the short strike's contract, short the far one; sold, it is the credit spread
    return _vertical(side[short][0], side[far][0]), True


def _debit_vertical(chain: list[tuple[OccSymbol, OptionMark]], spot: float, bullish: bool
                    ) -> tuple[MultiLeg, bool] | None:
    side = _side(chain, OptionRight.CALL if bullish else OptionRight.PUT)
    if not side:
        return None
    near = min(range(len(side)), key=lambda i: abs(float(side[i][0].strike) - spot))
    far = near + DEBIT_WIDTH_STRIKES if bullish else near - DEBIT_WIDTH_STRIKES
    far = min(max(far, 0), len(side) - 1)
    if far == near:
        return None
    return _vertical(side[near][0], side[far][0]), False


def _vertical(long: OccSymbol, short: OccSymbol) -> MultiLeg:
    return MultiLeg(legs=[OptionLeg(occ_symbol=long.format(), ratio=1), OptionLeg(occ_symbol=short.format(), ratio=-1)])


def _width(strategy: MultiLeg) -> float:
    strikes = [float(OccSymbol.parse(leg.occ_symbol).strike) for leg in strategy.legs]
    return max(strikes) - min(strikes)


def _levels(premium: float, width: float, sell: bool, min_rr: float) -> RiskLevels | None:
    """Levels of the premium at a reward/risk of at least ``min_rr`` + RR_MARGIN; None when none fit in
    (0, width)."""
    rr = min_rr + RR_MARGIN
    if sell:
        target = premium * (1 - CREDIT_KEPT)
        stop = premium + (premium - target) / rr
    else:
        stop = premium * DEBIT_STOP
        target = min(premium + max(2.0, rr) * (premium - stop), 0.9 * width)
        if (target - premium) < rr * (premium - stop):
            stop = premium - (target - premium) / rr
    stop, target = round(stop, 2), round(target, 2)
    if not (0 < min(stop, target) and max(stop, target) <= width):
        return None
    reward, risk = (premium - target, stop - premium) if sell else (target - premium, premium - stop)
    if risk <= 0 or reward / risk < min_rr:
        return None
    return RiskLevels(stop_loss_level=stop, take_profit_level=target, denomination=RiskDenomination.OPTION_PRICE)


def _instrument(instrument_id: str) -> OptionContract | MultiLeg:
    return strategy_of(instrument_id) or OptionContract(occ_symbol=instrument_id)


def _held_levels(pos: PositionView) -> RiskLevels:
    """The position's stored bracket (levels of its premium), or one around its mark when it has none."""
    if pos.stop_loss is not None and pos.take_profit is not None:
        return RiskLevels(stop_loss_level=pos.stop_loss, take_profit_level=pos.take_profit,
                          denomination=RiskDenomination(pos.levels_on))
    p = max(pos.market_price, 0.02)
    low, high = round(p / 2, 2), round(p * 2, 2)
    return RiskLevels(stop_loss_level=low if pos.quantity > 0 else high,
                      take_profit_level=high if pos.quantity > 0 else low, denomination=RiskDenomination.OPTION_PRICE)

