#!/usr/bin/env bash
# Create .venv from uv.lock. uv itself and every download are cached outside the clone
# (under $GRISTMILL_CACHE, default ~/.cache/gristmill), so a rerun takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${GRISTMILL_CACHE:-$HOME/.cache/gristmill}"
UV="$CACHE/tools/bin/uv"
if [ ! -x "$UV" ]; then
  python3.11 -m venv "$CACHE/tools"
  "$CACHE/tools/bin/pip" install -q "uv==0.9.0"
fi
"$UV" sync --frozen --python python3.11 --quiet
touch .venv/.installed
