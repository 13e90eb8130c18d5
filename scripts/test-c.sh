#!/usr/bin/env bash
# Runs every test of the C ABI (bindings-c/): the header check, the documentation's C examples
# (compiled; the whole programs run), the C API tests (plain, under valgrind, with
# AddressSanitizer + UBSan, through the shared library and pkg-config), the threaded stress test
# (plain, with ASan + UBSan, with ThreadSanitizer), the header compiled as C++, the conformance
# vectors from C, a bounded fuzz run, and the firmware scenario on Cortex-M3 and Cortex-M0 under
# QEMU. Exits non-zero on any failure.
#
# usage: scripts/test-c.sh
#   FUZZ_SECONDS=60   length of the bounded fuzz run (0 skips it)
#   STRESS_SECONDS=3  length of each of the three stress runs
#
# On a fresh Debian machine (as root, or with sudo) it first installs what it needs: Python 3,
# C compilers, valgrind, cJSON, the Arm cross toolchain with newlib, QEMU, and Debian's Rust
# toolchain with its sources for the bare-metal build (see bindings-c/README.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
crate="$root/bindings-c"
out="$root/target/c-tests"
fuzz_seconds=${FUZZ_SECONDS:-60}
stress_seconds=${STRESS_SECONDS:-3}

packages=(python3 gcc g++ clang libclang-rt-14-dev valgrind pkg-config libcjson-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  rustc-web cargo-web rust-web-src lld-22)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test-c.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "test-c.sh: cargo not found; install Rust (https://rustup.rs) for the host build" >&2
  exit 1
fi

step() { printf '\n== %s\n' "$*"; }

cd "$root"
step "header: regenerate with the pinned cbindgen and compare; the crate's unit tests"
cargo test --quiet --locked -p stanchion-c --lib --test header

step "build libstanchion.a and libstanchion.so"
cargo build --quiet --locked -p stanchion-c
lib="$root/target/debug"
mkdir -p "$out/prefix/lib/pkgconfig" "$out/prefix/include"
cp "$lib/libstanchion.a" "$lib/libstanchion.so" "$out/prefix/lib/"
cp "$crate/include/stanchion.h" "$out/prefix/include/"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
sed -e "s|@PREFIX@|$out/prefix|" -e "s|@VERSION@|$version|" "$crate/stanchion.pc.in" \
  >"$out/prefix/lib/pkgconfig/stanchion.pc"
export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g)
static_libs=("$out/prefix/lib/libstanchion.a" $(pkg-config --libs-only-l --static stanchion | sed 's/-lstanchion//'))

step "documentation examples: every C block of stanchion.h and README.md compiles"
# Fragments compile inside a function after tests/snippets_prelude.h; whole programs are linked
# and run, and their output compared with the README's (convention in tests/snippets.py).
python3 "$crate/tests/snippets.py" --cc gcc --include "$out/prefix/include" \
  --out "$out/snippets" --libs "${static_libs[*]}"
# The harness must notice a broken example: one that takes stanchion_now_ns() for the time.
printf '```c\nuint64_t t = stanchion_now_ns();\n```\n' >"$out/snippets-broken.md"
if python3 "$crate/tests/snippets.py" --cc gcc --include "$out/prefix/include" \
  --out "$out/snippets-broken" "$out/snippets-broken.md" >"$out/snippets-broken.log" 2>&1; then
  echo "test-c.sh: the documentation harness passed a broken example" >&2
  exit 1
fi
grep -q 'too few arguments' "$out/snippets-broken.log"

step "C API tests (static library)"
gcc "${cflags[@]}" $(pkg-config --cflags stanchion) "$crate/tests/c/test_api.c" \
  "${static_libs[@]}" -o "$out/test_api"
"$out/test_api"

step "C API tests (shared library, linked through pkg-config)"
gcc "${cflags[@]}" $(pkg-config --cflags stanchion) "$crate/tests/c/test_api.c" \
  $(pkg-config --libs stanchion) -o "$out/test_api_shared"
LD_LIBRARY_PATH="$out/prefix/lib" "$out/test_api_shared"

step "C API tests under valgrind (no errors, no leaks)"
valgrind --quiet --error-exitcode=1 --leak-check=full --show-leak-kinds=all \
  --errors-for-leak-kinds=all "$out/test_api"

step "C API tests with AddressSanitizer and UndefinedBehaviorSanitizer"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
  $(pkg-config --cflags stanchion) "$crate/tests/c/test_api.c" "${static_libs[@]}" \
  -o "$out/test_api_asan"
ASAN_OPTIONS=detect_leaks=1 "$out/test_api_asan"

step "stress: 8 threads on one bulkhead, breaker, adaptive limiter and retry budget, ${stress_seconds} s a run"
# Random acquires, releases, copies, moves and aborted retried calls; in flight never above the
# cap at any sample, everything given back at the end (tests/c/stress.c). ThreadSanitizer sees
# the C side only: the library is not instrumented.
for sanitize in "" "-fsanitize=address,undefined -fno-sanitize-recover=all" "-fsanitize=thread"; do
  gcc "${cflags[@]}" -O1 -pthread $sanitize $(pkg-config --cflags stanchion) \
    "$crate/tests/c/stress.c" "${static_libs[@]}" -o "$out/stress"
  printf '%s: ' "${sanitize:-no sanitizer}"
  "$out/stress" "$stress_seconds" 8
done

step "the header as C++"
g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags stanchion) \
  "$crate/tests/c/header_check.cpp" "${static_libs[@]}" -o "$out/header_check"
"$out/header_check"

step "conformance vectors through the C API"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
  $(pkg-config --cflags stanchion) "$crate/tests/c/conformance.c" "${static_libs[@]}" -lcjson \
  -o "$out/conformance"
"$out/conformance" "$root/conformance" | tee "$out/conformance.log"
# The runner must notice a wrong answer (one changed expectation makes it fail, in a retry
# loop's file, in a step of a bulkhead file it runs in part, in an adaptive limiter's change of
# limit and in the C name of its parameter) and an unknown step field.
conformance_must_fail() { # NAME FILE SED-EXPRESSION LOG-PATTERN
  rm -rf "$out/conformance-$1" && mkdir -p "$out/conformance-$1/$(dirname "$2")"
  cp "$root/conformance/$2" "$out/conformance-$1/$2"
  sed -i "$3" "$out/conformance-$1/$2"
  if cmp -s "$root/conformance/$2" "$out/conformance-$1/$2"; then
    echo "test-c.sh: $1: the sed expression changed nothing in $2" >&2
    exit 1
  fi
  if "$out/conformance" "$out/conformance-$1" >"$out/conformance-$1.log"; then
    echo "test-c.sh: the conformance runner passed $2 with $1" >&2
    exit 1
  fi
  grep -a "$4" "$out/conformance-$1.log"
}
conformance_must_fail altered token_bucket/retry_after.json \
  's/"retry_after": 1000000000/"retry_after": 1000000001/' 'FAIL   token_bucket/retry_after.json'
conformance_must_fail altered-wait retry/attempts.json \
  '0,/"wait": 100000000/s//"wait": 100000001/' 'FAIL   retry/attempts.json: step 1:'
conformance_must_fail unknown-field retry/hint.json \
  's/"hint": 200000000/"hint": 200000000, "hnt": 1/' 'FAIL   retry/hint.json: step 1: format: .*unknown field `hnt`'
conformance_must_fail altered-lane bulkhead/lane_out_of_range.json \
  '0,/"lane": 1}/s//"lane": 0}/' 'FAIL   bulkhead/lane_out_of_range.json: step 0:'
conformance_must_fail altered-change adaptive/windows.json \
  's/"change": {"from": 11, "to": 9}/"change": {"from": 11, "to": 10}/' \
  'FAIL   adaptive/windows.json: step 17: `change`'
conformance_must_fail altered-field adaptive/config_errors.json \
  's/"error_field": "algorithm.beta"/"error_field": "algorithm.alpha"/' \
  'FAIL   adaptive/config_errors.json: step 18: `error_field`'
# A bulkhead file runs up to its first queue step, and no step that reads what it changed.
grep -a -x 'part   bulkhead/snapshot.json: 2 of 20 steps run; .*then the rest of the file, 17 steps from step 3 (`snapshot`).*' \
  "$out/conformance.log"

step "firmware: the scenario on Cortex-M3 and Cortex-M0 under QEMU (semihosting)"
# Exit status: 0 passed, 1 a check failed, 101 a fault (a Rust panic included), 124 a hang.
for target in thumbv7m-none-eabi thumbv6m-none-eabi; do
  case $target in
    thumbv7m-none-eabi) machine=(-machine lm3s6965evb -cpu cortex-m3) ;;
    thumbv6m-none-eabi) machine=(-machine microbit -cpu cortex-m0) ;;
  esac
  "$crate/firmware/build.sh" "$target" "$out/scenario-$target.elf" "$crate/firmware/scenario.c"
  printf '%s: ' "$target"
  timeout 60 qemu-system-arm "${machine[@]}" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$out/scenario-$target.elf" \
    </dev/null 2> >(grep -v 'Timer with period zero' >&2)
done

if [ "$fuzz_seconds" -gt 0 ]; then
  step "fuzz the C API for ${fuzz_seconds} s (libFuzzer, ASan, UBSan)"
  # The Rust side carries libFuzzer's coverage counters too, and keeps its overflow checks, so
  # a panic becomes STANCHION_PANIC, which the harness reports. RUSTFLAGS reach only the
  # target's code because --target is given.
  host=$(rustc -vV | sed -n 's/^host: //p')
  CARGO_TARGET_DIR="$root/target/fuzz" RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Coverflow-checks" \
    cargo build --quiet --locked --release --target "$host" -p stanchion-c
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$crate/include" "$crate/fuzz/fuzz_api.c" \
    "$root/target/fuzz/$host/release/libstanchion.a" -lpthread -ldl -lm \
    -o "$out/fuzz_api"
  mkdir -p "$root/target/fuzz/corpus"
  "$out/fuzz_api" -max_total_time="$fuzz_seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/" "$root/target/fuzz/corpus" 2>"$out/fuzz.log" || {
    tail -n 40 "$out/fuzz.log" >&2
    echo "test-c.sh: the fuzzer found a failing input (saved under $out/)" >&2
    exit 1
  }
  grep -a -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' "$out/fuzz.log"
fi

echo
echo "test-c.sh: all C tests passed"
