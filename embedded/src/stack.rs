//! How much stack the cases use. Before the first case the free stack is painted with a
//! pattern; after the last, the deepest word no longer holding it marks the peak. RAM is small
//! on some of these machines (16 KiB on the Cortex-M0, statics included), so the runner prints
//! the peak next to what there is.

use core::hint::black_box;
use core::ptr::{read_volatile, write_volatile};

const PAINT: u32 = 0x5AA5_C33C;
/// The most stack watched, from the top: far more than any case needs, and quick to paint on
/// the RISC-V machine, whose stack is megabytes.
const WATCHED: usize = 64 * 1024;
/// Bytes left unpainted below the painter's own frame.
const MARGIN: usize = 256;

extern "C" {
    // Defined by the `link.x` of cortex-m-rt and of riscv-rt: the end of `.bss` (free RAM
    // starts there) and the initial stack pointer (the top of the stack).
    static __ebss: u32;
    static _stack_start: u32;
}

/// The watched stack: from its lowest word to the top.
fn bounds() -> (usize, usize) {
    let top = (&raw const _stack_start) as usize;
    let free = (&raw const __ebss) as usize;
    let bottom = free.max(top.saturating_sub(WATCHED));
    (bottom.next_multiple_of(4), top)
}

/// Paints the stack below the caller's frame. Call once, before the cases.
#[inline(never)]
pub(crate) fn paint() {
    let marker = 0u8;
    let here = black_box(&marker) as *const u8 as usize;
    let (bottom, _) = bounds();
    let mut word = bottom;
    while word.saturating_add(4) <= here.saturating_sub(MARGIN) {
        // SAFETY: the words between the end of `.bss` and this frame (less a margin) belong
        // to no live frame and to no static: the stack grows down towards them.
        unsafe { write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
}

/// The most stack used since `paint`, and the stack watched, in bytes.
pub(crate) fn peak() -> (usize, usize) {
    let (bottom, top) = bounds();
    let mut word = bottom;
    // SAFETY: every word of the watched stack is mapped RAM, and reading one races with
    // nothing: only this thread runs, and no interrupt is pending.
    while word < top && unsafe { read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    (top - word, top - bottom)
}
