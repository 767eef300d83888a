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
use super::{ConvParams, FullyConnectedParams, Shape4, Window, check_len};
use crate::error::Result;

/// Output channels per micro-kernel call (4 packed pairs).
const BLOCK: usize = 8;
/// Largest reduction (input channels, or patch length rounded up to 4).
pub const MAX_K: usize = 512;
/// Pixels whose input sums are kept at once.
const CHUNK: usize = 256;

/// The Cortex-M4 kernels' requantization, `SSAT8(((hi(K + acc * mult) >> sh)
/// + c1) >> 1)`, with the high word of the 64-bit sum assembled from four
/// 16x16 products (see [`super::cortex_m4::requantize`] for why that equals
/// TFLite's double rounding). `K` is `2^30` for `acc >= 0`, else `-2^30`.
#[inline(always)]
pub fn requantize(acc: i32, r: Requant) -> i32 {
    // acc = ah * 2^16 + al, mult = mh * 2^16 + ml (al, ml unsigned 16-bit;
    // mult >= 0, so mh < 2^15).
    let (al, ah) = (acc as u32 & 0xffff, acc >> 16);
    let (ml, mh) = (r.mult as u32 & 0xffff, r.mult >> 16);
    let low = al * ml; // < 2^32
    // K / 2^16 = +-2^14; the middle terms and the carry out of `low`.
    let k = if acc < 0 { -(1 << 14) } else { 1 << 14 };
    let mid = i64::from(ah * ml as i32) + i64::from(al * mh as u32) + i64::from(low >> 16) + k;
    let hi = (ah * mh).wrapping_add((mid >> 16) as i32);
    let u = hi >> (r.shc1 & 0xff);
    u.wrapping_add(r.shc1 >> 8) >> 1
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
/// (rows from `k` on are zero filters), and returns each channel's filter sum.
fn pack_block(
    filter: &[i8],
    k: usize,
    kp: usize,
    c0: usize,
    oc: usize,
    w: &mut [u32],
) -> [i32; BLOCK] {
    let mut sums = [0i32; BLOCK];
    let tap = |c: usize, i: usize| -> i32 {
        if c < oc && i < k {
            i32::from(filter[c * k + i])
        } else {
            0
        }
    };
    for i in 0..kp {
        for j in 0..BLOCK / 2 {
            let (a, b) = (tap(c0 + 2 * j, i), tap(c0 + 2 * j + 1, i));
            sums[2 * j] += a;
            sums[2 * j + 1] += b;
            w[i * 4 + j] = ((a + 128) as u32).wrapping_add((b as u32) << 16);
        }
    }
    sums
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

    let mut wbuf = [0u32; MAX_K * BLOCK / 2];
    let wblock = &mut wbuf[..kp * BLOCK / 2];
    // Gathered patches of a chunk of pixels (not for 1x1 layers).
    let mut patch = [0i8; MAX_K];
    let mut sums = [0i32; CHUNK];
    let mut acc = [0i32; BLOCK];
    let mut px0 = 0;
    while px0 < pixels {
        let n = (pixels - px0).min(CHUNK);
        // Per pixel: -128 * sum(x) of what the kernel reads (channel a's
        // correction; the -128 * 128 * kp part is in its bias).
        for (i, s) in sums[..n].iter_mut().enumerate() {
            let x = if direct {
                &input[(px0 + i) * ic..(px0 + i + 1) * ic]
            } else {
                gather(
                    p,
                    input,
                    px0 + i,
                    &mut patch[..kp],
                    zero_point,
                    (ih, iw, ow),
                );
                &patch[..kp]
            };
            *s = byte_sum(x).wrapping_mul(-128);
        }
        let mut c0 = 0;
        while c0 < oc {
            let fsum = pack_block(p.filter, k, kp, c0, oc, wblock);
            let m = (oc - c0).min(BLOCK);
            // Folded biases and requantization constants of the block.
            let mut bias = [0i32; BLOCK];
            let mut fast: [Option<Requant>; BLOCK] = [None; BLOCK];
            for j in 0..m {
                let c = c0 + j;
                let mut b = p
                    .bias
                    .map_or(0, |v| v.get(c))
                    .wrapping_add(fsum[j].wrapping_mul(p.input_offset - 128));
                if j % 2 == 0 {
                    b = b.wrapping_sub(128 * 128 * kp as i32);
                }
                bias[j] = b;
                fast[j] = Requant::new(p.multiplier.get(c), p.shift.get(c), p.output_offset);
            }
            for i in 0..n {
                let px = px0 + i;
                let x: &[i8] = if direct {
                    &input[px * ic..(px + 1) * ic]
                } else {
                    gather(p, input, px, &mut patch[..kp], zero_point, (ih, iw, ow));
                    &patch[..kp]
                };
                gemm_1x8(x, wblock, kp / 4, &mut acc);
                let out = &mut output[px * oc + c0..px * oc + c0 + m];
                for (j, o) in out.iter_mut().enumerate() {
                    let v = if j % 2 == 0 {
                        // sum(L) - 128 * sum(u) + bias.
                        acc[j].wrapping_sub(acc[j + 1] << 16).wrapping_add(sums[i])
                    } else {
                        acc[j]
                    }
                    .wrapping_add(bias[j]);
                    *o = match fast[j] {
                        Some(r) => requantize(v, r).clamp(p.act_min, p.act_max) as i8,
                        None => super::reference::requantize(
                            v,
                            0,
                            p.multiplier.get(c0 + j),
                            p.shift.get(c0 + j),
                            tail,
                        ),
                    };
                }
            }
            c0 += BLOCK;
        }
        px0 += n;
    }
    Ok(())
}

/// One pixel (`x`, `4 * k4` bytes) times a packed block of 8 channels:
/// `acc = [S0, B0, S1, B1, S2, B2, S3, B3]` (see the module documentation).
#[inline(always)]
fn gemm_1x8(x: &[i8], w: &[u32], k4: usize, acc: &mut [i32; BLOCK]) {
    assert!(k4 > 0 && x.len() >= 4 * k4 && w.len() >= 16 * k4);
    #[cfg(armv6m)]
    // SAFETY: `x` holds 4 * k4 bytes and `w` 16 * k4 words (asserted above),
    // `acc` 8 words; k4 > 0 (the loop runs at least once).
    unsafe {
        asm::gemm_1x8(x.as_ptr(), w.as_ptr(), k4, acc.as_mut_ptr());
    }
    #[cfg(not(armv6m))]
    model::gemm_1x8(x, w, k4, acc);
}

/// The receptive field of output pixel `px` in `[kh, kw, ic]` order, taps in
/// the padding set to the input zero point (they then add exactly 0); the
/// bytes after it (up to a multiple of 4) are zero.
fn gather(
    p: &ConvParams<'_>,
    input: &[i8],
    px: usize,
    patch: &mut [i8],
    zero_point: i8,
    (ih, iw, ow): (usize, usize, usize),
) {
    let w = p.window;
    let ic = p.input.c;
    let (oy, ox) = (px / ow, px % ow);
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

/// Dense layers with symmetric weights, as 1x1 convolutions.
pub fn fully_connected_supports(p: &FullyConnectedParams<'_>) -> bool {
    p.filter_offset == 0 && conv_supports(&fully_connected_as_conv(p))
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

/// MACs of `op` that run in the micro-kernels (for the benchmark).
pub fn fast_path_macs(op: &crate::blob::PreparedOp<'_>) -> u64 {
    use crate::blob::PreparedOp;
    match op {
        PreparedOp::Conv { params: p, .. } if conv_supports(p) => p.macs(),
        PreparedOp::FullyConnected { params: p, .. } if fully_connected_supports(p) => p.macs(),
        _ => 0,
    }
}

#[cfg(armv6m)]
mod asm;
#[cfg(not(armv6m))]
mod model;
