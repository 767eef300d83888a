//! The convolutions of feature extraction on AVX-512: the matrix multiply
//! of the pointwise convolutions and of conv1's im2col patches (`out =
//! relu6(bias + inp @ weights)`), and the 3x3 depthwise convolution, each
//! with bias and ReLU6 fused.
//!
//! Written by hand rather than through the `gemm` crate, whose AVX-512
//! kernels need a nightly compiler: with AVX2 it holds 12 accumulators of 8
//! floats, packs both operands on every call and leaves bias and ReLU6 to a
//! second pass over the output. Here the weights (`[cin, cout]`, row-major)
//! are already the layout the kernel streams and only a tile's rows are
//! packed, depth-major, so one pointer walks them; a tile of `MR` pixels
//! times `16 * NB` output channels keeps its 24 accumulators in registers
//! (AVX-512 has 32) across the whole input depth, starts them at the bias and
//! clamps them on the way out. Measured in `benches/speed.rs` against the
//! loops and the `gemm` path they replace (see BENCHMARKS.md).

use std::arch::x86_64::{
    __mmask16, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_max_ps,
    _mm512_min_ps, _mm512_set1_ps, _mm512_setzero_ps,
};

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Whether [`matmul_bias_relu6`] takes `cout` output channels: whole
/// registers of 16, or one masked register.
pub(crate) fn takes(cout: usize) -> bool {
    cout.is_multiple_of(16) || cout < 16
}

/// `out[p, :] = relu6(bias + inp[p, :] @ weights)` for `pixels` rows; `inp`
/// is `[pixels, cin]`, `weights` `[cin, cout]`, `out` `[pixels, cout]`, all
/// row-major.
///
/// # Safety
/// The CPU must support AVX-512F ([`available`]).
///
/// # Panics
/// If `cout` is not one [`takes`] or a slice is too short.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn matmul_bias_relu6(
    inp: &[f32],
    pixels: usize,
    (cin, cout): (usize, usize),
    weights: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    assert!(inp.len() >= pixels * cin && out.len() >= pixels * cout);
    // SAFETY: the CPU supports AVX-512F (the caller's contract); `inp` holds
    // `pixels` rows of `cin` (asserted).
    unsafe { Matmul::new(inp.as_ptr(), pixels, (cin, cout), weights, bias, out).run() }
}

/// The operands of one multiply, as raw pointers: the tiles index them with
/// offsets the constructor has bounded. (Pointers, not indices: the test
/// build checks every integer operation for overflow.)
struct Matmul {
    inp: *const f32,
    pixels: usize,
    depth: usize,
    cout: usize,
    /// The lanes of each column register that are columns: all 16, or the
    /// first `cout` when `cout < 16`.
    mask: __mmask16,
    weights: *const f32,
    bias: *const f32,
    out: *mut f32,
}

impl Matmul {
    /// # Safety
    /// `inp` must hold `pixels` rows of `depth`.
    unsafe fn new(
        inp: *const f32,
        pixels: usize,
        (depth, cout): (usize, usize),
        weights: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) -> Self {
        assert!(takes(cout), "{cout} output channels");
        assert!(weights.len() >= depth * cout && bias.len() >= cout);
        assert!(out.len() >= pixels * cout);
        Matmul {
            inp,
            pixels,
            depth,
            cout,
            mask: if cout < 16 { (1 << cout) - 1 } else { !0 },
            weights: weights.as_ptr(),
            bias: bias.as_ptr(),
            out: out.as_mut_ptr(),
        }
    }

    /// Column blocks of `16 * NB`; the tile heights keep `MR * NB` at 24 or
    /// fewer accumulators, so a block of weights and a broadcast value fit
    /// beside them in the 32 registers.
    #[target_feature(enable = "avx512f")]
    unsafe fn run(&self) {
        // SAFETY: as the constructor's contract.
        unsafe {
            match self.cout {
                c if c % 64 == 0 => self.tiles::<4, 6>(),
                c if c % 48 == 0 => self.tiles::<3, 8>(),
                c if c % 32 == 0 => self.tiles::<2, 12>(),
                _ => self.tiles::<1, 16>(),
            }
        }
    }

    /// `MR` pixels at a time: their rows packed depth-major (`[depth, MR]`,
    /// zeros past the last pixel), so one pointer walks them, then every
    /// block of `16 * NB` output columns from that packing.
    #[inline(always)]
    unsafe fn tiles<const NB: usize, const MR: usize>(&self) {
        let mut packed = vec![0f32; self.depth * MR];
        let mut p = 0;
        while p < self.pixels {
            let rows = MR.min(self.pixels - p);
            // SAFETY (block): rows `p..p + rows` exist, `packed` holds
            // `depth * MR`, and the column blocks end at `cout`.
            unsafe {
                self.pack::<MR>(p, rows, packed.as_mut_ptr());
                let mut j = 0;
                while j < self.cout {
                    match MR {
                        6 => tile6::<NB>(self, packed.as_ptr(), p, rows, j),
                        8 => tile8::<NB>(self, packed.as_ptr(), p, rows, j),
                        12 => tile12::<NB>(self, packed.as_ptr(), p, rows, j),
                        _ => tile16::<NB>(self, packed.as_ptr(), p, rows, j),
                    }
                    j += 16 * NB;
                }
            }
            p += MR;
        }
    }

    /// Rows `p..p + rows` into `dst` as `[depth, MR]`, zeros after `rows`.
    #[inline(always)]
    unsafe fn pack<const MR: usize>(&self, p: usize, rows: usize, dst: *mut f32) {
        // SAFETY (whole body): rows below `pixels`, depth below `depth`.
        unsafe {
            for r in 0..rows {
                let src = self.inp.add((p + r) * self.depth);
                for d in 0..self.depth {
                    *dst.add(d * MR + r) = *src.add(d);
                }
            }
            for r in rows..MR {
                for d in 0..self.depth {
                    *dst.add(d * MR + r) = 0.0;
                }
            }
        }
    }
}

/// Defines `$name::<NB>(m, packed, p, rows, j)`: rows `p..p + rows` (`rows`
/// at most the number of `$row`s), columns `j..j + 16 * NB`. The
/// accumulators start at the bias, take one input channel per step (a
/// broadcast input value times a row of weights), and are clamped to `[0, 6]`
/// when stored. One named array of `NB` registers per row: with one array of
/// all rows the compiler kept the accumulators in memory.
macro_rules! tile {
    ($name:ident, $mr:literal, $($row:ident $r:literal),+) => {
        #[inline(always)]
        unsafe fn $name<const NB: usize>(
            m: &Matmul,
            packed: *const f32,
            p: usize,
            rows: usize,
            j: usize,
        ) {
            // SAFETY (whole body): every offset stays inside the shapes
            // `Matmul::new` asserted and `Matmul::tiles` packed. (No
            // closures here: they would not inherit AVX-512, and the
            // intrinsics in them would become calls.)
            unsafe {
                let mut bias = [_mm512_setzero_ps(); NB];
                for (b, v) in bias.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(m.mask, m.bias.add(j + 16 * b));
                }
                $(let mut $row = bias;)+
                let (mut x, mut w) = (packed, m.weights.add(j));
                for _ in 0..m.depth {
                    let mut wv = [_mm512_setzero_ps(); NB];
                    for (b, v) in wv.iter_mut().enumerate() {
                        *v = _mm512_maskz_loadu_ps(m.mask, w.add(16 * b));
                    }
                    $(
                        let v = _mm512_set1_ps(*x.add($r));
                        for b in 0..NB {
                            $row[b] = _mm512_fmadd_ps(v, wv[b], $row[b]);
                        }
                    )+
                    x = x.add($mr);
                    w = w.add(m.cout);
                }
                let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
                $(
                    if $r < rows {
                        let o = m.out.add((p + $r) * m.cout + j);
                        for (b, &v) in $row.iter().enumerate() {
                            let v = _mm512_min_ps(_mm512_max_ps(v, zero), six);
                            _mm512_mask_storeu_ps(o.add(16 * b), m.mask, v);
                        }
                    }
                )+
            }
        }
    };
}

tile!(tile6, 6, a0 0, a1 1, a2 2, a3 3, a4 4, a5 5);
tile!(tile8, 8, a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7);
tile!(tile12, 12, a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7, a8 8, a9 9, a10 10, a11 11);
tile!(
    tile16, 16, a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7, a8 8, a9 9, a10 10, a11 11, a12 12,
    a13 13, a14 14, a15 15
);

/// A 3x3 depthwise convolution with bias and ReLU6 on one image (NHWC, `c`
/// channels), any stride and SAME padding, on AVX-512.
///
/// The image is first copied into `padded` with its zero border, so every
/// output pixel takes all nine taps without a bounds check. Then, row by row
/// and 16 channels at a time, the nine taps' weights and the bias stay in
/// registers while four output pixels accumulate side by side (four
/// independent chains hide the multiply-add's latency) and are stored once.
/// The loops this replaces (`depthwise_rows` in `cpu.rs`) read and wrote the
/// output row once per tap. Channel counts that are not multiples of 16 end
/// with a masked block.
///
/// # Safety
/// The CPU must support AVX-512F ([`available`]).
///
/// # Panics
/// If a slice is shorter than the geometry says.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn depthwise3x3_bias_relu6(
    inp: &[f32],
    geo: &super::Geometry,
    (c, stride): (usize, usize),
    weights: &[f32],
    bias: &[f32],
    padded: &mut Vec<f32>,
    out: &mut [f32],
) {
    let (ph, pw) = ((geo.oh - 1) * stride + 3, (geo.ow - 1) * stride + 3);
    assert!(inp.len() >= geo.ih * geo.iw * c && out.len() >= geo.oh * geo.ow * c);
    assert!(weights.len() >= 9 * c && bias.len() >= c);
    assert!(geo.pad_t + geo.ih <= ph && geo.pad_l + geo.iw <= pw);
    padded.clear();
    padded.resize(ph * pw * c, 0.0);
    for y in 0..geo.ih {
        padded[((geo.pad_t + y) * pw + geo.pad_l) * c..][..geo.iw * c]
            .copy_from_slice(&inp[y * geo.iw * c..][..geo.iw * c]);
    }
    let (src, w, b, dst) = (
        padded.as_ptr(),
        weights.as_ptr(),
        bias.as_ptr(),
        out.as_mut_ptr(),
    );
    let (step, row) = (stride * c, pw * c);
    // SAFETY (whole loop): output pixel (oy, ox) reads padded rows
    // `oy * stride..+3` and columns `ox * stride..+3`, inside `ph x pw`;
    // channel blocks end at `c` (the last one masked); all asserted above.
    unsafe {
        let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
        let mut cb = 0;
        while cb < c {
            let mask: __mmask16 = if c - cb >= 16 {
                !0
            } else {
                (1u16 << (c - cb)) - 1
            };
            let mut tap = [zero; 9];
            for (t, v) in tap.iter_mut().enumerate() {
                *v = _mm512_maskz_loadu_ps(mask, w.add(t * c + cb));
            }
            let bv = _mm512_maskz_loadu_ps(mask, b.add(cb));
            for oy in 0..geo.oh {
                let top = src.add(oy * stride * row + cb);
                let o = dst.add(oy * geo.ow * c + cb);
                let mut ox = 0;
                while ox + 4 <= geo.ow {
                    let p = top.add(ox * step);
                    let (mut a0, mut a1, mut a2, mut a3) = (bv, bv, bv, bv);
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (t, q) = (tap[ky * 3 + kx], p.add(ky * row + kx * c));
                            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, q), t, a0);
                            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, q.add(step)), t, a1);
                            a2 = _mm512_fmadd_ps(
                                _mm512_maskz_loadu_ps(mask, q.add(2 * step)),
                                t,
                                a2,
                            );
                            a3 = _mm512_fmadd_ps(
                                _mm512_maskz_loadu_ps(mask, q.add(3 * step)),
                                t,
                                a3,
                            );
                        }
                    }
                    for (i, a) in [a0, a1, a2, a3].into_iter().enumerate() {
                        let v = _mm512_min_ps(_mm512_max_ps(a, zero), six);
                        _mm512_mask_storeu_ps(o.add((ox + i) * c), mask, v);
                    }
                    ox += 4;
                }
                for ox in ox..geo.ow {
                    let p = top.add(ox * step);
                    let mut a = bv;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let q = p.add(ky * row + kx * c);
                            a = _mm512_fmadd_ps(
                                _mm512_maskz_loadu_ps(mask, q),
                                tap[ky * 3 + kx],
                                a,
                            );
                        }
                    }
                    let v = _mm512_min_ps(_mm512_max_ps(a, zero), six);
                    _mm512_mask_storeu_ps(o.add(ox * c), mask, v);
                }
            }
            cb += 16;
        }
    }
}
