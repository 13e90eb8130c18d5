#!/usr/bin/env bash
# The main job: the drill example, a flaky dependency with and without protection, in
# simulated time. Installs a Rust toolchain from Debian first if none is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cargo-web rustc-web
fi
exec cargo run --release --locked -q -p stanchion --example drill -- "$@"
