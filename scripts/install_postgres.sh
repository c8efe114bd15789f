#!/usr/bin/env bash
# The PostgreSQL server binaries the test suite starts a throwaway cluster with (tests/postgres.py).
# Debian/Ubuntu only (apt-get); elsewhere, or without them, the PostgreSQL tests skip and say so.
# Called by `scripts/bootstrap.sh test`; cheap when already installed.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "no apt-get: PostgreSQL tests will skip" >&2; exit 0; }
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing system packages: postgresql (for the PostgreSQL tests)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# the package starts a cluster of its own on 5432; the tests start theirs on a random port
# and do not need it
