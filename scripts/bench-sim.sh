#!/usr/bin/env bash
# The simulator's speed: the drill with one million user requests per run (two runs: no
# patterns and patterns), tables only, wall-clock times to stderr. Figures are reported, never
# asserted. Installs a Rust toolchain from Debian first if none is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cargo-web rustc-web
fi
cargo build -p stanchion-sim --release --locked -q
for _ in 1 2 3; do
    target/release/stanchion-sim drill --requests "${1:-1000000}" --no-svg --timing >/dev/null
done
