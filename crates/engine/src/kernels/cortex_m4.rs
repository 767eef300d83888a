//! Cortex-M4 kernels (Armv7E-M DSP extension: SMLAD, SXTB16, PKH, SSAT).
//!
//! Two micro-kernels in assembly do the work, everything else is plain Rust
//! that prepares their operands (`cortex_m4/operands.rs`) and runs them per
//! layer (this file):
//!
//! - **GEMM 2x3** ([`asm::gemm_2x3_doubled`], [`asm::gemm_2x3_wide`]): three
//!   pixels x two output channels per step, both operands pre-widened to
//!   pairs of 16-bit values so that one `LDM` brings the channels' four
//!   words and three `LDRD`s the pixels' two each, for twelve `SMLAD`s (24
//!   MACs). It runs every CONV_2D: 1x1 pointwise layers read the pixels
//!   directly, other windows (the first 3x3 stride-2 convolution) gather a
//!   per-pixel patch; the last one or two pixels of a layer go one at a
//!   time (the same pixel three times). The two differ in their
//!   requantization (below).
//! - **Depthwise 3x3** ([`asm::depthwise_3x3_s1`], `_s2`): one channel at
//!   a time with its nine taps in six registers, two output pixels per step
//!   from a band of three input rows widened so that a word holds two
//!   neighbouring columns of one channel: `SMLAD` takes two taps of one
//!   pixel and `SMLABB`/`SMLATB`/`SMLADX` the rest, 12 multiplies for 18
//!   MACs without repacking. The band's padding holds the zero point, so
//!   border pixels need no special case, and each input row is widened once.
//!
//! Requantization is exact against TFLite in both forms. The 5-instruction
//! form ([`requantize_doubled`], 4 in the GEMM, which packs each pixel's
//! two channels into one halfword store) works on twice the sum (doubled
//! filters and bias): `SMMLAR` rounds the doubled product where TFLite
//! rounds the product, the output zero point rides in its addend; right
//! shifts from 1, accumulators below 2^29. The depthwise kernel always uses
//! it, the GEMM (`gemm_2x3_doubled`) for blocks of channels that all have
//! it, where the early layers' many pixels pay for doubling the filters;
//! a dead ReLU channel (a bias of -2^30 that no input moves off one output)
//! runs there with a zero multiplier. The 7-instruction form ([`requantize`],
//! `gemm_2x3_wide`) puts the rounding nudge, the sign correction of the
//! second rounding and its `+1` into the 64-bit accumulator of one `SMLAL`
//! and the output zero point into the final `SSAT`: any bias, right shifts
//! from 2.
//!
//! Around them, in Rust: a narrower activation range (ReLU6, ReLU) is one
//! SIMD clamp pass over the outputs ([`asm::clamp_bytes`]); the odd last
//! output channel, the `c % 4` last depthwise channels and channels whose
//! multiplier the fast forms do not cover (right shift below 2 in the wide GEMM,
//! 0 in the depthwise kernel, left shifts) are recomputed one by one with
//! the reference arithmetic (`reference::conv_channel`), which the studio's
//! ImageNet backbones need for a few channels. Dense layers run through
//! `asm::dot_2` (blobs since 2026-12-07, rescaled in double as TFLite's
//! reference does) or, in older blobs, as 1x1 convolutions; depthwise
//! layers with a depth multiplier as convolutions (one input channel), and
//! other depthwise layers (depth multipliers over several channels, windows
//! other than 3x3 up to 25 taps) with `SMLAD` over widened windows. Layers
//! the kernels still do not cover (larger windows, patches over
//! [`MAX_K_WIDE`], more than half the channels needing the per-channel
//! path) fall through to the portable kernels in the dispatch table.
//!
//! The assembly is built for Armv7E-M targets (`cfg(arm_dsp)`, see the
//! engine's build.rs). On other targets the micro-kernels are replaced by Rust models with
//! the same semantics (`model`), so the shared kernel suite exercises the
//! operand preparation, blocking and requantization on the host; QEMU's
//! Cortex-M4 checks the assembly (crates/deploy tests).

use super::reference::unsupported;
use super::{
    AddParams, ConvParams, DepthwiseParams, FullyConnectedParams, I32s, Shape4, Window, check_len,
};
use crate::error::Result;
use core::ops::Range;

/// Bytes of stack for a block of widened weights (the arena's free space
/// may hold larger blocks): larger blocks widen each pixel fewer times
/// (once per block).
const WEIGHT_BUDGET: usize = 16 * 1024;
/// Largest reduction (input channels, or patch length) of the GEMM path's
/// usual stack frame (4.5 KB of pixel operands).
pub const MAX_K: usize = 512;
/// Largest reduction of the GEMM path: 3x3 convolutions over 128 channels
/// (ResNet-8's are over 64, 576 values). Layers above [`MAX_K`] run in a
/// second instantiation with 10.1 KB of pixel operands, so models without
/// them keep the smaller stack.
pub const MAX_K_WIDE: usize = 1152;
/// Stack for the depthwise path's widened input band, bytes (three rows of
/// four channels must fit).
const MAX_BAND: usize = 8192;
/// Channels per depthwise block (a multiple of 4).
const MAX_DW_CHANNELS: usize = 16;
/// Words of one channel's depthwise record (see `asm::DepthwiseArgs`):
/// four constants, then the six tap words and the first four again, so
/// that each of the three slot rotations is six consecutive words
/// ([`rotation_start`]).
const DW_RECORD: usize = 4 + 10;

/// Where rotation `q`'s six tap words start in a record: slot `s` holds
/// window row `(s + 3 - q) % 3`, two words per row.
fn rotation_start(q: usize) -> usize {
    4 + 2 * ((3 - q % 3) % 3)
}

/// Clamps every output byte to a narrower activation range (ReLU6 or ReLU
/// as quantized): the micro-kernels saturate to int8, and clamping that
/// again to `[act_min, act_max]` gives TFLite's single clamp.
fn clamp_activation(output: &mut [i8], act_min: i32, act_max: i32) {
    if act_min == -128 && act_max == 127 {
        return;
    }
    #[cfg(arm_dsp)]
    // SAFETY: reads and writes `output.len()` bytes of `output`.
    unsafe {
        asm::clamp_bytes(output.as_mut_ptr(), output.len(), act_min, act_max);
    }
    #[cfg(not(arm_dsp))]
    model::clamp_bytes(output, act_min, act_max);
}

/// Reduction length of a convolution's patch, rounded up to whole groups of 4.
fn k4_groups(p: &ConvParams<'_>) -> usize {
    (p.window.kernel_h * p.window.kernel_w * p.input.c).div_ceil(4)
}

fn is_pointwise(p: &ConvParams<'_>) -> bool {
    super::pointwise::supports(p)
}

/// CONV_2D through the GEMM micro-kernels: at least 2 output channels and
/// a patch of at most [`MAX_K_WIDE`] values. The channel pairs run in the
/// micro-kernels; an odd last channel and channels whose multiplier the
/// fast requantization does not cover are recomputed channel by channel, so
/// at most half the channels may need that. Pointwise layers with a
/// multiple of 4 input channels read their pixels in place, the others
/// gather them.
pub fn conv_supports(p: &ConvParams<'_>) -> bool {
    conv_shape_fits(p) && 2 * conv_slow_channels(p) <= p.output.c
}

/// The two GEMM micro-kernels, which differ in their requantization (see
/// [`conv_run`] for which runs a block of channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gemm {
    /// [`asm::gemm_2x3_doubled`]: every channel of the block has
    /// [`doubled_requant`] (4 instructions per output, on filters widened
    /// doubled).
    Doubled,
    /// [`asm::gemm_2x3_wide`]: any bias, as dead ReLU channels have (6
    /// instructions per output); channels without the [`Requant`] form
    /// are recomputed one by one.
    Wide,
}

/// Channel `o`'s requantization in [`Gemm::Doubled`], if it runs there
/// exactly: the doubled form exists and the accumulator stays within the
/// bound of [`requantize_doubled`] whatever the filter and the input (each
/// product of a filter value and an input plus its offset is at most
/// `128 * 255` in size, so they move the bias at most `2 * k * 128 * 128`),
/// or [`constant_channel`] takes it.
#[inline(always)]
fn doubled_requant(p: &ConvParams<'_>, o: usize) -> Option<DoubledRequant> {
    let k = (p.window.kernel_h * p.window.kernel_w * p.input.c) as i64;
    let bias = i64::from(p.bias.map_or(0, |b| b.get(o)));
    // How far the products move the accumulator.
    let reach = 2 * k * 128 * 128;
    if bias.abs() < DOUBLED_ACC_LIMIT - reach
        && let Some(r) = DoubledRequant::new(p.multiplier.get(o), p.shift.get(o), p.output_offset)
    {
        return Some(r);
    }
    constant_channel(p, o, bias, reach)
}

/// A channel whose every reachable accumulator (`bias` plus at most
/// `reach` either way) gives the same output: dead ReLU channels, which
/// converters give a bias of `-2^30`. A zero multiplier yields that output
/// whatever the (then wrapping) accumulator. Requantization is monotone in
/// the accumulator for a non-negative multiplier and no left shift, so the
/// range's two ends decide.
#[cold]
#[inline(never)]
fn constant_channel(p: &ConvParams<'_>, o: usize, bias: i64, reach: i64) -> Option<DoubledRequant> {
    let (mult, shift) = (p.multiplier.get(o), p.shift.get(o));
    if mult < 0 || shift > 0 || bias.abs() + reach > i64::from(i32::MAX) - 256 {
        return None;
    }
    let tail = (p.output_offset, -128, 127);
    let at = |acc: i64| super::reference::requantize(acc as i32, 0, mult, shift, tail);
    let v = at(bias - reach);
    (v == at(bias + reach))
        .then(|| DoubledRequant::new(0, 0, i32::from(v)))
        .flatten()
}

/// Output channels [`conv_run`] recomputes one by one, at most: the odd
/// last one and those without the [`Requant`] form (none of them when
/// their block runs in [`Gemm::Doubled`]).
fn conv_slow_channels(p: &ConvParams<'_>) -> usize {
    let oc = p.output.c;
    slow_channels(p.multiplier, p.shift, oc - oc % 2) + oc % 2
}

/// What [`conv_eval`] runs at all (how many channels the per-channel path
/// recomputes is [`conv_supports`]' concern, decided once at Prepare).
fn conv_shape_fits(p: &ConvParams<'_>) -> bool {
    let k = p.window.kernel_h * p.window.kernel_w * p.input.c;
    p.output.c >= 2 && k <= MAX_K_WIDE && (-127..=128).contains(&p.input_offset)
}

/// Words of a channel pair's record besides its widened filters:
/// `[bias0, bias1]` before them (doubled in [`Gemm::Doubled`]), six words of
/// requantization constants after (`[mult, add, shift]` per channel, or
/// `[mult0, shc1_0, mult1, shc1_1]` and two unused).
const PAIR_EXTRA: usize = 8;

/// Channel pairs per block of widened weights, and the words of one pair's
/// record, for `p` in `budget` words of scratch of which at most
/// `weight_words` for the weights (`None` if not even one pair fits).
/// With room, the block is as large as they allow: a smaller block widens
/// every pixel once more per block.
fn conv_blocks(p: &ConvParams<'_>, budget: usize, weight_words: usize) -> Option<(usize, usize)> {
    let kp = k4_groups(p) * 4;
    let rec_words = kp + PAIR_EXTRA;
    let fit = budget.checked_sub(operand_words(kp, reads_pixels(p)))? / rec_words;
    let pairs_per_block = (weight_words / rec_words)
        .max(1)
        .min(p.output.c / 2)
        .min(fit);
    (pairs_per_block >= 1).then_some((pairs_per_block, rec_words))
}

/// The stack buffers' size in words for patches of up to `k` values:
/// [`conv_blocks`] on the stack.
const fn conv_stack_words(k: usize) -> usize {
    WEIGHT_BUDGET / 4 + operand_words(k, false)
}

/// Words of scratch with which [`conv_eval_in`] runs at least as
/// [`conv_eval`] (the stack's blocks; more free space gives larger ones),
/// and the fewest it can run in at all.
pub fn conv_scratch_words(p: &ConvParams<'_>) -> (usize, usize) {
    let kp = k4_groups(p) * 4;
    let fixed = operand_words(kp, reads_pixels(p));
    let (pairs, rec_words) = conv_blocks(p, conv_stack_words(MAX_K_WIDE), WEIGHT_BUDGET / 4)
        .unwrap_or((1, kp + PAIR_EXTRA));
    (fixed + pairs * rec_words, fixed + rec_words)
}

/// The GEMM's working memory (see [`conv_run`]).
struct ConvScratch<'s> {
    wblock: &'s mut [u32],
    /// The pixels' operands ([`operand_words`]; [`operand_parts`] splits
    /// them).
    operands: &'s mut [u32],
}

/// Words of a layer's pixel operands for patches of `kp` values (a whole
/// number of groups of 4): three pixels widened (6 words per group), and
/// the three gathered patches (`kp` bytes each) unless the layer is
/// pointwise, whose pixels are read where they are ([`reads_pixels`]).
const fn operand_words(kp: usize, pointwise: bool) -> usize {
    6 * (kp / 4) + if pointwise { 0 } else { 3 * (kp / 4) }
}

/// A pointwise layer with whole groups of 4 channels: the GEMM reads its
/// pixels in the input, without gathering them.
fn reads_pixels(p: &ConvParams<'_>) -> bool {
    is_pointwise(p) && p.input.c.is_multiple_of(4)
}

/// `operands` as the pixels' widened words and the patches' bytes.
fn operand_parts(operands: &mut [u32], kp: usize) -> (&mut [u32], &mut [i8]) {
    let (xblock, patches) = operands.split_at_mut(6 * (kp / 4));
    (xblock, as_bytes(patches))
}

/// [`conv_eval`] with its scratch on the stack (about 21 KB at most; 27 KB
/// for patches over [`MAX_K`]).
pub fn conv_eval(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    conv_io(p, InOut::new(input, output), &mut []).map(drop)
}

/// [`conv_eval`] in `scratch` (the arena's free space at this layer), with
/// blocks as large as it allows; on the stack when it holds less than
/// [`conv_scratch_words`]' least.
pub fn conv_eval_in(
    p: &ConvParams<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [u32],
) -> Result<()> {
    conv_io(p, InOut::new(input, output), scratch).map(drop)
}

/// A layer the planner runs in place (`input` and `output` ranges of
/// `span` that overlap), whole, in `scratch` or on the stack as
/// [`conv_eval_in`]: the interpreter's alternative to one call per output
/// row, which widens the filters and computes their constants again for
/// every row (VWW's first two convolutions: 18 % more instructions).
/// Output pixels are written in order, each after its input was read, so
/// this is exact wherever the row-by-row calls are. `Ok(false)`, with
/// nothing written, when the layer needs more than one block of channels
/// or the per-channel path (both read the input after writing outputs).
pub fn conv_eval_in_place(
    p: &ConvParams<'_>,
    span: &mut [i8],
    ranges: (Range<usize>, Range<usize>),
    scratch: &mut [u32],
) -> Result<bool> {
    conv_io(p, InOut::in_place(span, ranges)?, scratch)
}

/// The entries' common part: checks, then the GEMM in `scratch`, or on the
/// stack when it is short. Inlined: one frame fewer on the deepest stack.
#[inline(always)]
fn conv_io(p: &ConvParams<'_>, mut io: InOut<'_>, scratch: &mut [u32]) -> Result<bool> {
    check_conv(p, &io)?;
    let Some((pairs_per_block, rec_words)) = conv_blocks(p, scratch.len(), usize::MAX) else {
        return conv_on_stack(p, &mut io);
    };
    let kp = k4_groups(p) * 4;
    let mut rest = scratch;
    let short = || unsupported("Cortex-M4 convolution: scratch too small");
    let s = ConvScratch {
        wblock: take_words(&mut rest, pairs_per_block * rec_words).ok_or_else(short)?,
        operands: take_words(&mut rest, operand_words(kp, reads_pixels(p))).ok_or_else(short)?,
    };
    conv_run(p, &mut io, s, pairs_per_block)
}

/// [`conv_run`] with its scratch on the stack. Not inlined: the arena
/// entries' frames hold no stack buffers.
#[inline(never)]
fn conv_on_stack(p: &ConvParams<'_>, io: &mut InOut<'_>) -> Result<bool> {
    if p.window.kernel_h * p.window.kernel_w * p.input.c <= MAX_K {
        conv_eval_within::<MAX_K, { operand_words(MAX_K, false) }>(p, io)
    } else {
        conv_eval_within::<MAX_K_WIDE, { operand_words(MAX_K_WIDE, false) }>(p, io)
    }
}

/// [`conv_run`] with stack scratch for patches of up to `K` values
/// (`OPERANDS` is [`operand_words`] of `K`).
#[inline(never)]
fn conv_eval_within<const K: usize, const OPERANDS: usize>(
    p: &ConvParams<'_>,
    io: &mut InOut<'_>,
) -> Result<bool> {
    let kp = k4_groups(p) * 4;
    let (pairs_per_block, rec_words) = conv_blocks(p, conv_stack_words(K), WEIGHT_BUDGET / 4)
        .ok_or_else(|| unsupported("Cortex-M4 convolution: patch too long"))?;
    let mut wscratch = Scratch::<u32, { WEIGHT_BUDGET / 4 }>::new();
    // Patches (and filter rows) padded to whole groups of 4; the padding is
    // zero in the filter, so whatever the patch holds there adds nothing.
    let mut oscratch = Scratch::<u32, OPERANDS>::new();
    let s = ConvScratch {
        wblock: wscratch.zeroed(pairs_per_block * rec_words),
        operands: oscratch.zeroed(operand_words(kp, reads_pixels(p))),
    };
    conv_run(p, io, s, pairs_per_block)
}

fn check_conv(p: &ConvParams<'_>, io: &InOut<'_>) -> Result<()> {
    p.validate()?;
    if !conv_shape_fits(p) {
        return Err(unsupported("Cortex-M4 convolution: unsupported parameters"));
    }
    let (input, output) = io.lens();
    check_len(p.input.elements(), input)?;
    check_len(p.output.elements(), output)
}

/// The convolution itself, parameters and lengths checked by the caller;
/// `Ok(false)`, with nothing written, for a layer in place that needs more
/// than one block or the per-channel path (see [`conv_eval_in_place`]).
/// Not inlined: both the stack and the arena entry call it (one copy in
/// flash), and the arena entry's frame then holds no stack buffers.
#[inline(never)]
fn conv_run(
    p: &ConvParams<'_>,
    io: &mut InOut<'_>,
    s: ConvScratch<'_>,
    pairs_per_block: usize,
) -> Result<bool> {
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (oh, ow, oc) = (p.output.h, p.output.w, p.output.c);
    let pointwise = reads_pixels(p);
    let k4 = k4_groups(p);
    let kp = k4 * 4;
    let zero_point = (-p.input_offset) as i8;

    // One record per channel pair: biases, widened filters, requantization.
    let rec_words = kp + PAIR_EXTRA;
    let ConvScratch { wblock, operands } = s;
    let pixels = oh * ow;
    // Each block runs in the doubled GEMM if all its channels allow it and
    // it pays: it saves 13 instructions per channel pair and pixel triple
    // (4 per output instead of 6) and costs one per word of the pair's
    // widened filters (`kp`), per call (in-place layers the whole-layer
    // entry declines call once per row).
    let try_doubled = 2 * pixels >= kp;
    let in_place = io.is_in_place();
    if in_place && (oc % 2 == 1 || 2 * pairs_per_block < oc) {
        return Ok(false);
    }

    let mut c0 = 0;
    while c0 + 1 < oc {
        let pairs = (pairs_per_block).min((oc - c0) / 2);
        let doubled = try_doubled && gemm_constants(p, Gemm::Doubled, c0, pairs, wblock).is_some();
        let (gemm, any_slow) = if doubled {
            (Gemm::Doubled, false)
        } else {
            (
                Gemm::Wide,
                gemm_constants(p, Gemm::Wide, c0, pairs, wblock).unwrap_or(true),
            )
        };
        if in_place && any_slow {
            return Ok(false);
        }
        let (_, patches) = operand_parts(operands, kp);
        widen_filters(p, gemm, c0, pairs, wblock, patches);
        let n = 2 * pairs;
        let w = &wblock[..pairs * rec_words];
        // Three pixels at a time, then the last one or two one at a time:
        // the same pixel three times, over the same outputs (stride 0).
        let mut px = 0;
        if pointwise {
            let (xblock, _) = operand_parts(operands, kp);
            px = 3 * pointwise_triples(p, io, xblock, (gemm, w, pairs), c0);
        }
        while px < pixels {
            let (count, step) = if px + 3 <= pixels { (3, 1) } else { (1, 0) };
            let (xblock, patches) = operand_parts(operands, kp);
            let input = io.input();
            if pointwise {
                let x = &input[px * ic..(px + 2 * step) * ic + kp];
                interleave3(x, step * ic, xblock, k4, p.input_offset);
            } else {
                let (dims, to) = ((ih, iw, ow), (&mut *patches, kp));
                if count == 3 {
                    gather::<3>(p, input, px, to, zero_point, dims);
                } else {
                    gather::<1>(p, input, px, to, zero_point, dims);
                }
                let patches = &patches[..(1 + 2 * step) * kp];
                interleave3(patches, step * kp, xblock, k4, p.input_offset);
            }
            let out = &mut io.output()[px * oc + c0..(px + 2 * step) * oc + c0 + n];
            run_gemm(gemm, xblock, w, k4, pairs, out, step * oc);
            px += count;
        }
        // A wide block's channels without the `Requant` form, right after it.
        // (Only apart: in place, a slow channel declined above.)
        if let (true, Some((input, output))) = (any_slow, io.apart()) {
            for o in (c0..c0 + n).filter(|&o| !fast_channel(p.multiplier, p.shift, o)) {
                super::reference::conv_channel(p, input, output, o);
            }
        }
        c0 += n;
    }
    clamp_activation(io.output(), p.act_min, p.act_max);
    // (Only apart: in place, an odd channel count declined above.)
    if let (1, Some((input, output))) = (oc % 2, io.apart()) {
        super::reference::conv_channel(p, input, output, oc - 1);
    }
    Ok(true)
}

/// The whole pixel triples of a pointwise layer for the block of `pairs`
/// channel pairs at `c0` (records `w`), widened and multiplied as
/// [`conv_run`]'s loop does, in one call of [`asm::gemm_triples`] (the
/// loop in Rust took 60 instructions a triple around the two kernels, the
/// assembly 22). Returns how many triples it ran. In place, each triple
/// reads its pixels before it writes them, as the loop does.
fn pointwise_triples(
    p: &ConvParams<'_>,
    io: &mut InOut<'_>,
    xblock: &mut [u32],
    (gemm, w, pairs): (Gemm, &[u32], usize),
    c0: usize,
) -> usize {
    let (ic, oc, k4) = (p.input.c, p.output.c, k4_groups(p));
    let triples = p.output.h * p.output.w / 3;
    // Triple `t` reads pixels `3t..3t + 3` (`ic == 4 * k4` values each)
    // and writes `2 * pairs` outputs from `c0` at each of them.
    let (input_len, output_len) = io.lens();
    assert!(
        ic == 4 * k4
            && xblock.len() >= 6 * k4
            && w.len() >= pairs * (4 * k4 + PAIR_EXTRA)
            && c0 + 2 * pairs <= oc
            && 3 * triples * ic <= input_len
            && 3 * triples * oc <= output_len
    );
    if triples == 0 {
        return 0;
    }
    #[cfg(arm_dsp)]
    {
        let out = io.output()[c0..].as_mut_ptr();
        let mut args = asm::TriplesArgs {
            gemm: asm::GemmArgs {
                x: xblock.as_ptr(),
                w: w.as_ptr(),
                k4: k4 as u32,
                out,
                stride: oc as u32,
                pairs: pairs as u32,
            },
            src: io.input().as_ptr(),
            pixel_bytes: ic as u32,
            triples: triples as u32,
            offset: u32::from(p.input_offset as u16) * 0x0001_0001,
            kernel: match gemm {
                Gemm::Doubled => asm::gemm_2x3_doubled,
                Gemm::Wide => asm::gemm_2x3_wide,
            },
        };
        // SAFETY: as asserted, the triples' pixels lie in the input, their
        // outputs in the output, one triple's widened pixels in `xblock`
        // and the pairs' records in `w`.
        unsafe { asm::gemm_triples(&mut args) };
    }
    #[cfg(not(arm_dsp))]
    for px in (0..3 * triples).step_by(3) {
        interleave3(&io.input()[px * ic..], ic, xblock, k4, p.input_offset);
        run_gemm(
            gemm,
            xblock,
            w,
            k4,
            pairs,
            &mut io.output()[px * oc + c0..],
            oc,
        );
    }
    triples
}

/// The requantization constants of channels `c0..c0 + 2 * pairs` for
/// `gemm` into their records in `wblock` (after the filters), and each
/// channel's bias into the record's head. `None` if a channel has no
/// [`doubled_requant`] (in [`Gemm::Doubled`]), otherwise whether one needs
/// the per-channel path (no [`Requant`] form, in [`Gemm::Wide`]). Apart
/// from the widening, whose frame is deeper.
#[inline(never)]
fn gemm_constants(
    p: &ConvParams<'_>,
    gemm: Gemm,
    c0: usize,
    pairs: usize,
    wblock: &mut [u32],
) -> Option<bool> {
    let kp = k4_groups(p) * 4;
    let mut any_slow = false;
    for (j, rec) in wblock
        .chunks_exact_mut(kp + PAIR_EXTRA)
        .take(pairs)
        .enumerate()
    {
        let (head, rest) = rec.split_at_mut(2);
        let tail = &mut rest[kp..];
        for i in 0..2 {
            let c = c0 + 2 * j + i;
            let bias = p.bias.map_or(0, |b| b.get(c));
            // (Doubled: the bias is within `DOUBLED_ACC_LIMIT`.)
            head[i] = if gemm == Gemm::Doubled {
                bias.wrapping_mul(2)
            } else {
                bias
            } as u32;
            if gemm == Gemm::Doubled {
                let r = doubled_requant(p, c)?;
                tail[3 * i..3 * i + 3].copy_from_slice(&[
                    r.mult as u32,
                    r.add as u32,
                    r.shift as u32,
                ]);
            } else {
                let r = Requant::new(p.multiplier.get(c), p.shift.get(c), p.output_offset);
                any_slow |= r.is_none();
                let r = r.unwrap_or_default();
                tail[2 * i..2 * i + 2].copy_from_slice(&[r.mult as u32, r.shc1 as u32]);
            }
        }
    }
    Some(any_slow)
}

/// Widens the filters of channels `c0..c0 + 2 * pairs` into their records
/// in `wblock` (doubled for [`Gemm::Doubled`]; the patches pad rows shorter
/// than whole groups). The input offset needs no folding into the biases:
/// [`interleave3`] adds it to the inputs. Not inlined: [`conv_run`]'s
/// frame stays small under the GEMM and [`gemm_constants`].
#[inline(never)]
fn widen_filters(
    p: &ConvParams<'_>,
    gemm: Gemm,
    c0: usize,
    pairs: usize,
    wblock: &mut [u32],
    patches: &mut [i8],
) {
    let k = p.window.kernel_h * p.window.kernel_w * p.input.c;
    let k4 = k4_groups(p);
    let kp = k4 * 4;
    let doubled = gemm == Gemm::Doubled;
    if k == kp {
        // The block's rows lie back to back in the filter: one call.
        let rows = &p.filter[c0 * k..(c0 + 2 * pairs) * k];
        interleave_filters(rows, &mut wblock[2..], k4, pairs, doubled);
        return;
    }
    for (j, rec) in wblock
        .chunks_exact_mut(kp + PAIR_EXTRA)
        .take(pairs)
        .enumerate()
    {
        let row = |c: usize| &p.filter[c * k..(c + 1) * k];
        let (patch0, rest) = patches.split_at_mut(kp);
        let patch1 = &mut rest[..kp];
        copy_short(&mut patch0[..k], row(c0 + 2 * j));
        patch0[k..kp].fill(0);
        copy_short(&mut patch1[..k], row(c0 + 2 * j + 1));
        patch1[k..kp].fill(0);
        interleave_filters(&patches[..2 * kp], &mut rec[2..], k4, 1, doubled);
    }
}

/// FULLY_CONNECTED as a 1x1 convolution over `batches` pixels, for the GEMM.
fn fully_connected_as_conv<'a>(p: &FullyConnectedParams<'a>) -> ConvParams<'a> {
    ConvParams {
        input: Shape4::new(1, 1, p.batches, p.depth),
        output: Shape4::new(1, 1, p.batches, p.units),
        window: Window {
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
        },
        input_offset: p.input_offset,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
        filter: p.filter,
        bias: p.bias,
        multiplier: p.multiplier,
        shift: p.shift,
    }
}

/// Dense layers with symmetric weights (as the studio's quantizer and
/// TFLite's int8 converter make them) run through the GEMM as 1x1
/// convolutions (a single row is computed twice, as the GEMM's odd pixel).
pub fn fully_connected_supports(p: &FullyConnectedParams<'_>) -> bool {
    p.filter_offset == 0 && p.double_scale.is_none() && conv_supports(&fully_connected_as_conv(p))
}

/// FULLY_CONNECTED rescaled in `double` as TFLite's reference kernel does
/// (every blob written since 2026-12-07): the accumulators come from
/// [`asm::dot_2`] (two units per pass over the input row, any depth, no
/// scratch), the rescaling from the reference's own code. Symmetric weights.
pub fn fully_connected_dot_supports(p: &FullyConnectedParams<'_>) -> bool {
    p.filter_offset == 0 && p.double_scale.is_some()
}

pub fn fully_connected_dot_eval(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    p.validate()?;
    if !fully_connected_dot_supports(p) {
        return Err(unsupported(
            "Cortex-M4 fully connected (dot): unsupported parameters",
        ));
    }
    check_len(p.batches.checked_mul(p.depth), input.len())?;
    check_len(p.batches.checked_mul(p.units), output.len())?;
    let (depth, groups) = (p.depth, p.depth / 4);
    let offset2 = (p.input_offset as u16 as u32) * 0x0001_0001;
    let row = |u: usize| &p.filter[u * depth..(u + 1) * depth];
    for (x, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(p.units))
    {
        for u in (0..p.units).step_by(2) {
            // An odd last unit is computed twice.
            let pair = [u, (u + 1).min(p.units - 1)];
            let sums = dot_2(x, row(pair[0]), row(pair[1]), groups, offset2);
            for (k, &unit) in pair.iter().enumerate() {
                let tail = row(unit)[groups * 4..].iter().zip(&x[groups * 4..]).fold(
                    0i32,
                    |acc, (&w, &v)| {
                        acc.wrapping_add(i32::from(w) * (i32::from(v) + p.input_offset))
                    },
                );
                let acc = ((sums >> (32 * k)) as u32 as i32).wrapping_add(tail);
                out[unit] = super::reference::fully_connected_output(p, unit, acc);
            }
        }
    }
    Ok(())
}

fn dot_2(x: &[i8], w0: &[i8], w1: &[i8], groups: usize, offset2: u32) -> u64 {
    debug_assert!(x.len() >= groups * 4 && w0.len() >= groups * 4 && w1.len() >= groups * 4);
    #[cfg(arm_dsp)]
    // SAFETY: `x`, `w0` and `w1` hold at least `groups * 4` bytes (rows of
    // `depth` values, `groups = depth / 4`); the loads are unaligned words.
    unsafe {
        asm::dot_2(x.as_ptr(), w0.as_ptr(), w1.as_ptr(), groups, offset2)
    }
    #[cfg(not(arm_dsp))]
    model::dot_2(x, w0, w1, groups, offset2)
}

pub fn fully_connected_eval(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    p.validate()?;
    if !fully_connected_supports(p) {
        return Err(unsupported(
            "Cortex-M4 fully connected: unsupported parameters",
        ));
    }
    conv_eval(&fully_connected_as_conv(p), input, output)
}

/// Words of scratch [`fully_connected_eval_in`] takes for `p`.
pub fn fully_connected_scratch_words(p: &FullyConnectedParams<'_>) -> (usize, usize) {
    conv_scratch_words(&fully_connected_as_conv(p))
}

/// [`fully_connected_eval`] in the arena's free space, as [`conv_eval_in`].
pub fn fully_connected_eval_in(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [u32],
) -> Result<()> {
    p.validate()?;
    if !fully_connected_supports(p) {
        return Err(unsupported(
            "Cortex-M4 fully connected: unsupported parameters",
        ));
    }
    conv_eval_in(&fully_connected_as_conv(p), input, output, scratch)
}

/// Three pixels (`x`, widened by [`interleave3`]) times every channel pair
/// of a block (`w`: per pair, biases, widened filters, requantization
/// constants), requantized into `out`: pixel `i`'s 2 bytes per pair at
/// `out[i * stride..]`.
fn run_gemm(
    gemm: Gemm,
    x: &[u32],
    w: &[u32],
    k4: usize,
    pairs: usize,
    out: &mut [i8],
    stride: usize,
) {
    debug_assert!(k4 >= 1 && x.len() >= k4 * 6 && w.len() >= pairs * (k4 * 4 + PAIR_EXTRA));
    debug_assert!(out.len() >= 2 * stride + 2 * pairs);
    #[cfg(arm_dsp)]
    {
        let args = asm::GemmArgs {
            x: x.as_ptr(),
            w: w.as_ptr(),
            k4: k4 as u32,
            out: out.as_mut_ptr(),
            stride: stride as u32,
            pairs: pairs as u32,
        };
        // SAFETY: the slices hold what the kernel reads and writes (lengths
        // checked above in debug builds and by construction in `conv_run`).
        unsafe {
            match gemm {
                Gemm::Doubled => asm::gemm_2x3_doubled(&args),
                Gemm::Wide => asm::gemm_2x3_wide(&args),
            }
        }
    }
    #[cfg(not(arm_dsp))]
    model::gemm_2x3(gemm, x, w, k4, pairs, out, stride);
}

/// Largest filter (bytes) of a depthwise layer run as a convolution: it is
/// transposed onto the stack.
const MAX_AS_CONV_FILTER: usize = 1024;

/// A depthwise layer with one input channel and a depth multiplier above 1
/// (the first layer of grayscale MobileNets) is a convolution with one
/// input channel, its filter `[kh, kw, m]` read as `[m, kh, kw, 1]`.
fn depthwise_as_conv<'a>(p: &DepthwiseParams<'a>, filter: &'a [i8]) -> ConvParams<'a> {
    ConvParams {
        input: p.input,
        output: p.output,
        window: p.window,
        input_offset: p.input_offset,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
        filter,
        bias: p.bias,
        multiplier: p.multiplier,
        shift: p.shift,
    }
}

/// DEPTHWISE_CONV_2D with one input channel and a depth multiplier above 1,
/// through the GEMM ([`conv_supports`] on the equivalent convolution).
pub fn depthwise_as_conv_supports(p: &DepthwiseParams<'_>) -> bool {
    p.input.c == 1
        && p.depth_multiplier > 1
        && p.output.c * p.window.kernel_h * p.window.kernel_w <= MAX_AS_CONV_FILTER
        && conv_supports(&depthwise_as_conv(p, &[]))
}

pub fn depthwise_as_conv_eval(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    p.validate()?;
    if !depthwise_as_conv_supports(p) {
        return Err(unsupported(
            "Cortex-M4 depthwise as convolution: unsupported parameters",
        ));
    }
    let (taps, oc) = (p.window.kernel_h * p.window.kernel_w, p.output.c);
    let mut fscratch = Scratch::<i8, MAX_AS_CONV_FILTER>::new();
    let filter = fscratch.zeroed(taps * oc);
    for (o, row) in filter.chunks_exact_mut(taps).enumerate() {
        for (t, v) in row.iter_mut().enumerate() {
            *v = p.filter[t * oc + o];
        }
    }
    conv_eval(&depthwise_as_conv(p, filter), input, output)
}

/// DEPTHWISE_CONV_2D 3x3, depth multiplier 1, stride 1 or 2, rows short
/// enough that three padded rows of one channel quad fit the band. Whole
/// quads of channels run in the micro-kernel; the last `c % 4` channels and
/// channels whose multiplier the fast requantization does not cover are
/// recomputed channel by channel (at most half of them).
pub fn depthwise_supports(p: &DepthwiseParams<'_>) -> bool {
    let c = p.input.c;
    depthwise_shape_fits(p) && 2 * (c % 4 + depthwise_slow_channels(p)) <= c
}

/// What [`depthwise_eval`] runs at all (how many channels the per-channel
/// path recomputes is [`depthwise_supports`]' concern).
fn depthwise_shape_fits(p: &DepthwiseParams<'_>) -> bool {
    let w = &p.window;
    p.depth_multiplier == 1
        && w.kernel_h == 3
        && w.kernel_w == 3
        && w.stride_h >= 1
        && (1..=2).contains(&w.stride_w)
        && p.input.c >= 4
        && p.output.w >= 1
        && (-127..=128).contains(&p.input_offset)
        && 4 * 3 * column_pairs(p) * 4 <= MAX_BAND
}

/// The depthwise kernel reads the input from a band of three rows widened
/// to 16-bit pairs, laid out `[channel][column pair][slot]`: a word holds
/// columns `(2 cp, 2 cp + 1)` of the row in that slot, padding holds the
/// zero point. Padded input row `r` goes to slot `r % 3`, so the band
/// slides down the input without moving: each row is widened once, and
/// each output row takes the channel's taps in the rotation that matches
/// (a record holds all three). Column pairs per row: the last output
/// pixel pair (or single pixel) reads one pair past its window's start.
fn column_pairs(p: &DepthwiseParams<'_>) -> usize {
    let ow = p.output.w.max(1);
    if p.window.stride_w == 1 {
        (ow - 1) / 2 + 2
    } else {
        ow + 1
    }
}

/// Channels per block (a multiple of 4) in `budget` words of the arena's
/// free space for band and records: as many as fit. Each block pays per
/// output row (widening its rows, the call), so the late layers' small
/// maps gain most from whole layers in one block.
fn depthwise_blocks(p: &DepthwiseParams<'_>, budget: usize) -> Option<usize> {
    whole_quads((budget / (3 * column_pairs(p) + DW_RECORD)).min(p.input.c))
}

/// Channels per block on the stack: at most [`MAX_DW_CHANNELS`] and the
/// band's [`MAX_BAND`] bytes.
fn depthwise_stack_blocks(p: &DepthwiseParams<'_>) -> Option<usize> {
    whole_quads(
        ((MAX_BAND / 4) / (3 * column_pairs(p)))
            .min(MAX_DW_CHANNELS)
            .min(p.input.c),
    )
}

/// `n` channels rounded down to whole quads, if that leaves one.
fn whole_quads(n: usize) -> Option<usize> {
    let n = n - n % 4;
    (n >= 4).then_some(n)
}

/// The records of channels `ch0..` for the micro-kernel (as many as
/// `records` holds): doubled folded bias, requantization, taps in the three
/// slot rotations. Returns whether every one is exact (otherwise the
/// per-channel path recomputes those that are not, [`inexact_records`]).
///
/// The filter is `[kh, kw, c]`: one window position's taps are contiguous
/// over the channels, so the taps go in one pass per window row over three
/// runs of bytes (channel by channel, the nine taps `c` apart took nine
/// base addresses, which the compiler spilled: 182 instructions a record).
fn depthwise_records(p: &DepthwiseParams<'_>, ch0: usize, records: &mut [i32]) -> bool {
    let c = p.input.c;
    let n = records.len() / DW_RECORD;
    let Some(filter) = p.filter.get(ch0..(ch0 + 8 * c + n).max(ch0)) else {
        records.fill(0);
        return false;
    };
    let pack = |lo: i32, hi: i32| ((2 * lo) & 0xffff) | ((2 * hi) << 16);
    for row in 0..3 {
        let taps = |k: usize| filter.get((3 * row + k) * c..).unwrap_or_default();
        let rows = taps(0).iter().zip(taps(1)).zip(taps(2));
        for (rec, ((&a, &b), &d)) in records.chunks_exact_mut(DW_RECORD).zip(rows) {
            let (a, b, d) = (i32::from(a), i32::from(b), i32::from(d));
            // Per window row `(w0, w1)`, `(w2, w1)`: the six words, then the
            // first four again (see `rotation_start`). The taps' sum waits
            // in the bias word.
            let w = [pack(a, b), pack(d, b)];
            rec[4 + 2 * row..6 + 2 * row].copy_from_slice(&w);
            if row < 2 {
                rec[10 + 2 * row..12 + 2 * row].copy_from_slice(&w);
            }
            rec[0] = if row == 0 { 0 } else { rec[0] } + a + b + d;
        }
    }
    let mut all_fast = true;
    for (o, rec) in (ch0..).zip(records.chunks_exact_mut(DW_RECORD)) {
        let bias = rec[0]
            .checked_mul(p.input_offset)
            .and_then(|folded| p.bias.map_or(0, |b| b.get(o)).checked_add(folded))
            // The largest sum of nine int8 products.
            .filter(|b| i64::from(b.unsigned_abs()) < DOUBLED_ACC_LIMIT - 9 * 128 * 128);
        // An inexact record has an addend of 0, which an exact one never
        // has: `(2 zp + 1) * 2^(e-1)` is odd times a power of two, and
        // without a shift it is -128.
        let r = bias.and_then(|_| {
            DoubledRequant::new(p.multiplier.get(o), p.shift.get(o), p.output_offset)
        });
        all_fast &= r.is_some();
        let r = r.unwrap_or_default();
        let bias = bias.unwrap_or_default();
        rec[..4].copy_from_slice(&[2 * bias, r.shift, r.mult, r.add]);
    }
    all_fast
}

/// The channels of a block (from `ch0`) whose records are inexact.
fn inexact_records(records: &[i32], ch0: usize) -> impl Iterator<Item = usize> + '_ {
    records
        .chunks_exact(DW_RECORD)
        .enumerate()
        .filter(|(_, rec)| rec[3] == 0)
        .map(move |(i, _)| ch0 + i)
}

/// Whether channel `o` runs exactly in the micro-kernel.
fn depthwise_fast_channel(p: &DepthwiseParams<'_>, o: usize) -> bool {
    depthwise_records(p, o, &mut [0; DW_RECORD])
}

/// Channels of the kernel's quads the per-channel path recomputes.
fn depthwise_slow_channels(p: &DepthwiseParams<'_>) -> usize {
    let quads = p.input.c - p.input.c % 4;
    (0..quads)
        .filter(|&o| !depthwise_fast_channel(p, o))
        .count()
}

/// Words of scratch with which [`depthwise_eval_in`] runs at least as
/// [`depthwise_eval`] (the stack's blocks; more free space gives larger
/// ones), and the fewest it can run in at all.
pub fn depthwise_scratch_words(p: &DepthwiseParams<'_>) -> (usize, usize) {
    let per_channel = 3 * column_pairs(p) + DW_RECORD;
    let least = 4 * per_channel;
    let full = depthwise_stack_blocks(p).map_or(least, |n| n * per_channel);
    (full, least)
}

/// [`depthwise_eval`] with its scratch on the stack (about 10 KB at most).
pub fn depthwise_eval(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    depthwise_io(p, InOut::new(input, output), &mut []).map(drop)
}

/// [`depthwise_eval`] in `scratch` (the arena's free space at this layer),
/// with as many channels per block as it allows; on the stack when it holds
/// less than [`depthwise_scratch_words`]' least.
pub fn depthwise_eval_in(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [u32],
) -> Result<()> {
    depthwise_io(p, InOut::new(input, output), scratch).map(drop)
}

/// A layer the planner runs in place, whole, as [`conv_eval_in_place`]:
/// one call instead of one per output row, each of which computed the
/// channels' records again and widened three input rows (VWW's op 3: 54 %
/// more instructions). Channels that need the per-channel path are
/// computed first, into the scratch left after the block, while the input
/// is whole. `Ok(false)`, with nothing written, when the channels need
/// more than one block, the `c % 4` last ones the per-channel path, or
/// the per-channel path's outputs have no room.
pub fn depthwise_eval_in_place(
    p: &DepthwiseParams<'_>,
    span: &mut [i8],
    ranges: (Range<usize>, Range<usize>),
    scratch: &mut [u32],
) -> Result<bool> {
    depthwise_io(p, InOut::in_place(span, ranges)?, scratch)
}

/// The entries' common part: checks, then the layer in `scratch`, or on
/// the stack when it is short. Inlined: one frame fewer on the deepest
/// stack.
#[inline(always)]
fn depthwise_io(p: &DepthwiseParams<'_>, mut io: InOut<'_>, scratch: &mut [u32]) -> Result<bool> {
    check_depthwise(p, &io)?;
    let Some(n) = depthwise_blocks(p, scratch.len()) else {
        return depthwise_on_stack(p, &mut io);
    };
    let mut rest = scratch;
    let short = || unsupported("Cortex-M4 depthwise: scratch too small");
    let band = take_words(&mut rest, n * 3 * column_pairs(p)).ok_or_else(short)?;
    let records = take_i32(&mut rest, n * DW_RECORD).ok_or_else(short)?;
    depthwise_run(p, &mut io, band, records, rest)
}

/// [`depthwise_run`] with its scratch on the stack. Not inlined: the arena
/// entries' frames hold no stack buffers.
#[inline(never)]
fn depthwise_on_stack(p: &DepthwiseParams<'_>, io: &mut InOut<'_>) -> Result<bool> {
    let n = depthwise_stack_blocks(p)
        .ok_or_else(|| unsupported("Cortex-M4 depthwise: rows too long"))?;
    let mut bscratch = Scratch::<u32, { MAX_BAND / 4 }>::new();
    let band = bscratch.zeroed(n * 3 * column_pairs(p));
    let mut rscratch = Scratch::<i32, { MAX_DW_CHANNELS * DW_RECORD }>::new();
    let records = rscratch.zeroed(n * DW_RECORD);
    depthwise_run(p, io, band, records, &mut [])
}

fn check_depthwise(p: &DepthwiseParams<'_>, io: &InOut<'_>) -> Result<()> {
    p.validate()?;
    if !depthwise_shape_fits(p) {
        return Err(unsupported("Cortex-M4 depthwise: unsupported parameters"));
    }
    let (input, output) = io.lens();
    check_len(p.input.elements(), input)?;
    check_len(p.output.elements(), output)
}

/// The depthwise layer itself, parameters and lengths checked by the
/// caller, in blocks of as many channels as `records` holds records;
/// `Ok(false)`, with nothing written, for a layer in place that needs more
/// than one block, or the per-channel path without room for it in `spare`
/// (see [`depthwise_eval_in_place`]). Not inlined: both the stack and the
/// arena entry call it (one copy in flash), and the arena entry's frame
/// then holds no stack buffers.
#[inline(never)]
fn depthwise_run(
    p: &DepthwiseParams<'_>,
    io: &mut InOut<'_>,
    band: &mut [u32],
    records: &mut [i32],
    spare: &mut [u32],
) -> Result<bool> {
    let c = p.input.c;
    let (oh, ow) = (p.output.h, p.output.w);
    let ncp = column_pairs(p);
    let chw = 3 * ncp;
    let block = records.len() / DW_RECORD;
    let quads = c - c % 4;
    let in_place = io.is_in_place();
    if in_place && (quads < c || block < c) {
        return Ok(false);
    }
    let pixels = oh * ow;
    let spare = as_bytes(spare);
    let mut ch0 = 0;
    while ch0 < quads {
        let n = block.min(quads - ch0);
        let all_fast = depthwise_records(p, ch0, &mut records[..n * DW_RECORD]);
        let slow = || inexact_records(&records[..n * DW_RECORD], ch0);
        if in_place && !all_fast {
            // (In place the block is the whole layer: this runs once.)
            if pixels == 0 || slow().count() * pixels > spare.len() {
                return Ok(false);
            }
            for (o, out) in slow().zip(spare.chunks_exact_mut(pixels)) {
                depthwise_channel(p, io.input(), o, out, 1);
            }
        }
        let band = &mut band[..n * chw];
        // The edge pairs' padding halves, which rows never write.
        let (lo, hi) = inside_pairs(p, ncp);
        let zp_pair = depthwise_zp_pair(p);
        for channel in band.chunks_exact_mut(chw) {
            let (left, right) = channel.split_at_mut(3 * hi);
            left[..3 * lo].fill(zp_pair);
            right.fill(zp_pair);
        }
        // Padded rows below `next` are in the band.
        let mut next = 0;
        for oy in 0..oh {
            let top = oy * p.window.stride_h;
            for r in next.max(top)..top + 3 {
                widen_band_row(p, io.input(), band, (ch0, n, ncp), r);
            }
            next = top + 3;
            let out = &mut io.output()[oy * ow * c + ch0..(oy + 1) * ow * c];
            depthwise_row(p, band, &records[..n * DW_RECORD], top % 3, out);
        }
        if !all_fast {
            if let Some((input, output)) = io.apart() {
                depthwise_recompute(p, input, output, slow());
            } else {
                // In place: the outputs computed before.
                let output = io.output();
                for (o, out) in slow().zip(spare.chunks_exact(pixels)) {
                    for (px, &v) in out.iter().enumerate() {
                        output[px * c + o] = v;
                    }
                }
            }
        }
        ch0 += n;
    }
    clamp_activation(io.output(), p.act_min, p.act_max);
    // (Only apart: in place, channels past the quads declined above.)
    if let Some((input, output)) = io.apart() {
        for o in quads..c {
            depthwise_channel(p, input, o, &mut output[o..], c);
        }
    }
    Ok(true)
}

/// Recomputes `channels`, those of a block whose micro-kernel result is
/// not exact, right after their block (checking all of a layer's channels
/// again at its end cost more than a late layer's arithmetic). The
/// reference's outputs are clamped already: the clamp pass leaves them.
#[cold]
#[inline(never)]
fn depthwise_recompute(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    output: &mut [i8],
    channels: impl Iterator<Item = usize>,
) {
    for o in channels {
        depthwise_channel(p, input, o, &mut output[o..], p.input.c);
    }
}

/// Widens padded input row `r` (`pad_top` rows of zero point first) of
/// channels `ch0..ch0 + n` into its band slot, `r % 3`: the column pairs
/// inside the input in assembly; of those at the edges, only the halves
/// that hold input columns (the padding halves keep the zero point the
/// block's band was filled with).
fn widen_band_row(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    band: &mut [u32],
    (ch0, n, ncp): (usize, usize, usize),
    r: usize,
) {
    let (ih, iw, c) = (p.input.h, p.input.w, p.input.c);
    let (chw, slot) = (3 * ncp, r % 3);
    let row = r
        .checked_sub(p.window.pad_top)
        .filter(|&iy| iy < ih)
        .map(|iy| &input[iy * iw * c..(iy + 1) * iw * c]);
    let Some(row) = row else {
        // Words `ch * chw + 3 * cp + slot` (`chw = 3 * ncp`): word `slot` of
        // each column pair's three, four column pairs a step (`n * chw` is
        // a multiple of 12). `step_by` took 9 instructions a word, one word
        // a step 4, four a step under 2.
        let zp_pair = depthwise_zp_pair(p);
        let mut quads = band[..n * chw].chunks_exact_mut(12);
        for q in &mut quads {
            for w in q.chunks_exact_mut(3) {
                w[slot] = zp_pair;
            }
        }
        for w in quads.into_remainder().chunks_exact_mut(3) {
            w[slot] = zp_pair;
        }
        return;
    };
    let left = p.window.pad_left;
    let (lo, hi) = inside_pairs(p, ncp);
    for cp in (0..lo).chain(hi..ncp) {
        for b in [2 * cp, 2 * cp + 1] {
            let Some(x) = b.checked_sub(left).filter(|&x| x < iw) else {
                continue;
            };
            let src = &row[x * c + ch0..x * c + ch0 + n];
            widen_halves(src, band, 3 * cp + slot, b % 2 == 1, chw);
        }
    }
    if hi > lo {
        let src = &row[(2 * lo - left) * c + ch0..];
        widen_pairs(src, &mut band[3 * lo + slot..], hi - lo, n / 4, (c, chw));
    }
}

/// The column pairs `lo..hi` that lie inside the input (band column `b` is
/// input column `b - pad_left`); the others hold padding in one half or both.
fn inside_pairs(p: &DepthwiseParams<'_>, ncp: usize) -> (usize, usize) {
    let (iw, left) = (p.input.w, p.window.pad_left);
    let lo = left.div_ceil(2).min(ncp);
    let hi = if iw + left >= 2 {
        ((iw + left - 2) / 2 + 1).clamp(lo, ncp)
    } else {
        lo
    };
    (lo, hi)
}

/// The input zero point in both 16-bit halves of a band word.
fn depthwise_zp_pair(p: &DepthwiseParams<'_>) -> u32 {
    let zp = u32::from((-p.input_offset) as i16 as u16);
    zp | zp << 16
}

/// One output row of the block's channels; `out` starts at the row's
/// first pixel, the block's first channel.
fn depthwise_row(
    p: &DepthwiseParams<'_>,
    band: &[u32],
    records: &[i32],
    rotation: usize,
    out: &mut [i8],
) {
    let (ow, c, stride) = (p.output.w, p.output.c, p.window.stride_w);
    let n = records.len() / DW_RECORD;
    let chw = 3 * column_pairs(p);
    assert!(n > 0 && band.len() >= n * chw && out.len() > (ow - 1) * c + n - 1 && rotation < 3);
    #[cfg(arm_dsp)]
    {
        let args = asm::DepthwiseArgs {
            band: band.as_ptr(),
            records: records.as_ptr(),
            rotation: (rotation_start(rotation) * 4) as u32,
            channels: n as u32,
            channel_bytes: (chw * 4) as u32,
            out: out.as_mut_ptr(),
            c: c as u32,
            pairs: (ow / 2) as u32,
            odd: (ow % 2) as u32,
        };
        // SAFETY: per channel (`n` records of `DW_RECORD` words), the kernel
        // reads band words `ch * chw + 3 * cp + slot` for column pairs up to
        // `column_pairs(p) - 1` (see `column_pairs`), inside `band`, and
        // writes `out[px * c + ch]` for `px < ow`, inside `out`, as asserted.
        unsafe {
            if stride == 1 {
                asm::depthwise_3x3_s1(&args)
            } else {
                asm::depthwise_3x3_s2(&args)
            }
        };
    }
    #[cfg(not(arm_dsp))]
    model::depthwise_3x3(band, records, rotation, chw, stride, ow, c, out);
}

/// Output channel `o` of a 3x3 depthwise layer (depth multiplier 1) alone,
/// as the reference computes it, pixel `i`'s output at `out[i * stride]`:
/// the input offset is folded into the bias for pixels whose window lies
/// inside the input (exact in wrapping arithmetic), so those take nine
/// multiply-adds without bounds logic.
fn depthwise_channel(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    o: usize,
    out: &mut [i8],
    stride: usize,
) {
    let (ih, iw, c) = (p.input.h, p.input.w, p.input.c);
    let (oh, ow) = (p.output.h, p.output.w);
    let w = p.window;
    let mut taps = [0i32; 9];
    for (t, tap) in taps.iter_mut().enumerate() {
        *tap = i32::from(p.filter.get(t * c + o).copied().unwrap_or(0));
    }
    let bias = p.bias.map_or(0, |b| b.get(o));
    let sum = taps.iter().fold(0i32, |a, &t| a.wrapping_add(t));
    let folded = bias.wrapping_add(sum.wrapping_mul(p.input_offset));
    let (mult, shift) = (p.multiplier.get(o), p.shift.get(o));
    let tail = (p.output_offset, p.act_min, p.act_max);
    let row = iw * c;
    for oy in 0..oh {
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        for ox in 0..ow {
            let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
            let inside = iy0 >= 0 && ix0 >= 0 && iy0 as usize + 3 <= ih && ix0 as usize + 3 <= iw;
            let acc = if inside {
                let base = (iy0 as usize * iw + ix0 as usize) * c + o;
                match input.get(base..base + 2 * row + 2 * c + 1) {
                    Some(win) => (0..9).fold(folded, |a, t| {
                        let x = i32::from(win[(t / 3) * row + (t % 3) * c]);
                        a.wrapping_add(taps[t].wrapping_mul(x))
                    }),
                    None => 0,
                }
            } else {
                let (ky0, ky1) = super::reference::tap_range(iy0, 3, ih);
                let (kx0, kx1) = super::reference::tap_range(ix0, 3, iw);
                let mut a = bias;
                for ky in ky0..ky1 {
                    for kx in kx0..kx1 {
                        let iy = (iy0 + ky as isize) as usize;
                        let ix = (ix0 + kx as isize) as usize;
                        let x = i32::from(input[(iy * iw + ix) * c + o]);
                        a = a.wrapping_add(taps[ky * 3 + kx].wrapping_mul(x + p.input_offset));
                    }
                }
                a
            };
            out[(oy * ow + ox) * stride] = super::reference::requantize(acc, 0, mult, shift, tail);
        }
    }
}

/// Taps of the windows [`depthwise_taps_eval`] takes (5x5, 1x25).
const MAX_WINDOW_TAPS: usize = 25;
/// Words of per-channel records (widened filter, bias, requantization)
/// [`depthwise_taps_eval`] keeps on the stack: 8 KB, no more than the 3x3
/// kernel's band, and less than the GEMM's frame.
const MAX_TAPS_RECORD_WORDS: usize = 2048;

/// Words of widened taps per window in [`depthwise_taps_eval`]: a constant
/// per instantiation.
fn taps_words(taps: usize) -> usize {
    if taps <= 10 {
        5
    } else {
        MAX_WINDOW_TAPS.div_ceil(2)
    }
}

/// Depthwise layers of any window up to [`MAX_WINDOW_TAPS`] and any depth
/// multiplier: those the other depthwise kernels leave (the dispatch tries
/// [`depthwise_supports`] and [`depthwise_as_conv_supports`] first), such
/// as depth multipliers over several input channels and the 1xN windows of
/// 1-D (audio) models.
pub fn depthwise_taps_supports(p: &DepthwiseParams<'_>) -> bool {
    let taps = p.window.kernel_h * p.window.kernel_w;
    let c = p.output.c;
    taps <= MAX_WINDOW_TAPS
        && c * (taps_words(taps) + 3) <= MAX_TAPS_RECORD_WORDS
        && 2 * slow_channels(p.multiplier, p.shift, c) <= c
}

/// Per output pixel and input channel, the window's taps (plus the input
/// offset) are widened once into 16-bit pairs; each of the channel's
/// `depth_multiplier` outputs is then `SMLAD`s over them and its filter,
/// widened the same way once per call, and the 7-instruction
/// requantization (the reference's where a channel's multiplier is outside
/// its form).
pub fn depthwise_taps_eval(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !depthwise_taps_supports(p) {
        return Err(unsupported(
            "Cortex-M4 depthwise (any window): unsupported parameters",
        ));
    }
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    // The word count is a constant of each instantiation, so that the
    // window's words stay in registers and the SMLAD loop unrolls; windows
    // of up to 10 taps (3x3, 1x5) take 5 words, larger ones 13.
    let any_slow = if taps_words(p.window.kernel_h * p.window.kernel_w) == 5 {
        depthwise_taps_words::<5>(p, input, output)
    } else {
        depthwise_taps_words::<{ MAX_WINDOW_TAPS.div_ceil(2) }>(p, input, output)
    };
    clamp_activation(output, p.act_min, p.act_max);
    if any_slow {
        for o in (0..p.output.c).filter(|&o| !fast_channel(p.multiplier, p.shift, o)) {
            depthwise_taps_channel(p, input, output, o);
        }
    }
    Ok(())
}

/// [`depthwise_taps_eval`] with windows of `W` words (taps padded with
/// zeros); returns whether a channel needs the per-channel path.
#[inline(never)]
fn depthwise_taps_words<const W: usize>(
    p: &DepthwiseParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc, dm) = (p.output.w, p.output.c, p.depth_multiplier);
    let w = p.window;
    let taps = w.kernel_h * w.kernel_w;
    let pack = |a: i32, b: i32| (a as u16 as u32) | ((b as u16 as u32) << 16);
    // Per output channel: its widened filter (`[kh, kw, oc]` in the blob),
    // then its bias and requantization.
    let record = W + 3;
    let mut rscratch = Scratch::<u32, MAX_TAPS_RECORD_WORDS>::new();
    let records = rscratch.zeroed(oc * record);
    let mut any_slow = false;
    for (o, rec) in records.chunks_exact_mut(record).enumerate() {
        let tap = |t: usize| {
            if t < taps {
                i32::from(p.filter[t * oc + o])
            } else {
                0
            }
        };
        for (j, word) in rec[..W].iter_mut().enumerate() {
            *word = pack(tap(2 * j), tap(2 * j + 1));
        }
        let r = Requant::new(p.multiplier.get(o), p.shift.get(o), p.output_offset);
        any_slow |= r.is_none();
        let r = r.unwrap_or_default();
        rec[W] = p.bias.map_or(0, |b| b.get(o)) as u32;
        rec[W + 1] = r.mult as u32;
        rec[W + 2] = r.shc1 as u32;
    }
    // Where each tap lies from the window's corner, in the input.
    let mut offsets = [0usize; MAX_WINDOW_TAPS];
    for (t, off) in offsets[..taps].iter_mut().enumerate() {
        *off = ((t / w.kernel_w) * iw + t % w.kernel_w) * ic;
    }
    let offset = p.input_offset;
    for (px, out) in output.chunks_exact_mut(oc).enumerate() {
        let (oy, ox) = (px / ow, px % ow);
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
        let inside = iy0 >= 0
            && ix0 >= 0
            && iy0 as usize + w.kernel_h <= ih
            && ix0 as usize + w.kernel_w <= iw;
        let corner = if inside {
            (iy0 as usize * iw + ix0 as usize) * ic
        } else {
            0
        };
        for i in 0..ic {
            let mut window = [0u32; W];
            if inside {
                // SAFETY: the window lies inside the input (`inside`), so
                // `corner + i + offsets[t]` for every tap `t < taps` is an
                // index of `input` (`p.validate` and `check_len` tie the
                // shapes to the buffer); taps past `taps` are not read.
                unsafe {
                    let at = input.as_ptr().add(corner + i);
                    let tap = |t: usize| {
                        if t < taps {
                            i32::from(*at.add(*offsets.get_unchecked(t))) + offset
                        } else {
                            0
                        }
                    };
                    for (j, word) in window.iter_mut().enumerate() {
                        *word = pack(tap(2 * j), tap(2 * j + 1));
                    }
                }
            } else {
                // Taps outside the input are the zero point: 0 once offset.
                let tap = |t: usize| -> i32 {
                    let iy = iy0 + (t / w.kernel_w) as isize;
                    let ix = ix0 + (t % w.kernel_w) as isize;
                    if t < taps && iy >= 0 && ix >= 0 && (iy as usize) < ih && (ix as usize) < iw {
                        i32::from(input[(iy as usize * iw + ix as usize) * ic + i]) + offset
                    } else {
                        0
                    }
                };
                for (j, word) in window.iter_mut().enumerate() {
                    *word = pack(tap(2 * j), tap(2 * j + 1));
                }
            }
            let outputs = &mut out[i * dm..(i + 1) * dm];
            let recs = &records[i * dm * record..(i + 1) * dm * record];
            for (o, rec) in outputs.iter_mut().zip(recs.chunks_exact(record)) {
                let (filter, rest) = rec.split_at(W);
                let mut acc = rest[0] as i32;
                for (&x, &k) in window.iter().zip(filter) {
                    acc = smlad(x, k, acc);
                }
                let r = Requant {
                    mult: rest[1] as i32,
                    shc1: rest[2] as i32,
                };
                *o = requantize(acc, r);
            }
        }
    }
    any_slow
}

/// Output channel `o` of [`depthwise_taps_eval`]'s layer with the
/// reference's arithmetic (a multiplier outside the 7-instruction form).
fn depthwise_taps_channel(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8], o: usize) {
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (ow, oc) = (p.output.w, p.output.c);
    let w = p.window;
    let i = o / p.depth_multiplier;
    for (px, out) in output.chunks_exact_mut(oc).enumerate() {
        let iy0 = ((px / ow) * w.stride_h) as isize - w.pad_top as isize;
        let ix0 = ((px % ow) * w.stride_w) as isize - w.pad_left as isize;
        let mut acc = 0i32;
        for ky in 0..w.kernel_h {
            for kx in 0..w.kernel_w {
                let (iy, ix) = (iy0 + ky as isize, ix0 + kx as isize);
                if iy >= 0 && ix >= 0 && (iy as usize) < ih && (ix as usize) < iw {
                    let x = i32::from(input[(iy as usize * iw + ix as usize) * ic + i]);
                    let k = i32::from(p.filter[(ky * w.kernel_w + kx) * oc + o]);
                    acc = acc.wrapping_add(k * (x + p.input_offset));
                }
            }
        }
        out[o] = super::reference::requantize(
            acc,
            p.bias.map_or(0, |b| b.get(o)),
            p.multiplier.get(o),
            p.shift.get(o),
            (p.output_offset, p.act_min, p.act_max),
        );
    }
}

/// ADD's constants for [`asm::add_elements`] and its model.
pub(crate) struct AddConsts {
    offset1: i32,
    offset2: i32,
    mult1: i32,
    mult2: i32,
    mult_out: i32,
    shift1: u32,
    shift2: u32,
    shift_out: u32,
    c1: i32,
}

/// ADD in [`asm::add_elements`]: the left shift of 20 TFLite's converter
/// always uses, inputs rescaled by right shifts of at least 1 or by
/// exactly one half (each input's multiplier is its scale over twice the
/// larger one: one half for the larger), and the output by a right shift
/// of at least 1 (its multiplier is below one half unless the output's
/// scale is under 2^-18 of the inputs').
pub fn add_supports(p: &AddParams) -> bool {
    let input = |m: i32, s: i32| (-31..=-1).contains(&s) || (s == 0 && m == 1 << 30);
    p.left_shift == 20
        && input(p.input1_multiplier, p.input1_shift)
        && input(p.input2_multiplier, p.input2_shift)
        && (-31..=-1).contains(&p.output_shift)
}

/// ADD equal to TFLite's `AddElementwise`, in 24 instructions per element:
/// - `SaturatingRoundingDoublingHighMul(x, m)` is `floor((x·m + 2^30) / 2^31)`
///   (`add::Rescale::apply` shows why), which is `SMMULR(2x, m)`, exact when
///   `2x` fits: `(q + offset) << 21` is at most `383 · 2^21 < 2^31`;
/// - `RoundingDivideByPOT(s, e)` for `e >= 1` is
///   `(((s - [s<0]) >> (e-1)) + 1) >> 1` (see [`requantize`]); twice it is the same with the low bit
///   cleared instead of the last halving, so the two inputs' terms add up
///   to twice the sum, which is what `SMMULR` takes for the output's
///   rescaling (below 2^31: each term is below 2^29);
/// - the output zero point joins as `1 + 2·zp` before the last halving, and
///   `SSAT` clamps to int8; a narrower activation range is clamped after;
/// - an input rescaled by exactly one half (multiplier 2^30, shift 0) is
///   given as `(2^31 - 1, 1)`: for `|x| < 2^30`,
///   `SaturatingRoundingDoublingHighMul(x, 2^31 - 1)` is `x` itself, and
///   `x` is even (a multiple of 2^20), so halving it is exact either way.
pub fn add_eval(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !add_supports(p) {
        return Err(unsupported("Cortex-M4 add: unsupported parameters"));
    }
    check_len(Some(p.len), a.len())?;
    check_len(Some(p.len), b.len())?;
    check_len(Some(p.len), output.len())?;
    // (multiplier, right shift - 1) of an input.
    let input = |m: i32, s: i32| {
        if s == 0 {
            (i32::MAX, 0)
        } else {
            (m, (-s - 1) as u32)
        }
    };
    let ((mult1, shift1), (mult2, shift2)) = (
        input(p.input1_multiplier, p.input1_shift),
        input(p.input2_multiplier, p.input2_shift),
    );
    let c = AddConsts {
        offset1: p.input1_offset << 21,
        offset2: p.input2_offset << 21,
        mult1,
        mult2,
        mult_out: p.output_multiplier,
        shift1,
        shift2,
        shift_out: (-p.output_shift - 1) as u32,
        c1: 1 + 2 * p.output_offset,
    };
    #[cfg(arm_dsp)]
    // SAFETY: `a`, `b` and `output` hold `p.len` bytes each (checked above);
    // the assembly reads and writes exactly that many.
    unsafe {
        asm::add_elements(&asm::AddArgs {
            a: a.as_ptr(),
            b: b.as_ptr(),
            out: output.as_mut_ptr(),
            len: p.len as u32,
            offset1: c.offset1,
            offset2: c.offset2,
            mult1: c.mult1,
            mult2: c.mult2,
            mult_out: c.mult_out,
            shift1: c.shift1,
            shift2: c.shift2,
            shift_out: c.shift_out,
            c1: c.c1,
        });
    }
    #[cfg(not(arm_dsp))]
    model::add_elements(a, b, output, &c);
    clamp_activation(output, p.act_min, p.act_max);
    Ok(())
}

/// Multiply-accumulates of `op` that run in the micro-kernels on a
/// Cortex-M4 (not those of channels recomputed one by one, nor of layers
/// left to the portable kernels): the share of a model's MACs on the fast
/// path, which the benchmark and the size report print.
pub fn fast_path_macs(op: &crate::blob::PreparedOp<'_>) -> u64 {
    use crate::blob::PreparedOp;
    let share = |macs: u64, fast: usize, all: usize| macs * fast as u64 / all.max(1) as u64;
    match op {
        PreparedOp::Conv { params: p, .. } if conv_supports(p) => {
            let oc = p.output.c;
            share(p.macs(), oc - conv_slow_channels(p), oc)
        }
        PreparedOp::Depthwise { params: p, .. } if depthwise_supports(p) => {
            let c = p.output.c;
            share(p.macs(), c - c % 4 - depthwise_slow_channels(p), c)
        }
        PreparedOp::Depthwise { params: p, .. } if depthwise_as_conv_supports(p) => {
            let (conv, oc) = (depthwise_as_conv(p, &[]), p.output.c);
            share(p.macs(), oc - conv_slow_channels(&conv), oc)
        }
        PreparedOp::Depthwise { params: p, .. } if depthwise_taps_supports(p) => {
            let c = p.output.c;
            let slow = (0..c)
                .filter(|&o| !fast_channel(p.multiplier, p.shift, o))
                .count();
            share(p.macs(), c - slow, c)
        }
        PreparedOp::FullyConnected { params: p, .. } if fully_connected_dot_supports(p) => p.macs(),
        PreparedOp::FullyConnected { params: p, .. } if fully_connected_supports(p) => {
            let (conv, u) = (fully_connected_as_conv(p), p.units);
            share(p.macs(), u - conv_slow_channels(&conv), u)
        }
        _ => 0,
    }
}

#[cfg(arm_dsp)]
mod asm;
#[cfg(not(arm_dsp))]
mod model;
mod operands;
mod self_check;

use operands::*;
pub use operands::{DoubledRequant, Requant, requantize, requantize_doubled};

pub use self_check::{Mismatch, SELF_CHECK_SCRATCH, SelfCheck, self_check};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference;

    /// The GEMM's 7-instruction requantization and the depthwise kernel's
    /// 5-instruction one equal TFLite's for every accumulator class:
    /// extremes, rounding ties, zero, random.
    #[test]
    fn requantize_matches_tflite_exactly() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut accs = vec![
            0,
            1,
            -1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        for _ in 0..20_000 {
            let v = next();
            accs.push(match v % 4 {
                0 => v as i32,
                1 => (v as i32) >> ((v >> 40) % 31),
                // Values near rounding ties of common shifts.
                2 => ((v as i32) >> 8) << 8 | 0x80,
                _ => (v as i16) as i32,
            });
        }
        // A multiplier (zero one time in seven), a right shift from
        // `min_shift` to 31 and an output zero point.
        let mut quantization = |min_shift: u64| {
            let v = next();
            let mult = if v % 7 == 0 {
                0
            } else {
                (1 << 30) + (v as i32 & 0x3fff_ffff)
            };
            let shift = -(((v >> 32) % (32 - min_shift) + min_shift) as i32);
            (mult, shift, ((v >> 48) % 256) as i32 - 128)
        };
        for _ in 0..300 {
            let (mult, shift, zp) = quantization(2);
            let r = Requant::new(mult, shift, zp).unwrap();
            for &a in &accs {
                let want = reference::requantize(a, 0, mult, shift, (zp, -128, 127));
                assert_eq!(
                    requantize(a, r),
                    want,
                    "acc {a} mult {mult} shift {shift} zp {zp}"
                );
            }
        }
        assert!(Requant::new(1 << 30, -1, 0).is_none());
        assert!(Requant::new(1 << 30, 1, 0).is_none());

        // The depthwise kernel's form, on doubled accumulators within its
        // bound, for right shifts from 1.
        let limit = DOUBLED_ACC_LIMIT as i32;
        let accs: Vec<i32> = accs
            .iter()
            .map(|&a| {
                if a.unsigned_abs() < limit as u32 {
                    a
                } else {
                    a % limit
                }
            })
            .chain([limit - 1, 1 - limit])
            .collect();
        let (mut covered, mut unshifted) = (0, 0);
        for i in 0..400 {
            let (mult, shift, zp) = quantization(0);
            // Half the unshifted ones at the only zero point they take.
            let zp = if shift == 0 && i % 2 == 0 { -128 } else { zp };
            let Some(r) = DoubledRequant::new(mult, shift, zp) else {
                continue;
            };
            covered += 1;
            unshifted += usize::from(shift == 0 && mult != 0);
            for &a in &accs {
                let want = reference::requantize(a, 0, mult, shift, (zp, -128, 127));
                assert_eq!(
                    requantize_doubled(2 * a, r),
                    want,
                    "acc {a} mult {mult} shift {shift} zp {zp}"
                );
            }
        }
        assert!(covered > 250 && unshifted > 0, "{covered} {unshifted}");
        assert!(DoubledRequant::new(1 << 30, -1, 0).is_some());
        assert!(DoubledRequant::new(1 << 30, 0, 0).is_none());
        assert!(DoubledRequant::new(1 << 30, 0, -128).is_some());
        assert!(DoubledRequant::new(i32::MAX, 0, -128).is_some());
        assert!(DoubledRequant::new(1 << 30, 1, 0).is_none());
        assert!(DoubledRequant::new(0, 3, 5).is_some());
    }

    /// Random layers inside what the kernels support (the shared suite's
    /// random cases mostly clamp the activation and so skip them).
    #[test]
    fn random_layers_match_the_reference() {
        let mut scratch = std::vec![0u8; SELF_CHECK_SCRATCH];
        let done = self_check(0x5DEE_CE66_D1CE_4E5B, 400, &mut scratch)
            .unwrap_or_else(|m| panic!("{m:?}"));
        assert!(
            done.convolutions > 300
                && done.depthwise > 200
                && done.fully_connected > 60
                && done.add > 60
                && done.in_place > 80,
            "{done:?}"
        );
    }
}
