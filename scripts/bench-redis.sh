#!/usr/bin/env bash
# Measures the fleet limiter against a bare EVALSHA on a Redis server on loopback and prints a
# Markdown table (redis/examples/bench.rs). Starts the server and stops it on exit; installs
# Debian's redis-server when missing (as root).
#
# usage: scripts/bench-redis.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/redis-servers.sh
. "$root/scripts/redis-servers.sh"

redis_install
cargo build --quiet --release --locked -p stanchion-redis --example bench
redis_start bench
echo "redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) on loopback, $(nproc) cores"
STANCHION_REDIS_URL="redis://127.0.0.1:$redis_port/" "$root/target/release/examples/bench"
