//! The on-board self-check: random layers through the Cortex-M4 kernels and
//! the reference kernels, compared byte for byte. `no_std` and
//! allocation-free, so the firmware runs it at boot (feature `selftest`)
//! where the assembly runs; the host runs it on the Rust models.

use super::{
    DepthwiseParams, I32s, MAX_K, add_eval, add_supports, conv_eval, conv_eval_in,
    conv_eval_in_place, conv_scratch_words, conv_supports, depthwise_as_conv_eval,
    depthwise_as_conv_supports, depthwise_eval, depthwise_eval_in, depthwise_eval_in_place,
    depthwise_scratch_words, depthwise_supports, fully_connected_dot_eval,
    fully_connected_dot_supports, fully_connected_eval, fully_connected_eval_in,
    fully_connected_scratch_words, fully_connected_supports,
};
use crate::error::Result;
use crate::kernels::{ConvParams, Shape4, Window};
use core::ops::Range;

/// Bytes of scratch [`self_check`] needs.
pub const SELF_CHECK_SCRATCH: usize = 64 * 1024;

/// Scratch for the arena entries from the random `r`: the least they run
/// in, what they use on the stack, between, or all there is (larger
/// blocks), over words holding garbage (they zero what they read); returns
/// its length.
fn budget(r: u64, (full, least): (usize, usize), arena: &mut [u32]) -> usize {
    let n = match r % 8 {
        0 | 1 => least,
        2 | 3 => full,
        4 => arena.len(),
        _ => least + (r >> 8) as usize % (full.max(least) - least + 1),
    };
    let n = n.min(arena.len());
    for (i, w) in arena[..n].iter_mut().enumerate() {
        *w = (r as u32).rotate_left(i as u32) ^ 0x5A5A_A5A5;
    }
    n
}

/// Layers [`self_check`] ran through each kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfCheck {
    pub convolutions: usize,
    pub depthwise: usize,
    pub fully_connected: usize,
    pub add: usize,
    /// Convolution and depthwise layers also run whole in place.
    pub in_place: usize,
}

/// Case `case` run in place by `kernel` as the planner would place it (the
/// output as far over the input as `Window::in_place_delta` allows) in
/// `span`, over garbage: `Ok(true)` if `run` ran it and it equals `want`,
/// `Ok(false)` if it declined (or the span is too short) and wrote nothing.
fn in_place_case(
    (case, kernel, r): (usize, &'static str, u64),
    (window, input, output): (Window, Shape4, Shape4),
    (x, want): (&[i8], &[i8]),
    span: &mut [i8],
    run: impl FnOnce(&mut [i8], (Range<usize>, Range<usize>)) -> Result<bool>,
) -> core::result::Result<bool, Mismatch> {
    let Some(delta) = window.in_place_delta(input, output) else {
        return Ok(false);
    };
    // The output at 0, the input `-delta` on (at 0 too if it may be later).
    let at = delta.min(0).unsigned_abs();
    let len = (at + x.len()).max(want.len());
    let Some(span) = span.get_mut(..len) else {
        return Ok(false);
    };
    for (i, v) in span.iter_mut().enumerate() {
        *v = (r as u32).rotate_left(i as u32) as i8;
    }
    span[at..at + x.len()].copy_from_slice(x);
    let ran = run(span, (at..at + x.len(), 0..want.len()));
    // What should be there: the reference's output, or the untouched input.
    let (expect, from) = match ran {
        Ok(true) => (want, 0),
        Ok(false) => (x, at),
        Err(_) => (&[][..], 0),
    };
    let differs = expect
        .iter()
        .zip(&span[from..])
        .position(|(a, b)| a != b)
        .map(|i| (from + i, expect[i], span[from + i]));
    match (ran, differs) {
        (Ok(ran), None) => Ok(ran),
        (Ok(_), Some((at, expected, actual))) => Err(Mismatch {
            case,
            kernel,
            at,
            expected,
            actual,
        }),
        (Err(_), _) => Err(Mismatch {
            case,
            kernel,
            at: 0,
            expected: 0,
            actual: 0,
        }),
    }
}

/// The first layer on which a kernel and the reference disagreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    pub case: usize,
    pub kernel: &'static str,
    /// Index of the first differing output byte.
    pub at: usize,
    pub expected: i8,
    pub actual: i8,
}

/// Runs `cases` random layers (1x1 and 3x3 convolutions, 3x3 depthwise
/// (also with one input channel and a depth multiplier),
/// dense layers, strides 1 and 2, SAME and VALID padding, odd pixel and
/// channel counts, zero multipliers, every right shift from 2 to 31 and
/// some channels with right shifts 0 and 1 or left shifts (also at the
/// output zero point -128, where a shift of 0 is exact), biases near
/// +-2^30, extreme zero points, narrower activation ranges)
/// through this module's kernels and the reference kernels, and compares
/// every output byte. `no_std` and allocation-free, so the firmware runs it
/// on the board (feature `selftest`), where the assembly runs; the host
/// runs it on the Rust models. `scratch` must hold [`SELF_CHECK_SCRATCH`] bytes.
pub fn self_check(
    seed: u64,
    cases: usize,
    scratch: &mut [u8],
) -> core::result::Result<SelfCheck, Mismatch> {
    use crate::ops::{Padding, output_size, padding_before};
    const MAXC: usize = 80;
    const MAXF: usize = MAXC * 9 * 24;
    const MAXI: usize = 11 * 11 * 48;
    const MAXO: usize = 11 * 11 * MAXC;
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (filter, rest) = scratch.split_at_mut(MAXF);
    let (input, rest) = rest.split_at_mut(MAXI);
    let (want, rest) = rest.split_at_mut(MAXO);
    let (got, rest) = rest.split_at_mut(MAXO);
    let (mults, rest) = rest.split_at_mut(MAXC * 4);
    let (shifts, rest) = rest.split_at_mut(MAXC * 4);
    let (biases, rest) = rest.split_at_mut(MAXC * 4);
    let (scales, rest) = rest.split_at_mut(MAXC * 8);
    // SAFETY: any bytes are valid `u32`s; the words stay inside `rest`.
    let (_, arena, _) = unsafe { rest.align_to_mut::<u32>() };
    let (filter, input) = (
        crate::blob::as_i8_mut(filter),
        crate::blob::as_i8_mut(input),
    );
    let (want, got) = (crate::blob::as_i8_mut(want), crate::blob::as_i8_mut(got));
    let mut done = SelfCheck {
        convolutions: 0,
        depthwise: 0,
        fully_connected: 0,
        add: 0,
        in_place: 0,
    };
    let compare = |case, kernel, want: &[i8], got: &[i8]| match want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
    {
        Some(at) => Err(Mismatch {
            case,
            kernel,
            at,
            expected: want[at],
            actual: got[at],
        }),
        None => Ok(()),
    };
    for case in 0..cases {
        let mut range = |lo: i64, hi: i64| lo + (next() % (hi - lo + 1) as u64) as i64;
        let k = if case % 3 == 0 { 1 } else { 3 };
        let stride = if k == 1 { 1 } else { range(1, 2) as usize };
        let padding = if k == 1 || case % 4 == 1 {
            Padding::Valid
        } else {
            Padding::Same
        };
        let (h, w) = (range(k as i64, 11) as usize, range(k as i64, 11) as usize);
        let (Some(oh), Some(ow)) = (
            output_size(padding, h, k, stride),
            output_size(padding, w, k, stride),
        ) else {
            continue;
        };
        let (pt, pl) = match padding {
            Padding::Same => (
                padding_before(stride, h, k, oh),
                padding_before(stride, w, k, ow),
            ),
            Padding::Valid => (0, 0),
        };
        let window = Window {
            kernel_h: k,
            kernel_w: k,
            stride_h: stride,
            stride_w: stride,
            pad_top: pt,
            pad_left: pl,
        };
        let ic = if k == 1 && case % 5 != 2 {
            4 * range(1, 12) as usize
        } else {
            range(1, 24) as usize
        };
        let oc = if case % 4 == 3 {
            range(2, MAXC as i64) as usize
        } else {
            2 * range(1, 40) as usize
        };
        // One input channel with a depth multiplier (as a convolution).
        let as_conv_m = range(2, 64) as usize;
        // Depthwise layers: whole quads, or any count from 4 (a tail).
        let dw_c = if case % 4 == 2 {
            range(4, 48) as usize
        } else {
            4 * ic.div_ceil(4)
        };
        // Every third layer clamps to a narrower range (ReLU6 or ReLU as
        // quantized); every second has some channels with a right shift
        // below 2 or a left shift.
        let (act_min, act_max) = if case % 3 == 1 {
            let lo = range(-128, 20) as i32;
            (lo, range(i64::from(lo), 127) as i32)
        } else {
            (-128, 127)
        };
        let slow_share = if case % 2 == 0 { 6 } else { 0 };
        // Every fourth layer keeps right shifts to 20, where the GEMM's
        // doubled form holds for every channel (large right shifts with a
        // zero point far from 0 take the wide one); every fifth has dead
        // channels, biases near +-2^30 (wide).
        let max_shift = if case % 4 == 1 { 20 } else { 31 };
        let dead = case % 5 == 3;
        for i in 0..MAXC {
            let zero = range(0, 8) == 0;
            let m = if zero {
                0
            } else {
                (1 << 30) + (range(0, (1 << 30) - 1) as i32)
            };
            let sh = if zero {
                0
            } else if slow_share > 0 && range(0, slow_share) == 0 {
                range(-1, 3) as i32
            } else {
                -(range(2, max_shift) as i32)
            };
            mults[i * 4..i * 4 + 4].copy_from_slice(&m.to_le_bytes());
            shifts[i * 4..i * 4 + 4].copy_from_slice(&sh.to_le_bytes());
            let b = if dead && range(0, 4) == 0 {
                (1 << 30) * if range(0, 1) == 0 { -1 } else { 1 } - range(0, 200) as i32
            } else {
                range(-60_000, 60_000) as i32
            };
            biases[i * 4..i * 4 + 4].copy_from_slice(&b.to_le_bytes());
        }
        let input_offset = range(-127, 128) as i32;
        // Every seventh at -128 (TFLite's zero point after a ReLU), where
        // channels without a right shift have the doubled form too.
        let output_offset = if case % 7 == 2 {
            -128
        } else {
            range(-128, 127) as i32
        };
        let (ni, nf, no) = (h * w * ic, oc * k * k * ic, oh * ow * oc);
        for v in input[..ni].iter_mut().chain(filter[..nf].iter_mut()) {
            *v = next() as i8;
        }
        fn words(b: &[u8], n: usize) -> I32s<'_> {
            I32s::new(&b[..n * 4]).unwrap_or_default()
        }
        let p = ConvParams {
            input: Shape4::new(1, h, w, ic),
            output: Shape4::new(1, oh, ow, oc),
            window,
            input_offset,
            output_offset,
            act_min,
            act_max,
            filter: &filter[..nf],
            bias: (case % 5 != 0).then(|| words(biases, oc)),
            multiplier: words(mults, oc),
            shift: words(shifts, oc).into(),
        };
        if conv_supports(&p)
            && crate::kernels::reference::conv(&p, &input[..ni], &mut want[..no]).is_ok()
        {
            if conv_eval(&p, &input[..ni], &mut got[..no]).is_err() {
                return Err(Mismatch {
                    case,
                    kernel: "conv (error)",
                    at: 0,
                    expected: 0,
                    actual: 0,
                });
            }
            compare(case, "conv", &want[..no], &got[..no])?;
            let n = budget(next(), conv_scratch_words(&p), arena);
            got[..no].fill(0);
            if conv_eval_in(&p, &input[..ni], &mut got[..no], &mut arena[..n]).is_err() {
                return Err(Mismatch {
                    case,
                    kernel: "conv in arena (error)",
                    at: n,
                    expected: 0,
                    actual: 0,
                });
            }
            compare(case, "conv in arena", &want[..no], &got[..no])?;
            done.convolutions += 1;
            let n = budget(next(), conv_scratch_words(&p), arena);
            let shapes = (window, p.input, p.output);
            let this = (case, "conv in place", next());
            let ran = in_place_case(this, shapes, (&input[..ni], &want[..no]), got, |s, r| {
                conv_eval_in_place(&p, s, r, &mut arena[..n])
            })?;
            done.in_place += usize::from(ran);
        }
        if k == 1 {
            // The same weights as a dense layer over `w` rows of `h * ic` values.
            let depth = (h * ic).min(MAX_K);
            let units = oc.min(MAXF / depth);
            let f = crate::kernels::FullyConnectedParams {
                batches: w,
                depth,
                units,
                input_offset,
                filter_offset: 0,
                output_offset,
                act_min,
                act_max,
                filter: &filter[..units * depth],
                bias: (case % 5 != 0).then(|| words(biases, units)),
                multiplier: words(mults, units),
                shift: words(shifts, units).into(),
                double_scale: None,
            };
            let (ni, no) = (w * depth, w * units);
            if ni <= MAXI
                && fully_connected_supports(&f)
                && crate::kernels::reference::fully_connected(&f, &input[..ni], &mut want[..no])
                    .is_ok()
            {
                if fully_connected_eval(&f, &input[..ni], &mut got[..no]).is_err() {
                    return Err(Mismatch {
                        case,
                        kernel: "fully connected (error)",
                        at: 0,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "fully connected", &want[..no], &got[..no])?;
                let n = budget(next(), fully_connected_scratch_words(&f), arena);
                got[..no].fill(0);
                if fully_connected_eval_in(&f, &input[..ni], &mut got[..no], &mut arena[..n])
                    .is_err()
                {
                    return Err(Mismatch {
                        case,
                        kernel: "fully connected in arena (error)",
                        at: n,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "fully connected in arena", &want[..no], &got[..no])?;
                done.fully_connected += 1;
            }
            // Rescaled in double, as blobs since 2026-12-07 say: each unit's
            // factor the real number its multiplier and shift stand for.
            for u in 0..units {
                let exponent = f.shift.get(u) - 31 + 1023;
                let scale =
                    f64::from(f.multiplier.get(u)) * f64::from_bits((exponent as u64) << 52);
                scales[8 * u..8 * u + 8].copy_from_slice(&scale.to_bits().to_le_bytes());
            }
            let fd = crate::kernels::FullyConnectedParams {
                double_scale: Some(I32s::new(&scales[..8 * units]).unwrap_or_default()),
                ..f
            };
            if ni <= MAXI
                && fully_connected_dot_supports(&fd)
                && crate::kernels::reference::fully_connected(&fd, &input[..ni], &mut want[..no])
                    .is_ok()
            {
                if fully_connected_dot_eval(&fd, &input[..ni], &mut got[..no]).is_err() {
                    return Err(Mismatch {
                        case,
                        kernel: "fully connected, double (error)",
                        at: 0,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "fully connected, double", &want[..no], &got[..no])?;
                done.fully_connected += 1;
            }
        }
        if k == 3 {
            let c = dw_c;
            let (ni, nf, no) = (h * w * c, 9 * c, oh * ow * c);
            for v in input[..ni].iter_mut().chain(filter[..nf].iter_mut()) {
                *v = next() as i8;
            }
            let d = DepthwiseParams {
                input: Shape4::new(1, h, w, c),
                output: Shape4::new(1, oh, ow, c),
                window,
                depth_multiplier: 1,
                input_offset,
                output_offset,
                act_min,
                act_max,
                filter: &filter[..nf],
                bias: (case % 7 != 0).then(|| words(biases, c)),
                multiplier: words(mults, c),
                shift: words(shifts, c).into(),
            };
            if depthwise_supports(&d)
                && crate::kernels::reference::depthwise(&d, &input[..ni], &mut want[..no]).is_ok()
            {
                if depthwise_eval(&d, &input[..ni], &mut got[..no]).is_err() {
                    return Err(Mismatch {
                        case,
                        kernel: "depthwise (error)",
                        at: 0,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "depthwise", &want[..no], &got[..no])?;
                let n = budget(next(), depthwise_scratch_words(&d), arena);
                got[..no].fill(0);
                if depthwise_eval_in(&d, &input[..ni], &mut got[..no], &mut arena[..n]).is_err() {
                    return Err(Mismatch {
                        case,
                        kernel: "depthwise in arena (error)",
                        at: n,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "depthwise in arena", &want[..no], &got[..no])?;
                done.depthwise += 1;
                let n = budget(next(), depthwise_scratch_words(&d), arena);
                let shapes = (window, d.input, d.output);
                let this = (case, "depthwise in place", next());
                let ran = in_place_case(this, shapes, (&input[..ni], &want[..no]), got, |s, r| {
                    depthwise_eval_in_place(&d, s, r, &mut arena[..n])
                })?;
                done.in_place += usize::from(ran);
            }
            let m = as_conv_m;
            let (ni, nf, no) = (h * w, 9 * m, oh * ow * m);
            for v in input[..ni].iter_mut().chain(filter[..nf].iter_mut()) {
                *v = next() as i8;
            }
            let d = DepthwiseParams {
                input: Shape4::new(1, h, w, 1),
                output: Shape4::new(1, oh, ow, m),
                window,
                depth_multiplier: m,
                input_offset,
                output_offset,
                act_min,
                act_max,
                filter: &filter[..nf],
                bias: (case % 7 != 1).then(|| words(biases, m)),
                multiplier: words(mults, m),
                shift: words(shifts, m).into(),
            };
            if depthwise_as_conv_supports(&d)
                && crate::kernels::reference::depthwise(&d, &input[..ni], &mut want[..no]).is_ok()
            {
                if depthwise_as_conv_eval(&d, &input[..ni], &mut got[..no]).is_err() {
                    return Err(Mismatch {
                        case,
                        kernel: "depthwise as convolution (error)",
                        at: 0,
                        expected: 0,
                        actual: 0,
                    });
                }
                compare(case, "depthwise as convolution", &want[..no], &got[..no])?;
                done.depthwise += 1;
            }
        }
    }
    // ADD over random quantizations (as TFLite's converter makes them) and
    // random inputs, through the assembly where it takes them.
    for case in 0..cases / 4 {
        let mut range = |lo: i64, hi: i64| lo + (next() % (hi - lo + 1) as u64) as i64;
        let scale = |n: i64| 0.0005 * (1.0 + n as f32);
        let (s1, s2, so) = (
            scale(range(0, 3999)),
            scale(range(0, 3999)),
            scale(range(0, 3999)),
        );
        let n = range(1, MAXI as i64) as usize;
        let zero_points = [
            range(-128, 127) as i32,
            range(-128, 127) as i32,
            range(-128, 127) as i32,
        ];
        let act_min = if case % 3 == 0 {
            range(-128, 0) as i32
        } else {
            -128
        };
        let p = crate::kernels::AddParams::quantized(n, [s1, s2, so], zero_points, (act_min, 127));
        if !add_supports(&p) {
            continue;
        }
        for v in input[..n].iter_mut().chain(filter[..n].iter_mut()) {
            *v = next() as i8;
        }
        if crate::kernels::reference::add(&p, &input[..n], &filter[..n], &mut want[..n]).is_err()
            || add_eval(&p, &input[..n], &filter[..n], &mut got[..n]).is_err()
        {
            return Err(Mismatch {
                case,
                kernel: "add (error)",
                at: 0,
                expected: 0,
                actual: 0,
            });
        }
        compare(case, "add", &want[..n], &got[..n])?;
        done.add += 1;
    }
    Ok(done)
}
