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
  "retry budget:-DRETRY_BUDGET" "keyed limiter (16 slots):-DKEYED_LIMITER"
  "backoff + retrying:-DBACKOFF"
  "breaker + bucket + bulkhead + retry budget:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET"
  "all six:-DBREAKER -DBUCKET -DBULKHEAD -DRETRY_BUDGET -DKEYED_LIMITER -DBACKOFF")
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
