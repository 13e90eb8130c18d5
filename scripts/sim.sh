#!/usr/bin/env bash
# The main job: the failure simulator's default scenario, the classic drill. Orders calls
# Payments and Inventory; Payments fails slowly for 30 s, then heals. Runs it with no patterns
# and with timeout, breaker, bulkhead, retries on a budget and a fallback, in simulated time,
# prints the side-by-side table and writes SVG timelines to sim-out/.
# Installs a Rust toolchain from Debian first if none is present.
# Arguments go to the simulator: e.g. `scripts/sim.sh jitter`, `scripts/sim.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cargo-web rustc-web
fi
exec cargo run --release --locked -q -p stanchion-sim -- "$@"
