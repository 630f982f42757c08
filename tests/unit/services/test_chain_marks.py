"""Observe marks the part of each cycle symbol's option chain the agents may trade (``OptionChains``): in
BACKTEST from the model, with the quote a fill crosses; the risk check prices an order on any of them."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from cream import runtime
from cream.option_window import dates, strike_bounds, tradable
from cream.ports import ChainContract
from cream.risk import check_plan
from cream.schemas.config import OptionChains
from cream.schemas.cycle import Observed
from cream.schemas.decisions import (
    Decision,
    DecisionPlan,
    Environment,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import OccSymbol, OptionContract
from cream.schemas.market import Timeframe
from cream.schemas.trigger import CycleTrigger
from cream.services import cycles, pipeline
from cream.services.runtime_config import active_trading_config
from cream.storage.db import session_scope
from tests.unit.services.books import new_book

AT = datetime(2025, 9, 24, 15, tzinfo=UTC)
WINDOW = OptionChains(enabled=True)
CHAINS = pipeline.Ports(market=runtime.market_data, broker=runtime.broker, agents=runtime.agents,
                        option_chains=lambda _env: (WINDOW, 0.04))


def _observed(book: str, ports: pipeline.Ports = CHAINS) -> Observed:
    with session_scope() as s:
        cycle, _ = cycles.open_cycle(s, CycleTrigger(environment=Environment.BACKTEST, scheduled_for=AT, book=book),
                                     ["XLK", "MA"])
        cycle_id = cycle.id
    pipeline.observe_phase(cycle_id, ports, again=False)
    with session_scope(readonly=True) as s:
        observed = cycles.load(s, cycle_id, Observed)
    assert observed is not None
    return observed


def test_each_symbols_chain_is_marked_within_the_window() -> None:
    observed = _observed(new_book("chains"))
    by_root: dict[str, list[OccSymbol]] = {}
    for occ in observed.option_marks:
        parts = OccSymbol.parse(occ)
        by_root.setdefault(parts.root, []).append(parts)
    assert set(by_root) == {"XLK", "MA"}
    for root, contracts in by_root.items():
        spot = observed.prices[root]
        expiries = sorted({c.expiration for c in contracts})
        assert len(expiries) == WINDOW.expiries
        assert all(AT.date() + timedelta(days=WINDOW.min_days) <= e <= AT.date() + timedelta(days=WINDOW.max_days)
                   for e in expiries)
        for e in expiries:
            for right in ("CALL", "PUT"):
                strikes = sorted(float(c.strike) for c in contracts if c.expiration == e and c.right.value == right)
                below, above = [k for k in strikes if k <= spot], [k for k in strikes if k > spot]
                # the nearest each side, one after another on the strike grid; a quote one-sided (a bid of 0
                # far out of the money) cannot be a mark and is left out
                assert 1 <= len(below) <= WINDOW.strikes and 1 <= len(above) <= WINDOW.strikes, (root, e, right)
                assert len({round(b - a, 6) for a, b in itertools.pairwise(strikes)}) == 1, strikes
    for mark in observed.option_marks.values():
        assert mark.model_priced and mark.bid is not None and mark.ask is not None
        assert 0 <= mark.bid < mark.premium < mark.ask


def _bought(contract: str, premium: float) -> DecisionPlan:
    """One contract bought, its levels on the premium."""
    decision = Decision(instrument=OptionContract(occ_symbol=contract), action="BUY", direction="LONG",
                        size=Size(quantity=1, unit=SizeUnit.CONTRACTS),
                        risk_levels=RiskLevels(stop_loss_level=0.5 * premium, take_profit_level=2 * premium,
                                               denomination=RiskDenomination.OPTION_PRICE),
                        strategy_family="TREND", rationale="test", confidence=0.6)
    return DecisionPlan(cycle_id="c", as_of_timestamp=AT, environment="BACKTEST", decisions=[decision])


def test_an_order_on_a_marked_contract_is_priced_and_one_outside_fails_closed() -> None:
    observed = _observed(new_book("chainrisk"))
    listed = min(observed.option_marks, key=lambda k: abs(observed.option_marks[k].delta - 0.5))
    with session_scope(readonly=True) as s:
        rules = active_trading_config(s, Environment.BACKTEST).rules
    premium = observed.option_marks[listed].premium
    priced = check_plan(_bought(listed, premium), observed.portfolio, observed.prices, rules,
                        option_marks=observed.option_marks)
    assert "UNKNOWN_INSTRUMENT" not in {v.code for v in priced.violations}, priced.reasons()
    far = OccSymbol.parse(listed).model_copy(update={"expiration": date(2027, 1, 15)}).format()
    unpriced = check_plan(_bought(far, premium), observed.portfolio, observed.prices, rules,
                          option_marks=observed.option_marks)
    assert not unpriced.approved and {v.code for v in unpriced.violations} == {"UNKNOWN_INSTRUMENT"}


def test_no_chain_is_marked_when_the_window_is_off() -> None:
    off = pipeline.Ports(market=runtime.market_data, broker=runtime.broker, agents=runtime.agents,
                         option_chains=lambda _env: (OptionChains(enabled=False), 0.04))
    assert _observed(new_book("nochains"), off).option_marks == {}


@pytest.mark.parametrize(("enabled", "agents", "marked"), [
    (None, "rules", False), (None, "gemini", True), (None, "replay", True), (True, "rules", True),
    (False, "gemini", False)])
def test_unset_the_window_follows_the_agents(monkeypatch: pytest.MonkeyPatch, enabled: bool | None, agents: str,
                                             marked: bool) -> None:
    """The rule agents never trade an option: their cycles mark no chain unless asked to."""
    monkeypatch.setenv("CREAM_AGENTS", agents)
    if enabled is not None:
        monkeypatch.setenv("CREAM_OPTION_CHAINS", f'{{"enabled": {str(enabled).lower()}}}')
    runtime.get_settings.cache_clear()
    try:
        for env in Environment:
            window, rate = runtime.option_chains(env)
            assert window.enabled is marked and rate == runtime.get_settings().option_model.rate
    finally:
        runtime.get_settings.cache_clear()


def _contract(expiry: date, right: str, strike: float) -> ChainContract:
    return ChainContract(occ_symbol=f"X{expiry:%y%m%d}{right[0].upper()}{round(strike * 1000):08d}", underlying="X",
                         expiry=expiry, type=right, strike=strike, bid=1.0, ask=1.1, last=None, iv=0.2, delta=0.5,
                         gamma=0.01, theta=-0.01, vega=0.1, underlying_price=100.0)


@pytest.mark.parametrize(("spot", "below", "above"), [(100.0, [98.0, 100.0], [102.0, 104.0]),
                                                      (101.0, [98.0, 100.0], [102.0, 104.0]),
                                                      (200.0, [108.0, 110.0], [])])
def test_the_window_takes_the_nearest_strikes_each_side_of_the_first_expiries(spot: float, below: list[float],
                                                                             above: list[float]) -> None:
    expiries = [date(2025, 10, 3), date(2025, 10, 10), date(2025, 10, 17)]
    chain = [_contract(e, r, 90.0 + 2 * i) for e in reversed(expiries) for r in ("put", "call") for i in range(11)]
    picked = tradable(chain, spot, OptionChains(expiries=2, strikes=2))
    assert sorted({c.expiry for c in picked}) == expiries[:2]
    for e in expiries[:2]:
        for right in ("call", "put"):
            assert sorted(c.strike for c in picked if c.expiry == e and c.type == right) == below + above


@pytest.mark.parametrize("window", [OptionChains(), OptionChains(min_days=0, max_days=10, expiries=3, strikes=1),
                                    OptionChains(min_days=20, max_days=90, strikes=12, strike_range=0.03)])
def test_the_models_window_is_the_chain_filtered_to_it(window: OptionChains) -> None:
    """BACKTEST lists the window's contracts alone; they are what filtering the whole chain would keep."""
    market = runtime.market_data()
    for symbol in ("XLK", "COST"):
        for at in (AT, AT.replace(hour=19), datetime(2025, 6, 20, 14, tzinfo=UTC)):
            spot = float(market.bars(symbol, Timeframe.H1, at, 1).close[-1])
            first, last = dates(at, window)
            low, high = strike_bounds(spot, window)
            whole = market.option_chain(symbol, expiration_gte=first, expiration_lte=last, strike_gte=low,
                                        strike_lte=high, as_of=at)
            listed = market.option_window(symbol, spot, at, window)
            assert listed and listed == tradable(whole, spot, window)
