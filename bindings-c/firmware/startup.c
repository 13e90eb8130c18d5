/*
 * Minimal Cortex-M startup for the firmware examples: the vector table, a reset handler that
 * sets up RAM and runs main, and a fault handler that reports through semihosting, so a fault
 * (including a Rust panic, which executes `udf`) ends the QEMU run with status 101.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start__, __bss_end__, __stack_top;
extern int main(void);
extern void _exit(int status);

void reset_handler(void);
void fault_handler(void);

static void idle_handler(void) {}

/* A program that uses the system timer defines this. */
void SysTick_Handler(void) __attribute__((weak, alias("idle_handler")));

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top, /* initial stack pointer */
    reset_handler,
    idle_handler,  /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    idle_handler, /* SVCall */
    idle_handler, /* DebugMonitor */
    0,
    idle_handler, /* PendSV */
    SysTick_Handler,
};

void fault_handler(void) { _exit(101); }

void reset_handler(void) {
  uint32_t *src = &__data_load;
  for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  exit(main());
}
