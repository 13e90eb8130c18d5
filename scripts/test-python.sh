#!/usr/bin/env bash
# Every test of the Python package: builds and installs it from source into a virtualenv
# (bindings-python/.venv), then runs pytest (warnings are errors), mypy's stubtest on the
# native module's stub and mypy --strict on the package. Exits non-zero on any failure.
#
# The tests of the fleet tier (stanchion.redis) run against real Redis servers: one
# standalone server with a replica (for the lock's WAIT), five independent servers (for
# RedLock) and a cluster of three primaries, on free loopback ports, started here
# (scripts/redis-servers.sh) and stopped when the script exits, pass or fail.
#
# On a fresh Debian machine as root it first installs what is missing: python3 with venv
# support (Debian's pip refuses installs outside a virtualenv, PEP 668), a Rust toolchain and
# Debian's redis-server. The pinned test tools (bindings-python/requirements-test.txt) need
# Python >= 3.11.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg="$root/bindings-python"
venv="$pkg/.venv"

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# `ensurepip` is what `python3 -m venv` needs; Debian ships it in python3-venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v cargo >/dev/null 2>&1 || missing+=(cargo-web rustc-web)
{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test-python.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check -r "$pkg/requirements-test.txt"
# A regular (non-editable) install, as users get it; maturin is fetched as the build backend.
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$pkg"

# shellcheck source=scripts/redis-servers.sh
. "$root/scripts/redis-servers.sh"
# No delay before a diskless sync: a replica detached by a test attaches again at once.
redis_start standalone --repl-diskless-sync-delay 0
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
    "$standalone (replica on $replica), RedLock servers ${redlock[*]}, cluster on" \
    "$redis_cluster_urls"
export STANCHION_REDIS_URL="redis://127.0.0.1:$standalone/"
export STANCHION_REDIS_REPLICA_URL="redis://127.0.0.1:$replica/"
export STANCHION_REDIS_REDLOCK_URLS="$(IFS=,; echo "${redlock[*]}")"
export STANCHION_REDIS_CLUSTER_URLS="$redis_cluster_urls"

cd "$pkg"
echo "== pytest"
"$py" -m pytest -q
echo "== stubtest"
"$py" -m mypy.stubtest stanchion._stanchion
echo "== mypy --strict"
"$py" -m mypy --strict --no-incremental python/stanchion
echo "test-python.sh: all passed"
