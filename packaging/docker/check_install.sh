#!/usr/bin/env bash
# Prove the Dockerfile's install without Docker (containers cannot run on the CI machines):
# run the Dockerfile's own `RUN pip install …` line in a fresh venv, non-editable, from a copy
# of exactly what the Dockerfile COPYs, then start `pbpm-desktop serve` with the image's
# environment and check that /health answers, that no Qt got installed, and that asyncpg
# (PBPM_DB_URL=postgres://…) is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
start=$(date +%s)
# shellcheck source=../serve_check.sh
. packaging/serve_check.sh

install_line="$(sed -n 's/^RUN \(pip install .*\)$/\1/p' Dockerfile)"
[ "$(printf '%s\n' "$install_line" | grep -c .)" -eq 1 ] || fail "expected one 'RUN pip install' line in Dockerfile"
echo "Dockerfile installs with: $install_line"
# the build context as the image sees it: /app holds what the COPY lines copy
mkdir "$work/app"
sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' Dockerfile | tr ' ' '\n' | while read -r src; do
  [ -n "$src" ] && cp -r "$src" "$work/app/"
done
"$PY" -m venv "$work/venv"
# eval: the line is shell syntax in the Dockerfile too (RUN runs it with /bin/sh -c)
(cd "$work/app" && PIP_DISABLE_PIP_VERSION_CHECK=1 eval "\"$work/venv/bin/python\" -m $install_line -q")

"$work/venv/bin/python" -c "import PySide6" 2>/dev/null && fail "the image would contain Qt (PySide6)"
"$work/venv/bin/python" -c "import asyncpg" || fail "the image lacks asyncpg (postgres extra)"

# the HEALTHCHECK's own command, run against the gateway while it serves
healthcheck="$(sed -n 's/.*CMD \["python", "-c", "\(.*\)"\]$/\1/p' Dockerfile)"
[ -n "$healthcheck" ] || fail "no HEALTHCHECK command found in Dockerfile"
on_serving() {
  "$work/venv/bin/python" -c "${healthcheck//http:\/\/127.0.0.1:8000/$1}" || fail "HEALTHCHECK command failed"
  echo "ok: the HEALTHCHECK command passes"
}
# the image's ENV, a free port instead of 8000, Ollama nowhere (the gateway reports it down)
serve_check "$work/serve.log" env -i PATH=/usr/bin:/bin HOME="$work" PBPM_DATA_DIR="$work/data" \
  PBPM_HOST=127.0.0.1 PBPM_NO_KEYRING=1 OLLAMA_URL=http://127.0.0.1:9 \
  "$work/venv/bin/pbpm-desktop" serve --port 0
echo "image install checked in $(($(date +%s) - start)) s: serve answered /health, no Qt, asyncpg present"
