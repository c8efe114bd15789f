#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine (Python 3.11+) to a running app or a test run.
#   bash scripts/bootstrap.sh demo     install, then launch the desktop app against the simulator
#   bash scripts/bootstrap.sh test     install with dev extras, then ruff, lint-imports, mypy, tests
#   bash scripts/bootstrap.sh serve    install the headless gateway only, then run it
# Re-running is cheap: installed pieces are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-demo}"
shift || true
PY="${PYTHON:-python3}"

# Qt's runtime libraries (xcb platform, EGL/GL, fonts). Only for the desktop app and its tests.
QT_DEBS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3
libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 libx11-xcb1
fonts-dejavu-core"

install_system_packages() {
  command -v apt-get >/dev/null || return 0
  local missing="" pkg
  for pkg in $QT_DEBS python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages:$missing"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

make_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
}

case "$mode" in
  demo|gui)
    install_system_packages
    make_venv desktop
    exec .venv/bin/pbpm-desktop "$mode" "$@"
    ;;
  serve)
    make_venv server
    exec .venv/bin/pbpm-desktop serve "$@"
    ;;
  test)
    install_system_packages
    bash scripts/install_postgres.sh  # server binaries for the PostgreSQL tests
    make_venv dev
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/lint-imports  # the architecture's import contracts (pyproject [tool.importlinter])
    .venv/bin/mypy  # the core's types (pyproject [tool.mypy])
    # Two processes: the Qt tests apart from the rest. pytest-qt pumps Qt's event queue after
    # every test once a QApplication exists; Qt objects the UI tests leave to Python's garbage
    # (and to gateway threads) then crashed unrelated tests later in the same process.
    if [ "$#" -gt 0 ]; then
      QT_QPA_PLATFORM=offscreen exec .venv/bin/python -m pytest -q "$@"
    fi
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q --ignore=tests/qt
    QT_QPA_PLATFORM=offscreen exec .venv/bin/python -m pytest -q tests/qt
    ;;
  *)
    echo "usage: bash scripts/bootstrap.sh demo|gui|serve|test [args…]" >&2
    exit 2
    ;;
esac
