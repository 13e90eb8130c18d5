#!/usr/bin/env bash
# Measures the time per call through the C API (release library, one thread) and prints a
# Markdown table. Needs gcc and cargo (scripts/test-c.sh installs what is missing).
#
# usage: scripts/bench-c.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/target/c-bench"
mkdir -p "$out"
cd "$root"
cargo build --quiet --locked --release -p stanchion-c
gcc -std=c11 -O2 -Wall -Wextra -Werror -I"$root/bindings-c/include" \
  "$root/bindings-c/bench/bench_api.c" "$root/target/release/libstanchion.a" \
  -lpthread -ldl -lm -o "$out/bench_api"
"$out/bench_api"
