#!/usr/bin/env bash
# Runs every test of the project. On a fresh Debian machine it first installs what it needs
# (as root: apt-get; otherwise what is missing must already be there).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    step "installing a Rust toolchain from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cargo-web rustc-web
fi
# rustfmt and clippy come with rustup toolchains; add them when missing.
if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

step "format"
cargo fmt --all -- --check

step "no tracked file links outside the repository"
scripts/check-links.sh

step "lints (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, behaviour, property, conformance and doc tests"
# stanchion-redis needs Redis servers: scripts/test-redis.sh starts them and runs its tests.
cargo test --workspace --exclude stanchion-redis --locked

step "docs build without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc -p stanchion -p stanchion-redis --no-deps --locked

step "the core without std builds on its own"
cargo build -p stanchion --no-default-features --locked

step "loom models (release; their own target dir, since --cfg loom changes every crate)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p stanchion --release --locked --test 'loom_*'

step "shuttle tests (release; their own target dir, since --cfg shuttle changes every crate)"
RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
    cargo test -p stanchion --release --locked --test 'shuttle_*'

step "the fleet tier on real Redis servers (standalone and a 3-primary cluster, stopped on exit)"
scripts/test-redis.sh

step "the failure simulator: its tests and both built-in scenarios end to end"
scripts/test-sim.sh

step "the C ABI: header check, C tests (valgrind, sanitizers, C++), conformance, fuzzing, firmware"
scripts/test-c.sh

step "the Python package: built from source, pytest, stubtest, mypy --strict"
scripts/test-python.sh

step "the Node package: npm ci builds the addon, node --test, tsc, npm pack and install"
scripts/test-node.sh

if [ -x scripts/embedded-test.sh ]; then
    step "embedded targets under qemu"
    scripts/embedded-test.sh
fi

step "all tests passed"
