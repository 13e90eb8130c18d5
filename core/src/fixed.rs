//! Float configs to fixed point, in integer arithmetic only.
//!
//! Configs take rates and ratios as `f32`/`f64`, and the primitives keep them as integers
//! (parts per million, 16.16 fixed point). Written as float arithmetic, the conversion
//! `(x * scale + 0.5) as uN` and the range checks link the soft-float routines (about 2.5 KiB)
//! into firmware for FPU-less cores such as Cortex-M0/M3/M4 without FPU. These functions give
//! the very same answers from the bits of the float: each float operation is rounded as
//! IEEE 754 does (to nearest, ties to even, in the format's precision), and `as` truncates
//! toward zero, saturates, and maps NaN to 0. The tests compare them with the float
//! expressions on the host.

// Every shift and sum here is bounded by the float formats (significands of at most 54 bits
// times a scale below 2^21, shifts below 128), as the comments at each step say.
#![allow(clippy::arithmetic_side_effects)]

/// A float's sign, significand and exponent: a finite value is `±m · 2^e`.
#[derive(Clone, Copy)]
struct Parts {
    negative: bool,
    /// NaN or infinite.
    special: bool,
    m: u64,
    e: i32,
}

const fn parts(bits: u64, frac_bits: u32, exp_bits: u32) -> Parts {
    let frac = bits & ((1 << frac_bits) - 1);
    let exp_max = (1u64 << exp_bits) - 1;
    let biased = (bits >> frac_bits) & exp_max;
    let bias = (exp_max >> 1) as i32 + frac_bits as i32;
    let (m, e) = if biased == 0 {
        (frac, 1 - bias)
    } else {
        (frac | 1 << frac_bits, biased as i32 - bias)
    };
    Parts {
        negative: bits >> (frac_bits + exp_bits) != 0,
        special: biased == exp_max,
        m,
        e,
    }
}

/// `n · 2^e` rounded to `precision` significant bits, to nearest, ties to even (no exponent
/// range: the callers' values are far from overflow, and below 2^-126 they end as 0 anyway).
/// Bit 0 of `n` may be a sticky bit standing for nonzero bits below it, as long as `n` keeps at
/// least two bits more than `precision`.
const fn round(n: u64, e: i32, precision: u32) -> (u64, i32) {
    let bits = 64 - n.leading_zeros();
    if bits <= precision {
        return (n, e);
    }
    let shift = bits - precision;
    let mut q = n >> shift;
    let rem = n & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    (q, e + shift as i32)
}

/// `m · odd` (`m` < 2^53, `odd` < 2^15) in 64 bits: shifted right, with the bits shifted out
/// kept as a sticky bit 0, and the shift to add to the exponent.
const fn product(m: u64, odd: u64) -> (u64, i32) {
    let low = (m & 0xffff_ffff) * odd; // < 2^47
    let high = (m >> 32) * odd + (low >> 32); // < 2^37: the product is high · 2^32 + low's 32 bits
    let low = low & 0xffff_ffff;
    let over = 32u32.saturating_sub(high.leading_zeros()); // bits of `high` above 32, 0..=5
    if over == 0 {
        return ((high << 32) | low, 0);
    }
    let sticky = (low & ((1 << over) - 1) != 0) as u64;
    ((high << (32 - over)) | (low >> over) | sticky, over as i32)
}

/// `(x * scale + 0.5) as uN` for the float `x` of the given format, with
/// `scale = odd · 2^shift` and `max = uN::MAX`.
const fn scale_round(x: Parts, precision: u32, odd: u64, shift: i32, max: u64) -> u64 {
    if x.special {
        // Infinity saturates; NaN becomes 0.
        return if x.m == 1 << (precision - 1) && !x.negative {
            max
        } else {
            0
        };
    }
    if x.negative || x.m == 0 {
        // At most 0.5 before truncation: 0 (negative values saturate at 0).
        return 0;
    }
    // x · scale, rounded; at most 67 bits, so at least 11 guard bits survive in 64.
    let (n, over) = product(x.m, odd);
    let (a, ea) = round(n, x.e + shift + over, precision);
    if ea > 0 {
        // a is an integer whose ulp is at least 2: adding 0.5 rounds back to a.
        return if ea >= 64 || a > max >> ea {
            max
        } else {
            a << ea
        };
    }
    if ea < -60 {
        // a < 2^-6 (a < 2^54): a + 0.5 rounds into [0.5, 1), which truncates to 0.
        return 0;
    }
    // a + 0.5, exactly, as an integer times 2^-k (below 2^61), then rounded.
    let k = if ea < -1 { -ea } else { 1 };
    let sum = (a << (k + ea)) + (1 << (k - 1));
    let (b, eb) = round(sum, -k, precision);
    let whole = if eb >= 0 { b << eb } else { b >> -eb };
    if whole > max {
        max
    } else {
        whole
    }
}

/// The scales: parts per million (15625 · 2^6) and 16.16 fixed point.
pub(crate) const PPM: (u64, i32) = (15_625, 6);
pub(crate) const Q16: (u64, i32) = (1, 16);

/// `(x * scale + 0.5) as u32`, for `f32`.
pub(crate) const fn f32_scale_round(x: f32, scale: (u64, i32)) -> u32 {
    scale_round(
        parts(x.to_bits() as u64, 23, 8),
        24,
        scale.0,
        scale.1,
        u32::MAX as u64,
    ) as u32
}

/// `(x * scale + 0.5) as u16`, for `f32`.
pub(crate) const fn f32_scale_round_u16(x: f32, scale: (u64, i32)) -> u16 {
    scale_round(
        parts(x.to_bits() as u64, 23, 8),
        24,
        scale.0,
        scale.1,
        u16::MAX as u64,
    ) as u16
}

/// `(x * scale + 0.5) as u64`, for `f64`.
pub(crate) const fn f64_scale_round(x: f64, scale: (u64, i32)) -> u64 {
    scale_round(parts(x.to_bits(), 52, 11), 53, scale.0, scale.1, u64::MAX)
}

/// A key that orders floats as `<` does (both zeros equal); `None` for NaN.
const fn order_key(bits: u64, sign_bit: u32, frac_bits: u32) -> Option<u64> {
    let sign = 1 << sign_bit;
    let magnitude = bits & (sign - 1);
    if magnitude > (sign - 1) & !((1 << frac_bits) - 1) {
        return None; // NaN (infinity is the largest magnitude that is not NaN)
    }
    Some(if bits & sign != 0 {
        sign - magnitude
    } else {
        sign + magnitude
    })
}

const fn key32(x: f32) -> Option<u64> {
    order_key(x.to_bits() as u64, 31, 23)
}

const fn key64(x: f64) -> Option<u64> {
    order_key(x.to_bits(), 63, 52)
}

/// `lo < x && x <= hi` (false for NaN), for `f32`.
pub(crate) const fn f32_in_open_closed(x: f32, lo: f32, hi: f32) -> bool {
    match (key32(x), key32(lo), key32(hi)) {
        (Some(x), Some(lo), Some(hi)) => lo < x && x <= hi,
        _ => false,
    }
}

/// `lo <= x && x <= hi` (false for NaN), for `f32`.
pub(crate) const fn f32_in_closed(x: f32, lo: f32, hi: f32) -> bool {
    match (key32(x), key32(lo), key32(hi)) {
        (Some(x), Some(lo), Some(hi)) => lo <= x && x <= hi,
        _ => false,
    }
}

/// `lo <= x && x <= hi` (false for NaN), for `f64`.
pub(crate) const fn f64_in_closed(x: f64, lo: f64, hi: f64) -> bool {
    match (key64(x), key64(lo), key64(hi)) {
        (Some(x), Some(lo), Some(hi)) => lo <= x && x <= hi,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(scale: (u64, i32)) -> u64 {
        scale.0 << scale.1
    }

    fn check32(x: f32, scale: (u64, i32)) {
        let want = (x * value(scale) as f32 + 0.5) as u32;
        assert_eq!(
            f32_scale_round(x, scale),
            want,
            "{x:e} ({:#x}) * {scale:?}",
            x.to_bits()
        );
        let want16 = (x * value(scale) as f32 + 0.5) as u16;
        assert_eq!(
            f32_scale_round_u16(x, scale),
            want16,
            "{x:e} * {scale:?} as u16"
        );
    }

    fn check64(x: f64, scale: (u64, i32)) {
        let want = (x * value(scale) as f64 + 0.5) as u64;
        assert_eq!(
            f64_scale_round(x, scale),
            want,
            "{x:e} ({:#x}) * {scale:?}",
            x.to_bits()
        );
    }

    const SCALES: [(u64, i32); 2] = [PPM, Q16];

    #[test]
    fn f32_around_every_half_ppm() {
        // The float and integer forms could part only where x · scale is near k + 0.5.
        for k in 0..=1_000_000u32 {
            let x = (k as f32 + 0.5) / 1e6;
            let first = x.to_bits().saturating_sub(4);
            for bits in first..first + 9 {
                check32(f32::from_bits(bits), PPM);
            }
        }
    }

    #[test]
    fn f32_around_every_half_q16() {
        for k in 0..=(65_535u32 * 65_536 / 9_973) {
            let x = (k as f32 * 9_973.0 + 0.5) / 65_536.0;
            let first = x.to_bits().saturating_sub(3);
            for bits in first..first + 7 {
                check32(f32::from_bits(bits), Q16);
            }
        }
    }

    #[test]
    fn f32_strided_over_every_bit_pattern() {
        let mut bits = 0u32;
        while let Some(next) = bits.checked_add(4093) {
            for scale in SCALES {
                check32(f32::from_bits(bits), scale);
            }
            bits = next;
        }
    }

    /// Every `f32`, both scales: `cargo test -p stanchion --release --lib fixed -- --ignored`.
    #[test]
    #[ignore = "4 billion floats: run in release"]
    fn f32_every_bit_pattern() {
        for bits in 0..=u32::MAX {
            for scale in SCALES {
                check32(f32::from_bits(bits), scale);
            }
        }
    }

    #[test]
    fn f32_specials() {
        for x in [
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            1.0,
            0.1,
            0.5,
            65_535.0,
            65_535.99,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            -1.0,
        ] {
            for scale in SCALES {
                check32(x, scale);
            }
        }
    }

    #[test]
    fn f64_around_every_thousandth_of_a_ppm_step() {
        for k in (0..=1_000_000_000u64).step_by(997) {
            let x = (k as f64 + 0.5) / 1e6;
            let first = x.to_bits().saturating_sub(4);
            for bits in first..first + 9 {
                check64(f64::from_bits(bits), PPM);
            }
        }
    }

    #[test]
    fn f64_strided_over_bit_patterns_and_specials() {
        let mut bits = 0u64;
        while let Some(next) = bits.checked_add(0x0000_3fff_ffff_ffd9) {
            check64(f64::from_bits(bits), PPM);
            bits = next;
        }
        for x in [
            0.0,
            -0.0,
            0.1,
            1000.0,
            1000.5,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            -0.1,
        ] {
            check64(x, PPM);
        }
    }

    #[test]
    fn ranges_match_the_comparisons() {
        let xs32 = [
            0.0,
            -0.0,
            f32::from_bits(1),
            0.5,
            1.0,
            1.0000001,
            65_535.0,
            65_536.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for x in xs32 {
            assert_eq!(f32_in_open_closed(x, 0.0, 1.0), x > 0.0 && x <= 1.0, "{x}");
            assert_eq!(f32_in_closed(x, 0.0, 1.0), (0.0..=1.0).contains(&x), "{x}");
            assert_eq!(
                f32_in_closed(x, 1.0, 65_535.0),
                (1.0..=65_535.0).contains(&x),
                "{x}"
            );
        }
        let xs64 = [
            0.0,
            -0.0,
            f64::from_bits(1),
            1000.0,
            1000.0000000000001,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        for x in xs64 {
            assert_eq!(
                f64_in_closed(x, 0.0, 1000.0),
                (0.0..=1000.0).contains(&x),
                "{x}"
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn f32_matches_the_float_expression(bits: u32, q16: bool) {
            let (scale, value) = if q16 { (Q16, 65_536.0) } else { (PPM, 1e6) };
            let x = f32::from_bits(bits);
            prop_assert_eq!(f32_scale_round(x, scale), (x * value + 0.5) as u32);
            prop_assert_eq!(f32_scale_round_u16(x, scale), (x * value + 0.5) as u16);
        }

        #[test]
        fn f32_rates_match(x in 0.0f32..=1.0) {
            prop_assert_eq!(f32_scale_round(x, PPM), (x * 1e6 + 0.5) as u32);
        }

        #[test]
        fn f64_matches_the_float_expression(bits: u64) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(f64_scale_round(x, PPM), (x * 1e6 + 0.5) as u64);
        }

        #[test]
        fn f64_ratios_match(x in 0.0f64..=1000.0) {
            prop_assert_eq!(f64_scale_round(x, PPM), (x * 1e6 + 0.5) as u64);
        }

        #[test]
        fn comparisons_match(a: u32, b: u64) {
            let x = f32::from_bits(a);
            prop_assert_eq!(f32_in_open_closed(x, 0.0, 1.0), x > 0.0 && x <= 1.0);
            prop_assert_eq!(f32_in_closed(x, 1.0, 65_535.0), (1.0..=65_535.0).contains(&x));
            let y = f64::from_bits(b);
            prop_assert_eq!(f64_in_closed(y, 0.0, 1000.0), (0.0..=1000.0).contains(&y));
        }
    }
}
