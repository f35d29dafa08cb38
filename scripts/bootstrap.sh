#!/usr/bin/env bash
# Create .venv from requirements.lock (exact versions with hashes). uv itself and every download are
# cached outside the clone (under $GRISTMILL_CACHE, default ~/.cache/gristmill), so a rerun takes
# seconds. `--lock` re-resolves pyproject.toml and rewrites the lock files first.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${GRISTMILL_CACHE:-$HOME/.cache/gristmill}"
UV="$CACHE/tools/bin/uv"
if [ ! -x "$UV" ]; then
  python3.11 -m venv "$CACHE/tools"
  "$CACHE/tools/bin/pip" install -q "uv==0.9.0"
fi
if [ "${1:-}" = "--lock" ]; then
  "$UV" lock --python python3.11 --quiet
  "$UV" export --frozen --no-emit-project --format requirements-txt --quiet -o requirements.lock
  "$UV" export --frozen --no-emit-project --no-dev --format requirements-txt --quiet -o requirements-runtime.lock
fi
[ -x .venv/bin/python ] || "$UV" venv --python python3.11 --quiet .venv
"$UV" pip sync --python .venv/bin/python --require-hashes --quiet requirements.lock
"$UV" pip install --python .venv/bin/python --no-deps --quiet -e .
touch .venv/.installed
