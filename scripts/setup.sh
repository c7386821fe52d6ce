#!/usr/bin/env bash
# Installs what Socket Lab needs to build (and, with `test`, to test), and
# nothing that is already there at the right version. A second run costs
# seconds.
#
#   scripts/setup.sh build   # wasm target, trunk, wasm-bindgen CLI, wasm-opt,
#                            # the code view's editor bundle, Pyodide
#   scripts/setup.sh test    # the same, plus axe-core, Debian's chromium +
#                            # chromedriver, and nginx (the reverse-proxy tests run it)
#
# Where things go:
#   - trunk and wasm-bindgen: `cargo install` into ~/.cargo/bin (shared by
#     every clone on this machine);
#   - wasm-opt: the npm package `binaryen` in .tools/ (git-ignored), because
#     Debian's binaryen is too old to read what rustc emits today;
#   - the code view's editor: the npm packages pinned in
#     web/editor/package-lock.json into .tools/editor/ (`npm ci`), bundled
#     by esbuild into web/editor/build/editor.js with the code view's
#     stylesheet, and web/editor/zip.mjs (fflate, "Download my lab"'s zip
#     writer) into web/editor/build/zip.js (all git-ignored);
#   - Pyodide (CPython for the page's code view): the npm package's tarball,
#     checked against the registry's integrity hash, five files of it in
#     pyodide/<version>/ (git-ignored), which the bridge serves; its
#     standard library gets compiled bytecode (scripts/precompile-stdlib.mjs);
#   - axe-core (the accessibility checker the browser tests run in the
#     page): the npm package, in .tools/ beside binaryen;
#   - chromium and chromium-driver, nginx: Debian's packages (apt-get). The
#     tests start nginx themselves, on a free loopback port with their own
#     configuration; the package's own service is not needed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

TRUNK_VERSION=0.21.14       # trunk 0.22 needs a newer rustc than this machine has
BINARYEN_VERSION=132
AXE_CORE_VERSION=4.14.1     # tests/src/accessibility.rs reads it from .tools/
# Pinned: the bridge serves it under pyodide/$PYODIDE_VERSION/ (cached
# forever by browsers), and web/py/runner.mjs names the same version.
PYODIDE_VERSION=314.0.7
PYODIDE_FILES="pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json"
# Sent gzipped by the bridge (the zip is compressed already): 9.6 MB of
# wasm travel as 3.5 MB.
PYODIDE_GZIPPED="pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm pyodide-lock.json"
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

ensure_axe_core() {
    local manifest="$TOOLS/node_modules/axe-core/package.json"
    if [ -f "$manifest" ] && grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$manifest"; then
        say "axe-core $AXE_CORE_VERSION: present"
    else
        say "installing axe-core@$AXE_CORE_VERSION from npm into .tools/"
        mkdir -p "$TOOLS"
        npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error --save-exact "axe-core@$AXE_CORE_VERSION"
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
    local zip_out="$src/build/zip.js"
    if [ -f "$out" ] && [ "$out" -nt "$src/editor.mjs" ] && [ "$out" -nt "$src/codeview.css" ] \
        && [ "$out" -nt "$prefix/package-lock.json" ] \
        && [ -f "$zip_out" ] && [ "$zip_out" -nt "$src/zip.mjs" ] \
        && [ "$zip_out" -nt "$prefix/package-lock.json" ]; then
        say "editor and zip bundles: up to date"
    else
        say "bundling the editor (web/editor/editor.mjs -> web/editor/build/editor.js)"
        mkdir -p "$src/build"
        NODE_PATH="$prefix/node_modules" "$prefix/node_modules/.bin/esbuild" "$src/editor.mjs" \
            --bundle --format=esm --minify --target=es2020 --log-level=warning \
            --outfile="$out"
        cp "$src/codeview.css" "$src/build/codeview.css"
        # "Download my lab"'s zip writer (fflate), loaded only on that click.
        say "bundling the zip writer (web/editor/zip.mjs -> web/editor/build/zip.js)"
        NODE_PATH="$prefix/node_modules" "$prefix/node_modules/.bin/esbuild" "$src/zip.mjs" \
            --bundle --format=esm --minify --target=es2020 --log-level=warning \
            --outfile="$zip_out"
    fi
}

# The five files of Pyodide a browser loads (nothing else: the standard
# library's zip has `socket`, `json`, `runpy`; no wheels are needed).
ensure_pyodide() {
    local dir="$ROOT/pyodide/$PYODIDE_VERSION" file missing=""
    for file in $PYODIDE_FILES; do
        [ -s "$dir/$file" ] || missing=1
    done
    for file in $PYODIDE_GZIPPED; do
        [ -s "$dir/$file.gz" ] || missing=1
    done
    [ -f "$dir/.stdlib-compiled" ] || missing=1
    if [ -z "$missing" ]; then
        say "pyodide $PYODIDE_VERSION: present"
        return
    fi
    say "fetching pyodide@$PYODIDE_VERSION from npm (6.5 MB) into pyodide/$PYODIDE_VERSION/"
    local work want got
    work=$(mktemp -d)
    want=$(npm view "pyodide@$PYODIDE_VERSION" dist.integrity)
    (cd "$work" && npm pack "pyodide@$PYODIDE_VERSION" --silent >/dev/null)
    got=$(node -e 'const fs = require("fs"), crypto = require("crypto");
        process.stdout.write("sha512-" + crypto.createHash("sha512")
            .update(fs.readFileSync(process.argv[1])).digest("base64"));' \
        "$work/pyodide-$PYODIDE_VERSION.tgz")
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        echo "setup: pyodide-$PYODIDE_VERSION.tgz does not match the registry's integrity" >&2
        echo "  registry: $want" >&2
        echo "  tarball:  $got" >&2
        exit 1
    fi
    mkdir -p "$work/unpacked" "$dir"
    local members=""
    for file in $PYODIDE_FILES; do members="$members package/$file"; done
    # shellcheck disable=SC2086 # one word per file, on purpose
    tar -xzf "$work/pyodide-$PYODIDE_VERSION.tgz" -C "$work/unpacked" $members
    for file in $PYODIDE_FILES; do
        mv "$work/unpacked/package/$file" "$dir/$file"
    done
    # Bytecode beside the library's sources: Python starts 3x faster.
    say "compiling Python's standard library for pyodide/$PYODIDE_VERSION/ (about 20 s)"
    node "$ROOT/scripts/precompile-stdlib.mjs" "$dir"
    for file in $PYODIDE_GZIPPED; do
        gzip -9 -n -k -f "$dir/$file"
    done
    touch "$dir/.stdlib-compiled"
    rm -rf "$work"
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

ensure_nginx() {
    if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
        say "nginx: present"
        return
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    say "installing Debian's nginx"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
}

case "${1:-build}" in
    build)
        ensure_wasm_target
        ensure_trunk
        ensure_wasm_bindgen
        ensure_wasm_opt
        ensure_editor
        ensure_pyodide
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
        ensure_pyodide
        ensure_axe_core
        ensure_chromium
        ensure_nginx
        ;;
    *)
        echo "usage: scripts/setup.sh [build|test|editor]" >&2
        exit 2
        ;;
esac
