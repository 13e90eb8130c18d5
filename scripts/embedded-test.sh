#!/usr/bin/env bash
# Builds the core for bare-metal Cortex-M and RISC-V targets and runs the embedded test cases
# on each under QEMU. Exits 0 only if every target builds and every case passes.
#
# usage: scripts/embedded-test.sh [--release] [TARGET...]
#   default targets: thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf
#                    riscv32imc-unknown-none-elf
#   --release        release profile (default: dev, opt-level "s" with overflow checks)
#
# On a fresh Debian machine it first installs Debian's Rust toolchain (with the standard
# library sources that build-std needs), the linker and QEMU; see embedded/README.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_targets=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)

profile_args=()
targets=()
for arg in "$@"; do
  case $arg in
    --release) profile_args=(--release) ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "embedded-test.sh: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# rustup's toolchain here has no bare-metal targets and no rust-src, so the build uses Debian's
# (rust-web-src gives build-std its sources; lld-22 provides /usr/bin/rust-lld).
packages=(rustc-web cargo-web rust-web-src lld-22)
for target in "${targets[@]}"; do
  case $target in
    thumb*) packages+=(qemu-system-arm) ;;
    riscv*) packages+=(qemu-system-misc) ;;
  esac
done
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "embedded-test.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
fi

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
# Lets Debian's stable rustc accept `[unstable] build-std` from embedded/.cargo/config.toml.
export RUSTC_BOOTSTRAP=1
# Flags from the environment would replace the per-target linker scripts of the config.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export CARGO_TARGET_DIR="$root/embedded/target"
cd "$root/embedded"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 failed_targets=()
for target in "${targets[@]}"; do
  echo "== $target"
  status=0
  /usr/bin/cargo run --quiet "${profile_args[@]}" --target "$target" </dev/null 2>&1 | tee "$log" ||
    status=$?
  # The runner's last line is `embedded: N passed, M failed`.
  summary=$(sed -n 's/^embedded: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
  if [ -n "$summary" ]; then
    passed=$((passed + ${summary% *}))
    failed=$((failed + ${summary#* }))
  fi
  if [ "$status" -ne 0 ]; then
    # A build error, hang or lockup prints no summary but must still count as a failure.
    [ -n "$summary" ] && [ "${summary#* }" -gt 0 ] || failed=$((failed + 1))
    failed_targets+=("$target (exit $status)")
  fi
done

echo
if [ ${#failed_targets[@]} -gt 0 ]; then
  echo "failed targets: ${failed_targets[*]}"
fi
echo "embedded: $passed passed, $failed failed"
[ ${#failed_targets[@]} -eq 0 ]
