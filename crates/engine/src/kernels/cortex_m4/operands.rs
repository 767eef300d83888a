//! The Cortex-M4 kernels' operand preparation: the requantization
//! constants in the micro-kernels' form, scratch from the stack or the
//! arena, widening int8 rows into pairs of 16-bit lanes, gathering a
//! convolution's patches, and which channels the fast requantization
//! covers. Plain Rust around the assembly (`asm`) and its host models
//! (`model`); the kernels in `cortex_m4.rs` put these together per layer.

#[cfg(arm_dsp)]
use super::asm;
#[cfg(not(arm_dsp))]
use super::model;
use super::{ConvParams, I32s};
use crate::kernels::Shifts;

/// Requantization constants of one channel, in the micro-kernels' form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Requant {
    /// TFLite's Q0.31 multiplier.
    pub mult: i32,
    /// Bits 0..8: right shift minus 2 (used by `ASR` by register, which reads
    /// only the bottom byte); bits 8..: `1 + 2 * output_zero_point`.
    pub shc1: i32,
}

impl Requant {
    /// `None` when the fast form would not be exact: a right shift below 2
    /// (or a left shift) with a non-zero multiplier.
    pub fn new(mult: i32, shift: i32, output_offset: i32) -> Option<Requant> {
        let c1 = 1 + 2 * output_offset;
        if mult == 0 {
            // Output is the zero point whatever the accumulator.
            return Some(Requant {
                mult,
                shc1: c1 << 8,
            });
        }
        let e = -shift;
        if !(2..=31).contains(&e) || mult < 0 {
            return None;
        }
        Some(Requant {
            mult,
            shc1: (c1 << 8) | (e - 2),
        })
    }
}

/// What the assembly computes for one output (bias already in `acc`):
/// `SSAT8(((hi(K + acc * mult) >> sh) + c1) >> 1)` with
/// `K = (acc >> 31) * 2^31 + 2^30` as a 64-bit value.
///
/// Equal to `clamp(RDBP(SRDHM(acc, mult), e) + zp, -128, 127)` (TFLite's
/// `MultiplyByQuantizedMultiplier`, right shift `e >= 2`, then the output
/// offset), because: SRDHM rounds `acc*mult / 2^31` half up, i.e.
/// `s = floor((P + 2^30) / 2^31)` for `P = acc*mult`; RDBP rounds half away
/// from zero, which for `e >= 1` is `((s - [s<0]) >> (e-1)) + 1) >> 1`; the
/// sign of `s` can be taken from `acc` (they differ only when `s == 0`, where
/// both give 0); the `-[acc<0]` moves into the 64-bit sum as `-2^31`, and the
/// two floors combine into one shift of the 64-bit sum by `30 + e`, that is
/// the high word shifted by `e - 2`. Adding `1 + 2 zp` before the last halving
/// adds the zero point exactly. No step can overflow.
#[inline(always)]
pub fn requantize(acc: i32, r: Requant) -> i8 {
    let sign = acc >> 31;
    let lo = 0x4000_0000u32.wrapping_add((sign as u32) << 31);
    let k = (i64::from(sign) << 32) | i64::from(lo);
    let p = k.wrapping_add(i64::from(acc) * i64::from(r.mult));
    let hi = (p >> 32) as i32;
    let u = hi >> (r.shc1 & 0xff);
    let t = u.wrapping_add(r.shc1 >> 8);
    (t >> 1).clamp(-128, 127) as i8
}

/// Requantization constants of one channel in the form of the depthwise
/// micro-kernel, which accumulates twice the sum (doubled taps and bias):
/// `SSAT8((SMMLAR(2 acc, mult, add + [acc < 0] * -1)) >> shift)`, five
/// instructions per output, right shifts from 1 (the 7-instruction
/// [`Requant`] needs 2), and no shift at all for an output zero point of
/// -128 (see [`requantize_doubled`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DoubledRequant {
    /// Right shift `e` (`ASR` by register reads the bottom byte).
    pub shift: i32,
    /// TFLite's Q0.31 multiplier.
    pub mult: i32,
    /// `2^(e-1) + zp * 2^e`: the rounding half and the output zero point.
    pub add: i32,
}

/// The accumulator bound [`requantize_doubled`] is exact within: doubled,
/// it stays below `2^30`, and the high word plus the addend below `2^31`.
pub const DOUBLED_ACC_LIMIT: i64 = 1 << 29;

impl DoubledRequant {
    /// `None` when the form would not be exact: a left shift, no shift with
    /// an output zero point other than -128, a negative multiplier, or an
    /// addend beyond `2^30`.
    pub fn new(mult: i32, shift: i32, output_offset: i32) -> Option<DoubledRequant> {
        // A zero multiplier gives the zero point: any shift of 1 does.
        let e = if mult == 0 { 1 } else { -shift };
        if mult < 0 || !(0..=31).contains(&e) {
            return None;
        }
        if e == 0 {
            return (output_offset == -128).then_some(DoubledRequant {
                shift: 0,
                mult,
                add: -128,
            });
        }
        // `2^(e-1) + zp * 2^e = (2 zp + 1) * 2^(e-1)`, in 32 bits: a product
        // that overflows them is beyond `2^30` anyway (64-bit shifts by a
        // variable amount are a dozen instructions on the board).
        let add = output_offset
            .checked_mul(2)
            .and_then(|z| (z + 1).checked_mul(1 << (e - 1)))
            .filter(|a| a.unsigned_abs() <= 1 << 30)?;
        Some(DoubledRequant {
            shift: e,
            mult,
            add,
        })
    }
}

/// What the depthwise assembly computes for one output from `acc2`, twice
/// the accumulator (bias included), for `|acc| < DOUBLED_ACC_LIMIT`:
/// `SSAT8((SMMLAR(acc2, mult, add - [acc2 < 0])) >> e)`.
///
/// Equal to TFLite's `clamp(RDBP(SRDHM(acc, mult), e) + zp, -128, 127)`:
/// SRDHM is `x = floor((acc*mult + 2^30) / 2^31)` for both signs (its
/// negative nudge with a truncating division is the same floor), which is
/// `floor((acc2*mult + 2^31) / 2^32)`, what `SMMLAR` rounds to, with the
/// addend in the high word; RDBP rounds half away from zero, that is
/// `floor((x + 2^(e-1) - [x<0]) / 2^e)` for `e >= 1`, and `[x<0]` may be
/// `[acc<0]` (they differ only when `x == 0`, where both give 0); adding
/// `zp * 2^e` before the shift adds the zero point exactly. `|x| <= |acc|
/// + 1 < 2^29 + 1` and `|add| <= 2^30`, so nothing overflows.
///
/// Without a shift (`e = 0`, TFLite's shift 0: scales in `[0.5, 1)`) the
/// form gives `x + zp - [acc<0]`, one less than TFLite for a negative
/// accumulator; there `x <= 0` (the multiplier is not negative), and with
/// `zp = -128` both `x + zp` and `x + zp - 1` saturate to -128, so it is
/// exact for that zero point only ([`DoubledRequant::new`]).
#[inline(always)]
pub fn requantize_doubled(acc2: i32, r: DoubledRequant) -> i8 {
    let high = ((i64::from(acc2) * i64::from(r.mult) + (1 << 31)) >> 32) as i32;
    let t = high.wrapping_add(r.add).wrapping_add(acc2 >> 31);
    (t >> r.shift).clamp(-128, 127) as i8
}

/// A layer's input and output: apart, or both inside one span of the
/// arena with the output over input rows the layer has read (a layer the
/// planner runs in place; see `Window::in_place_delta`). They are borrowed
/// one at a time, `input` shared and `output` exclusive, so the two never
/// alias; [`InOut::apart`] gives both at once where they are apart.
pub(super) struct InOut<'a> {
    input: *const i8,
    input_len: usize,
    output: *mut i8,
    output_len: usize,
    in_place: bool,
    _borrow: core::marker::PhantomData<&'a mut [i8]>,
}

impl<'a> InOut<'a> {
    pub(super) fn new(input: &'a [i8], output: &'a mut [i8]) -> Self {
        InOut {
            input: input.as_ptr(),
            input_len: input.len(),
            output: output.as_mut_ptr(),
            output_len: output.len(),
            in_place: false,
            _borrow: core::marker::PhantomData,
        }
    }

    /// `input` and `output` inside `span` (they may overlap); an error if
    /// either leaves it.
    pub(super) fn in_place(
        span: &'a mut [i8],
        (input, output): (core::ops::Range<usize>, core::ops::Range<usize>),
    ) -> crate::error::Result<Self> {
        let inside = |r: &core::ops::Range<usize>| r.start <= r.end && r.end <= span.len();
        if !inside(&input) || !inside(&output) {
            return Err(crate::error::Error::Malformed(
                "operator buffers outside the arena",
            ));
        }
        // Both pointers come from the one exclusive borrow of `span`.
        let base = span.as_mut_ptr();
        Ok(InOut {
            // SAFETY: both starts are inside `span` (checked above).
            input: unsafe { base.add(input.start) },
            input_len: input.len(),
            output: unsafe { base.add(output.start) },
            output_len: output.len(),
            in_place: true,
            _borrow: core::marker::PhantomData,
        })
    }

    /// Whether the output may overlap the input.
    pub(super) fn is_in_place(&self) -> bool {
        self.in_place
    }

    pub(super) fn lens(&self) -> (usize, usize) {
        (self.input_len, self.output_len)
    }

    pub(super) fn input(&self) -> &[i8] {
        // SAFETY: the range was borrowed for `'a`; while this shared borrow
        // of `self` lives, `output` (which needs `&mut self`) cannot be.
        unsafe { core::slice::from_raw_parts(self.input, self.input_len) }
    }

    pub(super) fn output(&mut self) -> &mut [i8] {
        // SAFETY: as `input`, exclusively.
        unsafe { core::slice::from_raw_parts_mut(self.output, self.output_len) }
    }

    /// Both at once, where they do not overlap (the per-channel paths,
    /// which read the input after writing the output).
    pub(super) fn apart(&mut self) -> Option<(&[i8], &mut [i8])> {
        if self.in_place {
            return None;
        }
        // SAFETY: made by `new` from a shared and an exclusive borrow,
        // which do not overlap; both are tied to `&mut self`.
        Some(unsafe {
            (
                core::slice::from_raw_parts(self.input, self.input_len),
                core::slice::from_raw_parts_mut(self.output, self.output_len),
            )
        })
    }
}

/// Element types for which all-zero bytes are a valid value.
pub(super) trait Word: Copy {}
impl Word for i8 {}
impl Word for i32 {}
impl Word for u32 {}

/// Stack scratch that is not zeroed as a whole: in-place layers call a
/// kernel once per output row, and zeroing 10 KB of buffers every time cost
/// more than the row's arithmetic.
pub(super) struct Scratch<T: Word, const N: usize>(core::mem::MaybeUninit<[T; N]>);

impl<T: Word, const N: usize> Scratch<T, N> {
    pub(super) fn new() -> Self {
        Scratch(core::mem::MaybeUninit::uninit())
    }

    /// The first `len` elements (at most `N`), zeroed.
    #[inline(always)]
    pub(super) fn zeroed(&mut self, len: usize) -> &mut [T] {
        let len = len.min(N);
        let p = self.0.as_mut_ptr().cast::<T>();
        let bytes = len * core::mem::size_of::<T>();
        // SAFETY: `p` points to `N` elements of `T`; the first `len` are
        // zeroed before the slice over them is made, and all-zero bytes are
        // a valid `T` (`Word`). The slice borrows `self` exclusively.
        unsafe {
            // The stack buffers are word aligned (`MaybeUninit<[T; N]>` of
            // a word type or followed by one), but only whole words of the
            // aligned prefix go through the fast path.
            #[cfg(arm_dsp)]
            if (p as usize).is_multiple_of(4) {
                let words = bytes / 4;
                asm::zero_words(p.cast::<u32>(), words);
                core::ptr::write_bytes(p.cast::<u8>().add(words * 4), 0, bytes - words * 4);
            } else {
                core::ptr::write_bytes(p.cast::<u8>(), 0, bytes);
            }
            #[cfg(not(arm_dsp))]
            core::ptr::write_bytes(p.cast::<u8>(), 0, bytes);
            core::slice::from_raw_parts_mut(p, len)
        }
    }
}

/// Scratch words taken from the front of `rest` (the arena's free space the
/// interpreter hands over): `len` words, or `None` when `rest` is shorter.
/// Not zeroed: the arena is initialised memory, and every kernel writes its
/// scratch before it reads it (the self-check runs them in an arena full of
/// earlier cases' data); zeroing cost in-place layers, which call a kernel
/// once per output row, as much as some rows' arithmetic.
pub(super) fn take_words<'s>(rest: &mut &'s mut [u32], len: usize) -> Option<&'s mut [u32]> {
    if rest.len() < len {
        return None;
    }
    let (head, tail) = core::mem::take(rest).split_at_mut(len);
    *rest = tail;
    Some(head)
}

/// `words` as bytes.
pub(super) fn as_bytes(words: &mut [u32]) -> &mut [i8] {
    // SAFETY: the words are initialised; any byte is a valid `i8`, `i8` has
    // alignment 1, and the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<i8>(), words.len() * 4) }
}

/// [`take_words`] as `i32`.
pub(super) fn take_i32<'s>(rest: &mut &'s mut [u32], len: usize) -> Option<&'s mut [i32]> {
    let words = take_words(rest, len)?;
    // SAFETY: `u32` and `i32` have the same size, alignment and validity.
    Some(unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<i32>(), len) })
}

/// Copies a short run of bytes with word moves; `copy_from_slice` calls
/// `memcpy`, whose set-up costs more than a 9-byte patch row.
#[inline(always)]
pub(super) fn copy_short(dst: &mut [i8], src: &[i8]) {
    let n = src.len().min(dst.len());
    let (mut d, mut s) = (dst[..n].chunks_exact_mut(4), src[..n].chunks_exact(4));
    for (d4, s4) in (&mut d).zip(&mut s) {
        d4.copy_from_slice(
            &u32::from_ne_bytes([s4[0] as u8, s4[1] as u8, s4[2] as u8, s4[3] as u8])
                .to_ne_bytes()
                .map(|b| b as i8),
        );
    }
    for (db, &sb) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *db = sb;
    }
}

/// Copies `rows` runs of `run` bytes, `stride` bytes apart in the source,
/// back to back into `d` (a patch's kernel rows).
///
/// # Safety
/// The `rows` source runs must be readable and `d..d + rows * run` writable.
#[inline(always)]
pub(super) unsafe fn copy_rows(d: *mut i8, s: *const i8, run: usize, rows: usize, stride: usize) {
    #[cfg(arm_dsp)]
    // SAFETY: as documented (caller).
    unsafe {
        asm::copy_rows(d, s, run as u32, rows as u32, stride as u32);
    }
    #[cfg(not(arm_dsp))]
    for r in 0..rows {
        // SAFETY: as documented (caller).
        unsafe { core::ptr::copy_nonoverlapping(s.add(r * stride), d.add(r * run), run) };
    }
}

/// Whether channel `i`'s multiplier has the fast requantization form; the
/// others (a right shift below 2, a left shift: multipliers of 0.25 and
/// more, which dead or amplifying channels get) are recomputed one by one
/// by the reference arithmetic after the micro-kernel ran.
#[inline(always)]
pub(super) fn fast_channel(mult: I32s<'_>, shift: Shifts<'_>, i: usize) -> bool {
    // What `Requant::new` accepts, without building it.
    let m = mult.get(i);
    m == 0 || (m > 0 && (-31..=-2).contains(&shift.get(i)))
}

/// Channels of `0..n` without the fast requantization form.
pub(super) fn slow_channels(mult: I32s<'_>, shift: Shifts<'_>, n: usize) -> usize {
    (0..n).filter(|&i| !fast_channel(mult, shift, i)).count()
}

/// Three pixels' `groups * 4` values, `stride` bytes apart from `a` on,
/// widened for the 2 x 3 GEMM with the input offset `offset` added
/// ([`asm::interleave3`]).
pub(super) fn interleave3(a: &[i8], stride: usize, dst: &mut [u32], groups: usize, offset: i32) {
    debug_assert!(a.len() >= 2 * stride + groups * 4 && dst.len() >= groups * 6);
    let offset = u32::from(offset as u16) * 0x0001_0001;
    #[cfg(arm_dsp)]
    // SAFETY: `a` holds the three pixels' `groups * 4` bytes, `dst`
    // `groups * 6` words (checked by the caller's slicing).
    unsafe {
        asm::interleave3(a.as_ptr(), stride, dst.as_mut_ptr(), groups, offset);
    }
    #[cfg(not(arm_dsp))]
    model::interleave3(a, stride, dst, groups, offset);
}

/// The filter rows of `pairs` channel pairs (`rows`: a pair's two rows of
/// `4 * groups` values, then the next pair's) widened into their GEMM
/// records (`records`: from the first record's filter words, records of
/// `4 * groups + PAIR_EXTRA` words), every value doubled if `doubled` (for
/// [`super::Gemm::Doubled`], which accumulates twice the sum); the heads
/// and tails are left as they are ([`asm::interleave_filters`]).
pub(super) fn interleave_filters(
    rows: &[i8],
    records: &mut [u32],
    groups: usize,
    pairs: usize,
    doubled: bool,
) {
    let rec_words = 4 * groups + super::PAIR_EXTRA;
    assert!(
        pairs == 0
            || (rows.len() >= pairs * 8 * groups
                && records.len() >= (pairs - 1) * rec_words + 4 * groups)
    );
    #[cfg(arm_dsp)]
    // SAFETY: `rows` holds the pairs' `8 * groups` bytes each and `records`
    // every record's filter words (asserted above).
    unsafe {
        let f = if doubled {
            asm::interleave_filters_doubled
        } else {
            asm::interleave_filters
        };
        f(rows.as_ptr(), records.as_mut_ptr(), groups, pairs)
    };
    #[cfg(not(arm_dsp))]
    for j in 0..pairs {
        let (a, b) = rows[j * 8 * groups..].split_at(4 * groups);
        model::interleave_filters(a, b, &mut records[j * rec_words..], groups, doubled);
    }
}

/// The receptive fields of output pixels `px..px + N` in `[kh, kw, ic]`
/// order, into consecutive patches of `kp` bytes; taps in the padding set
/// to the input zero point (they then add exactly 0).
#[inline(always)]
pub(super) fn gather<const N: usize>(
    p: &ConvParams<'_>,
    input: &[i8],
    px: usize,
    patches: (&mut [i8], usize),
    zero_point: i8,
    dims: (usize, usize, usize),
) {
    if !gather_inside::<N>(p, input, px, (&mut *patches.0, patches.1), dims) {
        gather_each(p, input, (px, N), patches, zero_point, dims);
    }
}

/// [`gather`] when the pixels lie in one output row and their windows
/// inside the input (nearly all): `N` runs of rows, without per-pixel
/// arithmetic and checks. Returns false, having written nothing, otherwise.
#[inline(always)]
fn gather_inside<const N: usize>(
    p: &ConvParams<'_>,
    input: &[i8],
    px: usize,
    (patches, kp): (&mut [i8], usize),
    (ih, iw, ow): (usize, usize, usize),
) -> bool {
    let w = p.window;
    let ic = p.input.c;
    let (oy, ox) = (px / ow, px % ow);
    let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
    let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
    let (run, step, row) = (w.kernel_w * ic, w.stride_w * ic, iw * ic);
    let last = N.saturating_sub(1);
    if !(ox + last < ow
        && iy0 >= 0
        && ix0 >= 0
        && iy0 as usize + w.kernel_h <= ih
        && ix0 as usize + last * w.stride_w + w.kernel_w <= iw
        && w.kernel_h * run <= kp
        && N * kp <= patches.len())
    {
        return false;
    }
    let start = (iy0 as usize * iw + ix0 as usize) * ic;
    if start + last * step + (w.kernel_h - 1) * row + run > input.len() {
        return false;
    }
    for i in 0..N {
        // SAFETY: the last byte read, start + last * step + (kernel_h - 1) *
        // row + run - 1, is inside `input` (checked just above), and patch
        // `i`'s kernel_h * run bytes fit in its `kp` bytes of `patches`.
        unsafe {
            copy_rows(
                patches.as_mut_ptr().add(i * kp),
                input.as_ptr().add(start + i * step),
                run,
                w.kernel_h,
                row,
            );
        }
    }
    true
}

/// [`gather`] pixel by pixel: the pixels at the input's border, and runs
/// that cross an output row.
#[inline(never)]
fn gather_each(
    p: &ConvParams<'_>,
    input: &[i8],
    (px, count): (usize, usize),
    (patches, kp): (&mut [i8], usize),
    zero_point: i8,
    (ih, iw, ow): (usize, usize, usize),
) {
    let w = p.window;
    let ic = p.input.c;
    for (px, patch) in (px..).zip(patches.chunks_exact_mut(kp).take(count)) {
        if gather_inside::<1>(p, input, px, (&mut *patch, kp), (ih, iw, ow)) {
            continue;
        }
        // The taps inside the input, row by row.
        let (oy, ox) = (px / ow, px % ow);
        let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
        let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
        let (ky0, ky1) = crate::kernels::reference::tap_range(iy0, w.kernel_h, ih);
        let (kx0, kx1) = crate::kernels::reference::tap_range(ix0, w.kernel_w, iw);
        let k = w.kernel_h * w.kernel_w * ic;
        if !(ky0 == 0 && kx0 == 0 && ky1 == w.kernel_h && kx1 == w.kernel_w) {
            patch[..k].fill(zero_point);
        }
        for ky in ky0..ky1 {
            let iy = (iy0 + ky as isize) as usize;
            let src = (iy * iw + (ix0 + kx0 as isize) as usize) * ic;
            let dst = (ky * w.kernel_w + kx0) * ic;
            let len = (kx1 - kx0) * ic;
            copy_short(&mut patch[dst..dst + len], &input[src..src + len]);
        }
    }
}

/// `src` (one byte per channel, the block's channels) sign-extended into
/// the low half (`high` false) or the high half of band words `first`,
/// `first + chw`, ...: an edge column pair's input column.
pub(super) fn widen_halves(src: &[i8], band: &mut [u32], first: usize, high: bool, chw: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    assert!(band.len() > first + (n - 1) * chw);
    #[cfg(arm_dsp)]
    // SAFETY: writes the halves of words `first + i * chw` (`i < n`) of
    // `band`, inside it as asserted (little-endian: the high half is the
    // second `u16` of a word), and reads the `n` bytes of `src`.
    unsafe {
        let dst = band.as_mut_ptr().add(first).cast::<u16>();
        asm::widen_halves(src.as_ptr(), dst.add(usize::from(high)), n, chw * 4);
    }
    #[cfg(not(arm_dsp))]
    {
        let (keep, at) = if high { (0xffff, 16) } else { (0xffff_0000, 0) };
        for (i, &v) in src.iter().enumerate() {
            let w = &mut band[first + i * chw];
            *w = (*w & keep) | (u32::from(v as i16 as u16) << at);
        }
    }
}

/// Widens `pairs` pixel pairs of one input row (`src` at the first pixel
/// and the block's first channel, `c` bytes per pixel) for `quads` channel
/// quads into band words (`dst` at channel 0's word of the first column
/// pair, `chw` words per channel, three per column pair).
pub(super) fn widen_pairs(
    src: &[i8],
    dst: &mut [u32],
    pairs: usize,
    quads: usize,
    (c, chw): (usize, usize),
) {
    if pairs == 0 || quads == 0 {
        return;
    }
    assert!(
        src.len() >= (2 * pairs - 1) * c + 4 * quads
            && dst.len() > (4 * quads - 1) * chw + 3 * (pairs - 1)
    );
    #[cfg(arm_dsp)]
    // SAFETY: reads `2 * pairs` pixels of `4 * quads` bytes, `c` apart, from
    // `src`, and writes words `ch * chw + 3 * k` (`ch < 4 * quads`,
    // `k < pairs`) of `dst`: both inside, as asserted.
    unsafe {
        asm::widen_pairs(&asm::WidenArgs {
            src: src.as_ptr(),
            dst: dst.as_mut_ptr(),
            pairs: pairs as u32,
            quads: quads as u32,
            c: c as u32,
            channel_bytes: (chw * 4) as u32,
        });
    }
    #[cfg(not(arm_dsp))]
    model::widen_pairs(src, dst, pairs, quads, c, chw);
}

/// `SMLAD`: `acc` plus the products of the two 16-bit lanes of `x` and `y`.
#[inline(always)]
pub(super) fn smlad(x: u32, y: u32, acc: i32) -> i32 {
    #[cfg(arm_dsp)]
    {
        let out: i32;
        // SAFETY: a register-only DSP instruction (Armv7E-M), no memory access.
        unsafe {
            core::arch::asm!(
                "smlad {out}, {x}, {y}, {acc}",
                out = lateout(reg) out,
                x = in(reg) x,
                y = in(reg) y,
                acc = in(reg) acc,
                options(pure, nomem, nostack),
            );
        }
        out
    }
    #[cfg(not(arm_dsp))]
    {
        let lane = |v: u32, s: u32| i32::from((v >> s) as u16 as i16);
        acc.wrapping_add(lane(x, 0) * lane(y, 0))
            .wrapping_add(lane(x, 16) * lane(y, 16))
    }
}
