#!/usr/bin/env bash
# Builds libstanchion.a for a bare-metal Arm target (Debian's Rust toolchain, build-std,
# panic = "abort", opt-level "s", LTO) and links C programs with it for a QEMU board.
#
# usage: bindings-c/firmware/build.sh TARGET OUT.elf PROGRAM.c...
#   TARGET: thumbv7m-none-eabi (Cortex-M3, lm3s6965evb) or thumbv6m-none-eabi (Cortex-M0, microbit)
# FIRMWARE_OPT_LEVEL (default "s") sets the library's opt-level; FIRMWARE_LIB links that
# archive instead of libstanchion.a. Prints nothing on success; the library is cached under
# target/firmware-opt-LEVEL/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bindings-c/firmware"
target=$1 elf=$2
shift 2

case $target in
  thumbv7m-none-eabi) cpu=cortex-m3 board=lm3s6965evb ;;
  thumbv7em-none-eabi) cpu=cortex-m4 board=lm3s6965evb ;;
  thumbv6m-none-eabi) cpu=cortex-m0 board=microbit ;;
  *) echo "build.sh: no board for $target" >&2; exit 2 ;;
esac

# Debian's toolchain has the sources build-std needs; RUSTC_BOOTSTRAP lets its stable cargo
# take -Zbuild-std. The profile is set here, so the workspace's own profiles stay as they are.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/target/firmware-opt-${FIRMWARE_OPT_LEVEL:-s}"
export CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_OPT_LEVEL="${FIRMWARE_OPT_LEVEL:-s}" \
  CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  CARGO_PROFILE_RELEASE_DEBUG=false
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
lib=${FIRMWARE_LIB:-}
if [ -z "$lib" ]; then
  (cd "$root" && /usr/bin/cargo rustc --quiet --locked --release -p stanchion-c --lib \
    --crate-type staticlib --no-default-features --target "$target" -Zbuild-std=core </dev/null)
  lib="$CARGO_TARGET_DIR/$target/release/libstanchion.a"
fi

arm-none-eabi-gcc -mthumb -mcpu="$cpu" -Os -std=c11 -Wall -Wextra -Werror \
  -ffunction-sections -fdata-sections -nostartfiles --specs=nano.specs --specs=rdimon.specs \
  -I"$root/bindings-c/include" -T"$here/link.ld" -L"$here/boards/$board" \
  -Wl,--gc-sections -Wl,--no-warn-execstack -Wl,-Map="${elf%.elf}.map" \
  "$here/startup.c" "$@" "$lib" -o "$elf"
