"""The arguments of each tool as pydantic models: they validate every call, and their JSON Schemas are
what the model is shown (``ToolSpec.parameters``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from cream.schemas.decisions import Direction
from cream.schemas.market import RegimeLabel
from engine.occ import OccContract, parse_occ


def _upper(v: Any) -> Any:
    return v.strip().upper() if isinstance(v, str) else v


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


Symbol = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=12)]
Right = Annotated[Literal["call", "put"], BeforeValidator(_lower)]
Indicator = Annotated[Literal["sma", "ema", "rsi", "atr", "bollinger", "stochastic", "volume_sma"],
                      BeforeValidator(_lower)]
TimeframeName = Literal["1m", "5m", "15m", "1h", "1d"]


class ToolArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoArgs(ToolArgs):
    pass


class QuotesArgs(ToolArgs):
    symbols: list[Symbol] = Field(min_length=1, max_length=20,
                                  description="Tickers of this cycle, e.g. ['AAPL'].")


class IndicatorArgs(ToolArgs):
    symbol: Symbol = Field(description="A ticker of this cycle.")
    indicator: Indicator = Field(description="Which indicator to recompute.")
    period: int | None = Field(default=None, ge=1, le=200, description=(
        "Bars in the window (%K period for stochastic). Default: 20 for sma, bollinger and "
        "volume_sma; 10 for ema; 14 for rsi, atr and stochastic."))
    timeframe: TimeframeName = Field(default="1h", description="Candle timeframe: '1h' or '1d'.")
    std_dev: float = Field(default=2.0, gt=0, le=5,
                           description="Bollinger band width in standard deviations.")
    d_period: int = Field(default=3, ge=1, le=50, description="Stochastic %D smoothing bars.")
    slowing: int = Field(default=3, ge=1, le=50,
                         description="Stochastic %K slowing bars (1 = fast stochastic).")


class OptionChainArgs(ToolArgs):
    underlying: Symbol = Field(description="A ticker of this cycle.")
    expiration_gte: date | None = Field(default=None, description="Earliest expiry, YYYY-MM-DD.")
    expiration_lte: date | None = Field(default=None, description="Latest expiry, YYYY-MM-DD.")
    contract_type: Right | None = Field(default=None, description="'call' or 'put'; both when left out.")
    limit: int = Field(default=20, ge=1, le=50, description="Contracts nearest the money to return (max 50).")

    @model_validator(mode="after")
    def _ordered(self) -> OptionChainArgs:
        if self.expiration_gte and self.expiration_lte and self.expiration_gte > self.expiration_lte:
            raise ValueError("expiration_gte is after expiration_lte")
        return self


class ContractRef(ToolArgs):
    occ_symbol: str | None = Field(default=None, description="OCC symbol, e.g. AAPL250620C00200000.")
    underlying: Symbol | None = Field(default=None,
                                      description="With strike, expiry and right, instead of occ_symbol.")
    strike: float | None = Field(default=None, gt=0, lt=100_000)
    expiry: date | None = Field(default=None, description="YYYY-MM-DD.")
    right: Right | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ContractRef:
        parts = (self.underlying, self.strike, self.expiry, self.right)
        if self.occ_symbol is not None:
            if any(p is not None for p in parts):
                raise ValueError("give either occ_symbol or underlying, strike, expiry and right, not both")
        elif any(p is None for p in parts):
            raise ValueError("give occ_symbol, or all of underlying, strike, expiry and right")
        self.contract()  # raises ValueError for a symbol the OCC grammar refuses
        return self

    def contract(self) -> OccContract:
        """The contract's parts, checked by the engine's OCC parser."""
        if self.occ_symbol is not None:
            return parse_occ(self.occ_symbol)
        if self.underlying is None or self.strike is None or self.expiry is None or self.right is None:
            raise ValueError("give occ_symbol, or all of underlying, strike, expiry and right")
        thousandths = round(self.strike * 1000)
        return parse_occ(f"{self.underlying}{self.expiry:%y%m%d}{self.right[0].upper()}{thousandths:08d}")


class GreeksArgs(ToolArgs):
    contracts: list[ContractRef] = Field(min_length=1, max_length=20)
    underlying_price: float | None = Field(default=None, gt=0, description=(
        "Spot used for every contract. Default: the underlying's price in this cycle."))
    volatility: float | None = Field(default=None, gt=0, le=5, description=(
        "Annualised volatility, 0.25 = 25%. Required unless the cycle has an implied vol for the contract."))
    rate: float = Field(default=0.0, ge=-0.1, le=0.5,
                        description="Risk-free rate, annual, continuous (0.04 = 4%).")
    dividend_yield: float = Field(default=0.0, ge=0, le=0.5, description="Annual, continuous.")


class MemoryArgs(ToolArgs):
    symbol: Symbol | None = Field(default=None, description="Underlying ticker the past decision traded.")
    regime: Annotated[RegimeLabel | None, BeforeValidator(_upper)] = Field(
        default=None, description="Market regime of the symbol when the past decision was made.")
    direction: Annotated[Direction | None, BeforeValidator(_upper)] = None
    limit: int = Field(default=5, ge=1, le=20)
