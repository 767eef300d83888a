//! Fixed-point arithmetic of TensorFlow Lite's int8 kernels, reproduced bit for bit.
//!
//! Every function mirrors one routine of TFLite (`QuantizeMultiplier`,
//! `MultiplyByQuantizedMultiplier`) or of gemmlowp's `fixedpoint.h`
//! (`SaturatingRoundingDoublingHighMul`, `RoundingDivideByPOT`,
//! `exp_on_negative_values`, ...). Exactness matters more than speed here: the
//! golden vectors are compared byte for byte. Where C++ relies on two's
//! complement wrap-around (signed overflow), we use explicit wrapping arithmetic
//! so that hostile models cannot trigger overflow panics in debug builds.

/// `std::frexp` without `std`: `x = m * 2^e` with `|m|` in `[0.5, 1)`.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exp - 1022)
}

/// `std::round` (half away from zero) without `std`, exact for every input.
pub fn round_f64(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 4_503_599_627_370_496.0 {
        return x; // already integral (|x| >= 2^52) or not a number
    }
    let t = x as i64 as f64; // truncation toward zero
    let frac = x - t; // exact
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `roundf` (half away from zero) without `std`.
pub fn round_f32(x: f32) -> f32 {
    if !x.is_finite() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let t = x as i32 as f32;
    let frac = x - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// TFLite's `QuantizeMultiplier`: a real multiplier as a Q0.31 significand and a
/// power-of-two exponent (`shift > 0` is a left shift).
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || !real.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_f64(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// MEAN's multiplier: `QuantizeMultiplier(input scale / output scale)` with
/// the division by the `count` averaged values folded in, as LiteRT's
/// `reference_ops::QuantizedMeanOrSum` does it (the shift clamped to 32 and
/// to what `MultiplyByQuantizedMultiplier` accepts).
pub fn mean_multiplier(input_scale: f32, output_scale: f32, count: usize) -> (i32, i32) {
    let (m, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
    let n = count.max(1) as i64;
    let s = (63 - (n as u64).leading_zeros() as i32)
        .min(32)
        .min(31 + shift);
    (((i64::from(m) << s) / n) as i32, shift - s)
}

/// `round(acc * scale)` as C computes it in `double` (the product rounded
/// to 53 significant bits, ties to even, then rounded half away from zero),
/// for a non-negative finite `scale` given by its bits, in integers only:
/// on a Cortex-M, `double` is software (about 2,000 instructions for this
/// line; this about 40 in the common case), and the result is the same bit
/// for bit (`tests::rescale_in_double_is_c_s_double_arithmetic`). Saturates
/// to `i32`.
///
/// With `scale = m * 2^e` (`m` below 2^53) the exact product is `P * 2^e`,
/// `P = |acc| * m` below 2^84. Rounding `P` to 53 bits moves it by at most
/// 2^30, which changes the rounded integer only if `P` lies within 2^30 of
/// a half (`2^(k-1)` modulo `2^k`, `k = -e`); integer boundaries do not
/// matter (on either side of one, a value that close rounds to it). So for
/// `33 <= k <= 95` the bits of `P` from 2^32 up decide, unless they sit in
/// the two units around the half; those, and every other `k`, take the
/// exact path.
pub fn rescale_in_double(acc: i32, scale_bits: u64) -> i32 {
    let magnitude = u64::from(acc.unsigned_abs());
    let exponent_field = ((scale_bits >> 52) & 0x7ff) as i32;
    let fraction = scale_bits & ((1 << 52) - 1);
    let (significand, mut exponent) = if exponent_field == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, exponent_field - 1075)
    };
    if magnitude == 0 || significand == 0 {
        return 0;
    }
    let signed = |r: u64| {
        let r = r.min(1 << 31) as i64;
        (if acc < 0 { -r } else { r }).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    };
    // Two 32x32 multiplies give the product, below 2^84.
    let low = magnitude * (significand & 0xffff_ffff);
    let high = magnitude * (significand >> 32);
    if (33..=95).contains(&-exponent) {
        // `P >> 32`, below 2^53, and its bits below the integer point.
        let p32 = high + (low >> 32);
        let s = (-exponent - 32) as u32;
        let half = 1u64 << (s - 1);
        let fraction = p32 & ((1 << s) - 1);
        if fraction != half && fraction + 1 != half {
            return signed((p32 >> s) + u64::from(fraction > half));
        }
    }
    // The exact path.
    let product = (u128::from(high) << 32) + u128::from(low);
    // Rounded to 53 significant bits, ties to even.
    let bits = 128 - product.leading_zeros() as i32;
    let mut q = product;
    if bits > 53 {
        let dropped = (bits - 53) as u32;
        let rest = product & ((1 << dropped) - 1);
        let half = 1u128 << (dropped - 1);
        q = product >> dropped;
        if rest > half || (rest == half && q & 1 == 1) {
            q += 1;
        }
        exponent += dropped as i32;
    }
    // `q * 2^exponent`, rounded half away from zero.
    let rounded = if exponent >= 0 {
        if exponent > 31 {
            u128::MAX
        } else {
            q << exponent
        }
    } else {
        let k = (-exponent) as u32;
        if k > 64 { 0 } else { (q + (1 << (k - 1))) >> k }
    };
    signed(rounded.min(1 << 31) as u64)
}

/// The per-channel output multiplier of a convolution, computed in `double` in
/// the same order as TFLite's `PopulateConvolutionQuantizationParams`.
pub fn conv_multiplier(input_scale: f32, filter_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale))
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` for int32.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT` (round half away from zero). `exponent` is
/// clamped to `0..=31` so that no input can produce an invalid shift.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT` with a positive exponent: a left
/// shift that saturates instead of overflowing.
#[inline(always)]
pub fn saturating_left_shift(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 30);
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// TFLite `MultiplyByQuantizedMultiplier` (the double-rounding variant that
/// TFLite 2.15 and TFLite Micro build by default).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = shift.clamp(0, 30);
    let right_shift = (-shift).clamp(0, 31);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left_shift), multiplier),
        right_shift,
    )
}

/// Largest legal left shift of a prepared multiplier; larger shifts would make
/// `1 << shift` overflow in the kernels.
pub const MAX_LEFT_SHIFT: i32 = 30;
/// Largest legal right shift of a prepared multiplier.
pub const MAX_RIGHT_SHIFT: i32 = 31;

/// Whether a prepared (multiplier, shift) pair is one the kernels accept.
pub fn multiplier_is_valid(multiplier: i32, shift: i32) -> bool {
    multiplier >= 0 && (-MAX_RIGHT_SHIFT..=MAX_LEFT_SHIFT).contains(&shift)
}

/// TFLite `CalculateActivationRangeQuantized` for int8 outputs.
pub fn activation_range(act: crate::ops::Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    use crate::ops::Activation;
    let quantize = |f: f32| -> i32 {
        let q = round_f32(f / scale);
        // Saturating float->int conversion, as static_cast would be for sane scales.
        zero_point.saturating_add(q as i32)
    };
    let (qmin, qmax) = (i32::from(i8::MIN), i32::from(i8::MAX));
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
    }
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    let srdhm = saturating_rounding_doubling_high_mul;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
        1,
    );
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values` for a Q5.26 input, returning Q0.31.
pub fn exp_on_negative_values_q5_26(a: i32) -> i32 {
    const INTEGER_BITS: i32 = 5;
    const FRACTIONAL_BITS: i32 = 31 - INTEGER_BITS;
    let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_left_shift(a_mod_quarter_minus_one_quarter, INTEGER_BITS),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if remainder & (1i32 << (FRACTIONAL_BITS + exponent)) != 0 {
            result = saturating_rounding_doubling_high_mul(result, multiplier);
        }
    }
    if a == 0 { i32::MAX } else { result }
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out), Newton-Raphson.
fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let srdhm = saturating_rounding_doubling_high_mul;
    // RoundingHalfSum(a, One) for int32.
    let sum = i64::from(a) + i64::from(i32::MAX);
    let sign = if sum >= 0 { 1 } else { -1 };
    let half_denominator = ((sum + sign) / 2) as i32;
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810; // Q2.29
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540; // Q2.29
    const ONE_Q2_29: i32 = 1 << 29;
    let mut x = CONSTANT_48_OVER_17.wrapping_add(srdhm(half_denominator, CONSTANT_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = ONE_Q2_29.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(saturating_left_shift(srdhm(x, one_minus), 2));
    }
    // ExactMulByPot<-1> keeps the raw value (Q2 -> Q1); Rescale<0> shifts left by one.
    saturating_left_shift(x, 1)
}

/// TFLite `GetReciprocal`: returns (reciprocal as Q0.31, num_bits_over_unit).
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted = (x as u32)
        .checked_shl(headroom_plus_one as u32)
        .unwrap_or(0)
        .wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted),
        num_bits_over_unit,
    )
}

/// Integer bits of the softmax input representation (Q5.26), as in TFLite.
pub const SOFTMAX_SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the softmax accumulator (Q12.19), as in TFLite.
pub const SOFTMAX_ACCUMULATION_INTEGER_BITS: i32 = 12;

/// TFLite `PreprocessSoftmaxScaling` + `CalculateInputRadius` for int8 input:
/// returns (input_multiplier, input_left_shift, diff_min).
pub fn softmax_params(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    let bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS;
    let max_real_multiplier = ((1i64 << 31) - 1) as f64;
    let real = (f64::from(beta) * f64::from(input_scale) * (1i64 << (31 - bits)) as f64)
        .min(max_real_multiplier);
    let (multiplier, left_shift) = quantize_multiplier(real);
    let left_shift = left_shift.clamp(0, 31);
    let max_input_rescaled =
        ((1i64 << bits) - 1) as f64 * (1i64 << (31 - bits)) as f64 / (1i64 << left_shift) as f64;
    let diff_min = -(max_input_rescaled as i64).min(i64::from(i32::MAX)) as i32;
    (multiplier, left_shift, diff_min)
}

/// TFLite's ADD preparation for int8 (general rescaling path): returns
/// `[in1 (mult, shift), in2 (mult, shift), out (mult, shift)]` and the left shift (20).
pub fn add_params(scale1: f32, scale2: f32, output_scale: f32) -> ([(i32, i32); 3], i32) {
    const LEFT_SHIFT: i32 = 20;
    let twice_max_input_scale = f64::from(2.0 * scale1.max(scale2));
    let real1 = f64::from(scale1) / twice_max_input_scale;
    let real2 = f64::from(scale2) / twice_max_input_scale;
    let real_out = twice_max_input_scale / f64::from((1 << LEFT_SHIFT) as f32 * output_scale);
    (
        [
            quantize_multiplier(real1),
            quantize_multiplier(real2),
            quantize_multiplier(real_out),
        ],
        LEFT_SHIFT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_in_double_is_c_s_double_arithmetic() {
        let c = |acc: i32, scale: f64| {
            let x = f64::from(acc) * scale;
            // C's `round`, then a saturating conversion.
            x.round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
        };
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut ties = 0;
        for i in 0..2_000_000u64 {
            let acc = match i % 4 {
                0 => next() as i32,
                1 => (next() % 400_000) as i32 - 200_000,
                2 => [0, 1, -1, i32::MAX, i32::MIN, 1 << 20][(i / 4 % 6) as usize],
                _ => (next() % 2_000) as i32 - 1_000,
            };
            let scale = match i % 5 {
                // Scales as FULLY_CONNECTED's are: input * weight / output.
                0..=2 => {
                    f64::from(0.001 + (next() % 100_000) as f32 * 1e-7)
                        * f64::from(0.0001 + (next() % 100_000) as f32 * 1e-8)
                        / f64::from(0.001 + (next() % 100_000) as f32 * 1e-7)
                }
                // Exact halves: small powers of two.
                3 => 1.0 / f64::from(1u32 << (next() % 20)),
                _ => f64::from_bits(next() >> 2 & 0x7fef_ffff_ffff_ffff) * 1e-300,
            };
            let want = c(acc, scale);
            ties += usize::from((f64::from(acc) * scale).fract().abs() == 0.5);
            assert_eq!(
                rescale_in_double(acc, scale.to_bits()),
                want,
                "{acc} * {scale:e}"
            );
        }
        assert!(ties > 1000, "{ties} ties");
        assert_eq!(rescale_in_double(5, 0.0f64.to_bits()), 0);
        assert_eq!(rescale_in_double(3, 0.5f64.to_bits()), 2);
        assert_eq!(rescale_in_double(-3, 0.5f64.to_bits()), -2);
        assert_eq!(rescale_in_double(1 << 30, 4.0f64.to_bits()), i32::MAX);
    }

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1.0, 0.5, 0.75, 3.0, 1e-10, 123456.789, 2.5e-310, -6.0] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: {m}");
            assert_eq!(m * 2f64.powi(e + 100) * 2f64.powi(-100), x);
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_f64(2.5), 3.0);
        assert_eq!(round_f64(-2.5), -3.0);
        assert_eq!(round_f64(0.49999999999999994), 0.0);
        assert_eq!(round_f32(0.49999997), 0.0);
        assert_eq!(round_f32(-1.5), -2.0);
    }

    #[test]
    fn quantize_multiplier_known_values() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        // Rounds up to 2^31 and renormalises.
        assert_eq!(quantize_multiplier(0.999_999_999_9), (1 << 30, 1));
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
    }

    #[test]
    fn srdhm_and_rdbpot_edge_cases() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // gemmlowp nudges -1.5 to -1
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_float() {
        let (m, s) = quantize_multiplier(0.0123);
        for x in [-100_000, -777, -1, 0, 1, 999, 123_456] {
            let expect = (x as f64 * 0.0123).round() as i32;
            assert!((multiply_by_quantized_multiplier(x, m, s) - expect).abs() <= 1);
        }
        let (m, s) = quantize_multiplier(3.5);
        assert_eq!(multiply_by_quantized_multiplier(10, m, s), 35);
    }

    #[test]
    fn exp_and_reciprocal_are_accurate() {
        for k in 0..200 {
            let x = -(k as f64) * 0.07;
            let raw = (x * (1u64 << 26) as f64) as i32;
            let got = exp_on_negative_values_q5_26(raw) as f64 / 2f64.powi(31);
            assert!((got - x.exp()).abs() < 1e-6, "exp({x}) = {got}");
        }
        for k in 1..100 {
            let x = k as f64 / 100.0;
            let raw = (x * 2f64.powi(31)) as i32;
            let got = one_over_one_plus_x_for_x_in_0_1(raw) as f64 / 2f64.powi(31);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-6);
        }
    }
}
