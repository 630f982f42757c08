"""Typed wrapper of the pre-trade check: build the input arrays, run ``check_plan_nb``, read the rows.

    plan = plan_rows(side=[1], qty=[100], price=[50.0], stop=[48.0], target=[55.0])
    result = check_plan(plan, held_rows(notional=[20_000.0]), equity=100_000.0)
    result.approved, result.records(), result.messages()

``records()`` gives each evaluated check as fields (where, code, value, limit, unit, status) for callers
that build their own reports; ``messages()`` is the same in one line of English each.

Column meanings and rules are in ``engine.constraints``.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from engine import constraints as c
from engine.constraint_codes import CHECK_NAMES, EXPLANATIONS, SEVERITY_NAMES, UNITS, VIOLATION_NAMES

FloatArray = npt.NDArray[np.float64]


def _columns(n_cols: int, spec: dict[int, npt.ArrayLike]) -> FloatArray:
    """Stack per-row values (scalars broadcast) into an (n, n_cols) float64 matrix."""
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in spec.items()}
    lengths = {a.shape[0] for a in cols.values() if a.ndim == 1}
    if any(a.ndim > 1 for a in cols.values()) or len(lengths) > 1:
        raise ValueError(f"every column must be a scalar or a 1-D array of one length, got lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    out = np.zeros((n, n_cols))
    for k, a in cols.items():
        out[:, k] = a
    return out


def plan_rows(
    side: npt.ArrayLike, qty: npt.ArrayLike, price: npt.ArrayLike, stop: npt.ArrayLike,
    target: npt.ArrayLike, *, current_qty: npt.ArrayLike = 0.0, multiplier: npt.ArrayLike = 1.0,
    level_price: npt.ArrayLike | None = None, level_sign: npt.ArrayLike = 1.0,
    is_entry: npt.ArrayLike = 0.0, sector: npt.ArrayLike = -1.0, opened_today: npt.ArrayLike = 0.0,
    underlying: npt.ArrayLike | None = None, delta: npt.ArrayLike = 0.0, gamma: npt.ArrayLike = 0.0,
    vega: npt.ArrayLike = 0.0, theta: npt.ArrayLike = 0.0,
) -> FloatArray:
    """The ``plan`` matrix; level_price and underlying default to price (shares)."""
    return _columns(c.N_PLAN_COLS, {
        c.P_SIDE: side, c.P_QTY: qty, c.P_PRICE: price, c.P_MULT: multiplier, c.P_STOP: stop,
        c.P_TARGET: target, c.P_CUR_QTY: current_qty,
        c.P_LEVEL_PRICE: price if level_price is None else level_price, c.P_LEVEL_SIGN: level_sign,
        c.P_IS_ENTRY: is_entry, c.P_SECTOR: sector, c.P_OPENED_TODAY: opened_today,
        c.P_UNDERLYING: price if underlying is None else underlying, c.P_DELTA: delta, c.P_GAMMA: gamma,
        c.P_VEGA: vega, c.P_THETA: theta,
    })


def held_rows(
    notional: npt.ArrayLike, *, sector: npt.ArrayLike = -1.0, delta_notional: npt.ArrayLike = 0.0,
    gamma: npt.ArrayLike = 0.0, vega: npt.ArrayLike = 0.0, theta: npt.ArrayLike = 0.0,
) -> FloatArray:
    """The ``held`` matrix; an empty notional gives zero rows."""
    if np.size(notional) == 0:
        return np.zeros((0, c.N_HELD_COLS))
    return _columns(c.N_HELD_COLS, {c.H_NOTIONAL: notional, c.H_SECTOR: sector,
                                    c.H_DELTA_NOTIONAL: delta_notional, c.H_GAMMA: gamma, c.H_VEGA: vega,
                                    c.H_THETA: theta})


class CheckRecord(NamedTuple):
    """One evaluated check as fields: where it applies, which check, the measure against its limit, and the
    outcome. ``value`` and ``limit`` are None when the check measures nothing (NaN in the row)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index: decision index, or constraints.PORTFOLIO_INDEX
    sector: int  # sector id of a sector-concentration row, else -1
    code: int  # engine.constraint_codes
    severity: int  # constraints.PASS / WARNING / CRITICAL
    value: float | None
    limit: float | None

    @classmethod
    def from_row(cls, row: FloatArray) -> CheckRecord:
        value, limit = float(row[c.R_VALUE]), float(row[c.R_LIMIT])
        return cls(index=int(row[c.R_INDEX]), sector=int(row[c.R_SECTOR]), code=int(row[c.R_CODE]),
                   severity=int(row[c.R_SEVERITY]), value=None if np.isnan(value) else value,
                   limit=None if np.isnan(limit) else limit)

    @property
    def check(self) -> str:
        """What was checked (CHECK_NAMES), e.g. 'STOP_LOSS_PRESENT'."""
        return CHECK_NAMES[self.code]

    @property
    def violation(self) -> str:
        """The violation a failed check reports (VIOLATION_NAMES), e.g. 'MISSING_STOP_LOSS'."""
        return VIOLATION_NAMES[self.code]

    @property
    def status(self) -> str:
        return SEVERITY_NAMES[self.severity]

    @property
    def unit(self) -> str:
        """How value and limit are measured; empty when they mean nothing to a reader."""
        return UNITS[self.code]

    @property
    def explanation(self) -> str | None:
        """What a failed check without a measure means."""
        return EXPLANATIONS.get(self.violation) if self.severity != c.PASS else None

    def finding(self) -> str:
        """The outcome in one line, without the place: 'MAX_UNITS CRITICAL 1,500 units (limit 1,000)'."""
        text = f"{self.check if self.severity == c.PASS else self.violation} {self.status}"
        if self.value is not None and self.unit:
            text += f" {self.value:,.6g} {self.unit}"
        if self.limit is not None and self.unit:
            text += f" (limit {self.limit:,.6g})"
        if self.explanation is not None:
            text += f": {self.explanation}"
        return text


class ConstraintCheck(NamedTuple):
    """Result of ``check_plan``: one row per check evaluated (``engine.constraints.R_*`` columns)."""

    rows: FloatArray
    approved: bool

    @property
    def critical(self) -> FloatArray:
        return cast(FloatArray, self.rows[self.rows[:, c.R_SEVERITY] == c.CRITICAL])

    @property
    def violations(self) -> FloatArray:
        """Critical and warning rows, in report order."""
        return cast(FloatArray, self.rows[self.rows[:, c.R_SEVERITY] != c.PASS])

    def names(self, rows: FloatArray | None = None) -> tuple[str, ...]:
        """Violation names of ``rows`` (default: the critical rows)."""
        rows = self.critical if rows is None else rows
        return tuple(VIOLATION_NAMES[int(code)] for code in rows[:, c.R_CODE])

    def records(self, rows: FloatArray | None = None) -> list[CheckRecord]:
        """``rows`` (default: every check evaluated, PASS included) as records."""
        return [CheckRecord.from_row(r) for r in (self.rows if rows is None else rows)]

    def messages(self, rows: FloatArray | None = None) -> list[str]:
        """One line per row, e.g. 'decision 2: MAX_UNITS CRITICAL 1,500 units (limit 1,000)'."""
        rows = self.violations if rows is None else rows
        return [describe(r) for r in rows]


def describe(row: FloatArray) -> str:
    """One result row in English: where, then ``CheckRecord.finding``."""
    record = CheckRecord.from_row(row)
    where = "portfolio" if record.index == c.PORTFOLIO_INDEX else f"decision {record.index}"
    if record.sector >= 0:
        where += f" sector {record.sector}"
    return f"{where}: {record.finding()}"


def _vector(name: str, values: npt.ArrayLike, n: int) -> FloatArray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


def check_plan(plan: FloatArray, held: FloatArray | None = None, *, equity: float,
               buying_power: float = np.inf, day_trades_5d: int = 0,
               limits: npt.ArrayLike | None = None) -> ConstraintCheck:
    """Run every pre-trade check (see ``engine.constraints``); approved when no row is CRITICAL.

    ``buying_power`` defaults to unlimited: callers with a cash account pass its cash.
    """
    plan = np.ascontiguousarray(plan, dtype=np.float64)
    held = np.zeros((0, c.N_HELD_COLS)) if held is None else np.ascontiguousarray(held, dtype=np.float64)
    if plan.ndim != 2 or plan.shape[1] != c.N_PLAN_COLS:
        raise ValueError(f"plan must be (n, {c.N_PLAN_COLS}); build it with plan_rows()")
    if held.ndim != 2 or held.shape[1] != c.N_HELD_COLS:
        raise ValueError(f"held must be (m, {c.N_HELD_COLS}); build it with held_rows()")
    lim = c.default_limits() if limits is None else _vector("limits", limits, c.N_LIMITS)
    account = np.array([equity, buying_power, day_trades_5d], dtype=np.float64)
    rows = c.check_plan_nb(plan, held, account, lim)
    return ConstraintCheck(rows, approved=not bool((rows[:, c.R_SEVERITY] == c.CRITICAL).any()))
