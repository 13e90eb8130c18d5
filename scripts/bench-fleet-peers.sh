#!/usr/bin/env bash
# The fleet limiter against its peers on one Redis server on loopback, started here and
# stopped on exit: Python against `limits` (fixed and moving window, with its Redis storage),
# Node against rate-limiter-flexible (RateLimiterRedis), each with a bare EVALSHA as the floor.
# The peers are pinned in bindings-python/requirements-bench.txt and bindings-node/bench.
# Assumes scripts/test-python.sh and scripts/test-node.sh have built both packages. Prints
# Markdown tables; asserts nothing.
#
# usage: scripts/bench-fleet-peers.sh [calls per row]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/redis-servers.sh
. "$root/scripts/redis-servers.sh"
calls=${1:-5000}

redis_install
redis_start bench
url="redis://127.0.0.1:$redis_port/"
echo "redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) on $url, $calls calls a row"

py="$root/bindings-python/.venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check -r "$root/bindings-python/requirements-bench.txt"
echo
echo "Python (one blocking client, calls one at a time)"
"$py" "$root/bindings-python/bench/fleet_peers.py" "$url" "$calls"

(cd "$root/bindings-node/bench" && npm ci --no-audit --no-fund >/dev/null)
echo
echo "Node (one ioredis client)"
STANCHION_REDIS_URL="$url" node "$root/bindings-node/bench/fleet-peers.mjs" "$calls"
