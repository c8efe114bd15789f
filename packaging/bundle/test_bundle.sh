#!/usr/bin/env bash
# Run the built bundle the way a user would, with nothing from the source tree on its path:
#   1. the Qt plugins and resources it needs are inside it;
#   2. `serve --port 0` prints its URL and answers /health, then stops cleanly on SIGTERM;
#   3. the GUI (`gui`, and `demo` with its simulator) starts offscreen and quits by itself
#      (PBPM_QUIT_AFTER_START, pbpm_desktop/qt/app.py) with exit code 0;
#   4. `doctor` runs and prints its checks.
# With PBPM_TEST_PG_URL=postgres://… set, `serve` also runs once on that PostgreSQL.
#   bash packaging/bundle/test_bundle.sh [dist/pbpm-desktop]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE="${1:-dist/pbpm-desktop}"
BIN="$BUNDLE/pbpm-desktop"
[ -x "$BIN" ] || { echo "no bundle at $BIN: build it with packaging/bundle/build_bundle.sh" >&2; exit 1; }
INTERNAL="$BUNDLE/_internal"
start=$(date +%s)
# shellcheck source=../serve_check.sh
. packaging/serve_check.sh

echo "== 1. contents"
for f in PySide6/Qt/plugins/platforms/libqoffscreen.so PySide6/Qt/plugins/platforms/libqxcb.so \
  PySide6/Qt/plugins/imageformats/libqsvg.so PySide6/Qt/plugins/iconengines/libqsvgicon.so \
  ; do
  [ -e "$INTERNAL/$f" ] || fail "$f is missing from the bundle"
done
# every icon and translation of the tree's resources/ (what pbpm_desktop/assets.py serves)
count=0
while IFS= read -r f; do
  [ -e "$INTERNAL/pbpm_desktop/resources/$f" ] || fail "resource $f is missing from the bundle"
  count=$((count + 1))
done < <(cd resources && find . -type f \( -name '*.svg' -o -name '*.png' -o -name '*.qm' \) | sed 's|^\./||')
[ "$count" -gt 0 ] || fail "no resources found in the tree"
echo "ok: Qt platforms (offscreen, xcb), SVG image/icon plugins and $count resources are inside"

# A clean environment: its own data dir, no keyring (the master key file), Ollama nowhere
# (port 9 on loopback refuses), no Python path into the tree.
run_env=(env -i "PATH=/usr/bin:/bin" "HOME=$work/home" "PBPM_NO_KEYRING=1"
  "OLLAMA_URL=http://127.0.0.1:9" "PBPM_HOST=127.0.0.1" "LANG=C.UTF-8")
mkdir -p "$work/home"

# bundle_serve DATA_DIR [DB_URL]: the bundle's `serve` through serve_check
bundle_serve() {
  local extra=()
  [ -n "${2:-}" ] && extra=("PBPM_DB_URL=$2")
  serve_check "$work/serve.log" "${run_env[@]}" "PBPM_DATA_DIR=$1" "${extra[@]}" "$BIN" serve --port 0
}

echo "== 2. serve"
bundle_serve "$work/data-serve"
if [ -n "${PBPM_TEST_PG_URL:-}" ]; then
  echo "== 2b. serve on PostgreSQL"
  bundle_serve "$work/data-serve-pg" "$PBPM_TEST_PG_URL"
fi

echo "== 3. GUI offscreen"
for mode in gui demo; do
  out="$work/$mode.log"
  rc=0
  "${run_env[@]}" "PBPM_DATA_DIR=$work/data-$mode" QT_QPA_PLATFORM=offscreen PBPM_QUIT_AFTER_START=1 \
    timeout 120 "$BIN" "$mode" --port 0 >"$out" 2>&1 || rc=$?
  grep -q "PBPM_QUIT_AFTER_START: gui started, gateway serving on http://127.0.0.1:" "$out" \
    || { cat "$out" >&2; fail "$mode: the window and gateway did not come up"; }
  [ "$rc" -eq 0 ] || { cat "$out" >&2; fail "$mode exited with $rc"; }
  grep -q Traceback "$out" && { cat "$out" >&2; fail "$mode printed a traceback"; }
  echo "ok: $mode started offscreen and quit cleanly"
done

echo "== 4. doctor"
rc=0
"${run_env[@]}" "PBPM_DATA_DIR=$work/data-serve" "$BIN" doctor >"$work/doctor.log" 2>&1 || rc=$?
cat "$work/doctor.log"
grep -q "^FAIL *ollama" "$work/doctor.log" || fail "doctor did not report the missing Ollama"
[ "$rc" -eq 1 ] || fail "doctor exit code $rc, expected 1 (Ollama is down)"
grep -q Traceback "$work/doctor.log" && fail "doctor printed a traceback"

echo "bundle checks passed in $(($(date +%s) - start)) s"
