"""OCC option symbols: parsing into parts and into kernel-ready arrays (the one parser; the domain's
``OccSymbol`` delegates here)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from engine.options import DAYS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# Optional "O:" (Polygon), root of 1-6, optional space padding (the 21-character OSI form), YYMMDD,
# C/P, strike x 1000 on 8 digits.
_OCC = re.compile(r"^(?:O:)?([A-Z][A-Z0-9]{0,5}) *(\d{6})([CP])(\d{8})$")


class OccContract(NamedTuple):
    """The parts of an OCC option symbol; strike in currency per unit of the underlying."""

    underlying: str
    expiry: date
    is_call: bool
    strike: float


class OccArrays(NamedTuple):
    """Numeric columns of many OCC symbols: expiry as ``date.toordinal()``, is_call, strike."""

    expiry_ordinal: IntArray
    is_call: BoolArray
    strike: FloatArray


def parse_occ(symbol: str) -> OccContract:
    """Parse 'AAPL240802C00100000', 'O:AAPL240802C00100000' or padded 'AAPL  240802C00100000'."""
    m = _OCC.match(symbol.strip().upper()) if isinstance(symbol, str) else None
    if not m:
        raise ValueError(f"{symbol!r} is not an OCC option symbol: expected root, YYMMDD, C or P and an "
                         "8-digit strike x 1000, e.g. AAPL240802C00100000.")
    root, ymd, right, strike = m.groups()
    try:
        expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:6]))
    except ValueError as exc:
        raise ValueError(f"{symbol!r} is not an OCC option symbol: bad expiry {ymd} ({exc}).") from None
    return OccContract(root, expiry, right == "C", int(strike) / 1000.0)


def occ_arrays(symbols: Sequence[str]) -> OccArrays:
    """Parse many OCC symbols into kernel-ready arrays; raises ValueError naming the first bad symbol."""
    parts = [parse_occ(s) for s in symbols]
    return OccArrays(
        np.array([p.expiry.toordinal() for p in parts], dtype=np.int64),
        np.array([p.is_call for p in parts], dtype=np.bool_),
        np.array([p.strike for p in parts], dtype=np.float64),
    )


def years_to_expiry(expiry_ordinal: npt.ArrayLike, as_of: date) -> FloatArray:
    """Actual/365 Fixed year fraction from ``as_of`` to each expiry (negative once expired)."""
    days = np.asarray(expiry_ordinal, dtype=np.int64) - as_of.toordinal()
    return days.astype(np.float64) / DAYS_PER_YEAR
