#!/usr/bin/env bash
# Everything the tests need, then the tests: redis-server and PostgreSQL (Debian packages) if missing,
# the project with its test extras in .venv, ruff and mypy, then pytest. Integration tests start their
# own servers and workers on loopback ports; nothing needs to be running beforehand.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian packages start their own services on some systems; the tests do not use them.
bash "$ROOT/scripts/setup.sh" test
VENV="${CREAM_VENV:-$ROOT/.venv}"
cd "$ROOT"
# Lint and type-check first (config in pyproject.toml; caches in .ruff_cache and .mypy_cache, ignored):
# a finding fails the command before any test runs.
echo "ruff check, then mypy --strict (engine, cream, tasks, workers), then pytest" >&2
"$VENV/bin/ruff" check "$ROOT"
"$VENV/bin/mypy"
# pytest exits 5 when no test ran: that is a failure here, like any failing test.
exec "$VENV/bin/python" -m pytest "$@"
