//! Rust model of the Armv6-M micro-kernel (`asm.rs`), with its wrapping
//! 32-bit arithmetic: what the host runs in its place.

/// See `asm::gemm_1x8`.
pub fn gemm_1x8(x: &[i8], w: &[u32], k4: usize, acc: &mut [i32; 8]) {
    *acc = [0; 8];
    for (i, &v) in x[..4 * k4].iter().enumerate() {
        // EOR 0x80: the byte as u = x + 128.
        let u = i32::from(v as u8 ^ 0x80);
        for j in 0..4 {
            let p = (w[i * 4 + j] as i32).wrapping_mul(u);
            acc[2 * j] = acc[2 * j].wrapping_add(p);
            acc[2 * j + 1] = acc[2 * j + 1].wrapping_add(p >> 16);
        }
    }
}
