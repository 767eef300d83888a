//! 1x1 convolution, stride 1, no padding: the pointwise layers that carry
//! about 80 % of a MobileNet's multiply-accumulates.
//!
//! Each output is a dot product of one input pixel with one filter row. The
//! input offset is folded into the bias once per output channel
//! (`sum(f * (x + off)) = sum(f * x) + off * sum(f)`, exact in wrapping int32
//! arithmetic), so the inner loop is a plain int8 dot product that LLVM
//! vectorises.

use super::reference::unsupported;
use super::simd::{BLOCK, ChannelBlock, dot, host_multiversion};
use super::{ConvParams, check_len};
use crate::error::Result;

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
    let mut acc = [0i32; BLOCK];
    let mut start = 0;
    while start < oc {
        let end = (start + BLOCK).min(oc);
        let filters = &p.filter[start * ic..end * ic];
        let block = ChannelBlock::load(p.bias, p.multiplier, p.shift, start, end - start, |j| {
            let row = &filters[j * ic..(j + 1) * ic];
            let sum = row.iter().fold(0i32, |a, &f| a.wrapping_add(i32::from(f)));
            sum.wrapping_mul(p.input_offset)
        });
        for (px, out_px) in input.chunks_exact(ic).zip(output.chunks_exact_mut(oc)) {
            for (a, row) in acc.iter_mut().zip(filters.chunks_exact(ic)) {
                *a = dot(row, px);
            }
            block.requantize(&acc[..end - start], &mut out_px[start..end], tail);
        }
        start = end;
    }
    Ok(())
}
