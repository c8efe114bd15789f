#!/usr/bin/env bash
# CI after the test suite: build the desktop bundle from scratch and run it, and prove the
# Dockerfile's install. Prints how long each step took (CI must stay under 15 minutes).
#   bash scripts/ci_packaging.sh        (needs .venv from `scripts/bootstrap.sh test`)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash packaging/bundle/build_bundle.sh
t1=$(date +%s)
# the bundle also serves once on a real PostgreSQL (asyncpg and Tortoise's backend inside it)
if .venv/bin/python -c "import tests.postgres as p, sys; sys.exit(p.find_bindir() is None)"; then
  .venv/bin/python tests/postgres.py run -- bash packaging/bundle/test_bundle.sh
else
  echo "no PostgreSQL server binaries: the bundle is checked on SQLite only"
  bash packaging/bundle/test_bundle.sh
fi
t2=$(date +%s)
bash packaging/docker/check_install.sh
t3=$(date +%s)
echo "ci_packaging: bundle build $((t1 - t0)) s, bundle run $((t2 - t1)) s, image install $((t3 - t2)) s, total $((t3 - t0)) s"
