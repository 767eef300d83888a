//! Rust models of the assembly micro-kernels, instruction for instruction
//! in effect: what the host runs in place of the assembly (`asm.rs`), so the
//! shared kernel suite and `self_check` check everything around it.

use super::{PAIR_EXTRA, QUAD_WORDS, Requant, requantize};

fn sxtb16(v: u32) -> u32 {
    let lo = (v as u8 as i8 as i16) as u16 as u32;
    let hi = ((v >> 16) as u8 as i8 as i16) as u16 as u32;
    lo | (hi << 16)
}

fn smlad(acc: i32, a: u32, b: u32) -> i32 {
    let (al, ah) = (a as u16 as i16 as i32, (a >> 16) as u16 as i16 as i32);
    let (bl, bh) = (b as u16 as i16 as i32, (b >> 16) as u16 as i16 as i32);
    acc.wrapping_add(al * bl).wrapping_add(ah * bh)
}

pub fn clamp_bytes(out: &mut [i8], lo: i32, hi: i32) {
    for v in out {
        *v = i32::from(*v).clamp(lo, hi) as i8;
    }
}

fn word(s: &[i8], i: usize) -> u32 {
    u32::from_le_bytes([s[i] as u8, s[i + 1] as u8, s[i + 2] as u8, s[i + 3] as u8])
}

pub fn interleave(a: &[i8], b: &[i8], dst: &mut [u32], groups: usize) {
    for g in 0..groups {
        let (wa, wb) = (word(a, 4 * g), word(b, 4 * g));
        dst[4 * g..4 * g + 4].copy_from_slice(&[
            sxtb16(wa),
            sxtb16(wa.rotate_right(8)),
            sxtb16(wb),
            sxtb16(wb.rotate_right(8)),
        ]);
    }
}

pub fn interleave_sum(a: &[i8], b: &[i8], dst: &mut [u32], groups: usize) -> u64 {
    interleave(a, b, dst, groups);
    let sum = |s: &[i8]| {
        s[..groups * 4]
            .iter()
            .fold(0i32, |acc, &v| acc.wrapping_add(i32::from(v)))
    };
    u64::from(sum(a) as u32) | (u64::from(sum(b) as u32) << 32)
}

pub fn gemm_2x2(x: &[u32], w: &[u32], k4: usize, pairs: usize, out0: &mut [i8], out1: &mut [i8]) {
    let rec_words = k4 * 4 + PAIR_EXTRA;
    for (j, rec) in w.chunks_exact(rec_words).take(pairs).enumerate() {
        let (b0, b1) = (rec[0] as i32, rec[1] as i32);
        let mut acc = [b0, b0, b1, b1];
        for g in 0..k4 {
            let xs = &x[4 * g..4 * g + 4];
            let ws = &rec[2 + 4 * g..2 + 4 * g + 4];
            acc[0] = smlad(smlad(acc[0], xs[0], ws[0]), xs[1], ws[1]);
            acc[1] = smlad(smlad(acc[1], xs[2], ws[0]), xs[3], ws[1]);
            acc[2] = smlad(smlad(acc[2], xs[0], ws[2]), xs[1], ws[3]);
            acc[3] = smlad(smlad(acc[3], xs[2], ws[2]), xs[3], ws[3]);
        }
        let t = &rec[2 + 4 * k4..];
        let r0 = Requant {
            mult: t[0] as i32,
            shc1: t[1] as i32,
        };
        let r1 = Requant {
            mult: t[2] as i32,
            shc1: t[3] as i32,
        };
        out0[2 * j] = requantize(acc[0], r0);
        out0[2 * j + 1] = requantize(acc[2], r1);
        out1[2 * j] = requantize(acc[1], r0);
        out1[2 * j + 1] = requantize(acc[3], r1);
    }
}

pub fn widen_row(src: &[i8], dst: &mut [u32], cols: usize, nq: usize, quad_words: usize, c: usize) {
    for j in 0..cols {
        for q in 0..nq {
            let v = word(src, j * c + 4 * q);
            dst[q * quad_words + 2 * j] = sxtb16(v);
            dst[q * quad_words + 2 * j + 1] = sxtb16(v.rotate_right(8));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn depthwise_3x3_row(
    band: &[u32],
    row_words: usize,
    band_w: usize,
    stride: usize,
    pixels: usize,
    quads: &[i32],
    first: usize,
    c: usize,
    out_row: &mut [i8],
) {
    let lo = |v: u32| v as u16 as i16 as i32;
    let hi = |v: u32| (v >> 16) as u16 as i16 as i32;
    for px in 0..pixels {
        for (q, rec) in quads.chunks_exact(QUAD_WORDS).enumerate() {
            // Channels (0, 1, 2, 3) of tap t.
            let x = |t: usize| -> [i32; 4] {
                let at = (t / 3) * row_words + q * band_w * 2 + (px * stride + t % 3) * 2;
                let (e, o) = (band[at], band[at + 1]);
                [lo(e), lo(o), hi(e), hi(o)]
            };
            let mut acc = [rec[0], rec[1], rec[2], rec[3]];
            for (pair, (ta, tb)) in [(0, 1), (2, 3), (4, 5), (6, 7)].into_iter().enumerate() {
                let (xa, xb) = (x(ta), x(tb));
                for i in 0..4 {
                    let wv = rec[4 + 4 * pair + i] as u32;
                    let xv = (xa[i] as u16 as u32) | ((xb[i] as u16 as u32) << 16);
                    acc[i] = smlad(acc[i], xv, wv);
                }
            }
            let x8 = x(8);
            let (wa, wb) = (rec[20] as u32, rec[21] as u32);
            acc[0] = acc[0].wrapping_add(x8[0] * lo(wa));
            acc[2] = acc[2].wrapping_add(x8[2] * hi(wa));
            acc[1] = acc[1].wrapping_add(x8[1] * lo(wb));
            acc[3] = acc[3].wrapping_add(x8[3] * hi(wb));
            for i in 0..4 {
                let r = Requant {
                    mult: rec[22 + 2 * i],
                    shc1: rec[23 + 2 * i],
                };
                out_row[px * c + first + 4 * q + i] = requantize(acc[i], r);
            }
        }
    }
}

/// [`super::asm::dot_2`]: `sum((x + offset) * w)` over `groups * 4` values
/// for `w0` (low word) and `w1` (high word), wrapping as `SMLAD` does.
pub fn dot_2(x: &[i8], w0: &[i8], w1: &[i8], groups: usize, offset2: u32) -> u64 {
    let offset = i32::from(offset2 as u16 as i16);
    let dot = |w: &[i8]| {
        x[..groups * 4]
            .iter()
            .zip(&w[..groups * 4])
            .fold(0i32, |acc, (&x, &w)| {
                acc.wrapping_add((i32::from(x) + offset) * i32::from(w))
            })
    };
    u64::from(dot(w0) as u32) | (u64::from(dot(w1) as u32) << 32)
}
