"""The rule trader's options playbook on the model's marks of the sample's XLK chain (cream.agents.rules.options_playbook)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from agent_builders import AS_OF, RULES, analyses, context, portfolio, real_snapshots

from cream.adapters.local_history import LocalHistory
from cream.agents.rules.approvers import critic, risk_manager
from cream.agents.rules.trader import trader
from cream.option_marks import mark_of
from cream.schemas.agents import Verdict
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.decisions import Action, Decision, DecisionPlan, Direction, RiskDenomination, SizeUnit
from cream.schemas.instruments import Equity, MultiLeg, OccSymbol, OptionRight
from cream.schemas.market import FeatureSnapshot, OptionMark, RegimeLabel
from cream.schemas.portfolio import PositionView
from cream.services import observe

HISTORY = LocalHistory()
XLK = real_snapshots()["XLK"]  # 2025-06-02 15:00 UTC


def marks(*held: str, snap: FeatureSnapshot = XLK, at: datetime = AS_OF) -> dict[str, OptionMark]:
    window = observe.chain_marks(HISTORY, {"XLK": snap.price}, at, OptionChains(enabled=True), rate=OptionModel().rate)
    return {**window, **observe.held_marks(HISTORY, list(held), at)}


def regime(label: RegimeLabel) -> FeatureSnapshot:
    return XLK.model_copy(update={"regime": XLK.regime.model_copy(update={"regime": label})})


def plan_for(label: RegimeLabel, bull: float, bear: float, option_marks: dict[str, OptionMark] | None = None,
             book: list[PositionView] | None = None, snap: FeatureSnapshot | None = None) -> DecisionPlan:
    s = snap or regime(label)
    a = analyses("XLK", bull=bull, bear=bear, inv_long=round(s.price * 0.97, 2), inv_short=round(s.price * 1.03, 2))
    return trader(context([s], {"XLK": a}, book=portfolio(*(book or [])),
                          option_marks=marks() if option_marks is None else option_marks))


def only(p: DecisionPlan) -> Decision:
    assert len(p.decisions) == 1, p.portfolio_notes
    return p.decisions[0]


def legs(d: Decision) -> list[tuple[int, OccSymbol]]:
    assert isinstance(d.instrument, MultiLeg)
    return [(leg.ratio, OccSymbol.parse(leg.occ_symbol)) for leg in d.instrument.legs]


def approved_by_both(p: DecisionPlan, option_marks: dict[str, OptionMark], snap: FeatureSnapshot, bull: float,
                     bear: float) -> None:
    """The plan passes the rule risk manager and critic on the research it was made from."""
    a = analyses("XLK", bull=bull, bear=bear, inv_long=round(snap.price * 0.97, 2),
                 inv_short=round(snap.price * 1.03, 2))
    for gate in (risk_manager, critic):
        verdict = gate(context([snap], {"XLK": a}, plan=p, option_marks=option_marks,
                               sectors={"XLK": "Information Technology"}))
        assert verdict.verdict is Verdict.APPROVE, verdict.summary


def test_high_volatility_and_a_bullish_view_sell_a_bull_put_credit_spread_sized_by_its_max_loss() -> None:
    chain = marks()
    d = only(plan_for(RegimeLabel.HIGH_VOL, 0.9, 0.1, chain))
    (r1, long_put), (r2, short_put) = legs(d)
    # ordered as a SELL of the put debit spread: short the higher put (|delta| near 0.3), long the next one down
    assert (d.action, d.direction, r1, r2) == (Action.SELL, Direction.SHORT, 1, -1)
    assert long_put.right is short_put.right is OptionRight.PUT and short_put.strike < long_put.strike < XLK.price
    otm = [m for k, m in chain.items() if k.startswith(f"XLK{long_put.expiration:%y%m%d}P")
           and float(OccSymbol.parse(k).strike) < XLK.price]
    assert abs(abs(chain[long_put.format()].delta) - 0.3) == min(abs(abs(m.delta) - 0.3) for m in otm)
    mark = mark_of(d.instrument_id, chain)
    assert mark is not None and mark.bid is not None
    width = float(long_put.strike - short_put.strike)
    assert d.size.quantity * (width - mark.bid) * 100 <= 0.01 * 100_000  # the risk budget, by max loss
    assert (d.size.quantity + 1) * (width - mark.bid) * 100 > 0.01 * 100_000
    rl = d.risk_levels
    assert rl.denomination is RiskDenomination.OPTION_PRICE and rl.take_profit_level < mark.premium < rl.stop_loss_level
    assert d.order_plan.entry_limit_price == pytest.approx(int(mark.bid * 100) / 100)
    approved_by_both(plan_for(RegimeLabel.HIGH_VOL, 0.9, 0.1, chain), chain, regime(RegimeLabel.HIGH_VOL), 0.9, 0.1)


@pytest.mark.parametrize("label, bull, bear, right", [(RegimeLabel.BULL_TREND, 0.9, 0.1, OptionRight.CALL),
                                                       (RegimeLabel.BEAR_TREND, 0.1, 0.9, OptionRight.PUT)])
def test_a_trend_on_a_stock_dearer_than_a_round_lot_allows_buys_a_debit_vertical(
        label: RegimeLabel, bull: float, bear: float, right: OptionRight) -> None:
    chain = marks()
    d = only(plan_for(label, bull, bear, chain))
    (r1, near), (r2, far) = legs(d)
    assert (d.action, d.direction, d.size.unit, r1, r2) == (Action.BUY, Direction.LONG, SizeUnit.CONTRACTS, 1, -1)
    assert near.right is far.right is right
    assert (far.strike > near.strike) == (right is OptionRight.CALL)
    mark = mark_of(d.instrument_id, chain)
    assert mark is not None and mark.ask is not None and (mark.delta > 0) == (right is OptionRight.CALL)
    rl, width = d.risk_levels, float(abs(far.strike - near.strike))
    assert rl.stop_loss_level < mark.premium < rl.take_profit_level <= width
    assert (rl.take_profit_level - mark.premium) / (mark.premium - rl.stop_loss_level) >= RULES.min_risk_reward_ratio
    assert d.size.quantity * mark.ask * 100 <= 0.01 * 100_000
    approved_by_both(plan_for(label, bull, bear, chain), chain, regime(label), bull, bear)


def test_without_marks_or_outside_the_playbook_the_view_trades_as_shares() -> None:
    assert only(plan_for(RegimeLabel.HIGH_VOL, 0.9, 0.1, {})).instrument == Equity(symbol="XLK")
    assert only(plan_for(RegimeLabel.RANGE_BOUND, 0.9, 0.1)).instrument == Equity(symbol="XLK")
    cheap = regime(RegimeLabel.BULL_TREND).model_copy(update={"price": 50.0})  # a round lot is $5,000
    d = only(plan_for(RegimeLabel.BULL_TREND, 0.9, 0.1, snap=cheap))
    assert d.instrument == Equity(symbol="XLK")


SPREAD = "1xXLK250606C00210000+-1xXLK250606C00220000"  # expires Friday June 6, 2025


def held_spread(qty: int = 3) -> PositionView:
    return PositionView(instrument_id=SPREAD, quantity=qty, avg_entry_price=4.0, market_price=4.0, multiplier=100,
                        stop_loss=2.0, take_profit=8.0, levels_on=RiskDenomination.OPTION_PRICE)


def test_a_held_spread_is_held_while_the_research_agrees_and_closed_when_it_turns() -> None:
    book, chain = [held_spread()], marks(SPREAD)
    hold = only(plan_for(RegimeLabel.BULL_TREND, 0.9, 0.1, chain, book))
    assert (hold.action, hold.instrument_id, hold.size.quantity) == (Action.HOLD, SPREAD, 3)
    assert hold.risk_levels.denomination is RiskDenomination.OPTION_PRICE and hold.risk_levels.stop_loss_level == 2.0
    close = only(plan_for(RegimeLabel.BULL_TREND, 0.1, 0.9, chain, book))  # a bullish spread, bearish research
    assert (close.action, close.direction, close.size.quantity) == (Action.SELL, Direction.FLAT, 3)
    assert "research turned against its bullish view" in close.rationale


def test_a_spread_expiring_at_the_next_session_is_closed_whatever_the_research() -> None:
    thursday = datetime(2025, 6, 5, 19, tzinfo=UTC)
    snap = real_snapshots(thursday)["XLK"]
    chain = marks(SPREAD, snap=snap, at=thursday)
    a = analyses("XLK", bull=0.9, bear=0.1, inv_long=round(snap.price * 0.97, 2),
                 inv_short=round(snap.price * 1.03, 2))
    ctx = context([snap], {"XLK": a}, book=portfolio(held_spread()), option_marks=chain).model_copy(
        update={"as_of": thursday})
    close = only(trader(ctx))
    assert (close.action, close.direction, close.size.quantity) == (Action.SELL, Direction.FLAT, 3)
    assert "expires 2025-06-06" in close.rationale


def test_the_critic_reads_an_options_view_from_its_delta_and_its_prices_from_its_premium() -> None:
    chain, snap = marks(), regime(RegimeLabel.HIGH_VOL)
    p = plan_for(RegimeLabel.HIGH_VOL, 0.9, 0.1, chain)  # the bull put credit spread: SHORT, and bullish
    bearish = analyses("XLK", bull=0.1, bear=0.9, inv_long=round(snap.price * 0.97, 2),
                       inv_short=round(snap.price * 1.03, 2))
    verdict = critic(context([snap], {"XLK": bearish}, plan=p, option_marks=chain))
    assert [o.code for o in verdict.objections] == ["CONTRADICTS_RESEARCH"]
    assert "a bullish options position with conviction delta -0.80" in verdict.objections[0].message
    d = p.decisions[0]
    wild = d.model_copy(update={"order_plan": d.order_plan.model_copy(update={"entry_limit_price": 25.0})})
    bullish = analyses("XLK", bull=0.9, bear=0.1, inv_long=round(snap.price * 0.97, 2),
                       inv_short=round(snap.price * 1.03, 2))
    verdict = critic(context([snap], {"XLK": bullish}, plan=p.model_copy(update={"decisions": [wild]}),
                             option_marks=chain))
    assert [o.code for o in verdict.objections] == ["IMPLAUSIBLE_PRICE"] and "limit 25.0" in verdict.summary
    unpriced = critic(context([snap], {"XLK": bullish}, plan=p, option_marks={}))
    assert [o.code for o in unpriced.objections] == ["UNKNOWN_INSTRUMENT"]


def test_shares_held_beside_a_spread_are_managed_too() -> None:
    shares = PositionView(instrument_id="XLK", quantity=100, avg_entry_price=230.0, market_price=XLK.price,
                          stop_loss=220.0, take_profit=250.0)
    p = plan_for(RegimeLabel.BULL_TREND, 0.1, 0.9, marks(SPREAD), [held_spread(), shares])  # research turned
    closes = {d.instrument_id: (d.action, d.size.quantity) for d in p.decisions}
    assert closes == {SPREAD: (Action.SELL, 3), "XLK": (Action.SELL, 100)}
