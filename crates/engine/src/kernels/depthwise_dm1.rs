//! Depthwise convolution with depth multiplier 1, vectorised across channels.
//!
//! The reference kernel walks channel by channel with a strided load per tap;
//! here each output pixel accumulates whole contiguous channel blocks tap by
//! tap, which LLVM turns into SIMD on the host (and the Cortex-M4 kernel can
//! turn into SMLAD pairs). Taps outside the input are skipped exactly as in
//! the reference, so the result is identical for any window, stride and padding.

use super::reference::{tap_range, unsupported};
use super::simd::{BLOCK, ChannelBlock, host_multiversion};
use super::{DepthwiseParams, check_len};
use crate::error::Result;

/// Depth multiplier 1, and an input offset for which `k * (x + offset)` fits
/// in 16 bits (any int8 zero point), so products use 16-bit SIMD multiplies.
pub fn supports(p: &DepthwiseParams<'_>) -> bool {
    p.depth_multiplier == 1 && (-127..=128).contains(&p.input_offset)
}

host_multiversion! {
    pub fn eval(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> => eval_impl
}

/// The baseline build of `eval` (what non-x86 targets run); listed in the
/// kernel tables on x86-64 so the shared tests cover it beside the AVX2 build.
pub fn eval_portable(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    eval_impl(p, input, output)
}

#[inline(always)]
fn eval_impl(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !supports(p) {
        return Err(unsupported(
            "depthwise kernel called with depth multiplier != 1",
        ));
    }
    let offset = p.input_offset as i16;
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, c) = (p.input.h, p.input.w, p.input.c);
    let ow = p.output.w;
    let w = p.window;
    let tail = (p.output_offset, p.act_min, p.act_max);
    let mut acc = [0i32; BLOCK];
    let mut start = 0;
    while start < c {
        let end = (start + BLOCK).min(c);
        let block = ChannelBlock::load(p.bias, p.multiplier, p.shift, start, end - start, |_| 0);
        let acc = &mut acc[..end - start];
        for (oy, out_row) in output.chunks_exact_mut(ow * c).enumerate() {
            let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
            let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
            for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
                let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
                let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
                acc.fill(0);
                for ky in ky0..ky1 {
                    let iy = (iy0 + ky as isize) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + kx as isize) as usize;
                        let px = (iy * iw + ix) * c;
                        let f = (ky * w.kernel_w + kx) * c;
                        let xs = &input[px + start..px + end];
                        let ks = &p.filter[f + start..f + end];
                        for ((a, &x), &k) in acc.iter_mut().zip(xs).zip(ks) {
                            // |k * (x + offset)| <= 128 * 255 fits in i16 (see `supports`).
                            *a = a.wrapping_add(i32::from(i16::from(k) * (i16::from(x) + offset)));
                        }
                    }
                }
                block.requantize(acc, &mut out_px[start..end], tail);
            }
        }
        start = end;
    }
    Ok(())
}
