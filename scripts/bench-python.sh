#!/usr/bin/env bash
# Benchmarks of the Python package against the peers (pinned in
# bindings-python/requirements-bench.txt): the per-call cost of a protected no-op with pyperf,
# the ratios the issue targets, then 4 threads doing 1 ms of I/O through one breaker. Builds a
# release wheel into bindings-python/.venv first (see scripts/test-python.sh for the setup it
# assumes). Prints figures; asserts nothing.
#
# usage: scripts/bench-python.sh [pyperf options]   (default: --fast)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg="$root/bindings-python"
venv="$pkg/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check -r "$pkg/requirements-bench.txt"
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$pkg"

out="$root/target/bench-python.json"
mkdir -p "$root/target"
rm -f "$out"
[ $# -gt 0 ] || set -- --fast
cd "$pkg/bench"
"$py" bench.py "$@" -o "$out"
echo
"$py" summary.py "$out"
echo
"$py" threads.py 2
