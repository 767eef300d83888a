//! 1x1 convolution, stride 1, no padding: the pointwise layers that carry
//! about 80 % of a MobileNet's multiply-accumulates.
//!
//! Each output is a dot product of one input pixel with one filter row. The
//! input offset is folded into the bias once per output channel
//! (`sum(f * (x + off)) = sum(f * x) + off * sum(f)`, exact in wrapping int32
//! arithmetic), so the inner loop is a plain int8 dot product that LLVM
//! vectorises.

use super::reference::{requantize, unsupported};
use super::simd::{dot, host_multiversion};
use super::{ConvParams, check_len};
use crate::error::Result;

/// Output channels whose folded biases are kept on the stack at once.
const BLOCK: usize = 64;

pub fn supports(p: &ConvParams<'_>) -> bool {
    let w = &p.window;
    w.kernel_h == 1
        && w.kernel_w == 1
        && w.stride_h == 1
        && w.stride_w == 1
        && w.pad_top == 0
        && w.pad_left == 0
        && p.input.h == p.output.h
        && p.input.w == p.output.w
}

host_multiversion! {
    pub fn eval(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> => eval_impl
}

/// The baseline build of `eval` (what non-x86 targets run); listed in the
/// kernel tables on x86-64 so the shared tests cover it beside the AVX2 build.
pub fn eval_portable(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    eval_impl(p, input, output)
}

#[inline(always)]
fn eval_impl(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !supports(p) {
        return Err(unsupported(
            "pointwise kernel called on a non-1x1 convolution",
        ));
    }
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ic, oc) = (p.input.c, p.output.c);
    let tail = (p.output_offset, p.act_min, p.act_max);
    let mut folded = [0i32; BLOCK];
    let mut start = 0;
    while start < oc {
        let end = (start + BLOCK).min(oc);
        let filters = &p.filter[start * ic..end * ic];
        for (j, (row, slot)) in filters.chunks_exact(ic).zip(folded.iter_mut()).enumerate() {
            let sum = row.iter().fold(0i32, |a, &f| a.wrapping_add(i32::from(f)));
            *slot = p
                .bias
                .map_or(0, |b| b.get(start + j))
                .wrapping_add(sum.wrapping_mul(p.input_offset));
        }
        for (px, out_px) in input.chunks_exact(ic).zip(output.chunks_exact_mut(oc)) {
            for (j, ((row, out), &bias)) in filters
                .chunks_exact(ic)
                .zip(&mut out_px[start..end])
                .zip(folded.iter())
                .enumerate()
            {
                let o = start + j;
                *out = requantize(
                    dot(row, px),
                    bias,
                    p.multiplier.get(o),
                    p.shift.get(o),
                    tail,
                );
            }
        }
        start = end;
    }
    Ok(())
}
