//! A bare-metal test runner: runs every case of `cases/` (and the harness's own checks) on the
//! target under QEMU, prints libtest-like lines over semihosting and ends QEMU with exit status
//! 0 when all pass, 101 at the first failure. There is no unwinding, so a panic or CPU fault
//! ends the run; the lines printed so far say which case it was.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicUsize, Ordering};

use semihosting::{println, process};

/// A test case: its name and its body.
type Test = (&'static str, fn());

/// `tests! { fn a() { .. } fn b() { .. } }` defines the functions and the module's `TESTS`.
/// `core/tests/embedded_cases.rs` defines it to make each one a `#[test]` on the host instead.
macro_rules! tests {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        $($(#[$meta])* fn $name() $body)*
        pub(crate) const TESTS: &[crate::Test] = &[$((stringify!($name), $name as fn())),*];
    };
}

/// `suites! { nanos, rng }` declares the modules of cases and lists them in `SUITES`.
macro_rules! suites {
    ($($suite:ident),* $(,)?) => {
        $(mod $suite;)*
        pub(crate) const SUITES: &[(&str, &[crate::Test])] = &[$((stringify!($suite), $suite::TESTS)),*];
    };
}

mod cases;
mod interrupt_safety;
mod interrupts;
mod stack;

/// The harness's own checks run first: if the atomics are not the ones intended, the cases'
/// results would not mean what they claim.
const SUITES: &[(&str, &[Test])] = &[("interrupt_safety", interrupt_safety::TESTS)];

const TARGET: &str = env!("EMBEDDED_TARGET");

/// The index of the running case, for the panic handler; it is also the count of cases passed,
/// since the first failure ends the run. Only loads and stores, which every target has.
static CURRENT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Every case in run order, with its suite's name.
fn all_tests() -> impl Iterator<Item = (&'static str, &'static Test)> {
    SUITES
        .iter()
        .chain(cases::SUITES)
        .flat_map(|(suite, tests)| tests.iter().map(move |test| (*suite, test)))
}

fn run() -> ! {
    interrupts::init();
    stack::paint();
    let total = all_tests().count();
    println!("running {} tests ({})", total, TARGET);
    for (index, (suite, (name, test))) in all_tests().enumerate() {
        CURRENT.store(index, Ordering::Relaxed);
        test();
        println!("test {}::{} ... ok", suite, name);
    }
    println!("\ntest result: ok. {} passed; 0 failed", total);
    let (used, watched) = stack::peak();
    println!("stack: {} of {} bytes used at most", used, watched);
    println!("embedded: {} passed, 0 failed", total);
    process::exit(0)
}

/// Reports the running case as failed and ends the run.
fn fail(why: core::fmt::Arguments) -> ! {
    let current = CURRENT.load(Ordering::Relaxed);
    let Some((suite, (name, _))) = all_tests().nth(current) else {
        println!("harness failed before the first case\n{}", why);
        println!("embedded: 0 passed, 1 failed");
        process::exit(101)
    };
    println!("test {}::{} ... FAILED\n{}", suite, name, why);
    let not_run = all_tests().count().saturating_sub(current + 1);
    println!(
        "\ntest result: FAILED. {} passed; 1 failed; {} not run",
        current, not_run
    );
    println!("embedded: {} passed, 1 failed", current);
    process::exit(101)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    fail(format_args!("{}", info))
}

#[cfg(target_arch = "arm")]
mod rt {
    #[cortex_m_rt::entry]
    fn main() -> ! {
        super::run()
    }

    #[cortex_m_rt::exception]
    unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
        super::fail(format_args!("HardFault: {:?}", frame))
    }
}

#[cfg(target_arch = "riscv32")]
mod rt {
    #[riscv_rt::entry]
    fn main() -> ! {
        super::run()
    }

    /// Any exception (an illegal instruction, such as an atomic on a core without the A
    /// extension, or a misaligned access) fails the running case.
    #[export_name = "ExceptionHandler"]
    fn exception(frame: &riscv_rt::TrapFrame) -> ! {
        let cause = riscv::register::mcause::read().bits();
        let pc = riscv::register::mepc::read();
        super::fail(format_args!(
            "exception: mcause={:#x} mepc={:#x} ra={:#x}",
            cause, pc, frame.ra
        ))
    }
}
