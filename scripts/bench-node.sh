#!/usr/bin/env bash
# One run of the Node package's per-call benchmark against a bare `await fn()` and the peers
# (opossum, cockatiel, bottleneck, p-retry, p-limit, pinned in bindings-node/bench). Prints a
# Markdown table and the ratios of the issue's targets. Builds the addon first if needed.
# Figures move with the machine's load; nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../bindings-node"

[ -f native/stanchion.node ] || npm ci --no-audit --no-fund
(cd bench && npm ci --no-audit --no-fund)
node bench/bench.mjs
