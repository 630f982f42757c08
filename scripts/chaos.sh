#!/usr/bin/env bash
# On demand (not in CI): the kill -9 tests RUNS times in a row (default 10), then BUSY_RUNS times with
# every CPU kept busy (default 5), then the message fuzz at FUZZ_BATCHES batches of 100 (default 100).
# Stops at the first failing run and says which. Usage: bash scripts/chaos.sh [RUNS] [BUSY_RUNS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-10}"; BUSY_RUNS="${2:-5}"
bash "$ROOT/scripts/setup.sh" test
PY="${CREAM_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
CHAOS=(tests/integration/test_chaos.py tests/integration/test_backtest_chaos.py tests/integration/test_paper_cycle.py
       "tests/integration/test_error_policy.py::test_a_task_whose_worker_keeps_dying_is_given_up_and_its_cycle_failed")
run() {  # $1: label
  local started=$SECONDS
  "$PY" -m pytest -q -p no:cacheprovider "${CHAOS[@]}" >"/tmp/cream-chaos-$1.log" 2>&1 \
    || { echo "chaos run $1 FAILED after $((SECONDS - started))s: see /tmp/cream-chaos-$1.log" >&2; exit 1; }
  echo "chaos run $1 passed in $((SECONDS - started))s ($(tail -n 1 "/tmp/cream-chaos-$1.log"))"
}
for i in $(seq 1 "$RUNS"); do run "$i"; done
burners=()
trap 'kill "${burners[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 "$(nproc)"); do "$PY" -c "while True: pass" & burners+=($!); done
for i in $(seq 1 "$BUSY_RUNS"); do run "busy-$i"; done
kill "${burners[@]}"; burners=()
FUZZ_BATCHES="${FUZZ_BATCHES:-100}"
# pytest-timeout's 300 s is for one batch-of-12 run: give each 100 messages 20 s more.
FUZZ_BATCHES="$FUZZ_BATCHES" "$PY" -m pytest -q -s -p no:cacheprovider -o "timeout=$((300 + 20 * FUZZ_BATCHES))" \
  tests/integration/test_fuzz_messages.py
