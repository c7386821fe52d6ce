# Socket Lab: the two commands in the README, and a few more.
#
#   make run    build what is needed and start the lab: http://127.0.0.1:8080
#   make test   install what the tests need and run every test
#   make dev    the bridge plus `trunk serve` (live reload) on :8000
#   make bench  the benchmarks; numbers go to bench-results/latest.json
#   make soak   a bridge under many verified echoes (SOAK_SECS, SOAK_SESSIONS)
#
# Every set-up step skips itself when its tool is already installed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# wasm-opt comes from npm's binaryen in .tools/; trunk and wasm-bindgen
# from ~/.cargo/bin. Both go first on PATH so trunk --offline finds them.
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

BRIDGE := target/release/socket-lab
DEV_PORT := 8000

.PHONY: help run test dev bench bench-peers peers soak setup setup-test page bridge check unit screenshot clean

help:
	@echo "make run    build and start the lab at http://127.0.0.1:8080"
	@echo "make test   install test tools (Chromium included) and run every test"
	@echo "make dev    bridge + trunk serve with live reload on http://127.0.0.1:$(DEV_PORT)"
	@echo "make bench  run the benchmarks"
	@echo "make bench-peers  /relay beside websocat and websockify"
	@echo "make soak   soak a release bridge: SOAK_SECS=300 SOAK_SESSIONS=300 SOAK_RAW=100"

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

# The page: yew compiled to wasm, optimised by wasm-opt, into dist/.
page: setup
	trunk build --release --offline

bridge:
	cargo build --release -p bridge

run: page bridge
	@echo
	@echo "  Socket Lab: open http://127.0.0.1:8080 in a browser."
	@echo "  The lab server listens on 127.0.0.1:1234 (try: python3 lab/task3/client.py 127.0.0.1 1234)."
	@echo "  The instructor's link (every session live) is in the bridge's log below."
	@echo "  Ctrl-C stops it."
	@echo
	exec $(BRIDGE) --static dist --pyodide pyodide

# A bridge on loopback lets pages on any loopback port connect, so trunk's
# page on :$(DEV_PORT) needs no --allow-origin (`make run` in one terminal
# and `trunk serve` in another works the same).
dev: setup bridge
	@echo "Socket Lab (dev): open http://127.0.0.1:$(DEV_PORT); the bridge runs on :8080"
	@$(BRIDGE) --static dist --pyodide pyodide & \
	  bridge_pid=$$!; \
	  trap 'kill $$bridge_pid 2>/dev/null; wait $$bridge_pid 2>/dev/null' EXIT INT TERM; \
	  trunk serve --offline --port $(DEV_PORT)

# Static checks: formatting, lints (native and wasm), the protocol on wasm.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p web --target wasm32-unknown-unknown -- -D warnings
	cargo check -p protocol --target wasm32-unknown-unknown

# Every test in the workspace: unit, socket, Python interop, browser.
# The browser tests load the page from dist/, so it is built first.
unit:
	scripts/cargo-test-summary.sh

test: setup-test check page
	scripts/cargo-test-summary.sh

# The benchmark needs many file descriptors for its scale run: raise the
# soft limit to the hard one for this recipe.
bench: setup page bridge
	cargo build --release -p e2e --bin bench
	mkdir -p bench-results
	ulimit -n "$$(ulimit -Hn)"; target/release/bench --spawn --all --out bench-results/latest.json
	@# The page's weight against its budget (250 KB gzipped), file by file.
	cargo test -p e2e --test page_weight -- --nocapture --quiet

# /relay beside the WebSocket-to-TCP bridges a user would compare it with:
# websocat and websockify, installed into .tools/ (scripts/peers.sh; skipped
# when present) and started in front of the same echo server. Not part of
# `make test`: it takes minutes and its figures need a quiet machine.
peers:
	@scripts/peers.sh

bench-peers: peers bridge
	cargo build --release -p e2e --bin bench
	mkdir -p bench-results
	target/release/bench --spawn --peers --out bench-results/peers.json

# The soak: a release bridge under SOAK_SESSIONS /ws sessions and SOAK_RAW
# raw TCP clients of verified echoes for SOAK_SECS; prints bytes verified,
# lost/altered/duplicated (must be 0), echo latency, fds and RSS. A 20 s
# version runs in `make test` (tests/tests/soak.rs).
SOAK_SECS ?= 300
SOAK_SESSIONS ?= 300
SOAK_RAW ?= 100
soak: bridge
	cargo build --release -p e2e --bin soak
	ulimit -n "$$(ulimit -Hn)"; target/release/soak --bin $(BRIDGE) --secs $(SOAK_SECS) \
	  --sessions $(SOAK_SESSIONS) --raw-clients $(SOAK_RAW)

# The README's screenshot, taken by headless Chromium from a real bridge.
screenshot: page
	SOCKET_LAB_SCREENSHOT_DIR=$(CURDIR)/docs cargo test -p e2e --test browser -- --nocapture readme_screenshot instructor_follows_a_student_live projector_mode_fits_a_live_demo

clean:
	cargo clean
	rm -rf dist .tools
