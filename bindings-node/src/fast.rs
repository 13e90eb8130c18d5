//! The hot path: argument-free functions over a per-thread register file, and a native clock.
//!
//! The JS half owns one `Float64Array` per thread (`setRegisters`), writes an instance's
//! handle and the arguments into it, and calls a function that takes no arguments: that
//! crossing costs a fraction of a method call with arguments. Instances live in per-thread
//! tables of handles, filled by the classes' constructors and emptied by their finalizers.
//!
//! An instant in a register is milliseconds; NaN means "read the native clock", a monotonic
//! clock calibrated once to the scale of `performance.now()` (`calibrate`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use napi::bindgen_prelude::Float64Array;
use napi_derive::napi;
use stanchion::Nanos;

/// Slots of the register file.
pub(crate) const REGISTERS: usize = 8;

thread_local! {
    static REGS: Cell<*mut f64> = const { Cell::new(std::ptr::null_mut()) };
    // The instant of calibration and the clock's reading then, kept in nanoseconds so that a
    // read converts nothing but the elapsed time.
    static ORIGIN: Cell<Option<(Instant, Nanos)>> = const { Cell::new(None) };
}

/// Takes the register file: a `Float64Array` of at least 8 slots, which the JS half keeps
/// alive for as long as the module is loaded (its memory never moves).
#[napi]
pub fn set_registers(registers: Float64Array) -> napi::Result<()> {
    if registers.len() < REGISTERS {
        return Err(napi::Error::from_reason("the register file needs 8 slots"));
    }
    REGS.with(|regs| regs.set(registers.as_ptr().cast_mut()));
    Ok(())
}

/// Sets the native clock so that it reads `ms` now (the JS half passes `performance.now()`).
#[napi]
pub fn calibrate(ms: f64) {
    ORIGIN.with(|origin| origin.set(Some((Instant::now(), crate::time::of_millis(ms)))));
}

/// The native clock, in milliseconds on the calibrated scale.
#[napi]
pub fn now() -> f64 {
    crate::time::millis(native_now())
}

fn native_now() -> Nanos {
    let read = Instant::now();
    let (at, origin) = ORIGIN.with(Cell::get).unwrap_or((read, Nanos::ZERO));
    let elapsed = u64::try_from(read.saturating_duration_since(at).as_nanos()).unwrap_or(u64::MAX);
    origin.saturating_add(Nanos::new(elapsed))
}

/// Register `i`.
pub(crate) fn reg(i: usize) -> f64 {
    REGS.with(|regs| {
        let base = regs.get();
        if base.is_null() || i >= REGISTERS {
            return f64::NAN;
        }
        // SAFETY: `base` points to the JS-owned register file of at least REGISTERS slots,
        // which lives as long as the module on this thread; JS does not run during this call.
        unsafe { base.add(i).read() }
    })
}

/// Writes register `i`.
pub(crate) fn set_reg(i: usize, value: f64) {
    REGS.with(|regs| {
        let base = regs.get();
        if !base.is_null() && i < REGISTERS {
            // SAFETY: as in `reg`.
            unsafe { base.add(i).write(value) }
        }
    });
}

/// The instant in register `i`: milliseconds, or NaN for the native clock.
pub(crate) fn instant_reg(i: usize) -> Nanos {
    let ms = reg(i);
    if ms.is_nan() {
        native_now()
    } else {
        crate::time::of_millis(ms)
    }
}

/// Register `i` as a `u32` (saturating; NaN reads as 0).
pub(crate) fn u32_reg(i: usize) -> u32 {
    reg(i) as u32
}

/// A per-thread table of instances by handle.
pub(crate) struct Registry<T> {
    slots: Vec<Option<Rc<T>>>,
    free: Vec<u32>,
}

impl<T> Registry<T> {
    pub(crate) const fn new() -> Self {
        Registry {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, value: Rc<T>) -> u32 {
        match self.free.pop() {
            Some(handle) => {
                if let Some(slot) = self.slots.get_mut(handle as usize) {
                    *slot = Some(value);
                }
                handle
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        }
    }

    pub(crate) fn remove(&mut self, handle: u32) {
        if let Some(slot) = self.slots.get_mut(handle as usize) {
            if slot.take().is_some() {
                self.free.push(handle);
            }
        }
    }

    pub(crate) fn get(&self, handle: u32) -> Option<&Rc<T>> {
        self.slots.get(handle as usize)?.as_ref()
    }
}

/// Runs `f` on the instance whose handle is in register 0, or returns `missing`.
pub(crate) fn with<T: 'static, R>(
    table: &'static std::thread::LocalKey<RefCell<Registry<T>>>,
    missing: R,
    f: impl FnOnce(&T) -> R,
) -> R {
    let handle = u32_reg(0);
    // Clone the instance out, so that no borrow of the table is held while the core runs.
    match table.with(|table| table.borrow().get(handle).cloned()) {
        Some(instance) => f(&instance),
        None => missing,
    }
}
