#!/usr/bin/env bash
# The main job on a fresh machine: install, then backtest the bundled sample on the embedded default
# (SQLite + an embedded real Redis + a local Celery fleet). Extra arguments go to `cream backtest`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
VENV="${CREAM_VENV:-$ROOT/.venv}"
if [ "$#" -eq 0 ]; then
  set -- --symbols ADBE,COST,MA,XLK --start 2025-08-15 --end 2025-09-25
fi
exec "$VENV/bin/cream" backtest "$@"
