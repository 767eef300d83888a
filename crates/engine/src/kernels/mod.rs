//! Int8 kernels: prepared parameters, a portable reference kernel per operator,
//! optimised kernels beside them, and the dispatch that picks one.
//!
//! Every operator has a `*Params` struct holding what TFLite Micro computes in
//! its `Prepare` (zero-point offsets, per-channel multipliers and shifts,
//! activation bounds, padding). `validate()` checks the parameters against
//! each other once; the evals then rely on it, and re-check the buffer lengths
//! they are handed (O(1)), so a kernel never indexes out of bounds.
//!
//! Dispatch: each operator has a table of kernels ([`ConvKernel`], [`DepthwiseKernel`]), most specialised first.
//! The first whose `supports` accepts the parameters runs. An architecture
//! specific kernel (e.g. Cortex-M4 SMLAD) is added by putting an entry behind
//! `#[cfg(target_arch = "arm")]` at the top of the table (the Cortex-M4
//! kernels use `cfg(arm_dsp)`, set by build.rs for Armv7E-M targets); the shared test suite
//! (`tests/kernels.rs`) runs every entry of every table against the reference.

pub mod add;
pub mod conv_patch;
pub mod cortex_m0;
pub mod cortex_m4;
pub mod depthwise_dm1;
pub mod pointwise;
pub mod reference;
pub mod set;
mod simd;

use crate::error::{Error, Result};

/// A little-endian `i32` array stored in a byte slice (model blob or test data),
/// readable without alignment requirements.
#[derive(Clone, Copy, Debug, Default)]
pub struct I32s<'a>(&'a [u8]);

impl<'a> I32s<'a> {
    /// Wraps bytes; fails if the length is not a multiple of 4.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(Error::Malformed(
                "int32 array length is not a multiple of 4",
            ));
        }
        Ok(I32s(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Element `i`, or 0 past the end (callers check `len()` in `validate`).
    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        match self.0.get(i * 4..i * 4 + 4) {
            Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i32> + 'a {
        self.0
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// Per-channel requantization shifts (TFLite's, in `[-31, 31]`): one byte
/// each in blobs from version 2 on (3 bytes a channel less flash), the
/// little-endian words of [`I32s`] in version 1 blobs and wherever params
/// are built from words. Read the same way from both, without a branch:
/// the value is the sign-extended byte at `i * width` (a word's low byte),
/// and `check_multipliers` (every kernel's `validate`) rejects a word whose
/// value does not fit in that byte.
#[derive(Clone, Copy, Debug)]
pub struct Shifts<'a> {
    bytes: &'a [u8],
    /// Bytes per value: 1 or 4.
    width: usize,
}

impl Default for Shifts<'_> {
    fn default() -> Self {
        Shifts::bytes(&[])
    }
}

impl<'a> From<I32s<'a>> for Shifts<'a> {
    fn from(words: I32s<'a>) -> Self {
        Shifts {
            bytes: words.as_bytes(),
            width: 4,
        }
    }
}

impl<'a> Shifts<'a> {
    /// One value per byte, each an `i8` (as the blob stores them).
    pub fn bytes(bytes: &'a [u8]) -> Self {
        Shifts { bytes, width: 1 }
    }

    /// Bytes per value: 1, or 4 for words.
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, or 0 past the end (callers check `len()` in `validate`).
    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        self.bytes
            .get(i * self.width)
            .map_or(0, |&b| i32::from(b as i8))
    }

    /// Whether every value lies in `lo..=hi`.
    fn all_within(&self, lo: i32, hi: i32) -> bool {
        let span = hi.abs_diff(lo);
        let outside = |b: u8| i32::from(b as i8).wrapping_sub(lo) as u32 > span;
        let any_outside = if self.width == 1 {
            self.bytes.iter().fold(false, |a, &b| a | outside(b))
        } else {
            self.bytes
                .chunks_exact(self.width)
                .fold(false, |a, w| a | outside(w[0]))
        };
        !any_outside
    }

    /// Whether every value is what [`get`](Self::get) reads: a word's upper
    /// bytes only extend the sign of its low byte.
    fn is_exact(&self) -> bool {
        self.width == 1
            || self.bytes.chunks_exact(4).all(|w| {
                let v = i32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                i8::try_from(v).is_ok()
            })
    }
}

/// NHWC activation shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Shape4 {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape4 {
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Shape4 { n, h, w, c }
    }

    /// Element count, `None` on overflow.
    pub fn elements(&self) -> Option<usize> {
        self.n
            .checked_mul(self.h)?
            .checked_mul(self.w)?
            .checked_mul(self.c)
    }
}

fn check_len(expected: Option<usize>, actual: usize) -> Result<()> {
    match expected {
        Some(e) if e == actual => Ok(()),
        Some(e) => Err(Error::LengthMismatch {
            expected: e,
            actual,
        }),
        None => Err(Error::Malformed("tensor size overflows")),
    }
}

fn check_activation(min: i32, max: i32) -> Result<()> {
    if i32::from(i8::MIN) <= min && min <= max && max <= i32::from(i8::MAX) {
        Ok(())
    } else {
        Err(Error::Malformed("activation range is not inside int8"))
    }
}

fn check_offset(offset: i32) -> Result<()> {
    if (-255..=255).contains(&offset) {
        Ok(())
    } else {
        Err(Error::Malformed("zero point out of range"))
    }
}

fn check_multipliers(mult: I32s<'_>, shift: Shifts<'_>, count: usize) -> Result<()> {
    if mult.len() != count || shift.len() != count {
        return Err(Error::Malformed("per-channel multiplier count mismatch"));
    }
    // What `quant::multiplier_is_valid` checks, as two folds without a
    // branch per channel: every kernel checks its parameters on every
    // call (a per-channel `all` took 17 instructions a channel).
    let negative = mult.iter().fold(0, |a, m| a | m) < 0;
    let shifts = shift.is_exact()
        && shift.all_within(-crate::quant::MAX_RIGHT_SHIFT, crate::quant::MAX_LEFT_SHIFT);
    if !negative && shifts {
        Ok(())
    } else {
        Err(Error::Malformed("requantization multiplier out of range"))
    }
}

/// Geometry of a windowed operator (convolution or pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Window {
    /// Largest `output_offset - input_offset` (in bytes, usually negative) at
    /// which the operator can run in place, one output row at a time: every
    /// output row is then written only over input rows that no later output
    /// row reads. `None` when the input shape is degenerate.
    ///
    /// Output row `r` reads input rows from `r * stride - pad_top` on, and
    /// later rows read only higher rows, so row `r` may end where the first
    /// input row still needed begins.
    pub fn in_place_delta(&self, input: Shape4, output: Shape4) -> Option<isize> {
        let in_row = isize::try_from(input.w.checked_mul(input.c)?).ok()?;
        let out_row = isize::try_from(output.w.checked_mul(output.c)?).ok()?;
        (0..output.h)
            .map(|r| {
                let need = (r.checked_mul(self.stride_h)?).saturating_sub(self.pad_top);
                let need = isize::try_from(need.min(input.h)).ok()?;
                need.checked_mul(in_row)?
                    .checked_sub(isize::try_from(r + 1).ok()?.checked_mul(out_row)?)
            })
            .try_fold(isize::MAX, |m, d| Some(m.min(d?)))
    }

    /// The window of output row `r` alone: which input rows it reads
    /// (`start..end`) and the padding above them.
    pub fn row_band(&self, r: usize, input_h: usize) -> (usize, usize, usize) {
        let origin = r.saturating_mul(self.stride_h);
        let start = origin.saturating_sub(self.pad_top).min(input_h);
        let end = origin
            .saturating_add(self.kernel_h)
            .saturating_sub(self.pad_top)
            .min(input_h);
        (start, end.max(start), self.pad_top.saturating_sub(origin))
    }

    /// Every output position must see at least one input element, and the
    /// output may not be larger than the input allows (as TFLite computes it).
    fn validate(&self, input: Shape4, output: Shape4) -> Result<()> {
        if self.kernel_h == 0 || self.kernel_w == 0 || self.stride_h == 0 || self.stride_w == 0 {
            return Err(Error::Malformed("zero kernel size or stride"));
        }
        if self.pad_top >= self.kernel_h || self.pad_left >= self.kernel_w {
            return Err(Error::Malformed("padding larger than the kernel"));
        }
        let fits = |out: usize, stride: usize, pad: usize, inp: usize| -> bool {
            out > 0
                && inp > 0
                && (out - 1)
                    .checked_mul(stride)
                    .is_some_and(|start| start < inp + pad && start <= usize::MAX / 4)
        };
        if !fits(output.h, self.stride_h, self.pad_top, input.h)
            || !fits(output.w, self.stride_w, self.pad_left, input.w)
        {
            return Err(Error::Malformed(
                "output larger than the input and window allow",
            ));
        }
        if input.n != 1 || output.n != 1 {
            return Err(Error::Unsupported("batch size other than 1"));
        }
        Ok(())
    }
}

/// Parameters of a windowed operator (convolution, depthwise, pooling),
/// which the interpreter runs one output row at a time when the operator is
/// in place: each call then gets the parameters of its band of rows.
pub trait Windowed: Copy {
    /// Input shape, output shape and window.
    fn geometry(&self) -> (Shape4, Shape4, Window);
    /// The same operator over a band of rows.
    fn band(&self, input: Shape4, output: Shape4, window: Window) -> Self;
}

macro_rules! windowed {
    ($($t:ty),*) => {$(
        impl Windowed for $t {
            fn geometry(&self) -> (Shape4, Shape4, Window) {
                (self.input, self.output, self.window)
            }
            fn band(&self, input: Shape4, output: Shape4, window: Window) -> Self {
                Self { input, output, window, ..*self }
            }
        }
    )*};
}
windowed!(ConvParams<'_>, DepthwiseParams<'_>, PoolParams);

/// CONV_2D with per-channel quantized weights.
#[derive(Clone, Copy, Debug)]
pub struct ConvParams<'a> {
    pub input: Shape4,
    pub output: Shape4,
    pub window: Window,
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `[out_c, kh, kw, in_c]`.
    pub filter: &'a [i8],
    pub bias: Option<I32s<'a>>,
    pub multiplier: I32s<'a>,
    pub shift: Shifts<'a>,
}

impl ConvParams<'_> {
    pub fn validate(&self) -> Result<()> {
        self.window.validate(self.input, self.output)?;
        let w = &self.window;
        check_len(
            self.output
                .c
                .checked_mul(w.kernel_h)
                .and_then(|x| x.checked_mul(w.kernel_w))
                .and_then(|x| x.checked_mul(self.input.c)),
            self.filter.len(),
        )?;
        if let Some(b) = self.bias {
            check_len(Some(self.output.c), b.len())?;
        }
        check_multipliers(self.multiplier, self.shift, self.output.c)?;
        check_offset(self.input_offset)?;
        check_offset(self.output_offset)?;
        check_activation(self.act_min, self.act_max)?;
        self.input
            .elements()
            .ok_or(Error::Malformed("tensor size overflows"))?;
        self.output
            .elements()
            .ok_or(Error::Malformed("tensor size overflows"))?;
        Ok(())
    }

    /// Multiply-accumulates of one inference (counting padded taps, as the usual MAC counts do).
    pub fn macs(&self) -> u64 {
        (self.output.h * self.output.w * self.output.c) as u64
            * (self.window.kernel_h * self.window.kernel_w * self.input.c) as u64
    }
}

/// DEPTHWISE_CONV_2D with per-channel quantized weights.
#[derive(Clone, Copy, Debug)]
pub struct DepthwiseParams<'a> {
    pub input: Shape4,
    pub output: Shape4,
    pub window: Window,
    pub depth_multiplier: usize,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `[kh, kw, out_c]`.
    pub filter: &'a [i8],
    pub bias: Option<I32s<'a>>,
    pub multiplier: I32s<'a>,
    pub shift: Shifts<'a>,
}

impl DepthwiseParams<'_> {
    pub fn validate(&self) -> Result<()> {
        self.window.validate(self.input, self.output)?;
        if self.depth_multiplier == 0
            || self.input.c.checked_mul(self.depth_multiplier) != Some(self.output.c)
        {
            return Err(Error::Malformed(
                "depthwise channels != input channels * multiplier",
            ));
        }
        let w = &self.window;
        check_len(
            w.kernel_h
                .checked_mul(w.kernel_w)
                .and_then(|x| x.checked_mul(self.output.c)),
            self.filter.len(),
        )?;
        if let Some(b) = self.bias {
            check_len(Some(self.output.c), b.len())?;
        }
        check_multipliers(self.multiplier, self.shift, self.output.c)?;
        check_offset(self.input_offset)?;
        check_offset(self.output_offset)?;
        check_activation(self.act_min, self.act_max)?;
        self.input
            .elements()
            .ok_or(Error::Malformed("tensor size overflows"))?;
        self.output
            .elements()
            .ok_or(Error::Malformed("tensor size overflows"))?;
        Ok(())
    }

    pub fn macs(&self) -> u64 {
        (self.output.h * self.output.w * self.output.c) as u64
            * (self.window.kernel_h * self.window.kernel_w) as u64
    }
}

/// FULLY_CONNECTED: `batches` rows of `depth` inputs to `units` outputs.
#[derive(Clone, Copy, Debug)]
pub struct FullyConnectedParams<'a> {
    pub batches: usize,
    pub depth: usize,
    pub units: usize,
    pub input_offset: i32,
    /// `-filter_zero_point` (0 for symmetric weights).
    pub filter_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `[units, depth]`.
    pub filter: &'a [i8],
    pub bias: Option<I32s<'a>>,
    /// One entry per unit (a per-tensor scale is repeated).
    pub multiplier: I32s<'a>,
    pub shift: Shifts<'a>,
    /// TFLite's reference kernels (`reference_integer_ops::FullyConnected`
    /// and `FullyConnectedPerChannel`) rescale each accumulator in `double`,
    /// `round(acc * input scale * weight scale / output scale)`, not with
    /// the multipliers (which TFLite's optimised kernels and TFLite Micro
    /// use; the two differ where the double rounding of
    /// `MultiplyByQuantizedMultiplier` crosses a half). Each unit's factor
    /// as the two words of its `f64` bits, low first; `None` in blobs
    /// written before 2026-12-07, which keep the multipliers.
    pub double_scale: Option<I32s<'a>>,
}

impl FullyConnectedParams<'_> {
    /// The bits of unit `u`'s `f64` factor of [`Self::double_scale`].
    pub fn unit_scale(&self, u: usize) -> Option<u64> {
        let words = self.double_scale?;
        Some((words.get(2 * u) as u32 as u64) | (words.get(2 * u + 1) as u32 as u64) << 32)
    }

    pub fn validate(&self) -> Result<()> {
        if self.batches == 0 || self.depth == 0 || self.units == 0 {
            return Err(Error::Malformed("empty fully connected layer"));
        }
        check_len(self.units.checked_mul(self.depth), self.filter.len())?;
        if let Some(b) = self.bias {
            check_len(Some(self.units), b.len())?;
        }
        check_multipliers(self.multiplier, self.shift, self.units)?;
        if let Some(words) = self.double_scale {
            check_len(self.units.checked_mul(2), words.len())?;
            // Non-negative and finite, read from the bits: comparing
            // doubles is a library call on a Cortex-M.
            let valid = |bits: u64| bits >> 63 == 0 && (bits >> 52) & 0x7ff != 0x7ff;
            if (0..self.units).any(|u| !self.unit_scale(u).is_some_and(valid)) {
                return Err(Error::Malformed("fully connected scale is not finite"));
            }
        }
        check_offset(self.input_offset)?;
        check_offset(self.filter_offset)?;
        check_offset(self.output_offset)?;
        check_activation(self.act_min, self.act_max)?;
        self.batches
            .checked_mul(self.depth.max(self.units))
            .ok_or(Error::Malformed("tensor size overflows"))?;
        Ok(())
    }

    pub fn macs(&self) -> u64 {
        (self.batches * self.depth * self.units) as u64
    }
}

/// AVERAGE_POOL_2D and MAX_POOL_2D (input and output share scale and zero point).
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolParams {
    pub input: Shape4,
    pub output: Shape4,
    pub window: Window,
    pub act_min: i32,
    pub act_max: i32,
}

impl PoolParams {
    pub fn validate(&self) -> Result<()> {
        self.window.validate(self.input, self.output)?;
        if self.input.c != self.output.c {
            return Err(Error::Malformed("pooling changes the channel count"));
        }
        // Average sums stay in int32, as TFLite's do.
        if self.window.kernel_h.saturating_mul(self.window.kernel_w) > 1 << 23 {
            return Err(Error::Unsupported("pooling window of more than 8 M values"));
        }
        check_activation(self.act_min, self.act_max)?;
        self.input
            .elements()
            .ok_or(Error::Malformed("tensor size overflows"))?;
        Ok(())
    }
}

/// SOFTMAX from int8 to int8 (output scale 1/256, zero point -128).
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftmaxParams {
    pub outer: usize,
    pub depth: usize,
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
}

impl SoftmaxParams {
    pub fn validate(&self) -> Result<()> {
        if self.outer == 0 || self.depth == 0 {
            return Err(Error::Malformed("empty softmax"));
        }
        if !(0..=31).contains(&self.input_left_shift) || self.input_multiplier < 0 {
            return Err(Error::Malformed("softmax multiplier out of range"));
        }
        self.outer
            .checked_mul(self.depth)
            .ok_or(Error::Malformed("tensor size overflows"))?;
        Ok(())
    }
}

/// ADD of two int8 tensors of the same shape, with TFLite's general rescaling.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddParams {
    pub len: usize,
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub left_shift: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl AddParams {
    /// ADD of `len` elements quantized as `scales` and `zero_points` (first
    /// input, second input, output), with TFLite's converter's rescalings
    /// (`quant::add_params`).
    pub fn quantized(
        len: usize,
        scales: [f32; 3],
        zero_points: [i32; 3],
        (act_min, act_max): (i32, i32),
    ) -> AddParams {
        let ([(m1, s1), (m2, s2), (mo, so)], left_shift) =
            crate::quant::add_params(scales[0], scales[1], scales[2]);
        AddParams {
            len,
            input1_offset: -zero_points[0],
            input2_offset: -zero_points[1],
            output_offset: zero_points[2],
            left_shift,
            input1_multiplier: m1,
            input1_shift: s1,
            input2_multiplier: m2,
            input2_shift: s2,
            output_multiplier: mo,
            output_shift: so,
            act_min,
            act_max,
        }
    }

    pub fn validate(&self) -> Result<()> {
        check_offset(self.input1_offset)?;
        check_offset(self.input2_offset)?;
        check_offset(self.output_offset)?;
        check_activation(self.act_min, self.act_max)?;
        if !(0..=20).contains(&self.left_shift) {
            return Err(Error::Malformed("add left shift out of range"));
        }
        for (m, s) in [
            (self.input1_multiplier, self.input1_shift),
            (self.input2_multiplier, self.input2_shift),
            (self.output_multiplier, self.output_shift),
        ] {
            if !crate::quant::multiplier_is_valid(m, s) || s > 0 {
                return Err(Error::Malformed("add multiplier out of range"));
            }
        }
        Ok(())
    }
}

/// QUANTIZE from int8 to int8 (a requantization).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequantizeParams {
    pub len: usize,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
}

impl RequantizeParams {
    pub fn validate(&self) -> Result<()> {
        check_offset(self.input_zero_point)?;
        check_offset(self.output_zero_point)?;
        if !crate::quant::multiplier_is_valid(self.multiplier, self.shift) {
            return Err(Error::Malformed("requantize multiplier out of range"));
        }
        Ok(())
    }
}

/// MEAN over the axes between the first and the last: `[batches,
/// positions, channels]` to `[batches, channels]`.
#[derive(Clone, Copy, Debug)]
pub struct MeanParams {
    pub batches: usize,
    pub positions: usize,
    pub channels: usize,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// The scale ratio with the division by `positions` folded in
    /// ([`crate::quant::mean_multiplier`]).
    pub multiplier: i32,
    pub shift: i32,
}

impl MeanParams {
    pub fn validate(&self) -> Result<()> {
        check_offset(self.input_zero_point)?;
        check_offset(self.output_zero_point)?;
        if self.positions == 0 || i32::try_from(self.positions).is_err() {
            return Err(Error::Malformed("mean over no positions"));
        }
        // The int32 sum of the int8 values cannot overflow.
        if self.positions > (i32::MAX / 256) as usize {
            return Err(Error::Unsupported("MEAN over more than 8 M positions"));
        }
        if !crate::quant::multiplier_is_valid(self.multiplier, self.shift) {
            return Err(Error::Malformed("mean multiplier out of range"));
        }
        Ok(())
    }

    pub fn input_len(&self) -> Option<usize> {
        self.batches
            .checked_mul(self.positions)?
            .checked_mul(self.channels)
    }
}

/// One CONV_2D implementation.
pub struct ConvKernel {
    /// Shown by the benchmark and in test failures.
    pub name: &'static str,
    /// Whether this implementation handles these (validated) parameters.
    pub supports: fn(&ConvParams<'_>) -> bool,
    /// Runs the operator; buffer lengths are checked against the parameters.
    pub eval: fn(&ConvParams<'_>, &[i8], &mut [i8]) -> Result<()>,
}

/// One DEPTHWISE_CONV_2D implementation.
pub struct DepthwiseKernel {
    pub name: &'static str,
    pub supports: fn(&DepthwiseParams<'_>) -> bool,
    pub eval: fn(&DepthwiseParams<'_>, &[i8], &mut [i8]) -> Result<()>,
}

/// CONV_2D implementations, most specialised first; the last supports everything.
pub static CONV_KERNELS: &[ConvKernel] = &[
    #[cfg(arm_dsp)]
    ConvKernel {
        name: "conv_m4_gemm",
        supports: cortex_m4::conv_supports,
        eval: cortex_m4::conv_eval,
    },
    #[cfg(armv6m)]
    ConvKernel {
        name: "conv_m0_gemm_1x8",
        supports: cortex_m0::conv_supports,
        eval: cortex_m0::conv_eval,
    },
    ConvKernel {
        name: "conv_1x1_pointwise",
        supports: pointwise::supports,
        eval: pointwise::eval,
    },
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    ConvKernel {
        name: "conv_1x1_pointwise_portable",
        supports: pointwise::supports,
        eval: pointwise::eval_portable,
    },
    ConvKernel {
        name: "conv_patch",
        supports: conv_patch::supports,
        eval: conv_patch::eval,
    },
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    ConvKernel {
        name: "conv_patch_portable",
        supports: conv_patch::supports,
        eval: conv_patch::eval_portable,
    },
    // The Cortex-M4 kernel with Rust models of its assembly, so the shared
    // suite checks its operand preparation and requantization on the host.
    #[cfg(all(feature = "std", not(arm_dsp)))]
    ConvKernel {
        name: "conv_m4_gemm_model",
        supports: cortex_m4::conv_supports,
        eval: cortex_m4::conv_eval,
    },
    // The Cortex-M0+ kernel with the Rust model of its assembly.
    #[cfg(all(feature = "std", not(armv6m)))]
    ConvKernel {
        name: "conv_m0_gemm_1x8_model",
        supports: cortex_m0::conv_supports,
        eval: cortex_m0::conv_eval,
    },
    ConvKernel {
        name: "conv_reference",
        supports: |_| true,
        eval: reference::conv,
    },
];

/// DEPTHWISE_CONV_2D implementations, most specialised first; the last supports everything.
pub static DEPTHWISE_KERNELS: &[DepthwiseKernel] = &[
    #[cfg(arm_dsp)]
    DepthwiseKernel {
        name: "depthwise_m4_3x3",
        supports: cortex_m4::depthwise_supports,
        eval: cortex_m4::depthwise_eval,
    },
    #[cfg(arm_dsp)]
    DepthwiseKernel {
        name: "depthwise_m4_as_conv",
        supports: cortex_m4::depthwise_as_conv_supports,
        eval: cortex_m4::depthwise_as_conv_eval,
    },
    #[cfg(arm_dsp)]
    DepthwiseKernel {
        name: "depthwise_m4_taps",
        supports: cortex_m4::depthwise_taps_supports,
        eval: cortex_m4::depthwise_taps_eval,
    },
    #[cfg(armv6m)]
    DepthwiseKernel {
        name: "depthwise_m0_3x3",
        supports: cortex_m0::depthwise_supports,
        eval: cortex_m0::depthwise_eval,
    },
    DepthwiseKernel {
        name: "depthwise_dm1_channel_vectorised",
        supports: depthwise_dm1::supports,
        eval: depthwise_dm1::eval,
    },
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    DepthwiseKernel {
        name: "depthwise_dm1_portable",
        supports: depthwise_dm1::supports,
        eval: depthwise_dm1::eval_portable,
    },
    #[cfg(all(feature = "std", not(arm_dsp)))]
    DepthwiseKernel {
        name: "depthwise_m4_as_conv_model",
        supports: cortex_m4::depthwise_as_conv_supports,
        eval: cortex_m4::depthwise_as_conv_eval,
    },
    #[cfg(all(feature = "std", not(arm_dsp)))]
    DepthwiseKernel {
        name: "depthwise_m4_taps_model",
        supports: cortex_m4::depthwise_taps_supports,
        eval: cortex_m4::depthwise_taps_eval,
    },
    #[cfg(all(feature = "std", not(arm_dsp)))]
    DepthwiseKernel {
        name: "depthwise_m4_3x3_model",
        supports: cortex_m4::depthwise_supports,
        eval: cortex_m4::depthwise_eval,
    },
    #[cfg(all(feature = "std", not(armv6m)))]
    DepthwiseKernel {
        name: "depthwise_m0_3x3_model",
        supports: cortex_m0::depthwise_supports,
        eval: cortex_m0::depthwise_eval,
    },
    DepthwiseKernel {
        name: "depthwise_reference",
        supports: |_| true,
        eval: reference::depthwise,
    },
];

/// One FULLY_CONNECTED implementation.
pub struct FullyConnectedKernel {
    pub name: &'static str,
    pub supports: fn(&FullyConnectedParams<'_>) -> bool,
    pub eval: fn(&FullyConnectedParams<'_>, &[i8], &mut [i8]) -> Result<()>,
}

/// FULLY_CONNECTED implementations, most specialised first; the last
/// supports everything. (The host tests the Cortex-M4 entry's Rust model
/// through `cortex_m4::self_check`; the host's dense layers are small
/// enough for the reference.)
pub static FULLY_CONNECTED_KERNELS: &[FullyConnectedKernel] = &[
    #[cfg(arm_dsp)]
    FullyConnectedKernel {
        name: "fc_m4_dot_2",
        supports: cortex_m4::fully_connected_dot_supports,
        eval: cortex_m4::fully_connected_dot_eval,
    },
    #[cfg(arm_dsp)]
    FullyConnectedKernel {
        name: "fc_m4_gemm",
        supports: cortex_m4::fully_connected_supports,
        eval: cortex_m4::fully_connected_eval,
    },
    #[cfg(armv6m)]
    FullyConnectedKernel {
        name: "fc_m0_gemm_1x8",
        supports: cortex_m0::fully_connected_supports,
        eval: cortex_m0::fully_connected_eval,
    },
    FullyConnectedKernel {
        name: "fc_reference",
        supports: |_| true,
        eval: reference::fully_connected,
    },
];

static FULLY_CONNECTED_REFERENCE: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_reference",
    supports: |_| true,
    eval: reference::fully_connected,
};

/// The FULLY_CONNECTED kernel that will run for `p`.
pub fn select_fully_connected(p: &FullyConnectedParams<'_>) -> &'static FullyConnectedKernel {
    FULLY_CONNECTED_KERNELS
        .iter()
        .find(|k| (k.supports)(p))
        .unwrap_or(&FULLY_CONNECTED_REFERENCE)
}

/// Runs the first FULLY_CONNECTED kernel that supports `p`.
pub fn fully_connected(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    (select_fully_connected(p).eval)(p, input, output)
}

/// The CONV_2D kernel that will run for `p`.
pub fn select_conv(p: &ConvParams<'_>) -> &'static ConvKernel {
    CONV_KERNELS
        .iter()
        .find(|k| (k.supports)(p))
        .unwrap_or(&CONV_REFERENCE)
}

/// The DEPTHWISE_CONV_2D kernel that will run for `p`.
pub fn select_depthwise(p: &DepthwiseParams<'_>) -> &'static DepthwiseKernel {
    DEPTHWISE_KERNELS
        .iter()
        .find(|k| (k.supports)(p))
        .unwrap_or(&DEPTHWISE_REFERENCE)
}

static CONV_REFERENCE: ConvKernel = ConvKernel {
    name: "conv_reference",
    supports: |_| true,
    eval: reference::conv,
};

static DEPTHWISE_REFERENCE: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_reference",
    supports: |_| true,
    eval: reference::depthwise,
};

/// Runs the first CONV_2D kernel that supports `p`.
pub fn conv(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    (select_conv(p).eval)(p, input, output)
}

/// Runs the first DEPTHWISE_CONV_2D kernel that supports `p`.
pub fn depthwise(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    (select_depthwise(p).eval)(p, input, output)
}
