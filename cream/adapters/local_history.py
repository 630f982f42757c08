"""``MarketData`` over local files: the bundled sample, or a directory of raw Polygon 5-minute bars; options
listed and priced by the model from those bars (``cream.option_model``).

Two file formats, told apart by name, may share a directory:

* ``{SYMBOL}.{timeframe}.csv.gz`` (e.g. ``ADBE.1h.csv.gz``), the sample format written by
  ``scripts/make_sample.py``: ``ts,end,open,high,low,close,volume,vwap,trades``, times ISO-8601 UTC.
* ``{SYMBOL}.csv.gz``, raw Polygon 5-minute bars: ``datetime,symbol,open,high,low,close,volume,vwap,
  transactions`` with naive UTC start times, extended hours included. These are served as they are
  for ``5m`` and resampled (regular session only, see ``resample``) for ``1h`` and ``1d``.

An explicit sample file wins over one derived from raw bars. Each file is parsed once per process
and shared (read-only arrays) by every ``LocalHistory`` instance.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import numpy as np

from cream.adapters.resample import BarTable, sort_unique, to_daily, to_hourly
from cream.errors import ConfigurationError, UnknownInstrument
from cream.option_model import ModelOptions
from cream.ports import Bars, ChainContract
from cream.schemas.config import OptionChains, OptionModel
from cream.schemas.market import OptionMark, Timeframe

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "data" / "sample"
SAMPLE_COLUMNS = ("ts", "end", "open", "high", "low", "close", "volume", "vwap", "trades")
POLYGON_COLUMNS = ("datetime", "open", "high", "low", "close", "volume", "vwap", "transactions")
RAW_TIMEFRAMES = (Timeframe.M5, Timeframe.H1, Timeframe.D1)
_FIVE_MINUTES = 300
_SUFFIX = ".csv.gz"


# --- parsing -------------------------------------------------------------------------------------


def _read_columns(path: Path, required: tuple[str, ...]) -> dict[str, list[str]]:
    with gzip.open(path, "rt", newline="") as handle:
        rows = csv.reader(io.StringIO(handle.read()))
        header = next(rows, [])
        missing = [name for name in required if name not in header]
        if missing:
            raise ConfigurationError(
                f"{path} lacks columns {missing}: regenerate it with scripts/make_sample.py"
            )
        index = [header.index(name) for name in required]
        columns: list[list[str]] = [[] for _ in required]
        for row in rows:
            for column, i in zip(columns, index):
                column.append(row[i])
    return dict(zip(required, columns))


def _epoch_seconds(stamps: list[str]) -> np.ndarray:
    # numpy parses ISO-8601 without a zone designator; every stamp here is UTC.
    naive = [s.removesuffix("Z") for s in stamps]
    return np.array(naive, dtype="datetime64[s]").astype(np.int64)


def _floats(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def read_polygon_5m(path: Path) -> BarTable:
    """Raw Polygon 5-minute bars, sorted and de-duplicated, extended hours included."""
    c = _read_columns(path, POLYGON_COLUMNS)
    ts = _epoch_seconds(c["datetime"])
    table = BarTable(
        ts=ts, end=ts + _FIVE_MINUTES,
        open=_floats(c["open"]), high=_floats(c["high"]), low=_floats(c["low"]),
        close=_floats(c["close"]), volume=_floats(c["volume"]), vwap=_floats(c["vwap"]),
        trades=_floats(c["transactions"]).astype(np.int64),
    )
    return sort_unique(table)


def read_sample(path: Path) -> BarTable:
    """Bars in the sample format (already sorted, one timeframe per file)."""
    c = _read_columns(path, SAMPLE_COLUMNS)
    return sort_unique(BarTable(
        ts=_epoch_seconds(c["ts"]), end=_epoch_seconds(c["end"]),
        open=_floats(c["open"]), high=_floats(c["high"]), low=_floats(c["low"]),
        close=_floats(c["close"]), volume=_floats(c["volume"]), vwap=_floats(c["vwap"]),
        trades=_floats(c["trades"]).astype(np.int64),
    ))


def _read_only(table: BarTable) -> BarTable:
    # Arrays are shared by every caller in the process: nobody may write into them.
    for column in table:
        column.setflags(write=False)
    return table


@cache
def _load_raw(path: Path) -> BarTable:
    return _read_only(read_polygon_5m(path))


@cache
def _load(path: Path, timeframe: Timeframe, raw: bool) -> BarTable:
    if not raw:
        return _read_only(read_sample(path))
    if timeframe is Timeframe.M5:
        return _load_raw(path)
    resample = to_hourly if timeframe is Timeframe.H1 else to_daily
    return _read_only(resample(_load_raw(path)))


# --- the adapter ---------------------------------------------------------------------------------


def _epoch(dt: datetime, name: str) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name}={dt!r} is naive: pass a tz-aware datetime (UTC)")
    return math.floor(dt.timestamp())


def _scan(directory: Path) -> dict[str, dict[Timeframe, tuple[Path, bool]]]:
    """symbol -> timeframe -> (file, is_raw_5m); explicit sample files override raw-derived ones."""
    sources: dict[str, dict[Timeframe, tuple[Path, bool]]] = {}
    explicit: list[tuple[str, Timeframe, Path]] = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        stem = path.name[: -len(_SUFFIX)]
        symbol, _, suffix = stem.rpartition(".")
        if symbol and suffix in {tf.value for tf in Timeframe}:
            explicit.append((symbol, Timeframe(suffix), path))
        else:
            sources.setdefault(stem, {}).update(dict.fromkeys(RAW_TIMEFRAMES, (path, True)))
    for symbol, timeframe, path in explicit:
        sources.setdefault(symbol, {})[timeframe] = (path, False)
    return sources


class LocalHistory:
    """Bars from local gzip CSV files (default: the sample bundled with Cream)."""

    def __init__(self, directory: Path | None = None, option_model: OptionModel | None = None) -> None:
        self.directory = Path(directory) if directory is not None else DEFAULT_DIRECTORY
        self.options = ModelOptions(self, option_model or OptionModel())
        if not self.directory.is_dir():
            raise ConfigurationError(f"market data directory {self.directory} does not exist: point "
                                     "LocalHistory at a directory of *.csv.gz bar files")
        self._sources = _scan(self.directory.resolve())
        if not self._sources:
            raise ConfigurationError(f"no *{_SUFFIX} bar files in {self.directory}: "
                                     "regenerate the sample with scripts/make_sample.py")

    def __repr__(self) -> str:
        return f"LocalHistory({str(self.directory)!r})"

    def symbols(self) -> list[str]:
        return sorted(self._sources)

    def preload(self) -> None:
        """Read every bar file now, as a worker does before it takes work: each is read once per process
        anyway (the start of every cycle reads each symbol's finest bars to find the cycle hour), and a
        worker that read them first kept the cycle waiting a few hundred milliseconds per process."""
        for symbol, timeframes in self._sources.items():
            for timeframe in timeframes:
                self._table(symbol, timeframe)

    def _table(self, symbol: str, timeframe: Timeframe | str) -> BarTable:
        timeframes = self._sources.get(symbol)
        if timeframes is None:
            raise UnknownInstrument(f"{symbol!r} is not in {self.directory}; known symbols: "
                                    f"{', '.join(self.symbols())}")
        source = timeframes.get(Timeframe(timeframe)) if timeframe in set(Timeframe) else None
        if source is None:
            offered = ", ".join(tf.value for tf in Timeframe if tf in timeframes)
            raise ValueError(f"timeframe {str(timeframe)!r} is not available for {symbol} in "
                             f"{self.directory}; use one of: {offered}")
        path, raw = source
        return _load(path, Timeframe(timeframe), raw)

    def bars(self, symbol: str, timeframe: Timeframe, as_of: datetime, lookback: int) -> Bars:
        """The last ``lookback`` bars with end <= ``as_of`` (no bar still forming is ever returned)."""
        if lookback < 0:
            raise ValueError(f"lookback must be >= 0, got {lookback}")
        table = self._table(symbol, timeframe)
        stop = int(np.searchsorted(table.end, _epoch(as_of, "as_of"), side="right"))
        return _as_bars(table, max(stop - lookback, 0), stop)

    def bars_between(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> Bars:
        """Bars whose end lies in (start, end]."""
        table = self._table(symbol, timeframe)
        lo = int(np.searchsorted(table.end, _epoch(start, "start"), side="right"))
        hi = int(np.searchsorted(table.end, _epoch(end, "end"), side="right"))
        return _as_bars(table, lo, max(hi, lo))

    def option_chain(self, underlying: str, *, expiration_gte: date | None = None,
                     expiration_lte: date | None = None, contract_type: str | None = None,
                     strike_gte: float | None = None, strike_lte: float | None = None,
                     as_of: datetime | None = None) -> list[ChainContract]:
        """Local history holds bars only: contracts listed by rule and priced by the model from the bars
        up to ``as_of`` (default: the newest bar), ``cream.option_model``."""
        self._table(underlying, Timeframe.H1)  # an unknown symbol says so
        return self.options.chain(underlying, as_of or self.latest(), expiration_gte=expiration_gte,
                                  expiration_lte=expiration_lte, contract_type=contract_type,
                                  strike_gte=strike_gte, strike_lte=strike_lte)

    def option_window(self, underlying: str, spot: float, as_of: datetime,
                      window: OptionChains) -> list[ChainContract]:
        """The window's contracts only, listed and priced by the model (``spot``: this source's own)."""
        self._table(underlying, Timeframe.H1)
        return self.options.window(underlying, as_of, window)

    def option_marks(self, contracts: list[str], as_of: datetime) -> dict[str, OptionMark]:
        """Model marks from the bars up to ``as_of`` (``cream.option_model``); a contract the model cannot
        price is left out (and fails closed upstream)."""
        return self.options.marks(contracts, as_of)

    def latest(self) -> datetime:
        """The newest bar end over all symbols, judged on each symbol's finest timeframe."""
        return datetime.fromtimestamp(max(self._bar_ends(-1)), tz=UTC)

    def earliest(self) -> datetime:
        """The oldest bar end over all symbols, judged on each symbol's finest timeframe."""
        return datetime.fromtimestamp(min(self._bar_ends(0)), tz=UTC)

    def _bar_ends(self, index: int) -> list[int]:
        ends = []
        for symbol, timeframes in self._sources.items():
            finest = next(tf for tf in Timeframe if tf in timeframes)
            table = self._table(symbol, finest)
            if len(table):
                ends.append(int(table.end[index]))
        if not ends:
            raise ConfigurationError(f"the bar files in {self.directory} hold no bars")
        return ends


def _as_bars(table: BarTable, lo: int, hi: int) -> Bars:
    return Bars(table.ts[lo:hi], table.end[lo:hi], table.open[lo:hi], table.high[lo:hi],
                table.low[lo:hi], table.close[lo:hi], table.volume[lo:hi])
