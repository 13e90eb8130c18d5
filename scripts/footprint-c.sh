#!/usr/bin/env bash
# Prints the flash and RAM each primitive of the C library adds to a Cortex-M firmware, for
# thumbv6m (Cortex-M0) and thumbv7em (Cortex-M4), as a Markdown table (bindings-c/README.md,
# "Footprint").
#
# usage: scripts/footprint-c.sh
#
# Each row links bindings-c/firmware/footprint/footprint.c with one primitive's calls (init,
# acquire, report) and subtracts a baseline built with none; the library is built with
# opt-level "s", panic = "abort" and LTO, linked with --gc-sections. flash = text + data,
# RAM = data + bss (the objects' static storage; nothing is allocated). Needs what
# scripts/test-c.sh installs (gcc-arm-none-eabi, libnewlib-arm-none-eabi, Debian's Rust).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/target/footprint"
mkdir -p "$out"
program="$root/bindings-c/firmware/footprint/footprint.c"

rows=("baseline:" "breaker:-DBREAKER" "token bucket:-DBUCKET" "bulkhead:-DBULKHEAD"
  "adaptive limiter:-DADAPTIVE"
  "retry budget:-DRETRY_BUDGET" "keyed limiter (16 slots):-DKEYED_LIMITER"
  "backoff + retrying:-DBACKOFF"
  "breaker + bucket + bulkhead + retry budget:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET"
  "all six:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET -DKEYED_LIMITER -DBACKOFF"
  "all seven:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET -DKEYED_LIMITER -DBACKOFF -DADAPTIVE")
targets=(thumbv6m-none-eabi thumbv7em-none-eabi)

declare -A flash ram
for target in "${targets[@]}"; do
  for row in "${rows[@]}"; do
    name=${row%%:*} defines=${row#*:}
    elf="$out/$target-$(echo "$name" | tr -c 'a-z0-9\n' '-').elf"
    # shellcheck disable=SC2086 # the defines are separate words
    "$root/bindings-c/firmware/build.sh" "$target" "$elf" $defines "$program"
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    flash[$target,$name]=$((text + data))
    ram[$target,$name]=$((data + bss))
  done
done

printf '| primitive (C calls linked) | thumbv6m flash | thumbv6m RAM | thumbv7em flash | thumbv7em RAM |\n'
printf '| --- | ---: | ---: | ---: | ---: |\n'
for row in "${rows[@]}"; do
  name=${row%%:*}
  [ "$name" = baseline ] && continue
  printf '| %s |' "$name"
  for target in "${targets[@]}"; do
    printf ' %d B | %d B |' $((flash[$target,$name] - flash[$target,baseline])) \
      $((ram[$target,$name] - ram[$target,baseline]))
  done
  printf '\n'
done
printf '\nbaseline (startup, newlib exit): thumbv6m %d B flash, thumbv7em %d B flash\n' \
  "${flash[thumbv6m-none-eabi,baseline]}" "${flash[thumbv7em-none-eabi,baseline]}"

# The same calls from Rust on the core directly (footprint/core-only): what the C layer adds.
core_rows=("baseline:" "breaker:-DBREAKER" "token bucket:-DBUCKET" "bulkhead:-DBULKHEAD"
  "adaptive limiter:-DADAPTIVE" "retry budget:-DRETRY_BUDGET"
  "breaker + bucket + bulkhead + retry budget:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET")
core_dir="$root/bindings-c/firmware/footprint/core-only"
declare -A core_flash
for target in "${targets[@]}"; do
  (cd "$core_dir" && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_DIR="$root/target/footprint-core-only" CARGO_PROFILE_RELEASE_PANIC=abort \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 /usr/bin/cargo build --quiet --locked --release \
    --target "$target" -Zbuild-std=core </dev/null)
  for row in "${core_rows[@]}"; do
    name=${row%%:*} defines=${row#*:}
    elf="$out/core-only-$target-$(echo "$name" | tr -c 'a-z0-9\n' '-').elf"
    # shellcheck disable=SC2086 # the defines are separate words
    FIRMWARE_LIB="$root/target/footprint-core-only/$target/release/libstanchion_footprint_core_only.a" \
      "$root/bindings-c/firmware/build.sh" "$target" "$elf" $defines \
      "$root/bindings-c/firmware/footprint/core_only.c"
    read -r text data _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    core_flash[$target,$name]=$((text + data))
  done
done

printf '\n| same calls from Rust, core only | thumbv6m flash | C API adds | thumbv7em flash | C API adds |\n'
printf '| --- | ---: | ---: | ---: | ---: |\n'
for row in "${core_rows[@]}"; do
  name=${row%%:*}
  [ "$name" = baseline ] && continue
  printf '| %s |' "$name"
  for target in "${targets[@]}"; do
    rust=$((core_flash[$target,$name] - core_flash[$target,baseline]))
    c=$((flash[$target,$name] - flash[$target,baseline]))
    printf ' %d B | %d B |' "$rust" $((c - rust))
  done
  printf '\n'
done
