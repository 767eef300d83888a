//! Rust models of the assembly micro-kernels, instruction for instruction
//! in effect: what the host runs in place of the assembly (`asm.rs`), so the
//! shared kernel suite and `self_check` check everything around it.

use super::{DoubledRequant, Gemm, PAIR_EXTRA, Requant, requantize, requantize_doubled};

fn sxtb16(v: u32) -> u32 {
    let lo = (v as u8 as i8 as i16) as u16 as u32;
    let hi = ((v >> 16) as u8 as i8 as i16) as u16 as u32;
    lo | (hi << 16)
}

/// `SADD16` (and `SXTAB16`'s addition): the halves added apart, wrapping.
fn sadd16(a: u32, b: u32) -> u32 {
    let lo = (a as u16).wrapping_add(b as u16);
    let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16);
    u32::from(lo) | (u32::from(hi) << 16)
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

/// Two rows widened into the GEMM's record layout.
fn interleave(a: &[i8], b: &[i8], dst: &mut [u32], groups: usize) {
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

pub fn interleave_filters(a: &[i8], b: &[i8], dst: &mut [u32], groups: usize, doubled: bool) {
    interleave(a, b, dst, groups);
    if doubled {
        for v in &mut dst[..groups * 4] {
            *v = sadd16(*v, *v);
        }
    }
}

/// Channel `i` (0 or 1) of a pair's output from its sum `a`, with the
/// pair's requantization constants `t` in [`super::Gemm`]'s form.
fn gemm_output(gemm: Gemm, t: &[u32], a: i32, i: usize) -> i8 {
    match gemm {
        Gemm::Doubled => requantize_doubled(
            a,
            DoubledRequant {
                mult: t[3 * i] as i32,
                add: t[3 * i + 1] as i32,
                shift: t[3 * i + 2] as i32,
            },
        ),
        Gemm::Wide => requantize(
            a,
            Requant {
                mult: t[2 * i] as i32,
                shc1: t[2 * i + 1] as i32,
            },
        ),
    }
}

/// [`super::asm::interleave3`]: three pixels, `stride` bytes apart in `a`,
/// `offset` (in both halves) added.
pub fn interleave3(a: &[i8], stride: usize, dst: &mut [u32], groups: usize, offset: u32) {
    for g in 0..groups {
        for px in 0..3 {
            let w = word(a, px * stride + 4 * g);
            dst[6 * g + 2 * px] = sadd16(offset, sxtb16(w));
            dst[6 * g + 2 * px + 1] = sadd16(offset, sxtb16(w.rotate_right(8)));
        }
    }
}

/// Both GEMM kernels: pixel `i`'s outputs at `out[i * stride..]`.
pub fn gemm_2x3(
    gemm: Gemm,
    x: &[u32],
    w: &[u32],
    k4: usize,
    pairs: usize,
    out: &mut [i8],
    stride: usize,
) {
    let rec_words = k4 * 4 + PAIR_EXTRA;
    for (j, rec) in w.chunks_exact(rec_words).take(pairs).enumerate() {
        let mut acc = [[rec[0] as i32; 3], [rec[1] as i32; 3]];
        for g in 0..k4 {
            let ws = &rec[2 + 4 * g..2 + 4 * g + 4];
            for px in 0..3 {
                let xs = &x[6 * g + 2 * px..6 * g + 2 * px + 2];
                acc[0][px] = smlad(smlad(acc[0][px], xs[0], ws[0]), xs[1], ws[1]);
                acc[1][px] = smlad(smlad(acc[1][px], xs[0], ws[2]), xs[1], ws[3]);
            }
        }
        let t = &rec[2 + 4 * k4..];
        for px in 0..3 {
            for (i, channel) in acc.iter().enumerate() {
                out[px * stride + 2 * j + i] = gemm_output(gemm, t, channel[px], i);
            }
        }
    }
}

/// [`super::asm::widen_pairs`]: `src` at the run's first pixel and the
/// block's first channel, `dst` at channel 0's word of the first pair.
pub fn widen_pairs(src: &[i8], dst: &mut [u32], pairs: usize, quads: usize, c: usize, chw: usize) {
    let half = |v: i8| v as i16 as u16 as u32;
    for ch in 0..quads * 4 {
        for k in 0..pairs {
            let (a, b) = (src[2 * k * c + ch], src[(2 * k + 1) * c + ch]);
            dst[ch * chw + 3 * k] = half(a) | (half(b) << 16);
        }
    }
}

/// [`super::asm::depthwise_3x3_s1`] and `_s2`, step for step: `band` at
/// the block's channel 0 (`chw` words per channel), `out` at its first
/// output channel.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_3x3(
    band: &[u32],
    records: &[i32],
    rotation: usize,
    chw: usize,
    stride: usize,
    pixels: usize,
    c: usize,
    out: &mut [i8],
) {
    let smlabb = |acc: i32, a: u32, b: u32| {
        acc.wrapping_add(i32::from(a as u16 as i16) * i32::from(b as u16 as i16))
    };
    let smlatb = |acc: i32, a: u32, b: u32| {
        acc.wrapping_add(i32::from((a >> 16) as u16 as i16) * i32::from(b as u16 as i16))
    };
    let start = super::rotation_start(rotation);
    for (ch, rec) in records.chunks_exact(super::DW_RECORD).enumerate() {
        let r = DoubledRequant {
            shift: rec[1],
            mult: rec[2],
            add: rec[3],
        };
        let taps = &rec[start..start + 6];
        let word = |cp: usize, slot: usize| band[ch * chw + 3 * cp + slot];
        let mut px = 0;
        while px < pixels {
            // The first pixel's window starts at column pair `cp`.
            let cp = if stride == 1 { px / 2 } else { px };
            let (mut a0, mut a1) = (rec[0], rec[0]);
            for slot in 0..3 {
                let (w01, w21) = (taps[2 * slot] as u32, taps[2 * slot + 1] as u32);
                let (a, b) = (word(cp, slot), word(cp + 1, slot));
                a0 = smlabb(smlad(a0, a, w01), b, w21);
                if px + 1 < pixels {
                    a1 = if stride == 1 {
                        smlad(smlatb(a1, a, w01), b, w21.rotate_left(16))
                    } else {
                        smlabb(smlad(a1, b, w01), word(cp + 2, slot), w21)
                    };
                }
            }
            out[px * c + ch] = requantize_doubled(a0, r);
            if px + 1 < pixels {
                out[(px + 1) * c + ch] = requantize_doubled(a1, r);
            }
            px += 2;
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

/// [`super::asm::add_elements`], step for step.
pub fn add_elements(a: &[i8], b: &[i8], out: &mut [i8], c: &super::AddConsts) {
    let smmulr = |x: i32, m: i32| ((i64::from(x) * i64::from(m) + (1 << 31)) >> 32) as i32;
    let twice_rounded = |s: i32, shift: u32| ((s.wrapping_add(s >> 31) >> shift) + 1) & !1;
    for ((&x, &y), o) in a.iter().zip(b).zip(out.iter_mut()) {
        let x = c.offset1.wrapping_add(i32::from(x) << 21);
        let y = c.offset2.wrapping_add(i32::from(y) << 21);
        let sum = twice_rounded(smmulr(x, c.mult1), c.shift1)
            .wrapping_add(twice_rounded(smmulr(y, c.mult2), c.shift2));
        let t = smmulr(sum, c.mult_out);
        let u = (t.wrapping_add(t >> 31) >> c.shift_out).wrapping_add(c.c1);
        *o = (u >> 1).clamp(-128, 127) as i8;
    }
}
