"""Option marks from the real 2024-07-31 chain, and the risk check of option plans built on them."""

from __future__ import annotations

import csv
import gzip
import math
from datetime import UTC, date, datetime

import pytest

from cream.errors import UnknownInstrument
from cream.option_marks import mark_all, mark_multileg, mark_option, mark_quoted
from cream.ports import ChainContract
from cream.risk import check_plan
from cream.schemas.decisions import (
    Decision,
    DecisionPlan,
    Environment,
    RiskDenomination,
    RiskLevels,
    Size,
    SizeUnit,
)
from cream.schemas.instruments import MultiLeg, OptionLeg
from cream.schemas.portfolio import PortfolioView
from cream.services.runtime_config import default_trading_config
from tests.shared_data import OPTION_CHAIN, require

AS_OF, RATE = date(2024, 7, 31), 0.05


@pytest.fixture(scope="module")
def aapl() -> tuple[dict[str, float], float]:
    """Mid prices of the AAPL 2024-08-02 contracts and the spot implied by put-call parity at 222.5."""
    mids = {}
    with gzip.open(require(OPTION_CHAIN), "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["contractSymbol"].startswith("AAPL240802") and float(row["bid"]) > 0:
                mids[row["contractSymbol"]] = (float(row["bid"]) + float(row["ask"])) / 2
    t = 2 / 365
    spot = mids["AAPL240802C00222500"] - mids["AAPL240802P00222500"] + 222.5 * math.exp(-RATE * t)
    return mids, spot


def test_spot_from_parity_is_the_close_of_that_day(aapl: tuple[dict[str, float], float]) -> None:
    assert aapl[1] == pytest.approx(222.1, abs=0.5)  # AAPL closed at 222.08 on 2024-07-31


def test_marks_solve_a_vol_that_reprices_the_quote_and_agrees_across_call_and_put(
        aapl: tuple[dict[str, float], float]) -> None:
    mids, spot = aapl
    call = mark_option("AAPL240802C00222500", mids["AAPL240802C00222500"], spot, AS_OF, rate=RATE)
    put = mark_option("O:AAPL240802P00222500", mids["AAPL240802P00222500"], spot, AS_OF, rate=RATE)
    assert call.implied_volatility == pytest.approx(put.implied_volatility, abs=1e-6)  # parity by construction
    assert 0.3 < call.implied_volatility < 0.8  # earnings week
    assert 0.45 < call.delta < 0.6 and -0.55 < put.delta < -0.4
    assert call.gamma == pytest.approx(put.gamma, rel=1e-9) and call.theta < 0 and call.vega > 0
    assert put.instrument_id == "AAPL240802P00222500"


def test_a_quote_below_intrinsic_cannot_be_marked(aapl: tuple[dict[str, float], float]) -> None:
    with pytest.raises(UnknownInstrument, match="cannot mark"):
        mark_option("AAPL240802C00215000", 1.0, aapl[1], AS_OF, rate=RATE)  # worth at least ~7
    assert "AAPL240802C00215000" not in mark_all([("AAPL240802C00215000", 1.0, aapl[1])], AS_OF, rate=RATE)


def spread(*legs: tuple[str, int]) -> MultiLeg:
    return MultiLeg(legs=[OptionLeg(occ_symbol=s, ratio=r) for s, r in legs])


def test_bull_call_spread_is_marked_from_its_legs(aapl: tuple[dict[str, float], float]) -> None:
    mids, spot = aapl
    legs = mark_all([(s, p, spot) for s, p in mids.items()], AS_OF, rate=RATE)
    bull = spread(("AAPL240802C00220000", 1), ("AAPL240802C00230000", -1))
    m = mark_multileg(bull, legs)
    assert m.premium == pytest.approx(mids["AAPL240802C00220000"] - mids["AAPL240802C00230000"])
    long_leg, short_leg = legs["AAPL240802C00220000"], legs["AAPL240802C00230000"]
    assert m.delta == pytest.approx(long_leg.delta - short_leg.delta) and 0 < m.delta < 1
    with pytest.raises(UnknownInstrument, match="credit strategies"):
        mark_multileg(spread(("AAPL240802C00220000", -1), ("AAPL240802C00230000", 1)), legs)
    with pytest.raises(UnknownInstrument, match="unbounded loss"):
        mark_multileg(spread(("AAPL240802C00220000", 1), ("AAPL240802C00230000", -2)), legs)
    with pytest.raises(UnknownInstrument, match="no mark"):
        mark_multileg(spread(("AAPL240802C00220000", 1), ("AAPL240802C00300000", -1)), legs)


def test_risk_check_of_a_spread_uses_the_premium_and_the_spread_greeks(aapl: tuple[dict[str, float], float]) -> None:
    mids, spot = aapl
    legs = mark_all([(s, p, spot) for s, p in mids.items()], AS_OF, rate=RATE)
    bull = spread(("AAPL240802C00220000", 1), ("AAPL240802C00230000", -1))
    marks = {bull.instrument_id: mark_multileg(bull, legs)}
    premium = marks[bull.instrument_id].premium

    def plan(qty: int) -> DecisionPlan:
        d = Decision(instrument=bull, action="BUY", direction="LONG", size=Size(quantity=qty, unit=SizeUnit.CONTRACTS),
                     risk_levels=RiskLevels(stop_loss_level=round(premium * 0.5, 2),
                                            take_profit_level=round(premium * 1.9, 2),
                                            denomination=RiskDenomination.OPTION_PRICE),
                     strategy_family="TREND", rationale="test", confidence=0.6)
        return DecisionPlan(cycle_id="c", as_of_timestamp=datetime(2024, 7, 31, 19, tzinfo=UTC),
                            environment="PAPER", decisions=[d])

    book = PortfolioView(cash=100_000.0, equity=100_000.0, gross_exposure=0.0, net_exposure=0.0,
                         buying_power=200_000.0)
    rules = default_trading_config(Environment.PAPER).rules
    ok = check_plan(plan(10), book, {"AAPL": spot}, rules, option_marks=marks, sectors={"AAPL": "Tech"})
    assert ok.approved, ok.reasons()
    notional = next(c for c in ok.checks() if c["check"] == "MAX_NOTIONAL")
    assert notional["value"] == pytest.approx(10 * 100 * premium)
    gamma = next(c for c in ok.checks() if c["check"] == "GAMMA")
    assert gamma["value"] == pytest.approx(abs(10 * 100 * marks[bull.instrument_id].gamma))
    too_many = check_plan(plan(60), book, {"AAPL": spot}, rules, option_marks=marks, sectors={"AAPL": "Tech"})
    assert not too_many.approved
    assert {v.code for v in too_many.violations if v.severity.value == "CRITICAL"} >= {"MAX_PCT_EQUITY"}


# --- a provider's quote as a mark (the Polygon adapter's option_marks) ---------------------------------

def _quoted(**kw: object) -> ChainContract:
    fields: dict[str, object] = {
        "occ_symbol": "XYZ240830C00100000", "underlying": "XYZ", "expiry": date(2024, 8, 30), "type": "call",
        "strike": 100.0, "bid": 2.9, "ask": 3.1, "last": 2.5, "iv": 0.3, "delta": 0.55, "gamma": 0.05,
        "theta": -0.04, "vega": 0.11, "underlying_price": 101.0}
    return ChainContract(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_two_sided_quote_marks_at_its_midpoint_with_the_providers_greeks() -> None:
    mark = mark_quoted(_quoted(), AS_OF, rate=RATE)
    assert mark is not None and mark.instrument_id == "XYZ240830C00100000"
    assert (mark.premium, mark.underlying_price, mark.implied_volatility) == (pytest.approx(3.0), 101.0, 0.3)
    assert (mark.delta, mark.gamma, mark.vega, mark.theta) == (0.55, 0.05, 0.11, -0.04)


def test_without_the_providers_greeks_or_volatility_the_engine_supplies_them() -> None:
    mark = mark_quoted(_quoted(iv=None, delta=None), AS_OF, rate=RATE)
    engine = mark_option("XYZ240830C00100000", 3.0, 101.0, AS_OF, rate=RATE)
    # volatility solved from the midpoint, Black-Scholes Greeks; the quote kept beside them
    assert mark is not None and (mark.bid, mark.ask) == (_quoted().bid, _quoted().ask)
    assert mark.model_copy(update={"bid": None, "ask": None}) == engine


@pytest.mark.parametrize("quote", [{"bid": None}, {"ask": None}, {"bid": 0.0}, {"bid": 3.2, "ask": 3.1},
                                   {"underlying_price": None}, {"bid": 0.01, "ask": 0.02, "iv": None}])
def test_a_quote_that_cannot_be_a_mark_leaves_the_contract_unpriced(quote: dict[str, object]) -> None:
    # one-sided, crossed, no underlying price, or a premium below what any volatility reproduces
    assert mark_quoted(_quoted(**quote), AS_OF, rate=RATE) is None
