#!/bin/sh
# Cargo's runner for bare-metal targets: run-qemu.sh ELF runs ELF under QEMU with semihosting,
# which carries the test output to stdout and the guest's exit status back as QEMU's.
#
# Exit status: 0 every case passed; 101 a case failed (panic, HardFault or trap); 124 timed out
# (a hang); 134 QEMU aborted (CPU lockup, e.g. an instruction the core lacks); 2 unknown target.
# The target is $QEMU_TARGET, else the `target/<triple>/` part of ELF's path.
set -eu
elf=$1
target=${QEMU_TARGET:-$(printf '%s\n' "$elf" | tr / '\n' | grep -E -- '-none(-|$)' | tail -n 1 || true)}
# Each machine has the target's core: QEMU enforces it, so an instruction the core lacks traps
# instead of passing silently (rv32 without the A extension, a Cortex-M0 without ldrex/strex).
case $target in
  thumbv6m-none-eabi) set -- qemu-system-arm -machine microbit -cpu cortex-m0 ;;
  thumbv7m-none-eabi) set -- qemu-system-arm -machine lm3s6965evb -cpu cortex-m3 ;;
  thumbv7em-none-eabihf) set -- qemu-system-arm -machine mps2-an386 -cpu cortex-m4 ;;
  riscv32imc-unknown-none-elf)
    set -- qemu-system-riscv32 -machine virt -bios none -cpu rv32,a=false,f=false,d=false ;;
  *) echo "run-qemu.sh: no QEMU machine for target '$target' ($elf)" >&2; exit 2 ;;
esac
exec timeout "${QEMU_TIMEOUT:-120}" "$@" -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel "$elf" </dev/null
