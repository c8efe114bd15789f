# Sourced by packaging/bundle/test_bundle.sh and packaging/docker/check_install.sh: one way to
# start a `pbpm-desktop serve --port 0`, find its URL, check /health and stop it cleanly.
# Provides: $work (a temporary directory, removed on exit), fail MESSAGE, serve_check LOG CMD…
# serve_check sets SERVE_URL and, while the gateway is still up, calls `on_serving URL` if the
# caller defined it.
work="$(mktemp -d)"
serve_pid=""
_serve_cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap _serve_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

serve_check() {
  local log="$1" url="" health rc=0
  shift
  "$@" >"$log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 300); do  # up to 30 s: CI machines are slow
    url="$(sed -n 's/^PBPM Desktop gateway listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)"
    [ -n "$url" ] && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$log" >&2; fail "serve exited before listening"; }
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$log" >&2; fail "serve printed no URL within 30 s"; }
  health="$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + "/health", timeout=10).read().decode())' "$url")"
  echo "$url/health -> $health"
  case "$health" in *'"status": "ok"'*|*'"status":"ok"'*) ;; *) fail "unexpected /health: $health" ;; esac
  if declare -F on_serving >/dev/null; then on_serving "$url"; fi
  kill -TERM "$serve_pid"
  wait "$serve_pid" || rc=$?
  serve_pid=""
  [ "$rc" -eq 0 ] || { cat "$log" >&2; fail "serve exited with $rc after SIGTERM"; }
  grep -q "stopping:" "$log" || fail "serve did not stop the clean way"
  SERVE_URL="$url"
}
