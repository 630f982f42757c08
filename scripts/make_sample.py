"""Derive Cream's bundled sample (hourly and daily bars) from raw Polygon 5-minute bars.

    python scripts/make_sample.py [--source DIR] [--out DIR] [--symbols ADBE COST ...]

Keeps regular-session bars only (NYSE calendar, early closes cut at 13:00 ET), aggregates them to
New York clock-hour bars and to daily bars with ``cream.adapters.resample`` (the same code
``LocalHistory`` uses on raw files), and writes ``{SYMBOL}.1h.csv.gz`` and ``{SYMBOL}.1d.csv.gz``.
Output is byte-for-byte reproducible (gzip mtime 0) so regenerating does not churn git.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from cream.adapters.local_history import SAMPLE_COLUMNS, read_polygon_5m  # noqa: E402
from cream.adapters.resample import BarTable, to_daily, to_hourly  # noqa: E402

DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "polygon-5m"
DEFAULT_OUT = REPO_ROOT / "cream" / "data" / "sample"


def _iso(epoch: np.ndarray) -> list[str]:
    return [f"{s}Z" for s in epoch.astype("datetime64[s]").astype(str)]


def _number(values: np.ndarray, decimals: int) -> list[str]:
    # Shortest repr of the rounded value keeps the files small ("507.78", not "507.7800").
    rounded = np.round(values, decimals)
    if np.all(rounded == np.floor(rounded)):
        return [str(int(v)) for v in rounded]
    return [repr(float(v)) for v in rounded]


def render_csv(table: BarTable) -> str:
    columns = [
        _iso(table.ts), _iso(table.end),
        *(_number(values, 4) for values in (table.open, table.high, table.low, table.close)),
        _number(table.volume, 4), _number(table.vwap, 4), [str(int(v)) for v in table.trades],
    ]
    lines = [",".join(SAMPLE_COLUMNS)] + [",".join(row) for row in zip(*columns)]
    return "\n".join(lines) + "\n"


def write_gzip(path: Path, text: str) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
        handle.write(text.encode())
    path.write_bytes(buffer.getvalue())


def make_sample(source: Path, out: Path, symbols: list[str] | None = None) -> list[Path]:
    """Write the hourly and daily files of each symbol; returns the paths written."""
    if symbols is None:
        symbols = sorted(p.name[: -len(".csv.gz")] for p in source.glob("*.csv.gz"))
    if not symbols:
        raise SystemExit(f"no {{SYMBOL}}.csv.gz files in {source}: pass --source")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for symbol in symbols:
        raw = read_polygon_5m(source / f"{symbol}.csv.gz")
        for timeframe, resample in (("1h", to_hourly), ("1d", to_daily)):
            path = out / f"{symbol}.{timeframe}.csv.gz"
            write_gzip(path, render_csv(resample(raw)))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="directory of {SYMBOL}.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--symbols", nargs="*", help="symbols to convert (default: every file in --source)")
    args = parser.parse_args(argv)
    for path in make_sample(args.source, args.out, args.symbols):
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
