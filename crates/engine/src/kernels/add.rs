//! ADD for every target: [`super::reference::add`]'s arithmetic with each step
//! rewritten exactly in a form without 64-bit divisions (on a Cortex-M4 the
//! reference takes about 110 instructions per element, this 82; where the
//! quantization allows, the Cortex-M4 runs `cortex_m4::add_eval`'s assembly
//! instead, 24).

use super::{AddParams, check_len};
use crate::error::Result;

/// One rescaling `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x,
/// mult), e)`, its constants prepared once.
#[derive(Clone, Copy)]
struct Rescale {
    mult: i32,
    exponent: u32,
    /// `2^(e-1)`, or 0 when `e = 0`.
    half: i32,
    /// All ones when `e > 0`: selects the sign correction.
    negative_mask: i32,
}

impl Rescale {
    fn new(mult: i32, shift: i32) -> Rescale {
        // `AddParams::validate` keeps `shift` in -31..=0.
        let exponent = (-shift).clamp(0, 31) as u32;
        Rescale {
            mult,
            exponent,
            half: ((1i64 << exponent) >> 1) as i32,
            negative_mask: if exponent > 0 { -1 } else { 0 },
        }
    }

    /// `SaturatingRoundingDoublingHighMul(x, mult)` is `trunc((x*mult +
    /// nudge) / 2^31)` with `nudge = 2^30` for a non-negative product and
    /// `1 - 2^30` for a negative one; for a negative `t` the truncation is
    /// `floor((t + 2^31 - 1) / 2^31)`, so both cases are `floor((x*mult +
    /// 2^30) / 2^31)` (`mult >= 0`, so the one saturating case, both
    /// operands `i32::MIN`, cannot occur).
    ///
    /// `RoundingDivideByPOT(s, e)` rounds half away from zero: `floor((s +
    /// 2^(e-1) - [s < 0]) / 2^e)` for `e >= 1`, and `s` for `e = 0`. No
    /// overflow: ADD's operands are at most `(127 + 255) << 20 < 2^29`, and
    /// a multiplier below 2^31 only shrinks them.
    #[inline(always)]
    fn apply(self, x: i32) -> i32 {
        let s = ((i64::from(x) * i64::from(self.mult) + (1 << 30)) >> 31) as i32;
        s.wrapping_add(self.half)
            .wrapping_add((s >> 31) & self.negative_mask)
            >> self.exponent
    }
}

/// The kernel [`add`] runs for `p` (for profiles).
pub fn name(p: &AddParams) -> &'static str {
    #[cfg(arm_dsp)]
    if super::cortex_m4::add_supports(p) {
        return "add_m4";
    }
    let _ = p;
    "add"
}

/// ADD of two same-shape tensors, equal to [`super::reference::add`]; on
/// a Cortex-M4 in its assembly where the quantization allows.
pub fn add(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> Result<()> {
    #[cfg(arm_dsp)]
    if super::cortex_m4::add_supports(p) {
        return super::cortex_m4::add_eval(p, a, b, output);
    }
    p.validate()?;
    check_len(Some(p.len), a.len())?;
    check_len(Some(p.len), b.len())?;
    check_len(Some(p.len), output.len())?;
    let (r1, r2, ro) = (
        Rescale::new(p.input1_multiplier, p.input1_shift),
        Rescale::new(p.input2_multiplier, p.input2_shift),
        Rescale::new(p.output_multiplier, p.output_shift),
    );
    for ((&x, &y), out) in a.iter().zip(b).zip(output.iter_mut()) {
        let x = (p.input1_offset + i32::from(x)) << p.left_shift;
        let y = (p.input2_offset + i32::from(y)) << p.left_shift;
        let sum = r1.apply(x).wrapping_add(r2.apply(y));
        let raw = ro.apply(sum).wrapping_add(p.output_offset);
        *out = raw.clamp(p.act_min, p.act_max) as i8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{cortex_m4, reference};

    /// This module's ADD, and the Cortex-M4 assembly's arithmetic (its Rust
    /// model here) where it takes the quantization, equal the reference on
    /// every pair of int8 values over random quantizations.
    #[test]
    fn equals_the_reference_on_every_input_pair() {
        let mut s = 0x0dd_ba11_u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let a: std::vec::Vec<i8> = (0..65_536).map(|i| (i >> 8) as u8 as i8).collect();
        let b: std::vec::Vec<i8> = (0..65_536).map(|i| i as u8 as i8).collect();
        let (mut want, mut got) = (std::vec![0i8; 65_536], std::vec![0i8; 65_536]);
        let (mut checked, mut assembly) = (0, 0);
        for case in 0..80 {
            let mut scale = || 0.0005 * (1.0 + (next() % 4000) as f32);
            let scales = [scale(), scale(), scale()];
            let mut zp = || (next() % 256) as i32 - 128;
            let zero_points = [zp(), zp(), zp()];
            let act_min = if case % 3 == 0 { zp().min(0) } else { -128 };
            let p = AddParams::quantized(a.len(), scales, zero_points, (act_min, 127));
            if p.validate().is_err() {
                continue;
            }
            reference::add(&p, &a, &b, &mut want).unwrap();
            add(&p, &a, &b, &mut got).unwrap();
            assert!(want == got, "case {case}: {p:?}");
            checked += 1;
            if cortex_m4::add_supports(&p) {
                cortex_m4::add_eval(&p, &a, &b, &mut got).unwrap();
                assert!(want == got, "Cortex-M4, case {case}: {p:?}");
                assembly += 1;
            }
        }
        assert!(checked > 70, "{checked} of 80 quantizations were valid");
        assert!(assembly > 60, "{assembly} quantizations the assembly takes");
    }
}
