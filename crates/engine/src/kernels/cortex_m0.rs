//! Cortex-M0+ kernels (Armv6-M: Thumb-1, no DSP instructions, a
//! single-cycle 32x32->32 `MULS`, 8 fast low registers), for the Raspberry
//! Pi Pico.
//!
//! **One `MULS` does two MACs.** A channel pair's weights are packed in one
//! word, `W = (w_a + 128) + (w_b << 16)`, and the input byte is made
//! unsigned, `u = x + 128` (`EOR 0x80`). Then
//! `u * W = L + 2^16 H` with `L = u * (w_a + 128)` in `[0, 65025]` and
//! `H = u * w_b` in `[-32640, 32385]`: the product fits in 32 bits and its
//! low lane is never negative, so `ASR #16` gives `H` exactly. The kernel
//! keeps two accumulators per pair, `S = sum(u * W)` (mod 2^32) and
//! `B = sum(H)`; afterwards `sum(L) = S - (B << 16)` (exact: it is below
//! 2^32 for any reduction of at most 66,000 values). Five instructions per
//! two MACs (`LDR`, `MULS`, `ADD`, `ASRS`, `ADD`) where the plain form needs
//! six (a copy, `MULS`, `ADD` per MAC), and one `LDR` brings two weights.
//!
//! The offsets fold into per-channel constants as in the other kernels:
//! `sum(w * (x + off)) = sum(w * u) + (off - 128) * sum(w)`, and channel a's
//! `sum(L) = sum(u * w_a) + 128 * sum(u)` needs the pixel's `sum(x)` once.
//!
//! The micro-kernel ([`asm::gemm_1x8`]) computes one pixel x 8 output
//! channels (4 pairs, 8 accumulators in r5-r12); everything around it
//! (packing the weights once per block, the per-pixel sums, requantization)
//! is Rust. Requantization is TFLite's, exact: [`requantize`] is the
//! Cortex-M4 kernels' one-rounding form ([`super::cortex_m4::requantize`])
//! with its 32x32->64 product built from four 16-bit `MULS` (Armv6-M has no
//! long multiply; `i64` products would call `__aeabi_lmul`).
//!
//! The assembly is built for Armv6-M targets (`cfg(armv6m)`, see the
//! engine's build.rs); elsewhere a Rust model with the same arithmetic
//! (`model`) runs in its place, so the shared kernel suite checks the
//! packing, folding and requantization on the host; the emulated board
//! (`bench_vww --core m0plus`, the C library's M0+ build) checks the
//! assembly against the golden vectors.

use super::cortex_m4::Requant;
use super::reference::unsupported;
use super::{ConvParams, DepthwiseParams, FullyConnectedParams, Shape4, Window, check_len};
use crate::error::Result;

/// Element types for which all-zero bytes are a valid value.
trait Word: Copy {}
impl Word for i8 {}
impl Word for i32 {}
impl Word for u32 {}

/// The first `len` (at most `N`) elements of an uninitialised stack buffer,
/// zeroed: in-place layers call a kernel once per output row, and zeroing
/// whole buffers every call cost more than some rows' arithmetic.
fn zeroed<T: Word, const N: usize>(
    buf: &mut core::mem::MaybeUninit<[T; N]>,
    len: usize,
) -> &mut [T] {
    let len = len.min(N);
    let p = buf.as_mut_ptr().cast::<T>();
    // SAFETY: `p` points to `N` elements of `T`; the first `len` are zeroed
    // before the slice over them is made, and all-zero bytes are a valid `T`
    // (`Word`). The slice borrows `buf` exclusively.
    unsafe {
        core::ptr::write_bytes(p, 0, len);
        core::slice::from_raw_parts_mut(p, len)
    }
}

/// Output channels per micro-kernel call (4 packed pairs).
const BLOCK: usize = 8;
/// Largest reduction (input channels, or patch length rounded up to 4).
pub const MAX_K: usize = 512;
/// Pixels whose input sums are kept at once.
const CHUNK: usize = 256;

/// The Cortex-M4 kernels' requantization,
/// `SSAT8(((hi(K + acc * mult) >> sh) + c1) >> 1)` (see
/// [`super::cortex_m4::requantize`] for why that equals TFLite's double
/// rounding; `K` is `2^30` for `acc >= 0`, else `-2^30`), in the 32-bit
/// steps of the assembly: the high word of the 64-bit sum from
/// `acc = ah * 2^16 + al` (`al` signed 16-bit) and `mult = mh * 2^16 + ml`,
/// four 16x16 products. Exact when `|acc| < 2^30 - 2^16` (then
/// `|ah| < 2^14` and the middle sum stays inside 32 bits);
/// [`fast_channel`] makes sure of that.
#[inline(always)]
pub fn requantize(acc: i32, r: Requant) -> i32 {
    let al = i32::from(acc as i16);
    let ah = acc.wrapping_sub(al) >> 16;
    let (ml, mh) = (r.mult & 0xffff, (r.mult as u32 >> 16) as i32);
    // (K / 2^16 - 2^14) + (al * ml) >> 16 + ah * ml + al * mh, then + 2^14.
    let mut mid = (acc >> 31) << 15;
    mid = mid.wrapping_add(al.wrapping_mul(ml) >> 16);
    mid = mid.wrapping_add(ah.wrapping_mul(ml));
    mid = mid.wrapping_add(al.wrapping_mul(mh));
    let hi = ah
        .wrapping_mul(mh)
        .wrapping_add(mid.wrapping_add(1 << 14) >> 16);
    let u = hi >> (r.shc1 & 0xff);
    u.wrapping_add(r.shc1 >> 8) >> 1
}

/// The largest `|x + input_offset|` of a supported layer (offsets in
/// `[-127, 128]`) times the largest `|w|`: bounds one MAC.
const MAX_PRODUCT: i64 = 256 * 128;

/// How a channel is requantized by the assembly, if it can be:
///
/// - the fast form (`Requant::new`) when `|acc + bias| < 2^30 - 2^16` for
///   any input of a reduction of `k` values, the bound of [`requantize`];
/// - a constant when the output cannot change over that whole range (the
///   requantization is monotonic, so its two ends decide): dead channels of
///   real models have a bias near `2^30` and right shifts of 27 to 31, which
///   the bound excludes. As `mult = 0` with `c1 = 1 + 2 * out`;
/// - otherwise `None`: the reference arithmetic, channel by channel.
fn fast_channel(
    (mult, shift, bias): (i32, i32, i32),
    k: usize,
    tail: (i32, i32, i32),
) -> Option<Requant> {
    let r = Requant::new(mult, shift, tail.0);
    let range = MAX_PRODUCT * k as i64;
    let bias64 = i64::from(bias);
    if let Some(r) = r
        && (r.mult == 0 || bias64.abs() + range < (1 << 30) - (1 << 16))
    {
        return Some(r);
    }
    let (lo, hi) = (bias64 - range, bias64 + range);
    if lo < i64::from(i32::MIN) || hi > i64::from(i32::MAX) {
        return None;
    }
    let at = |acc: i64| super::reference::requantize(acc as i32, 0, mult, shift, tail);
    if mult < 0 || at(lo) != at(hi) {
        return None;
    }
    Some(Requant {
        mult: 0,
        shc1: (1 + 2 * i32::from(at(lo))) << 8,
    })
}

/// 1x1 convolutions (the pointwise layers) and any other window through a
/// gathered patch, with a reduction of at most [`MAX_K`] and an input zero
/// point inside int8 (it fills the padding).
pub fn conv_supports(p: &ConvParams<'_>) -> bool {
    let k = p.window.kernel_h * p.window.kernel_w * p.input.c;
    k <= MAX_K && (-127..=128).contains(&p.input_offset)
}

fn is_direct(p: &ConvParams<'_>) -> bool {
    super::pointwise::supports(p) && p.input.c.is_multiple_of(4)
}

/// Packs channels `c0..c0 + 8` (missing ones as zero filters) of `filter`
/// (`[oc, k]`) into the micro-kernel's layout, `kp` rows of 4 pair words
/// (rows from `k` on are zero filters); returns each channel's filter sum.
/// Runs once per block, so on the late 3x3 maps (9 pixels) it costs about
/// as much per weight as the multiplies: kept to one pass of byte loads.
fn pack_block(
    filter: &[i8],
    (k, kp): (usize, usize),
    (c0, oc): (usize, usize),
    need_sums: bool,
    w: &mut [u32],
) -> [i32; BLOCK] {
    let mut sums = [0i32; BLOCK];
    // Rows k..kp: zero filters (128 in channel a's lane).
    let (head, tail) = w[..4 * kp].split_at_mut(4 * k);
    tail.fill(128);
    for j in 0..BLOCK / 2 {
        let (ca, cb) = (c0 + 2 * j, c0 + 2 * j + 1);
        let (mut sa, mut sb) = (0i32, 0i32);
        match (ca < oc, cb < oc) {
            (true, true) => {
                let (ra, rb) = (&filter[ca * k..(ca + 1) * k], &filter[cb * k..(cb + 1) * k]);
                if need_sums {
                    sa = ra.iter().fold(0, |s, &v| s + i32::from(v));
                    sb = rb.iter().fold(0, |s, &v| s + i32::from(v));
                }
                // Whole groups of 4 in assembly on the board, the rest here.
                let done = pack_pairs(ra, rb, &mut head[j..]);
                for (i, (&a, &b)) in ra.iter().zip(rb).enumerate().skip(done) {
                    head[4 * i + j] =
                        ((i32::from(a) + 128) as u32).wrapping_add((i32::from(b) as u32) << 16);
                }
            }
            (true, false) => {
                let dst = head.chunks_exact_mut(4).map(|d| &mut d[j]);
                for (d, &a) in dst.zip(&filter[ca * k..(ca + 1) * k]) {
                    sa += i32::from(a);
                    *d = (i32::from(a) + 128) as u32;
                }
            }
            _ => {
                for d in head.chunks_exact_mut(4).map(|d| &mut d[j]) {
                    *d = 128;
                }
            }
        }
        sums[2 * j] = sa;
        sums[2 * j + 1] = sb;
    }
    sums
}

/// Pair words of rows `a` and `b` into `dst[4 * i]` for whole groups of 4
/// (on the board; the host's model does none); returns how many it did.
#[inline(always)]
fn pack_pairs(a: &[i8], b: &[i8], dst: &mut [u32]) -> usize {
    let n4 = a.len().min(b.len()) / 4;
    #[cfg(armv6m)]
    if n4 > 0 && dst.len() > 4 * (4 * n4 - 1) {
        // SAFETY: 4 * n4 bytes of `a` and `b` are read; the last word
        // written is dst[4 * (4 * n4 - 1)], inside `dst` (checked).
        unsafe { asm::pack_pair(a.as_ptr(), b.as_ptr(), dst.as_mut_ptr(), n4) };
        return 4 * n4;
    }
    let _ = (n4, dst);
    0
}

/// Sum of the `n` bytes at `x` (the pixel or patch the kernel reads).
#[inline(always)]
fn byte_sum(x: &[i8]) -> i32 {
    x.iter().fold(0i32, |s, &v| s + i32::from(v))
}

pub fn conv_eval(p: &ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !conv_supports(p) {
        return Err(unsupported(
            "Cortex-M0+ convolution: unsupported parameters",
        ));
    }
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (oh, ow, oc) = (p.output.h, p.output.w, p.output.c);
    let w = p.window;
    let direct = is_direct(p);
    let k = w.kernel_h * w.kernel_w * ic;
    let kp = k.div_ceil(4) * 4;
    let zero_point = (-p.input_offset) as i8;
    let tail = (p.output_offset, p.act_min, p.act_max);
    let pixels = oh * ow;

    let mut wbuf = core::mem::MaybeUninit::<[u32; MAX_K * BLOCK / 2]>::uninit();
    let wblock = zeroed(&mut wbuf, kp * BLOCK / 2);
    // Gathered patches of a chunk of pixels (not for 1x1 layers).
    let mut pbuf = core::mem::MaybeUninit::<[i8; MAX_K]>::uninit();
    let patch = zeroed(&mut pbuf, if direct { 0 } else { kp });
    let mut sbuf = core::mem::MaybeUninit::<[i32; CHUNK]>::uninit();
    let sums = zeroed(&mut sbuf, pixels.min(CHUNK));
    let mut acc = [0i32; BLOCK];
    let mut spare = [0i8; BLOCK];
    let mut px0 = 0;
    let (mut oy0, mut ox0) = (0, 0);
    while px0 < pixels {
        let n = (pixels - px0).min(CHUNK);
        // Per pixel: -128 * sum(x) of what the kernel reads (channel a's
        // correction; the -128 * 128 * kp part is in its bias).
        // (Patches are gathered once per block and summed there.)
        if direct {
            for (i, s) in sums[..n].iter_mut().enumerate() {
                let x = &input[(px0 + i) * ic..(px0 + i + 1) * ic];
                *s = byte_sum(x).wrapping_mul(-128);
            }
        }
        let mut c0 = 0;
        while c0 < oc {
            // The offsets fold with the filter sums, times `input_offset -
            // 128`: zero for the usual zero point of -128.
            let need_sums = p.input_offset != 128;
            let fsum = pack_block(p.filter, (k, kp), (c0, oc), need_sums, wblock);
            let m = (oc - c0).min(BLOCK);
            // Per channel `[bias, mult, shc1]`: the bias with the offsets
            // folded in; channels without the fast form get a zero
            // multiplier here and are recomputed from the sums below.
            let mut par = [0i32; 3 * BLOCK];
            let mut slow = 0u32;
            for j in 0..m {
                let c = c0 + j;
                let mut b = p
                    .bias
                    .map_or(0, |v| v.get(c))
                    .wrapping_add(fsum[j].wrapping_mul(p.input_offset - 128));
                if j.is_multiple_of(2) {
                    b = b.wrapping_sub(128 * 128 * kp as i32);
                }
                par[3 * j] = b;
                let (mult, shift) = (p.multiplier.get(c), p.shift.get(c));
                let bias = p.bias.map_or(0, |v| v.get(c));
                match fast_channel((mult, shift, bias), k, tail) {
                    Some(r) => {
                        par[3 * j + 1] = r.mult;
                        par[3 * j + 2] = r.shc1;
                    }
                    None => slow |= 1 << j,
                }
            }
            // Whole 1x1 blocks: all the chunk's pixels in one call.
            if direct && m == BLOCK && slow == 0 {
                let first = px0 * oc + c0;
                gemm_1x8(
                    (&input[px0 * ic..(px0 + n) * ic], ic, kp / 4),
                    wblock,
                    &par,
                    &sums[..n],
                    (p.act_min, p.act_max),
                    &mut acc,
                    (&mut output[first..first + (n - 1) * oc + BLOCK], oc),
                );
                c0 += BLOCK;
                continue;
            }
            // Output position of `px0` without a division (Armv6-M has none).
            let (mut oy, mut ox) = (oy0, ox0);
            for (i, &pixel_sum) in sums[..n].iter().enumerate() {
                let px = px0 + i;
                let (x, sx): (&[i8], i32) = if direct {
                    (&input[px * ic..(px + 1) * ic], pixel_sum)
                } else {
                    gather(p, input, (oy, ox), &mut patch[..kp], zero_point, (ih, iw));
                    (&patch[..kp], byte_sum(&patch[..kp]).wrapping_mul(-128))
                };
                let out = &mut output[px * oc + c0..px * oc + c0 + m];
                let dst: &mut [i8] = if m == BLOCK { out } else { &mut spare };
                gemm_1x8(
                    (x, kp, kp / 4),
                    wblock,
                    &par,
                    &[sx],
                    (p.act_min, p.act_max),
                    &mut acc,
                    (dst, BLOCK),
                );
                let out = &mut output[px * oc + c0..px * oc + c0 + m];
                if m < BLOCK {
                    out.copy_from_slice(&spare[..m]);
                }
                let mut bits = slow;
                while bits != 0 {
                    let j = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let raw = if j.is_multiple_of(2) {
                        acc[j].wrapping_sub(acc[j + 1] << 16).wrapping_add(sx)
                    } else {
                        acc[j]
                    };
                    let c = c0 + j;
                    out[j] = super::reference::requantize(
                        raw.wrapping_add(par[3 * j]),
                        0,
                        p.multiplier.get(c),
                        p.shift.get(c),
                        tail,
                    );
                }
                ox += 1;
                if ox == ow {
                    (oy, ox) = (oy + 1, 0);
                }
            }
            c0 += BLOCK;
        }
        px0 += n;
        ox0 += n;
        while ox0 >= ow {
            (oy0, ox0) = (oy0 + 1, ox0 - ow);
        }
    }
    Ok(())
}

/// `n` pixels (`x`: `n` runs of `4 * k4` bytes, `x_stride` apart) times a
/// packed block of 8 channels, requantized into `out` (8 bytes per pixel,
/// `out_stride` apart); `sums` holds each pixel's `-128 * sum(x)`; `acc`
/// receives the last pixel's raw sums `[S0, B0, S1, B1, S2, B2, S3, B3]`
/// (see the module documentation).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm_1x8(
    (x, x_stride, k4): (&[i8], usize, usize),
    w: &[u32],
    par: &[i32; 3 * BLOCK],
    sums: &[i32],
    act: (i32, i32),
    acc: &mut [i32; BLOCK],
    (out, out_stride): (&mut [i8], usize),
) {
    let n = sums.len();
    assert!(
        n > 0
            && k4 > 0
            && 4 * k4 <= x_stride
            && x.len() >= (n - 1) * x_stride + 4 * k4
            && out.len() >= (n - 1) * out_stride + BLOCK
            && w.len() >= 16 * k4
    );
    #[cfg(armv6m)]
    {
        let mut args = asm::Gemm1x8Args {
            x: x.as_ptr(),
            w: w.as_ptr(),
            k4: k4 as u32,
            acc: acc.as_mut_ptr(),
            out: out.as_mut_ptr(),
            par: par.as_ptr(),
            sums: sums.as_ptr(),
            act_min: act.0,
            act_max: act.1,
            n: n as u32,
            x_stride: x_stride as u32,
            out_stride: out_stride as u32,
        };
        // SAFETY: the kernel reads n pixels of 4 * k4 bytes x_stride apart
        // from `x`, 16 * k4 words of `w`, 24 of `par`, n of `sums`, and
        // writes 8 words of `acc` and n runs of 8 bytes out_stride apart
        // into `out`: all inside the slices (asserted above); n, k4 > 0.
        unsafe { asm::gemm_1x8(&mut args) };
    }
    #[cfg(not(armv6m))]
    for (i, &sx) in sums.iter().enumerate() {
        let dst: &mut [i8; BLOCK] = (&mut out[i * out_stride..i * out_stride + BLOCK])
            .try_into()
            .unwrap_or_else(|_| unreachable!());
        model::gemm_1x8(
            &x[i * x_stride..i * x_stride + 4 * k4],
            w,
            par,
            sx,
            act,
            acc,
            dst,
        );
    }
}

/// The receptive field of output pixel `px` in `[kh, kw, ic]` order, taps in
/// the padding set to the input zero point (they then add exactly 0); the
/// bytes after it (up to a multiple of 4) are zero.
fn gather(
    p: &ConvParams<'_>,
    input: &[i8],
    (oy, ox): (usize, usize),
    patch: &mut [i8],
    zero_point: i8,
    (ih, iw): (usize, usize),
) {
    let w = p.window;
    let ic = p.input.c;
    let iy0 = (oy * w.stride_h) as isize - w.pad_top as isize;
    let ix0 = (ox * w.stride_w) as isize - w.pad_left as isize;
    let (ky0, ky1) = super::reference::tap_range(iy0, w.kernel_h, ih);
    let (kx0, kx1) = super::reference::tap_range(ix0, w.kernel_w, iw);
    let k = w.kernel_h * w.kernel_w * ic;
    if !(ky0 == 0 && kx0 == 0 && ky1 == w.kernel_h && kx1 == w.kernel_w) {
        patch[..k].fill(zero_point);
    }
    // The rounding-up bytes: their filter taps are zero, but channel a's
    // lane still adds 128 * u for them, which the pixel's byte sum must
    // see the same in both passes.
    patch[k..].fill(0);
    for ky in ky0..ky1 {
        let iy = (iy0 + ky as isize) as usize;
        let src = (iy * iw + (ix0 + kx0 as isize) as usize) * ic;
        let dst = (ky * w.kernel_w + kx0) * ic;
        let len = (kx1 - kx0) * ic;
        patch[dst..dst + len].copy_from_slice(&input[src..src + len]);
    }
}

/// FULLY_CONNECTED as a 1x1 convolution over `batches` pixels.
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

/// Dense layers with symmetric weights that requantize with multipliers,
/// as 1x1 convolutions (blobs with TFLite's `double` rescaling,
/// `double_scale`, keep the reference kernel).
pub fn fully_connected_supports(p: &FullyConnectedParams<'_>) -> bool {
    p.filter_offset == 0 && p.double_scale.is_none() && conv_supports(&fully_connected_as_conv(p))
}

pub fn fully_connected_eval(
    p: &FullyConnectedParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<()> {
    p.validate()?;
    if !fully_connected_supports(p) {
        return Err(unsupported(
            "Cortex-M0+ fully connected: unsupported parameters",
        ));
    }
    conv_eval(&fully_connected_as_conv(p), input, output)
}

/// Widest output row of the depthwise kernel (its accumulators).
const MAX_ROW: usize = 256;
/// Bytes of the depthwise band: three padded input rows, all channels.
const MAX_BAND: usize = 8192;
/// Channels of a depthwise layer (its per-channel table: 48 bytes each).
const MAX_CHANNELS: usize = 256;

/// Columns of the depthwise band: the left padding, the input row and
/// whatever the windows read past it.
fn band_columns(p: &DepthwiseParams<'_>) -> usize {
    let w = &p.window;
    ((p.output.w - 1) * w.stride_w + 3).max(w.pad_left + p.input.w)
}

/// DEPTHWISE_CONV_2D 3x3, depth multiplier 1, stride 1 or 2 (both ways),
/// an input zero point inside int8 (it fills the padding), output rows of at
/// most [`MAX_ROW`] and a band of at most [`MAX_BAND`] bytes (every VWW
/// layer: 3.8 KB at most).
pub fn depthwise_supports(p: &DepthwiseParams<'_>) -> bool {
    let w = &p.window;
    p.depth_multiplier == 1
        && w.kernel_h == 3
        && w.kernel_w == 3
        && (1..=2).contains(&w.stride_h)
        && w.stride_w == w.stride_h
        && (-127..=128).contains(&p.input_offset)
        && p.output.w <= MAX_ROW
        && p.input.c <= MAX_CHANNELS
        && 3 * p.input.c * band_columns(p) <= MAX_BAND
}

/// Depthwise 3x3, output row by output row: the three input rows the row's
/// windows read are copied (`memcpy`, channels still interleaved) into a
/// band with the padding filled with the input zero point, which then adds
/// exactly 0 (`w * (zp + offset)`); the input offset is folded into the
/// bias (`offset * sum(w)`). The whole output row is then one call of
/// [`asm::depthwise_rows`]: per channel, 4 instructions per MAC reading the
/// band in place and 33 per output to requantize, its constants from a
/// table filled once per call (12 words per channel).
///
/// In-place layers (most of VWW's) call the kernel once per output row, so
/// everything per call is per row: copying the band whole costs about half
/// an instruction per byte, where converting rows channel by channel into
/// words cost six per value, and the per-channel set-up in assembly about
/// 60 instructions, where Rust's took 400.
///
/// Packing two pixels per `MULS` as in the GEMM would save half an
/// instruction per MAC but needs each window's sum of inputs (the weight
/// offset's correction), which costs about as much.
pub fn depthwise_eval(p: &DepthwiseParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
    p.validate()?;
    if !depthwise_supports(p) {
        return Err(unsupported("Cortex-M0+ depthwise: unsupported parameters"));
    }
    check_len(p.input.elements(), input.len())?;
    check_len(p.output.elements(), output.len())?;
    let (ih, iw, ch) = (p.input.h, p.input.w, p.input.c);
    let (oh, ow) = (p.output.h, p.output.w);
    let w = p.window;
    let s = w.stride_w;
    let cols = band_columns(p);
    let row_bytes = cols * ch;
    let zero_point = (-p.input_offset) as i8;
    let tail = (p.output_offset, p.act_min, p.act_max);
    let mut bbuf = core::mem::MaybeUninit::<[i8; MAX_BAND]>::uninit();
    let band = zeroed(&mut bbuf, 3 * row_bytes);
    let mut abuf = core::mem::MaybeUninit::<[i32; MAX_ROW]>::uninit();
    let acc = zeroed(&mut abuf, ow);
    let (left, run) = (w.pad_left * ch, iw * ch);
    // Per channel, once per call: the 9 weights, the bias with the input
    // offset folded in (`offset * sum(w)`), `Requant::mult` and `shc1`.
    let mut tbuf = core::mem::MaybeUninit::<[i32; 12 * MAX_CHANNELS]>::uninit();
    let table = zeroed(&mut tbuf, 12 * ch);
    let mut all_fast = true;
    for (c, t) in table.chunks_exact_mut(12).enumerate() {
        let mut ksum = 0i32;
        for (i, d) in t[..9].iter_mut().enumerate() {
            *d = i32::from(p.filter[i * ch + c]);
            ksum += *d;
        }
        let bias = p
            .bias
            .map_or(0, |v| v.get(c))
            .wrapping_add(ksum.wrapping_mul(p.input_offset));
        t[9] = bias;
        match fast_channel((p.multiplier.get(c), p.shift.get(c), bias), 9, tail) {
            Some(r) => {
                t[10] = r.mult;
                t[11] = r.shc1;
            }
            None => all_fast = false,
        }
    }
    for oy in 0..oh {
        let top = (oy * s) as isize - w.pad_top as isize;
        for (ky, dst) in band.chunks_exact_mut(row_bytes).enumerate() {
            let iy = top + ky as isize;
            if (0..ih as isize).contains(&iy) {
                let iy = iy as usize;
                dst[..left].fill(zero_point);
                dst[left..left + run].copy_from_slice(&input[iy * run..(iy + 1) * run]);
                dst[left + run..].fill(zero_point);
            } else {
                dst.fill(zero_point);
            }
        }
        let out_row = &mut output[oy * ow * ch..(oy + 1) * ow * ch];
        if all_fast {
            depthwise_rows(
                band,
                row_bytes,
                table,
                (ch, s),
                &mut acc[..ow],
                out_row,
                (p.act_min, p.act_max),
            );
            continue;
        }
        for c in 0..ch {
            let t = &table[12 * c..12 * c + 12];
            let k: [i32; 9] = core::array::from_fn(|i| t[i]);
            let bias = t[9];
            let rows: [&[i8]; 3] =
                core::array::from_fn(|ky| &band[ky * row_bytes + c..(ky + 1) * row_bytes]);
            depthwise_row(rows, &k, (ch, s * ch), &mut acc[..ow]);
            let out = &mut out_row[c..];
            let (mult, shift) = (p.multiplier.get(c), p.shift.get(c));
            let fast = fast_channel((mult, shift, bias), 9, tail);
            for (ox, &a) in acc[..ow].iter().enumerate() {
                out[ox * ch] = match fast {
                    Some(r) => {
                        requantize(a.wrapping_add(bias), r).clamp(p.act_min, p.act_max) as i8
                    }
                    None => super::reference::requantize(a, bias, mult, shift, tail),
                };
            }
        }
    }
    Ok(())
}

/// One output row of one channel: `acc[i]` = the window at `i * step` of
/// the three band `rows` (each holding every byte those windows read).
#[inline(always)]
fn depthwise_row(
    rows: [&[i8]; 3],
    w: &[i32; 9],
    (channels, step): (usize, usize),
    acc: &mut [i32],
) {
    let need = (acc.len().max(1) - 1) * step + 2 * channels + 1;
    assert!(!acc.is_empty() && rows.iter().all(|r| r.len() >= need));
    #[cfg(armv6m)]
    {
        let args = asm::DepthwiseRowArgs {
            rows: rows.map(|r| r.as_ptr()),
            w: w.as_ptr(),
            acc: acc.as_mut_ptr(),
            n: acc.len() as u32,
            channels: channels as u32,
            step: step as u32,
        };
        // SAFETY: every row holds the bytes the windows read and `acc` n
        // >= 1 words (asserted above); `w` is 9 words.
        unsafe { asm::depthwise_row(&args) };
    }
    #[cfg(not(armv6m))]
    model::depthwise_row(rows, w, (channels, step), acc);
}

/// One output row of every channel: taps and requantization with the
/// per-channel `table` (12 words each, see [`depthwise_eval`]), from the
/// three band rows starting at `band` (`row_bytes` apart, channels
/// interleaved) into `out` (the output row, channels interleaved).
#[inline(always)]
fn depthwise_rows(
    band: &[i8],
    row_bytes: usize,
    table: &[i32],
    (ch, stride): (usize, usize),
    acc: &mut [i32],
    out: &mut [i8],
    act: (i32, i32),
) {
    let n = acc.len();
    let step = stride * ch;
    assert!(
        n > 0
            && ch > 0
            && table.len() >= 12 * ch
            && band.len() >= 2 * row_bytes + (n - 1) * step + 3 * ch
            && out.len() >= n * ch
    );
    #[cfg(armv6m)]
    {
        let mut args = asm::DepthwiseRowsArgs {
            band: band.as_ptr(),
            row_bytes: row_bytes as u32,
            table: table.as_ptr(),
            remaining: ch as u32,
            n: n as u32,
            step: step as u32,
            column: 0,
            channels: ch as u32,
            rq: asm::RequantRowArgs {
                acc: acc.as_mut_ptr().cast_const(),
                n: n as u32,
                out: out.as_mut_ptr(),
                stride: ch as u32,
                bias: 0,
                ml: 0,
                mh: 0,
                shc1: 0,
                act_min: act.0,
                act_max: act.1,
            },
        };
        // SAFETY: channel c reads band bytes c + ky * row_bytes + i * step +
        // kx * ch (< 2 * row_bytes + (n - 1) * step + 3 * ch), 12 table
        // words, writes n accumulators and out[c + i * ch] (< n * ch): all
        // inside the slices (asserted above); n, ch >= 1.
        unsafe { asm::depthwise_rows(&mut args) };
    }
    #[cfg(not(armv6m))]
    for (c, t) in table.chunks_exact(12).take(ch).enumerate() {
        let k: [i32; 9] = core::array::from_fn(|i| t[i]);
        let rows: [&[i8]; 3] = core::array::from_fn(|ky| &band[ky * row_bytes + c..]);
        model::depthwise_row(rows, &k, (ch, step), acc);
        let r = Requant {
            mult: t[10],
            shc1: t[11],
        };
        model::requantize_row(acc, &mut out[c..], ch, t[9], r, act);
    }
}

/// MACs of `op` that run in the micro-kernels (for the benchmark).
pub fn fast_path_macs(op: &crate::blob::PreparedOp<'_>) -> u64 {
    use crate::blob::PreparedOp;
    match op {
        PreparedOp::Conv { params: p, .. } if conv_supports(p) => p.macs(),
        PreparedOp::FullyConnected { params: p, .. } if fully_connected_supports(p) => p.macs(),
        PreparedOp::Depthwise { params: p, .. } if depthwise_supports(p) => p.macs(),
        _ => 0,
    }
}

#[cfg(armv6m)]
mod asm;
#[cfg(not(armv6m))]
mod model;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{I32s, reference};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The 32-bit-piece requantization equals TFLite's for accumulators
    /// inside its bound (`|acc| < 2^30 - 2^16`): extremes, rounding ties,
    /// random.
    #[test]
    fn requantize_matches_tflite_exactly() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let lim = (1 << 30) - (1 << 16) - 1;
        let mut accs = vec![0, 1, -1, lim, -lim, 1 << 16, -(1 << 16), 0xffff, -0x8000];
        for _ in 0..20_000 {
            let v = rng.next();
            let a = ((v as i32) >> 2).clamp(-lim, lim);
            accs.push(match v % 4 {
                0 => a,
                1 => a >> ((v >> 40) % 29),
                2 => (a >> 8) << 8 | 0x80,
                _ => (v as i16) as i32,
            });
        }
        for _ in 0..300 {
            let v = rng.next();
            let mult = if v.is_multiple_of(7) {
                0
            } else {
                (1 << 30) + (v as i32 & 0x3fff_ffff)
            };
            let shift = -(((v >> 32) % 30 + 2) as i32);
            let zp = ((v >> 48) % 256) as i32 - 128;
            let r = Requant::new(mult, shift, zp).unwrap();
            for &a in &accs {
                let want = reference::requantize(a, 0, mult, shift, (zp, -128, 127));
                let got = requantize(a, r).clamp(-128, 127) as i8;
                assert_eq!(got, want, "acc {a} mult {mult} shift {shift} zp {zp}");
            }
        }
    }

    fn words(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Random layers with realistic requantization (the fast path, rather
    /// than the shared suite's random multipliers): pointwise, patch
    /// convolutions with padding and strides, depthwise 3x3 stride 1 and 2,
    /// odd channel counts, any offsets and clamps.
    #[test]
    fn random_layers_match_the_reference() {
        let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
        let (mut convs, mut dws) = (0, 0);
        for case in 0..300 {
            let dw = case % 3 == 2;
            let ic = 1 + rng.below(if dw { 20 } else { 40 });
            let oc = if dw { ic } else { 1 + rng.below(20) };
            let (kh, stride) = match (dw, rng.below(3)) {
                (true, s) => (3, 1 + s % 2),
                (false, 0) => (1, 1),
                (false, 1) => (3, 2),
                (false, _) => (1 + rng.below(3), 1 + rng.below(2)),
            };
            let (ih, iw) = (1 + rng.below(9), 1 + rng.below(9));
            let pad = if kh > 1 && rng.below(2) == 0 {
                rng.below(kh)
            } else {
                0
            };
            let oh = (ih + pad).saturating_sub(kh) / stride + 1;
            let ow = (iw + pad).saturating_sub(kh) / stride + 1;
            if ih + 2 * pad < kh || iw + 2 * pad < kh {
                continue;
            }
            let input: Vec<i8> = (0..ih * iw * ic).map(|_| rng.next() as i8).collect();
            let taps = if dw { kh * kh * oc } else { oc * kh * kh * ic };
            let filter: Vec<i8> = (0..taps).map(|_| rng.next() as i8).collect();
            let bias = words(
                &(0..oc)
                    .map(|_| (rng.next() as i32) >> 14)
                    .collect::<Vec<_>>(),
            );
            let mult = words(
                &(0..oc)
                    .map(|_| (1 << 30) + (rng.next() as i32 & 0x3fff_ffff))
                    .collect::<Vec<_>>(),
            );
            let shift = words(
                &(0..oc)
                    .map(|_| -(6 + rng.below(8) as i32))
                    .collect::<Vec<_>>(),
            );
            let act = if rng.below(2) == 0 {
                (-128, 127)
            } else {
                (-128 + rng.below(60) as i32, 127 - rng.below(60) as i32)
            };
            let input_offset = rng.below(256) as i32 - 127;
            let output_offset = rng.below(256) as i32 - 128;
            let window = Window {
                kernel_h: kh,
                kernel_w: kh,
                stride_h: stride,
                stride_w: stride,
                pad_top: pad,
                pad_left: pad,
            };
            let (input_s, output_s) = (Shape4::new(1, ih, iw, ic), Shape4::new(1, oh, ow, oc));
            let mut want = vec![0i8; oh * ow * oc];
            let mut got = vec![0i8; oh * ow * oc];
            if dw {
                let p = DepthwiseParams {
                    input: input_s,
                    output: output_s,
                    window,
                    depth_multiplier: 1,
                    input_offset,
                    output_offset,
                    act_min: act.0,
                    act_max: act.1,
                    filter: &filter,
                    bias: Some(I32s::new(&bias).unwrap()),
                    multiplier: I32s::new(&mult).unwrap(),
                    shift: I32s::new(&shift).unwrap().into(),
                };
                if p.validate().is_err() || !depthwise_supports(&p) {
                    continue;
                }
                reference::depthwise(&p, &input, &mut want).unwrap();
                depthwise_eval(&p, &input, &mut got).unwrap();
                dws += 1;
            } else {
                let p = ConvParams {
                    input: input_s,
                    output: output_s,
                    window,
                    input_offset,
                    output_offset,
                    act_min: act.0,
                    act_max: act.1,
                    filter: &filter,
                    bias: Some(I32s::new(&bias).unwrap()),
                    multiplier: I32s::new(&mult).unwrap(),
                    shift: I32s::new(&shift).unwrap().into(),
                };
                if p.validate().is_err() || !conv_supports(&p) {
                    continue;
                }
                reference::conv(&p, &input, &mut want).unwrap();
                conv_eval(&p, &input, &mut got).unwrap();
                convs += 1;
            }
            assert_eq!(
                got, want,
                "case {case}: dw {dw} ic {ic} oc {oc} k {kh} s {stride} pad {pad} {ih}x{iw}"
            );
        }
        assert!(
            convs > 100 && dws > 50,
            "{convs} convolutions, {dws} depthwise"
        );
    }
}
