#!/usr/bin/env bash
# Build the one-folder desktop bundle: dist/pbpm-desktop/pbpm-desktop (+ its libraries).
#   bash packaging/bundle/build_bundle.sh            # uses (or makes) .venv with the bundle extras
#   VENV=/path/to/venv bash packaging/bundle/build_bundle.sh
# Everything comes from the venv and the tree; nothing is cached between builds (build/ is
# wiped), so CI rebuilds it from scratch each time. Prints how long the build took.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# the same extras a desktop install gets, plus asyncpg (PBPM_DB_URL=postgres://…) and PyInstaller
"$VENV/bin/python" -m pip install -q -e ".[desktop,postgres,bundle]"
rm -rf build/pyinstaller dist/pbpm-desktop
"$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/bundle/pbpm-desktop.spec
end=$(date +%s)
echo "bundle built in $((end - start)) s: dist/pbpm-desktop/pbpm-desktop ($(du -sh dist/pbpm-desktop | cut -f1))"
