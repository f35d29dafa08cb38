#!/usr/bin/env bash
# Install PostgreSQL's server binaries when missing. Tests start their own cluster (tests/pg.py).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
# The package starts a system cluster; the tests do not use it.
$SUDO service postgresql stop >/dev/null 2>&1 || true
