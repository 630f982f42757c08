"""Instruments: equities, OCC option symbols (Polygon/Alpaca/padded forms) and multi-leg strategies."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from cream.schemas.instruments import (
    Equity,
    Instrument,
    MultiLeg,
    OccSymbol,
    OptionContract,
    OptionLeg,
    OptionRight,
)
from tests.shared_data import OPTION_CHAIN, require

CHAIN = OPTION_CHAIN


def chain_symbols() -> list[str]:
    with gzip.open(require(CHAIN), "rt", newline="") as fh:
        return [row["contractSymbol"] for row in csv.DictReader(fh)]


# --- equities ------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "BRK.B", "X", "QQQ3"])
def test_equity_accepts_exchange_tickers(symbol: str) -> None:
    e = Equity(symbol=symbol)
    assert (e.instrument_id, e.underlying, e.multiplier) == (symbol, symbol, 1)


@pytest.mark.parametrize("symbol", ["aapl", "", "1ABC", "AAPL US", "TOOLONGTICKER", "AA-PL"])
def test_equity_rejects_malformed_tickers(symbol: str) -> None:
    with pytest.raises(ValidationError):
        Equity(symbol=symbol)


def test_equity_rejects_unknown_fields_and_is_immutable() -> None:
    with pytest.raises(ValidationError):
        Equity(symbol="AAPL", exchange="NASDAQ")
    e = Equity(symbol="AAPL")
    with pytest.raises(ValidationError):
        e.symbol = "MSFT"  # type: ignore[misc]


# --- OCC symbols ---------------------------------------------------------------------------------


def test_occ_parse_reads_root_expiry_right_and_strike() -> None:
    occ = OccSymbol.parse("AAPL240802C00100000")
    assert occ.root == "AAPL"
    assert occ.expiration == date(2024, 8, 2)
    assert occ.right is OptionRight.CALL
    assert occ.strike == Decimal(100)


def test_occ_parse_fractional_put_strike() -> None:
    occ = OccSymbol.parse("SPY240816P00512500")
    assert occ.right is OptionRight.PUT
    assert occ.strike == Decimal("512.5")
    assert occ.format() == "SPY240816P00512500"


@pytest.mark.parametrize("text", [
    "O:AAPL240802C00100000",     # Polygon
    "AAPL  240802C00100000",     # OCC, root space-padded to 6
    "  aapl240802c00100000 ",    # lower case, surrounding blanks
    "o:aapl240802c00100000",
])
def test_occ_variants_normalise_to_one_symbol(text: str) -> None:
    assert OccSymbol.parse(text).format() == "AAPL240802C00100000"
    assert OptionContract(occ_symbol=text).occ_symbol == "AAPL240802C00100000"


@pytest.mark.parametrize("text", [
    "AAPL",                      # an equity ticker
    "AAPL240802X00100000",       # right is neither C nor P
    "AAPL240802C0010000",        # strike on 7 digits
    "AAPL24082C00100000",        # expiry on 5 digits
    "TOOLONGROOT240802C00100000",
    "O:",
])
def test_occ_parse_rejects_non_occ_text_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="OCC"):
        OccSymbol.parse(text)
    with pytest.raises(ValidationError):
        OptionContract(occ_symbol=text)


@pytest.mark.parametrize("text", ["AAPL241302C00100000", "AAPL240230C00100000"])
def test_occ_with_impossible_expiry_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        OccSymbol.parse(text)
    with pytest.raises(ValidationError):
        OptionContract(occ_symbol=text)


def test_every_contract_of_a_real_option_chain_parses_and_round_trips() -> None:
    symbols = chain_symbols()
    assert len(symbols) > 2000
    for s in symbols:
        occ = OccSymbol.parse(s)
        assert occ.format() == s
        assert occ.strike > 0
        assert occ.expiration >= date(2024, 7, 31)
        assert OptionContract(occ_symbol="O:" + s).occ_symbol == s


def test_real_chain_strikes_match_the_strike_column() -> None:
    with gzip.open(require(CHAIN), "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        occ = OccSymbol.parse(row["contractSymbol"])
        assert float(occ.strike) == float(row["strike"])
        assert occ.right.value[0] == row["optionType"]


def test_option_contract_exposes_underlying_and_multiplier() -> None:
    c = OptionContract(occ_symbol="O:MSFT240920P00400000")
    assert c.instrument_id == "MSFT240920P00400000"
    assert c.underlying == "MSFT"
    assert c.multiplier == 100
    assert c.parts.strike == Decimal(400)


# --- legs and multi-leg strategies ---------------------------------------------------------------


def test_leg_ratio_zero_is_rejected() -> None:
    with pytest.raises(ValidationError, match="zero"):
        OptionLeg(occ_symbol="AAPL240802C00100000", ratio=0)


def test_vertical_spread_is_one_instrument_on_its_underlying() -> None:
    spread = MultiLeg(legs=[OptionLeg(occ_symbol="O:AAPL240802C00100000", ratio=1),
                            OptionLeg(occ_symbol="AAPL  240802C00110000", ratio=-1)])
    assert spread.underlying == "AAPL"
    assert spread.multiplier == 100
    assert spread.instrument_id == "1xAAPL240802C00100000+-1xAAPL240802C00110000"


def test_iron_condor_with_four_legs_is_accepted() -> None:
    legs = [OptionLeg(occ_symbol=s, ratio=r) for s, r in [
        ("SPY240816P00500000", 1), ("SPY240816P00510000", -1),
        ("SPY240816C00560000", -1), ("SPY240816C00570000", 1)]]
    assert len(MultiLeg(legs=legs).legs) == 4


@pytest.mark.parametrize("n", [1, 5])
def test_multi_leg_needs_two_to_four_legs(n: int) -> None:
    legs = [OptionLeg(occ_symbol=f"SPY240816C00{500 + i * 5:03d}000", ratio=1) for i in range(n)]
    with pytest.raises(ValidationError):
        MultiLeg(legs=legs)


def test_multi_leg_rejects_mixed_underlyings() -> None:
    with pytest.raises(ValidationError, match="one underlying"):
        MultiLeg(legs=[OptionLeg(occ_symbol="AAPL240802C00100000", ratio=1),
                       OptionLeg(occ_symbol="MSFT240802C00100000", ratio=-1)])


def test_multi_leg_rejects_the_same_contract_twice_even_in_another_spelling() -> None:
    with pytest.raises(ValidationError, match="only one leg"):
        MultiLeg(legs=[OptionLeg(occ_symbol="AAPL240802C00100000", ratio=1),
                       OptionLeg(occ_symbol="O:AAPL240802C00100000", ratio=-1)])


def test_instrument_union_dispatches_on_type() -> None:
    ta = TypeAdapter(Instrument)
    assert isinstance(ta.validate_python({"type": "EQUITY", "symbol": "AAPL"}), Equity)
    opt = ta.validate_python({"type": "OPTION", "occ_symbol": "O:AAPL240802C00100000"})
    assert isinstance(opt, OptionContract) and opt.occ_symbol == "AAPL240802C00100000"
    with pytest.raises(ValidationError):
        ta.validate_python({"type": "FUTURE", "symbol": "ES"})
    with pytest.raises(ValidationError):
        ta.validate_python({"symbol": "AAPL"})
