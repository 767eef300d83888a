//! Rust model of the Armv6-M micro-kernel (`asm.rs`), with its wrapping
//! 32-bit arithmetic: what the host runs in its place.

use super::{BLOCK, Requant, requantize};

/// See `asm::gemm_1x8`.
pub fn gemm_1x8(
    x: &[i8],
    w: &[u32],
    par: &[i32; 3 * BLOCK],
    sx: i32,
    (act_min, act_max): (i32, i32),
    acc: &mut [i32; BLOCK],
    out: &mut [i8; BLOCK],
) {
    *acc = [0; BLOCK];
    for (i, &v) in x.iter().enumerate() {
        // EOR 0x80: the byte as u = x + 128.
        let u = i32::from(v as u8 ^ 0x80);
        for j in 0..BLOCK / 2 {
            let p = (w[i * 4 + j] as i32).wrapping_mul(u);
            acc[2 * j] = acc[2 * j].wrapping_add(p);
            acc[2 * j + 1] = acc[2 * j + 1].wrapping_add(p >> 16);
        }
    }
    for j in 0..BLOCK {
        let raw = if j.is_multiple_of(2) {
            acc[j].wrapping_sub(acc[j + 1] << 16).wrapping_add(sx)
        } else {
            acc[j]
        };
        let r = Requant {
            mult: par[3 * j + 1],
            shc1: par[3 * j + 2],
        };
        let v = requantize(raw.wrapping_add(par[3 * j]), r);
        out[j] = v.clamp(act_min, act_max) as i8;
    }
}

/// The requantization half of `asm::depthwise_rows`, for one channel.
pub fn requantize_row(
    acc: &[i32],
    out: &mut [i8],
    stride: usize,
    bias: i32,
    r: Requant,
    (act_min, act_max): (i32, i32),
) {
    for (i, &a) in acc.iter().enumerate() {
        out[i * stride] = requantize(a.wrapping_add(bias), r).clamp(act_min, act_max) as i8;
    }
}

/// See `asm::depthwise_row`.
pub fn depthwise_row(
    rows: [&[i8]; 3],
    w: &[i32; 9],
    (channels, step): (usize, usize),
    acc: &mut [i32],
) {
    for (i, a) in acc.iter_mut().enumerate() {
        let mut sum = 0i32;
        for (ky, row) in rows.iter().enumerate() {
            for kx in 0..3 {
                let x = i32::from(row[i * step + kx * channels]);
                sum = sum.wrapping_add(w[ky * 3 + kx].wrapping_mul(x));
            }
        }
        *a = sum;
    }
}
