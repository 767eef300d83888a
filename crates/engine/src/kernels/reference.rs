//! Portable reference kernels: straight transcriptions of TFLite's
//! `reference_integer_ops` (conv, depthwise_conv, fully_connected, pooling,
//! add) and `reference_ops::Softmax`, in the same loop order and arithmetic.
//! They define correctness; every optimised kernel is tested against them.

use super::{
    AddParams, ConvParams, DepthwiseParams, FullyConnectedParams, MeanParams, PoolParams,
    RequantizeParams, SoftmaxParams, check_len,
};
use crate::error::{Error, Result};
use crate::quant::{
    SOFTMAX_ACCUMULATION_INTEGER_BITS, exp_on_negative_values_q5_26, get_reciprocal,
    multiply_by_quantized_multiplier, rescale_in_double, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};

/// Bias, requantization, output offset and activation clamp: the tail shared by
/// every accumulate-then-requantize kernel.
#[inline(always)]
pub(crate) fn requantize(acc: i32, bias: i32, mult: i32, shift: i32, p: (i32, i32, i32)) -> i8 {
    let (output_offset, act_min, act_max) = p;
    let acc = multiply_by_quantized_multiplier(acc.wrapping_add(bias), mult, shift)
        .wrapping_add(output_offset);
    acc.clamp(act_min, act_max) as i8
}

/// First and one-past-last kernel tap that lands inside the input, for an
/// output position whose window starts at `origin` (may be negative).
#[inline(always)]
pub(crate) fn tap_range(origin: isize, kernel: usize, input: usize) -> (usize, usize) {
    let start = (-origin).max(0) as usize;
    let end = (input as isize - origin).clamp(0, kernel as isize) as usize;
    (start.min(end), end)
}

pub fn conv(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc) = (p.output.w, p.output.c);
    let w = p.window;
    let tail = (p.output_offset, p.act_min, p.act_max);
    for (oy, out_row) in output.chunks_exact_mut(ow * oc).enumerate() {
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc).enumerate() {
            let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
            let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
            for (o, out) in out_px.iter_mut().enumerate() {
                let mut acc: i32 = 0;
                for ky in ky0..ky1 {
                    let iy = (iy0 + ky as isize) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + kx as isize) as usize;
                        let px = (iy * iw + ix) * ic;
                        let f = ((o * w.kernel_h + ky) * w.kernel_w + kx) * ic;
                        for (&x, &k) in input[px..px + ic].iter().zip(&p.filter[f..f + ic]) {
                            acc = acc.wrapping_add(
                                i32::from(k).wrapping_mul(i32::from(x) + p.input_offset),
                            );
                        }
                    }
                }
                let bias = p.bias.map_or(0, |b| b.get(o));
                *out = requantize(acc, bias, p.multiplier.get(o), p.shift.get(o), tail);
            }
        }
    }
    Ok(())
}

pub fn depthwise(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc) = (p.output.w, p.output.c);
    let dm = p.depth_multiplier;
    let w = p.window;
    let tail = (p.output_offset, p.act_min, p.act_max);
    for (oy, out_row) in output.chunks_exact_mut(ow * oc).enumerate() {
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc).enumerate() {
            let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
            let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
            for (o, out) in out_px.iter_mut().enumerate() {
                let c = o / dm;
                let mut acc: i32 = 0;
                for ky in ky0..ky1 {
                    let iy = (iy0 + ky as isize) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + kx as isize) as usize;
                        let x = i32::from(input[(iy * iw + ix) * ic + c]);
                        let k = i32::from(p.filter[(ky * w.kernel_w + kx) * oc + o]);
                        acc = acc.wrapping_add(k.wrapping_mul(x + p.input_offset));
                    }
                }
                let bias = p.bias.map_or(0, |b| b.get(o));
                *out = requantize(acc, bias, p.multiplier.get(o), p.shift.get(o), tail);
            }
        }
    }
    Ok(())
}

/// Output channel `o` of [`conv`] alone, written into `output` (the whole
/// output tensor; other channels untouched). The Cortex-M4 kernels use it for
/// the few channels their fast requantization does not cover.
pub(crate) fn conv_channel(p: &ConvParams<'_>, input: &[i8], output: &mut [i8], o: usize) {
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc) = (p.output.w, p.output.c);
    let w = p.window;
    let tail = (p.output_offset, p.act_min, p.act_max);
    let bias = p.bias.map_or(0, |b| b.get(o));
    let (mult, shift) = (p.multiplier.get(o), p.shift.get(o));
    for (oy, out_row) in output.chunks_exact_mut(ow * oc).enumerate() {
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc).enumerate() {
            let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
            let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
            let mut acc: i32 = 0;
            for ky in ky0..ky1 {
                let iy = (iy0 + ky as isize) as usize;
                let px = (iy * iw + (ix0 + kx0 as isize) as usize) * ic;
                let f = ((o * w.kernel_h + ky) * w.kernel_w + kx0) * ic;
                let n = (kx1 - kx0) * ic;
                for (&x, &k) in input[px..px + n].iter().zip(&p.filter[f..f + n]) {
                    acc =
                        acc.wrapping_add(i32::from(k).wrapping_mul(i32::from(x) + p.input_offset));
                }
            }
            out_px[o] = requantize(acc, bias, mult, shift, tail);
        }
    }
}

pub fn fully_connected(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    p.validate()?;
    check_len(p.batches.checked_mul(p.depth), input.len())?;
    check_len(p.batches.checked_mul(p.units), output.len())?;
    for (x, out_row) in input
        .chunks_exact(p.depth)
        .zip(output.chunks_exact_mut(p.units))
    {
        for (u, (row, out)) in p
            .filter
            .chunks_exact(p.depth)
            .zip(out_row.iter_mut())
            .enumerate()
        {
            let acc = row.iter().zip(x).fold(0i32, |acc, (&k, &v)| {
                acc.wrapping_add(
                    (i32::from(k) + p.filter_offset).wrapping_mul(i32::from(v) + p.input_offset),
                )
            });
            *out = fully_connected_output(p, u, acc);
        }
    }
    Ok(())
}

/// Unit `u`'s output from its accumulator: bias, rescaling (in `double`
/// when the blob says so, as TFLite's reference kernel does it; see
/// [`FullyConnectedParams::double_scale`]), output offset, clamp.
#[inline]
pub(crate) fn fully_connected_output(p: &FullyConnectedParams<'_>, u: usize, acc: i32) -> i8 {
    let bias = p.bias.map_or(0, |b| b.get(u));
    match p.unit_scale(u) {
        Some(scale) => rescale_in_double(acc.wrapping_add(bias), scale)
            .wrapping_add(p.output_offset)
            .clamp(p.act_min, p.act_max) as i8,
        None => requantize(
            acc,
            bias,
            p.multiplier.get(u),
            p.shift.get(u),
            (p.output_offset, p.act_min, p.act_max),
        ),
    }
}

/// Each output of a pooling window: `step` folds its taps into `init`,
/// `finish` turns the total and the count of taps into the output.
fn pool(
    p: &PoolParams,
    input: &[i8],
    output: &mut [i8],
    init: i32,
    step: impl Fn(i32, i8) -> i32,
    finish: impl Fn(i32, i32) -> i32,
) -> Result<()> {
    p.validate()?;
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, c) = (p.input.h, p.input.w, p.input.c);
    let ow = p.output.w;
    let w = p.window;
    // Channels a chunk at a time, each tap's values added from contiguous
    // input (channel by channel, the taps `c` apart took 130 instructions
    // an output on the Cortex-M4).
    const CHUNK: usize = 32;
    let mut sums = [0i32; CHUNK];
    for (oy, out_row) in output.chunks_exact_mut(ow * c).enumerate() {
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let (ky0, ky1) = tap_range(iy0, w.kernel_h, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
            let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
            let (kx0, kx1) = tap_range(ix0, w.kernel_w, iw);
            let count = ((ky1 - ky0) * (kx1 - kx0)) as i32;
            for (ch0, out) in (0..).step_by(CHUNK).zip(out_px.chunks_mut(CHUNK)) {
                let sums = &mut sums[..out.len()];
                sums.fill(init);
                for ky in ky0..ky1 {
                    let row = (iy0 + ky as isize) as usize * iw;
                    for kx in kx0..kx1 {
                        let at = (row + (ix0 + kx as isize) as usize) * c + ch0;
                        for (acc, &v) in sums.iter_mut().zip(&input[at..at + out.len()]) {
                            *acc = step(*acc, v);
                        }
                    }
                }
                for (o, &acc) in out.iter_mut().zip(sums.iter()) {
                    *o = finish(acc, count).clamp(p.act_min, p.act_max) as i8;
                }
            }
        }
    }
    Ok(())
}

/// `reference_integer_ops::AveragePool`: the int32 sum of the window's taps
/// (at most 2^23 of them, `PoolParams::validate`), divided by their count
/// rounding halves away from zero.
pub fn average_pool(p: &PoolParams, input: &[i8], output: &mut [i8]) -> Result<()> {
    pool(
        p,
        input,
        output,
        0,
        |acc, v| acc + i32::from(v),
        |acc, count| {
            let count = count.max(1);
            if acc > 0 {
                (acc + count / 2) / count
            } else {
                (acc - count / 2) / count
            }
        },
    )
}

/// `reference_integer_ops::MaxPool`.
pub fn max_pool(p: &PoolParams, input: &[i8], output: &mut [i8]) -> Result<()> {
    pool(
        p,
        input,
        output,
        i32::from(i8::MIN),
        |acc, v| acc.max(i32::from(v)),
        |acc, _| acc,
    )
}

/// `reference_ops::Softmax` for int8 input and int8 output (scale 1/256, zero point -128).
pub fn softmax(p: &SoftmaxParams, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(p.outer.checked_mul(p.depth), input.len())?;
    check_len(p.outer.checked_mul(p.depth), output.len())?;
    let scaled_diff = |diff: i32| -> i32 {
        saturating_rounding_doubling_high_mul(
            diff.wrapping_mul(1i32.wrapping_shl(p.input_left_shift as u32)),
            p.input_multiplier,
        )
    };
    for (row, out_row) in input
        .chunks_exact(p.depth)
        .zip(output.chunks_exact_mut(p.depth))
    {
        let max = i32::from(row.iter().copied().max().unwrap_or(i8::MIN));
        let mut sum_of_exps: i32 = 0; // Q12.19
        for &v in row {
            let diff = i32::from(v) - max;
            if diff >= p.diff_min {
                let e = exp_on_negative_values_q5_26(scaled_diff(diff));
                sum_of_exps = sum_of_exps
                    .wrapping_add(rounding_divide_by_pot(e, SOFTMAX_ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, SOFTMAX_ACCUMULATION_INTEGER_BITS);
        for (&v, out) in row.iter().zip(out_row.iter_mut()) {
            let diff = i32::from(v) - max;
            *out = if diff >= p.diff_min {
                let e = exp_on_negative_values_q5_26(scaled_diff(diff));
                let unsat = rounding_divide_by_pot(
                    saturating_rounding_doubling_high_mul(shifted_scale, e),
                    num_bits_over_unit + 31 - 8,
                );
                unsat.wrapping_add(-128).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
    Ok(())
}

/// `reference_integer_ops::AddElementwise` (same-shape inputs, no broadcasting).
pub fn add(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(Some(p.len), a.len())?;
    check_len(Some(p.len), b.len())?;
    check_len(Some(p.len), output.len())?;
    let scale = |v: i32, m: i32, s: i32| -> i32 {
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(v, m), -s)
    };
    for ((&x, &y), out) in a.iter().zip(b).zip(output.iter_mut()) {
        let x = (p.input1_offset + i32::from(x)) << p.left_shift;
        let y = (p.input2_offset + i32::from(y)) << p.left_shift;
        let sum = scale(x, p.input1_multiplier, p.input1_shift).wrapping_add(scale(
            y,
            p.input2_multiplier,
            p.input2_shift,
        ));
        let raw = scale(sum, p.output_multiplier, p.output_shift).wrapping_add(p.output_offset);
        *out = raw.clamp(p.act_min, p.act_max) as i8;
    }
    Ok(())
}

/// `reference_ops::QuantizedMeanOrSum` (LiteRT's int8 MEAN, in integers
/// only): each batch's and channel's sum over the positions, less the zero
/// point, times the multiplier that holds the division by the count.
pub fn mean(p: &MeanParams, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(p.input_len(), input.len())?;
    check_len(p.batches.checked_mul(p.channels), output.len())?;
    let correction = p.positions as i32 * p.input_zero_point;
    for b in 0..p.batches {
        let rows = &input[b * p.positions * p.channels..(b + 1) * p.positions * p.channels];
        for (c, out) in output[b * p.channels..(b + 1) * p.channels]
            .iter_mut()
            .enumerate()
        {
            let sum: i32 = rows
                .iter()
                .skip(c)
                .step_by(p.channels)
                .map(|&x| i32::from(x))
                .sum();
            let v = multiply_by_quantized_multiplier(sum - correction, p.multiplier, p.shift)
                .wrapping_add(p.output_zero_point);
            *out = v.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// `reference_ops::Requantize` (QUANTIZE from int8 to int8).
pub fn requantize_tensor(p: &RequantizeParams, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    check_len(Some(p.len), input.len())?;
    check_len(Some(p.len), output.len())?;
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let v = multiply_by_quantized_multiplier(
            i32::from(x) - p.input_zero_point,
            p.multiplier,
            p.shift,
        )
        .wrapping_add(p.output_zero_point);
        *out = v.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// Rejects a kernel call whose parameters it does not handle (only reachable
/// when an optimised kernel is called directly, bypassing dispatch).
pub(crate) fn unsupported(what: &'static str) -> Error {
    Error::Unsupported(what)
}
