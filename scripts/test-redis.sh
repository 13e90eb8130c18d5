#!/usr/bin/env bash
# Every test of the fleet tier (redis/, crate stanchion-redis) against real Redis servers:
# one standalone server and a cluster of three primaries, on free loopback ports, started here
# and stopped when the script exits, pass or fail. Installs Debian's redis-server when it is
# missing (as root). Arguments go to `cargo test` (e.g. `-- --nocapture`).
#
# usage: scripts/test-redis.sh [cargo test arguments]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/redis-servers.sh
. "$root/scripts/redis-servers.sh"

redis_install
redis_start standalone
standalone=$redis_port
# A replica of the standalone server, for the lock's wait_replicas (WAIT).
redis_start replica --replicaof 127.0.0.1 "$standalone"
replica=$redis_port
# Five independent servers for RedLock.
redlock=()
for i in 1 2 3 4 5; do
    redis_start "redlock-$i"
    redlock+=("redis://127.0.0.1:$redis_port/")
done
for i in $(seq 100); do
    redis-cli -p "$replica" info replication | grep -q '^master_link_status:up' && break
    sleep 0.05
done
redis_cluster 3
echo "redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-): standalone on" \
    "$standalone, cluster on $redis_cluster_urls"

STANCHION_REDIS_URL="redis://127.0.0.1:$standalone/" \
    STANCHION_REDIS_REPLICA_URL="redis://127.0.0.1:$replica/" \
    STANCHION_REDIS_REDLOCK_URLS="$(IFS=,; echo "${redlock[*]}")" \
    STANCHION_REDIS_CLUSTER_URLS="$redis_cluster_urls" \
    cargo test -p stanchion-redis --locked "$@"
echo "test-redis.sh: all passed"
