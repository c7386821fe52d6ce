#!/usr/bin/env bash
# Installs the two WebSocket-to-TCP bridges `make bench-peers` compares
# `/relay` with, each skipped when already present at its version:
#
#   - websocat 1.14.1: `cargo install --locked` into .tools/websocat/
#     (git-ignored; it compiles for several minutes, niced);
#   - websockify (the reference websockify, Python): from PyPI into a venv
#     in .tools/websockify/.
#
#   scripts/peers.sh            # both
#   scripts/peers.sh websocat   # one of them
set -euo pipefail

cd "$(dirname "$0")/.."
TOOLS="$(pwd)/.tools"

WEBSOCAT_VERSION=1.14.1
WEBSOCKIFY_VERSION=0.13.0

say() { printf '\033[1mpeers:\033[0m %s\n' "$*"; }

ensure_websocat() {
    local bin="$TOOLS/websocat/bin/websocat"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "websocat $WEBSOCAT_VERSION"; then
        say "websocat $WEBSOCAT_VERSION: present"
        return
    fi
    say "building websocat $WEBSOCAT_VERSION (several minutes)"
    nice cargo install --locked --version "$WEBSOCAT_VERSION" websocat --root "$TOOLS/websocat"
}

ensure_websockify() {
    local venv="$TOOLS/websockify"
    if [ -x "$venv/bin/websockify" ] &&
        [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("websockify"))' 2>/dev/null)" = "$WEBSOCKIFY_VERSION" ]; then
        say "websockify $WEBSOCKIFY_VERSION: present"
        return
    fi
    say "installing websockify $WEBSOCKIFY_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "websockify==$WEBSOCKIFY_VERSION"
}

case "${1:-all}" in
    websocat) ensure_websocat ;;
    websockify) ensure_websockify ;;
    all)
        ensure_websockify
        ensure_websocat
        ;;
    *)
        echo "usage: scripts/peers.sh [websocat|websockify|all]" >&2
        exit 2
        ;;
esac
