//! Interrupts on the one core of each QEMU machine: the critical-section implementation that
//! portable-atomic uses on targets without CAS, a count of critical sections so a check can see
//! which atomics go through it, and a way to run code inside a real interrupt handler.
//!
//! The implementation masks interrupts exactly as cortex-m's `critical-section-single-core` and
//! riscv's `critical-section-single-hart` do (save the enable bit, mask, restore the saved bit),
//! plus the count.

use core::cell::Cell;
use core::sync::atomic::{AtomicUsize, Ordering};

use critical_section::Mutex;

/// Critical sections entered since reset. Changed only with interrupts masked, so a plain load
/// and store cannot race (and need no CAS, which thumbv6m and riscv32imc lack).
static ENTERED: AtomicUsize = AtomicUsize::new(0);

/// How many critical sections have been entered since reset.
pub(crate) fn critical_sections_entered() -> usize {
    ENTERED.load(Ordering::Relaxed)
}

struct SingleCore;
critical_section::set_impl!(SingleCore);

// SAFETY: every machine the harness runs on has one core and runs the harness in a privileged
// mode, so masking interrupts excludes every other context; the saved state is restored as it
// was, so nested critical sections never unmask early.
unsafe impl critical_section::Impl for SingleCore {
    unsafe fn acquire() -> bool {
        let were_enabled = enabled();
        arch::disable();
        ENTERED.store(
            ENTERED.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        were_enabled
    }

    unsafe fn release(were_enabled: bool) {
        if were_enabled {
            // SAFETY: they were enabled when the matching `acquire` masked them.
            unsafe { arch::enable() }
        }
    }
}

/// Whether interrupts are enabled (not masked) on this core.
pub(crate) fn enabled() -> bool {
    arch::enabled()
}

/// The job for the next software interrupt, if one is waiting.
type PendingJob = Cell<Option<fn()>>;
static JOB: Mutex<PendingJob> = Mutex::new(Cell::new(None));

/// Runs `job` inside an interrupt handler (PendSV on Cortex-M, the machine software interrupt
/// on RISC-V) and returns once it has run. Interrupts must be enabled.
pub(crate) fn in_handler(job: fn()) {
    assert!(enabled(), "in_handler needs interrupts enabled");
    critical_section::with(|cs| JOB.borrow(cs).set(Some(job)));
    arch::pend();
    // The interrupt is taken as soon as it is pending; the bound only turns a harness bug
    // into a failure instead of a hang.
    for _ in 0..1_000 {
        if critical_section::with(|cs| JOB.borrow(cs).get().is_none()) {
            return;
        }
    }
    panic!("the software interrupt was never taken");
}

/// Called by the interrupt handler.
fn run_job() {
    arch::unpend();
    if let Some(job) = critical_section::with(|cs| JOB.borrow(cs).take()) {
        job();
    }
}

#[cfg(target_arch = "arm")]
mod arch {
    use cortex_m::peripheral::SCB;

    pub(super) fn enabled() -> bool {
        cortex_m::register::primask::read().is_active()
    }

    pub(super) fn disable() {
        cortex_m::interrupt::disable();
    }

    pub(super) unsafe fn enable() {
        // SAFETY: the caller restores a state that was enabled.
        unsafe { cortex_m::interrupt::enable() }
    }

    pub(super) fn pend() {
        SCB::set_pendsv();
        // Make the pending bit visible before the next instruction, so the handler runs here.
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
    }

    pub(super) fn unpend() {
        SCB::clear_pendsv();
    }

    #[cortex_m_rt::exception]
    fn PendSV() {
        super::run_job();
    }
}

#[cfg(target_arch = "riscv32")]
mod arch {
    use riscv::interrupt::Interrupt;

    /// The machine software interrupt pending bit of hart 0 in the CLINT of QEMU's `virt` board.
    const MSIP0: *mut u32 = 0x0200_0000 as *mut u32;

    pub(super) fn enabled() -> bool {
        riscv::register::mstatus::read().mie()
    }

    pub(super) fn disable() {
        riscv::interrupt::disable();
    }

    pub(super) unsafe fn enable() {
        // SAFETY: the caller restores a state that was enabled.
        unsafe { riscv::interrupt::enable() }
    }

    /// Lets the machine software interrupt through and unmasks interrupts, as firmware would
    /// after reset (riscv-rt starts with every source disabled).
    pub(super) fn init() {
        // SAFETY: the handler below serves this source; nothing else is enabled.
        unsafe {
            riscv::interrupt::enable_interrupt(Interrupt::MachineSoft);
            riscv::interrupt::enable();
        }
    }

    pub(super) fn pend() {
        // SAFETY: MSIP0 is a device register of the `virt` board, always mapped.
        unsafe { MSIP0.write_volatile(1) }
    }

    pub(super) fn unpend() {
        // SAFETY: as in `pend`.
        unsafe { MSIP0.write_volatile(0) }
    }

    #[riscv_rt::core_interrupt(Interrupt::MachineSoft)]
    fn machine_soft() {
        super::run_job();
    }
}

/// Brings interrupts to the state the cases run in: enabled, with the software interrupt ready.
pub(crate) fn init() {
    #[cfg(target_arch = "riscv32")]
    arch::init();
}
