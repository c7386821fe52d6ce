#!/usr/bin/env bash
# Installs what Socket Lab needs to build (and, with `test`, to test), and
# nothing that is already there at the right version. A second run costs
# seconds.
#
#   scripts/setup.sh build   # wasm target, trunk, wasm-bindgen CLI, wasm-opt,
#                            # the code view's editor bundle
#   scripts/setup.sh test    # the same, plus Debian's chromium + chromedriver
#
# Where things go:
#   - trunk and wasm-bindgen: `cargo install` into ~/.cargo/bin (shared by
#     every clone on this machine);
#   - wasm-opt: the npm package `binaryen` in .tools/ (git-ignored), because
#     Debian's binaryen is too old to read what rustc emits today;
#   - the code view's editor: the npm packages pinned in
#     web/editor/package-lock.json into .tools/editor/ (`npm ci`), bundled
#     by esbuild into web/editor/build/editor.js (both git-ignored);
#   - chromium and chromium-driver: Debian's packages (apt-get).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

TRUNK_VERSION=0.21.14       # trunk 0.22 needs a newer rustc than this machine has
BINARYEN_VERSION=132
TOOLS="$ROOT/.tools"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# The wasm-bindgen CLI must match the wasm-bindgen library in Cargo.lock
# exactly, or the generated JS does not fit the wasm.
wasm_bindgen_version() {
    if [ ! -f Cargo.lock ]; then cargo generate-lockfile >/dev/null 2>&1; fi
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_target() {
    if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        say "wasm32-unknown-unknown target: present"
    else
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
}

ensure_trunk() {
    if command -v trunk >/dev/null && trunk --version | grep -q " $TRUNK_VERSION"; then
        say "trunk $TRUNK_VERSION: present"
    else
        say "installing trunk $TRUNK_VERSION (takes about 6 minutes on 2 cores)"
        cargo install trunk --version "$TRUNK_VERSION" --locked
    fi
}

ensure_wasm_bindgen() {
    local want
    want=$(wasm_bindgen_version)
    if [ -z "$want" ]; then
        echo "setup: cannot find wasm-bindgen in Cargo.lock" >&2
        exit 1
    fi
    if command -v wasm-bindgen >/dev/null && wasm-bindgen --version | grep -q " $want$"; then
        say "wasm-bindgen $want: present"
    else
        # Not --locked: its lock file names a crate version the registry lacks.
        say "installing wasm-bindgen-cli $want (takes 2 to 5 minutes)"
        cargo install wasm-bindgen-cli --version "$want" --force
    fi
}

ensure_wasm_opt() {
    local bin="$TOOLS/node_modules/.bin/wasm-opt"
    if [ -x "$bin" ] && "$bin" --version | grep -q "version $BINARYEN_VERSION"; then
        say "wasm-opt (binaryen $BINARYEN_VERSION): present"
    else
        say "installing wasm-opt from npm binaryen@$BINARYEN_VERSION into .tools/"
        mkdir -p "$TOOLS"
        npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
    fi
}

# The code view's editor: CodeMirror 6 and its Python mode, exactly the
# versions in the committed lock file, bundled into one ES module that the
# page imports only when the code view opens. Reinstalled when the lock file
# changes; rebundled when the entry module or the packages are newer than
# the bundle.
ensure_editor() {
    local src="$ROOT/web/editor" prefix="$TOOLS/editor"
    local out="$src/build/editor.js"
    if cmp -s "$src/package-lock.json" "$prefix/package-lock.json" \
        && [ -x "$prefix/node_modules/.bin/esbuild" ]; then
        say "editor packages (web/editor/package-lock.json): present"
    else
        say "installing the editor's npm packages into .tools/editor/"
        mkdir -p "$prefix"
        cp "$src/package.json" "$src/package-lock.json" "$prefix/"
        npm ci --prefix "$prefix" --no-audit --no-fund --loglevel=error
    fi
    if [ -f "$out" ] && [ "$out" -nt "$src/editor.mjs" ] && [ "$out" -nt "$prefix/package-lock.json" ]; then
        say "editor bundle: up to date"
    else
        say "bundling the editor (web/editor/editor.mjs -> web/editor/build/editor.js)"
        mkdir -p "$src/build"
        NODE_PATH="$prefix/node_modules" "$prefix/node_modules/.bin/esbuild" "$src/editor.mjs" \
            --bundle --format=esm --minify --target=es2020 --log-level=warning \
            --outfile="$out"
    fi
}

ensure_chromium() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        say "chromium and chromedriver: present"
        return
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    say "installing Debian's chromium and chromium-driver"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
}

case "${1:-build}" in
    build)
        ensure_wasm_target
        ensure_trunk
        ensure_wasm_bindgen
        ensure_wasm_opt
        ensure_editor
        ;;
    editor)
        ensure_editor
        ;;
    test)
        ensure_wasm_target
        ensure_trunk
        ensure_wasm_bindgen
        ensure_wasm_opt
        ensure_editor
        ensure_chromium
        ;;
    *)
        echo "usage: scripts/setup.sh [build|test|editor]" >&2
        exit 2
        ;;
esac
