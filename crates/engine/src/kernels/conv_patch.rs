//! General CONV_2D (any window, stride and padding) through a per-pixel patch.
//!
//! The receptive field of one output pixel is gathered into a contiguous
//! buffer in the filter's `[kh, kw, in_c]` order, with taps that fall in the
//! padding filled with the input zero point, which contributes exactly 0
//! (`f * (zp - zp)`). Each output channel is then one dot product with its
//! contiguous filter row, and the input offset is folded into the bias as in
//! the pointwise kernel. Identical results to the reference, far fewer
//! bounds checks and index computations.

use super::reference::{tap_range, unsupported};
use super::simd::{BLOCK, ChannelBlock, dot, host_multiversion};
use super::{ConvParams, check_len};
use crate::error::Result;

/// Largest patch (kh * kw * in_c) kept on the stack: 3x3x128.
pub const MAX_PATCH: usize = 1152;

/// Patches up to `MAX_PATCH` bytes, and an input zero point that fits in int8
/// (so it can fill the padding).
pub fn supports(p: &ConvParams<'_>) -> bool {
    let w = &p.window;
    w.kernel_h
        .saturating_mul(w.kernel_w)
        .saturating_mul(p.input.c)
        <= MAX_PATCH
        && (-127..=128).contains(&p.input_offset)
}

host_multiversion! {
    pub fn eval(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> => eval_impl
}

/// The baseline build of `eval`, listed in the kernel tables on x86-64 hosts
/// so that the shared tests cover it beside the AVX2 build.
pub fn eval_portable(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    eval_impl(p, input, output)
}

#[inline(always)]
fn eval_impl(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !supports(p) {
        return Err(unsupported(
            "patch convolution: patch too large or zero point outside int8",
        ));
    }
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc) = (p.output.w, p.output.c);
    let w = p.window;
    let n = w.kernel_h * w.kernel_w * ic;
    let zero_point = (-p.input_offset) as i8;
    let tail = (p.output_offset, p.act_min, p.act_max);
    let mut patch_buf = [0i8; MAX_PATCH];
    let patch = &mut patch_buf[..n];
    let mut acc = [0i32; BLOCK];
    let mut start = 0;
    while start < oc {
        let end = (start + BLOCK).min(oc);
        let filters = &p.filter[start * n..end * n];
        let block = ChannelBlock::load(p.bias, p.multiplier, p.shift, start, end - start, |j| {
            let row = &filters[j * n..(j + 1) * n];
            let sum = row.iter().fold(0i32, |a, &f| a.wrapping_add(i32::from(f)));
            sum.wrapping_mul(p.input_offset)
        });
        for (oy, out_row) in output.chunks_exact_mut(ow * oc).enumerate() {
            let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
            let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
            for (ox, out_px) in out_row.chunks_exact_mut(oc).enumerate() {
                let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
                let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
                let full = ky0 == 0 && kx0 == 0 && ky1 == w.kernel_h && kx1 == w.kernel_w;
                if !full {
                    patch.fill(zero_point);
                }
                for ky in ky0..ky1 {
                    let iy = (iy0 + ky as isize) as usize;
                    let src = (iy * iw + (ix0 + kx0 as isize) as usize) * ic;
                    let dst = (ky * w.kernel_w + kx0) * ic;
                    let len = (kx1 - kx0) * ic;
                    patch[dst..dst + len].copy_from_slice(&input[src..src + len]);
                }
                for (a, row) in acc.iter_mut().zip(filters.chunks_exact(n)) {
                    *a = dot(row, patch);
                }
                block.requantize(&acc[..end - start], &mut out_px[start..end], tail);
            }
        }
        start = end;
    }
    Ok(())
}
