#!/usr/bin/env bash
# Every test of the failure simulator, then a quick end-to-end run of both built-in scenarios
# (release build, pictures written to a scratch directory and checked to be SVG).
# Installs a Rust toolchain from Debian first if none is present.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    step "installing a Rust toolchain from Debian"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cargo-web rustc-web
fi

step "simulator tests (unit, outcomes on fixed seeds, parser errors, determinism, docs)"
cargo test -p stanchion-sim --release --locked

step "end to end: every built-in scenario, twice, byte for byte"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for scenario in drill jitter overload; do
    cargo run -p stanchion-sim --release --locked -q -- "$scenario" --out "$out/a" >"$out/$scenario.a.txt"
    cargo run -p stanchion-sim --release --locked -q -- "$scenario" --out "$out/b" >"$out/$scenario.b.txt"
    sed "s|$out/a|OUT|" "$out/$scenario.a.txt" >"$out/a.txt"
    sed "s|$out/b|OUT|" "$out/$scenario.b.txt" >"$out/b.txt"
    cmp "$out/a.txt" "$out/b.txt"
    cat "$out/$scenario.a.txt"
done
for svg in "$out"/a/*.svg; do
    head -c 4 "$svg" | grep -q '<svg' || { echo "not an SVG: $svg" >&2; exit 1; }
    cmp "$svg" "$out/b/$(basename "$svg")"
done
echo
echo "simulator: all tests passed; $(ls "$out"/a/*.svg | wc -l) timelines identical across runs"
