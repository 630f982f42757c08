"""Instruments: equities, single option contracts (OCC symbols) and multi-leg option strategies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.occ import parse_occ

TICKER_PATTERN = r"^[A-Z][A-Z0-9.]{0,9}$"  # XLK, BRK.B: the one ticker rule


class InstrumentType(StrEnum):
    EQUITY = "EQUITY"
    OPTION = "OPTION"
    MULTI_LEG = "MULTI_LEG"


class OptionRight(StrEnum):
    CALL = "CALL"
    PUT = "PUT"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Equity(Frozen):
    type: Literal["EQUITY"] = "EQUITY"
    symbol: str = Field(pattern=TICKER_PATTERN)

    @property
    def instrument_id(self) -> str:
        return self.symbol

    @property
    def underlying(self) -> str:
        return self.symbol

    @property
    def multiplier(self) -> int:
        return 1


class OccSymbol(Frozen):
    """The parts of an OCC option symbol."""

    root: str
    expiration: date
    right: OptionRight
    strike: Decimal

    @classmethod
    def parse(cls, text: str) -> OccSymbol:
        c = parse_occ(text)  # the engine's parser: one grammar for the domain and the kernels
        return cls(root=c.underlying, expiration=c.expiry, right=OptionRight.CALL if c.is_call else OptionRight.PUT,
                   strike=Decimal(round(c.strike * 1000)) / 1000)

    def format(self) -> str:
        strike = int((self.strike * 1000).to_integral_value())
        return f"{self.root}{self.expiration:%y%m%d}{self.right.value[0]}{strike:08d}"


class OptionContract(Frozen):
    type: Literal["OPTION"] = "OPTION"
    occ_symbol: str

    @field_validator("occ_symbol")
    @classmethod
    def _normalise(cls, v: str) -> str:
        return OccSymbol.parse(v).format()

    @property
    def parts(self) -> OccSymbol:
        return OccSymbol.parse(self.occ_symbol)

    @property
    def instrument_id(self) -> str:
        return self.occ_symbol

    @property
    def underlying(self) -> str:
        return self.parts.root

    @property
    def multiplier(self) -> int:
        return 100


class OptionLeg(Frozen):
    occ_symbol: str
    ratio: int = Field(description="Contracts per unit of the strategy; positive buys, negative sells.")

    @field_validator("occ_symbol")
    @classmethod
    def _normalise(cls, v: str) -> str:
        return OccSymbol.parse(v).format()

    @field_validator("ratio")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("a leg ratio cannot be zero")
        return v


class MultiLeg(Frozen):
    type: Literal["MULTI_LEG"] = "MULTI_LEG"
    legs: list[OptionLeg] = Field(min_length=2, max_length=4)

    @model_validator(mode="after")
    def _one_underlying(self) -> MultiLeg:
        roots = {OccSymbol.parse(leg.occ_symbol).root for leg in self.legs}
        if len(roots) != 1:
            raise ValueError(f"all legs must share one underlying, got {sorted(roots)}")
        symbols = [leg.occ_symbol for leg in self.legs]
        if len(set(symbols)) != len(symbols):
            raise ValueError("a contract may appear in only one leg")
        return self

    @property
    def instrument_id(self) -> str:
        return "+".join(f"{leg.ratio}x{leg.occ_symbol}" for leg in self.legs)

    @property
    def underlying(self) -> str:
        return OccSymbol.parse(self.legs[0].occ_symbol).root

    @property
    def multiplier(self) -> int:
        return 100


Instrument = Annotated[Equity | OptionContract | MultiLeg, Field(discriminator="type")]


def multi_leg_legs(instrument_id: str) -> list[tuple[int, str]] | None:
    """[(ratio, OCC symbol)] of a multi-leg instrument id (``1xAAPL..C..+-1xAAPL..C..``), else None."""
    if "+" not in instrument_id:
        return None
    legs = []
    for part in instrument_id.split("+"):
        ratio, _, occ = part.partition("x")
        legs.append((int(ratio), OccSymbol.parse(occ).format()))
    return legs


def is_option(instrument_id: str) -> bool:
    """Whether the id is one option contract (an OCC symbol), not shares or a multi-leg strategy."""
    try:
        OccSymbol.parse(instrument_id)
    except ValueError:
        return False
    return True


def is_options_position(instrument_id: str) -> bool:
    """Whether the id is one option contract or a multi-leg strategy of them: marked by quotes, not bars."""
    return "+" in instrument_id or is_option(instrument_id)


def option_legs(instrument_id: str) -> list[tuple[int, str]]:
    """[(ratio, OCC symbol)] of a strategy, [(1, the contract)] of a single contract, [] of shares."""
    legs = multi_leg_legs(instrument_id)
    return legs if legs is not None else [(1, instrument_id)] if is_option(instrument_id) else []


def contract_quantities(positions: dict[str, int]) -> dict[str, int]:
    """Signed quantity per instrument as a broker holds it: a strategy's units spread over its legs (its
    ratio times the units each), added to what is held of those contracts alone; zeros dropped."""
    out: dict[str, int] = {}
    for instrument_id, qty in positions.items():
        for ratio, held in multi_leg_legs(instrument_id) or [(1, instrument_id)]:
            out[held] = out.get(held, 0) + ratio * qty
    return {k: v for k, v in out.items() if v}


def underlying_of(instrument_id: str) -> str:
    """The underlying symbol of any instrument id (share symbol, OCC symbol, multi-leg id)."""
    first = instrument_id.split("+", maxsplit=1)[0]
    if "x" in first:
        first = first.split("x", 1)[1]
    try:
        return OccSymbol.parse(first).root
    except ValueError:
        return instrument_id
