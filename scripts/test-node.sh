#!/usr/bin/env bash
# Runs every test of the Node package (bindings-node/). On a fresh Debian machine, as root, it
# first installs what is missing: Node and npm, a Rust toolchain and redis-server, from
# Debian's packages. The tests of stanchion/redis run against Redis servers started here on
# free loopback ports (a standalone one with a replica, one the fault tests kill, five
# independent ones for RedLock, and a cluster of three primaries) and stopped when the script
# exits, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
# shellcheck source=scripts/redis-servers.sh
. "$repo/scripts/redis-servers.sh"
scratch=""
# One EXIT trap for everything: the servers (and the killed one the fault tests start again,
# by the pid file they give it) and the scratch folder.
cleanup() {
    local pidfile="${victim_pidfile:-}"
    if [ -n "$pidfile" ] && [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
    redis_stop_all
    if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The addon is built from source at install time; napi-rs needs Rust 1.88 or newer.
command -v cargo >/dev/null 2>&1 || missing+=(cargo-web rustc-web)
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]} from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ca-certificates
fi
redis_install
node --version
cargo --version
# The build tool (@napi-rs/cli) needs Node 20; Debian releases before trixie ship older ones.
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || {
    echo "test-node.sh: Node 20 or newer is needed, found $(node --version)" >&2
    exit 1
}

cd bindings-node

step "npm ci (its install script builds the addon with napi build --release)"
npm ci --no-audit --no-fund

step "Redis servers for stanchion/redis: standalone with a replica, one to kill, five for RedLock, a cluster of three primaries"
# A replica that the failover tests detach and attach again syncs at once, not after the
# default 5 s wait for more replicas.
redis_start standalone --repl-diskless-sync-delay 0
standalone=$redis_port
# A replica of the standalone server, for the lock's waitReplicas (WAIT).
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
redis_start victim
victim=$redis_port
victim_pid=${redis_pids[-1]}
victim_pidfile="$redis_dir/victim-restarted.pid"
redis_cluster 3
echo "redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-): standalone on $standalone" \
    "(replica on $replica), victim on $victim (pid $victim_pid), RedLock on ${redlock[*]}," \
    "cluster on $redis_cluster_urls"

step "node --test: every class, conformance, stress, aborts, workers, ESM, tsc, index.d.ts, stanchion/redis"
STANCHION_REDIS_URL="redis://127.0.0.1:$standalone/" \
    STANCHION_REDIS_REPLICA_URL="redis://127.0.0.1:$replica/" \
    STANCHION_REDIS_REDLOCK_URLS="$(IFS=,; echo "${redlock[*]}")" \
    STANCHION_REDIS_CLUSTER_URLS="$redis_cluster_urls" \
    STANCHION_REDIS_VICTIM_URL="redis://127.0.0.1:$victim/" \
    STANCHION_REDIS_VICTIM_PID="$victim_pid" \
    STANCHION_REDIS_VICTIM_PIDFILE="$victim_pidfile" \
    node --test test/*.test.js test/*.test.mjs

step "npm pack, then install the tarball into an empty project (it builds from the packed sources)"
scratch="$(mktemp -d)"
npm pack --pack-destination "$scratch" >/dev/null
mkdir "$scratch/app"
(
    cd "$scratch/app"
    npm init -y >/dev/null
    npm install --no-audit --no-fund ../stanchion-*.tgz
    node -e "const s = require('stanchion'); const b = new s.CircuitBreaker(); b.forceOpen(); b.execute(() => 1).catch((e) => { if (e.code !== 'ERR_CIRCUIT_FORCED_OPEN') process.exit(1); console.log('require: ok'); });"
    node --input-type=module -e "import { RateLimiter } from 'stanchion'; const l = new RateLimiter({ capacity: 1 }); if (!l.tryAcquire().ok || l.tryAcquire().ok) process.exit(1); console.log('import: ok');"
    # stanchion/redis loads without either Redis client installed, with the scripts it ships.
    gcra_sha=$(sha1sum "$repo/redis/scripts/gcra.lua" | cut -d' ' -f1)
    node -e "const { FleetLimiter } = require('stanchion/redis'); const client = { evalsha() {}, eval() {}, defineCommand() {} }; const l = new FleetLimiter({ client, capacity: 1 }); if (l._script.sha !== '$gcra_sha') process.exit(1); console.log('require stanchion/redis: ok');"
    quota_sha=$(sha1sum "$repo/redis/scripts/quota.lua" | cut -d' ' -f1)
    node -e "const { FleetQuota } = require('stanchion/redis'); const client = { evalsha() {}, eval() {}, defineCommand() {} }; const q = new FleetQuota({ client }); if (q._script.sha !== '$quota_sha') process.exit(1); console.log('require stanchion/redis quota: ok');"
    lock_sha=$(sha1sum "$repo/redis/scripts/lock.lua" | cut -d' ' -f1)
    semaphore_sha=$(sha1sum "$repo/redis/scripts/semaphore.lua" | cut -d' ' -f1)
    node -e "const { FleetLock, FleetSemaphore } = require('stanchion/redis'); const client = { evalsha() {}, eval() {}, defineCommand() {} }; if (new FleetLock({ client })._script.sha !== '$lock_sha' || new FleetSemaphore({ client, limit: 1 })._script.sha !== '$semaphore_sha') process.exit(1); console.log('the lock and semaphore scripts: ok');"
    node --input-type=module -e "import { FleetLimiter, FleetUnavailableError } from 'stanchion/redis'; import * as s from 'stanchion'; if (FleetUnavailableError !== s.FleetUnavailableError || typeof FleetLimiter !== 'function') process.exit(1); console.log('import stanchion/redis: ok');"
)

step "npm install of the package folder from a checkout without node_modules (a linked install)"
mkdir -p "$scratch/checkout" "$scratch/linked"
# The whole workspace (every member's manifest must be there), without build outputs.
(cd "$repo" && tar -c --exclude=.git --exclude=node_modules --exclude='*.node' --exclude=target \
    --exclude=pack --exclude=.venv --exclude=sim-out .) | tar -x -C "$scratch/checkout"
(
    cd "$scratch/linked"
    npm init -y >/dev/null
    # The repository's target folder is reused only to save a second cold build.
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" npm install --no-audit --no-fund "$scratch/checkout/bindings-node"
    node -e "const s = require('stanchion'); if (!new s.Bulkhead({ maxConcurrent: 1 }).tryAcquire().ok) process.exit(1); console.log('linked: ok');"
    # The README's "First ten minutes" is this install: its app.js, against a local server.
    node "$repo/bindings-node/scripts/first-ten-minutes.js" "$scratch/linked"
)

step "all Node tests passed"
