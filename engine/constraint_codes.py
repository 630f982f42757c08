"""Codes of the pre-trade checks: one enumeration for the check and the violation it reports.

``CHECK_NAMES[c]`` names what was checked, ``VIOLATION_NAMES[c]`` the violation when it fails
(the code an objection carries); ``UNITS[c]`` says how value and limit are measured.
"""

from __future__ import annotations

(STOP_LOSS_PRESENT, TAKE_PROFIT_PRESENT, STOP_LOSS_SIDE, TAKE_PROFIT_SIDE, RISK_REWARD, MAX_UNITS,
 MAX_NOTIONAL, MAX_PCT_EQUITY, MAX_GROSS_NOTIONAL, MAX_NET_NOTIONAL, MAX_LEVERAGE, SECTOR_CONCENTRATION,
 BUYING_POWER, DELTA_NOTIONAL, GAMMA, VEGA, THETA, PATTERN_DAY_TRADER, INVALID_PRICE, INVALID_QUANTITY,
 NON_POSITIVE_EQUITY, INVALID_SIDE, INVALID_MULTIPLIER, INVALID_HELD_POSITION, INVALID_GREEKS,
 UNKNOWN_SECTOR) = range(26)
N_CODES = 26

# (check, violation, unit of value and limit)
_TABLE = (
    ("STOP_LOSS_PRESENT", "MISSING_STOP_LOSS", ""),
    ("TAKE_PROFIT_PRESENT", "MISSING_TAKE_PROFIT", ""),
    ("STOP_LOSS_SIDE", "STOP_WRONG_SIDE", "price"),
    ("TAKE_PROFIT_SIDE", "TARGET_WRONG_SIDE", "price"),
    ("RISK_REWARD", "RISK_REWARD_TOO_LOW", "ratio"),
    ("MAX_UNITS", "MAX_UNITS", "units"),
    ("MAX_NOTIONAL", "MAX_NOTIONAL", "$"),
    ("MAX_PCT_EQUITY", "MAX_PCT_EQUITY", "fraction of equity"),
    ("MAX_GROSS_NOTIONAL", "MAX_GROSS_NOTIONAL", "$"),
    ("MAX_NET_NOTIONAL", "MAX_NET_NOTIONAL", "$"),
    ("MAX_LEVERAGE", "MAX_LEVERAGE", "x equity"),
    ("SECTOR_CONCENTRATION", "SECTOR_CONCENTRATION", "fraction of equity"),
    ("BUYING_POWER", "INSUFFICIENT_BUYING_POWER", "$"),
    ("DELTA_NOTIONAL", "MAX_DELTA_NOTIONAL", "$"),
    ("GAMMA", "MAX_GAMMA", "delta per $1"),
    ("VEGA", "MAX_VEGA", "$ per vol point"),
    ("THETA", "MIN_THETA", "$ per day"),
    ("PATTERN_DAY_TRADER", "PATTERN_DAY_TRADER", "day trades in 5 sessions"),
    ("PRICE_VALID", "INVALID_PRICE", "price"),
    ("QUANTITY_VALID", "INVALID_QUANTITY", "units"),
    ("EQUITY_POSITIVE", "NON_POSITIVE_EQUITY", "$"),
    ("SIDE_VALID", "INVALID_SIDE", ""),
    ("MULTIPLIER_VALID", "INVALID_MULTIPLIER", ""),
    ("HELD_POSITION_VALID", "INVALID_HELD_POSITION", "row"),
    ("GREEKS_VALID", "INVALID_GREEKS", ""),
    ("SECTOR_KNOWN", "UNKNOWN_SECTOR", ""),
)
CHECK_NAMES = tuple(t[0] for t in _TABLE)
VIOLATION_NAMES = tuple(t[1] for t in _TABLE)
UNITS = tuple(t[2] for t in _TABLE)
# What a violation without a measured value means.
EXPLANATIONS = {
    "MISSING_STOP_LOSS": "every order needs a stop-loss level",
    "MISSING_TAKE_PROFIT": "every order needs a take-profit level",
    "INVALID_SIDE": "side must be +1 (buy) or -1 (sell)",
    "INVALID_GREEKS": "option Greeks missing or not finite",
    "INVALID_HELD_POSITION": "a held position cannot be marked (price or Greeks unknown)",
    "UNKNOWN_SECTOR": "no sector configured in universe_configs: sector concentration not checked",
}
SEVERITY_NAMES = ("PASS", "WARNING", "CRITICAL")
assert len(_TABLE) == N_CODES
