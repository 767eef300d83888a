//! A fused NHWC forward pass of the frozen backbone, for feature extraction
//! and calibration, and the kernels fine-tuning (`finetune.rs`) shares.
//!
//! burn's flex backend runs each layer over the whole batch in NCHW, allocating a
//! fresh multi-megabyte tensor per op and converting layouts inside its convs; at
//! 96x96 that measured about 470 images/s here. Running a few images (a chunk,
//! [`CHUNK`]) at a time through all 27 layers keeps the activations near the L2
//! cache, fuses bias and ReLU6 into each conv, and parallelises over chunks
//! instead of inside each op. The burn model stays the reference: tests check
//! that both give the same features (`FeatureExtractor::extract_reference`).
//!
//! Pointwise convolutions (most of the MACs) run one matrix multiply per
//! layer for the whole chunk (at the network's end an image has 9 pixels, too
//! few rows to pay for packing the weights), and so does conv1, as im2col
//! patches. The 3x3 depthwise convolutions are hand-written loops, because no
//! crate offers a depthwise conv on NHWC slices: tap by tap over an output
//! row, innermost over the channel axis, so the compiler vectorises them;
//! compiled twice (baseline and AVX2) and chosen at run time ([`Simd`]). On
//! AVX-512 both run through our own kernels instead (`cpu/avx512.rs`, bias and
//! ReLU6 fused); elsewhere the multiplies go through the `gemm` crate, the
//! same matrix multiply burn-flex uses.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::data::InputScaling;
use crate::model::{ConvLayer, MobileNetV1, same_output, same_padding};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Regular conv, weights `[kh, kw, cin, cout]` (conv1).
    Conv,
    /// Depthwise conv, weights `[kh, kw, c]`.
    Depthwise,
    /// 1x1 stride-1 conv, weights `[cin, cout]`.
    Pointwise,
}

#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    pub(crate) k: usize,
    pub(crate) stride: usize,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    /// For each weight in our layout, its index in burn's: computed once,
    /// because fine-tuning moves the weights (and their gradients) between
    /// the two layouts at every step (an iterator over the index pairs took
    /// a fifth of fine-tuning's time).
    from_burn: Vec<u32>,
}

/// Per-layer output ranges `(min, max)`.
pub(crate) type Ranges = Vec<(f32, f32)>;

/// The range of no values yet: [`widen`] by anything replaces it.
pub(crate) const EMPTY_RANGE: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);

/// Widens `range` to cover `values`.
pub(crate) fn widen(range: &mut (f32, f32), values: &[f32]) {
    for &x in values {
        range.0 = range.0.min(x);
        range.1 = range.1.max(x);
    }
}

/// The frozen backbone's weights in NHWC-friendly layouts.
#[derive(Clone, Debug)]
pub(crate) struct FastBackbone {
    layers: Vec<Layer>,
    simd: Simd,
}

fn to_vec<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap_or_default()
}

impl Layer {
    /// `layer`'s weights re-laid out for NHWC: depthwise `[c, 1, kh, kw]` ->
    /// `[kh, kw, c]`, regular `[out, in, kh, kw]` -> `[kh, kw, in, out]`.
    pub(crate) fn from_conv(l: &ConvLayer) -> Self {
        let [cout, cin_g, kh, _] = l.weight.dims();
        let (kind, cin) = if l.groups > 1 {
            (Kind::Depthwise, cout)
        } else if kh == 1 && l.stride == 1 {
            (Kind::Pointwise, cin_g)
        } else {
            (Kind::Conv, cin_g)
        };
        let mut layer = Layer {
            kind,
            k: kh,
            stride: l.stride,
            cin,
            cout,
            weights: Vec::new(),
            bias: Vec::new(),
            from_burn: Vec::new(),
        };
        let mut from_burn = vec![0u32; l.weight.dims().iter().product()];
        for (ours, burn) in layer.layout_pairs() {
            from_burn[ours] = burn as u32;
        }
        layer.from_burn = from_burn;
        layer.load(l);
        layer
    }

    /// Takes `l`'s current weights (same shape as when built).
    pub(crate) fn load(&mut self, l: &ConvLayer) {
        let w = to_vec(l.weight.val());
        self.bias = to_vec(l.bias.val());
        self.weights = self.relayout_from_burn(&w);
    }

    /// Each weight's index in our layout and in burn's: ours is
    /// `[kh, kw, cin, cout]` (`[kh, kw, c]` depthwise), burn's
    /// `[cout, cin, kh, kw]` (`[c, 1, kh, kw]`).
    fn layout_pairs(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (kk, cin, cout) = (self.k * self.k, self.cin, self.cout);
        let depthwise = self.kind == Kind::Depthwise;
        let inputs = if depthwise { 1 } else { cin };
        (0..cout).flat_map(move |o| {
            (0..inputs).flat_map(move |i| {
                (0..kk).map(move |p| {
                    if depthwise {
                        (p * cout + o, o * kk + p)
                    } else {
                        ((p * cin + i) * cout + o, (o * cin + i) * kk + p)
                    }
                })
            })
        })
    }

    /// Weights (or their gradient) from burn's layout to ours.
    fn relayout_from_burn(&self, w: &[f32]) -> Vec<f32> {
        self.from_burn
            .iter()
            .map(|&burn| w[burn as usize])
            .collect()
    }

    /// Weights (or their gradient) from our layout back to burn's
    /// (the inverse of [`Self::relayout_from_burn`]).
    pub(crate) fn to_burn_layout(&self, w: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; w.len()];
        for (&x, &burn) in w.iter().zip(&self.from_burn) {
            out[burn as usize] = x;
        }
        out
    }
}

impl FastBackbone {
    pub(crate) fn from_model(model: &MobileNetV1) -> Self {
        FastBackbone {
            layers: model.layers.iter().map(Layer::from_conv).collect(),
            simd: Simd::detect(),
        }
    }

    /// Runs layers `..upto` on HWC u8 images of `h x w x c`, in parallel over
    /// chunks of images.
    ///
    /// Returns per image either the global-average-pooled features (`pool`) or the
    /// activation at `upto` in `[c, h, w]` order (what burn's tail expects).
    pub(crate) fn extract(
        &self,
        images: &[&[u8]],
        (h, w, c): (usize, usize, usize),
        scaling: InputScaling,
        upto: usize,
        pool: bool,
    ) -> Vec<Vec<f32>> {
        self.map_chunks(images, h * w * c, scaling, |n, a, b| {
            let (oh, ow, oc) = self.forward(a, b, n, (h, w, c), upto, |_, _| {});
            a[..n * oh * ow * oc]
                .chunks_exact(oh * ow * oc)
                .map(|x| {
                    if pool {
                        pool_hwc(x, oc)
                    } else {
                        hwc_to_chw(x, oh, ow, oc)
                    }
                })
                .collect()
        })
    }

    /// The calibration pass: every layer's output range `(min, max)` over
    /// `images`, and each image's globally pooled features (for the head's
    /// ranges), at feature-extraction speed.
    pub(crate) fn calibrate(
        &self,
        images: &[&[u8]],
        (h, w, c): (usize, usize, usize),
        scaling: InputScaling,
    ) -> (Ranges, Vec<Vec<f32>>) {
        let empty = vec![EMPTY_RANGE; self.layers.len()];
        let per_chunk = self.map_chunks(images, h * w * c, scaling, |n, a, b| {
            let mut ranges = empty.clone();
            let (oh, ow, oc) = self.forward(a, b, n, (h, w, c), self.layers.len(), |i, out| {
                widen(&mut ranges[i], out)
            });
            let pooled = a[..n * oh * ow * oc]
                .chunks_exact(oh * ow * oc)
                .map(|x| pool_hwc(x, oc))
                .collect::<Vec<_>>();
            vec![(ranges, pooled)]
        });
        let mut ranges = empty;
        let mut pooled = Vec::with_capacity(images.len());
        for (chunk_ranges, features) in per_chunk {
            for (r, i) in ranges.iter_mut().zip(chunk_ranges) {
                widen(r, &[i.0, i.1]);
            }
            pooled.extend(features);
        }
        (ranges, pooled)
    }

    /// Runs `per_chunk` on chunks of at most [`CHUNK`] images in parallel, with
    /// the chunk's `n` images' pixels scaled into the first buffer (NHWC) and
    /// the second as the scratch buffer [`Self::forward`] ping-pongs with;
    /// concatenates what the chunks return, in order.
    fn map_chunks<T: Send>(
        &self,
        images: &[&[u8]],
        image_len: usize,
        scaling: InputScaling,
        per_chunk: impl Fn(usize, &mut Vec<f32>, &mut Vec<f32>) -> Vec<T> + Sync + Send,
    ) -> Vec<T> {
        let lut: Vec<f32> = (0..=255u8).map(|p| scaling.apply(p)).collect();
        // Even chunks, so both cores get the same work when a call has fewer
        // than two full chunks' worth of images.
        let threads = rayon::current_num_threads().max(1);
        let chunks = images.len().div_ceil(CHUNK).max(threads.min(images.len()));
        let size = images.len().div_ceil(chunks.max(1)).max(1);
        images
            .par_chunks(size)
            .map_init(
                || (Vec::new(), Vec::new()),
                |(a, b), chunk| {
                    a.clear();
                    a.reserve(chunk.len() * image_len);
                    for img in chunk {
                        a.extend(img.iter().map(|&p| lut[p as usize]));
                    }
                    per_chunk(chunk.len(), a, b)
                },
            )
            .flatten()
            .collect()
    }

    /// Runs layers `..upto` on `n` images in `a` (NHWC), ping-ponging with `b`;
    /// the result ends in `a`. `observe` sees each layer's index and output.
    fn forward(
        &self,
        a: &mut Vec<f32>,
        b: &mut Vec<f32>,
        n: usize,
        (mut h, mut w, mut c): (usize, usize, usize),
        upto: usize,
        mut observe: impl FnMut(usize, &[f32]),
    ) -> (usize, usize, usize) {
        for (i, layer) in self.layers[..upto].iter().enumerate() {
            let (oh, ow) = (same_output(h, layer.stride), same_output(w, layer.stride));
            b.resize(n * oh * ow * layer.cout, 0.0);
            let out = &mut b[..n * oh * ow * layer.cout];
            let inp = &a[..n * h * w * c];
            layer_forward(layer, self.simd, inp, n, (h, w), out);
            observe(i, out);
            std::mem::swap(a, b);
            (h, w, c) = (oh, ow, layer.cout);
        }
        (h, w, c)
    }
}

/// One layer on `n` images of `h x w` (NHWC in and out), bias and ReLU6 fused.
pub(crate) fn layer_forward(
    layer: &Layer,
    simd: Simd,
    inp: &[f32],
    n: usize,
    (h, w): (usize, usize),
    out: &mut [f32],
) {
    match layer.kind {
        // All `n` images in one multiply: at the network's end an image has
        // only 3x3 or 6x6 pixels, too few rows for the matrix multiply to
        // pay for packing the weights.
        Kind::Pointwise => pointwise(inp, n * h * w, layer, out, simd),
        Kind::Conv => conv(inp, n, (h, w), layer, out, simd),
        Kind::Depthwise => {
            let geo = Geometry::new(layer, h, w);
            let inp = &inp[..n * h * w * layer.cin];
            #[cfg(target_arch = "x86_64")]
            if layer.k == 3 && simd == Simd::Avx512 {
                let (isz, osz) = (h * w * layer.cin, geo.oh * geo.ow * layer.cout);
                let mut padded = Vec::new();
                for (x, y) in inp.chunks_exact(isz).zip(out.chunks_exact_mut(osz)) {
                    // SAFETY: `Simd::Avx512` means the CPU reports AVX-512F.
                    unsafe {
                        avx512::depthwise3x3_bias_relu6(
                            x,
                            &geo,
                            (layer.cout, layer.stride),
                            &layer.weights,
                            &layer.bias,
                            &mut padded,
                            y,
                        )
                    };
                }
                return;
            }
            if simd.avx2() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU reports AVX2 and FMA.
                unsafe {
                    spatial_avx2(inp, layer, &geo, out)
                }
            } else {
                spatial_generic(inp, layer, &geo, out)
            }
        }
    }
}

/// Images run through the layers together (see [`layer_forward`]).
/// Measured on the speed bench: 8 keeps a chunk's largest activation (48x48x16
/// floats per image at alpha 0.25, 96x96) near the L2 cache's size.
pub(crate) const CHUNK: usize = 8;

/// The widest vector instructions this CPU gives the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Simd {
    /// What the compiler targets by default (SSE2 on x86-64).
    Baseline,
    /// AVX2 and FMA: the loops here, compiled again with them enabled.
    Avx2,
    /// AVX-512F besides: the kernels in `cpu/avx512.rs`.
    Avx512,
}

impl Simd {
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                return if avx512::available() {
                    Simd::Avx512
                } else {
                    Simd::Avx2
                };
            }
        }
        Simd::Baseline
    }

    /// Every level this CPU has, for tests that compare them.
    #[cfg(test)]
    fn available() -> Vec<Self> {
        [Simd::Baseline, Simd::Avx2, Simd::Avx512]
            .into_iter()
            .filter(|&s| s <= Simd::detect())
            .collect()
    }

    pub(crate) fn avx2(self) -> bool {
        self >= Simd::Avx2
    }
}

pub(crate) struct Geometry {
    pub(crate) ih: usize,
    pub(crate) iw: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    pub(crate) pad_t: usize,
    pub(crate) pad_l: usize,
}

impl Geometry {
    pub(crate) fn new(layer: &Layer, ih: usize, iw: usize) -> Self {
        Geometry {
            ih,
            iw,
            oh: same_output(ih, layer.stride),
            ow: same_output(iw, layer.stride),
            pad_t: same_padding(ih, layer.k, layer.stride).0,
            pad_l: same_padding(iw, layer.k, layer.stride).0,
        }
    }
}

fn spatial_generic(inp: &[f32], layer: &Layer, geo: &Geometry, out: &mut [f32]) {
    spatial(inp, layer, geo, out)
}

/// The same loops compiled with AVX2 enabled, so they vectorise 8 floats wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn spatial_avx2(inp: &[f32], layer: &Layer, geo: &Geometry, out: &mut [f32]) {
    spatial(inp, layer, geo, out)
}

/// Every image in `inp` (NHWC) through `layer`.
#[inline(always)]
fn spatial(inp: &[f32], layer: &Layer, geo: &Geometry, out: &mut [f32]) {
    let (isz, osz) = (geo.ih * geo.iw * layer.cin, geo.oh * geo.ow * layer.cout);
    let images = inp.chunks_exact(isz).zip(out.chunks_exact_mut(osz));
    // A plain loop, not `for_each` with a closure: a callee that is not
    // inlined would be compiled without the caller's AVX2.
    if layer.stride == 1 {
        depthwise_rows(images, layer, geo)
    } else {
        for (x, y) in images {
            depthwise_pixels(x, layer, geo, y)
        }
    }
}

#[inline(always)]
fn relu6(v: &mut [f32]) {
    for x in v {
        *x = x.clamp(0.0, 6.0);
    }
}

/// Input rows/columns a window at output position `o` covers: `(first tap, input start, taps)`.
#[inline(always)]
pub(crate) fn window(
    o: usize,
    stride: usize,
    pad: usize,
    k: usize,
    size: usize,
) -> (usize, usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let first = (-start).max(0) as usize;
    let end = (start + k as isize).min(size as isize);
    let begin = start.max(0) as usize;
    (first, begin, (end - begin as isize).max(0) as usize)
}

/// Stride 1: for a fixed tap, a run of output pixels reads a contiguous run of
/// input pixels, so each tap is one long multiply-add over a whole row (weights
/// tiled across the row), which vectorises without per-pixel overhead.
///
/// The tiled weights are made once for all `images` (input, output).
#[inline(always)]
fn depthwise_rows<'a>(
    images: impl Iterator<Item = (&'a [f32], &'a mut [f32])>,
    layer: &Layer,
    geo: &Geometry,
) {
    let (k, c) = (layer.k, layer.cout);
    let row = geo.ow * c;
    let tile = |v: &[f32]| -> Vec<f32> {
        let mut t = Vec::with_capacity(row);
        for _ in 0..geo.ow {
            t.extend_from_slice(v);
        }
        t
    };
    let bias = tile(&layer.bias);
    let taps: Vec<Vec<f32>> = layer.weights.chunks_exact(c).map(tile).collect();
    for (inp, out) in images {
        for oy in 0..geo.oh {
            let (ky0, iy0, ny) = window(oy, 1, geo.pad_t, k, geo.ih);
            let out_row = &mut out[oy * row..][..row];
            out_row.copy_from_slice(&bias);
            for dy in 0..ny {
                let in_row = &inp[(iy0 + dy) * geo.iw * c..][..geo.iw * c];
                for kx in 0..k {
                    // Output pixels whose tap kx falls inside the input row.
                    let lo = geo.pad_l.saturating_sub(kx);
                    let hi = (geo.iw + geo.pad_l).saturating_sub(kx).min(geo.ow);
                    if lo >= hi {
                        continue;
                    }
                    let ix = lo + kx - geo.pad_l;
                    let n = (hi - lo) * c;
                    let o = &mut out_row[lo * c..][..n];
                    let i = &in_row[ix * c..][..n];
                    let w = &taps[(ky0 + dy) * k + kx][lo * c..][..n];
                    for ((o, &i), &w) in o.iter_mut().zip(i).zip(w) {
                        *o += i * w;
                    }
                }
            }
            relu6(out_row);
        }
    }
}

/// Strided: as [`depthwise_rows`], tap by tap over an output row, but each
/// output pixel reads its own input pixel, so the innermost loop runs over
/// one pixel's channels (16 or more in the strided layers at alpha 0.25).
#[inline(always)]
fn depthwise_pixels(inp: &[f32], layer: &Layer, geo: &Geometry, out: &mut [f32]) {
    let (k, s, c) = (layer.k, layer.stride, layer.cout);
    let row = geo.ow * c;
    for oy in 0..geo.oh {
        let (ky0, iy0, ny) = window(oy, s, geo.pad_t, k, geo.ih);
        let out_row = &mut out[oy * row..][..row];
        for px in out_row.chunks_exact_mut(c) {
            px.copy_from_slice(&layer.bias);
        }
        for dy in 0..ny {
            let in_row = &inp[(iy0 + dy) * geo.iw * c..][..geo.iw * c];
            for ox in 0..geo.ow {
                let (kx0, ix0, nx) = window(ox, s, geo.pad_l, k, geo.iw);
                let o = &mut out_row[ox * c..][..c];
                for dx in 0..nx {
                    let i = &in_row[(ix0 + dx) * c..][..c];
                    let w = &layer.weights[((ky0 + dy) * k + kx0 + dx) * c..][..c];
                    for ((o, &i), &w) in o.iter_mut().zip(i).zip(w) {
                        *o += i * w;
                    }
                }
            }
        }
        relu6(out_row);
    }
}

/// Regular conv (conv1) on `n` images: each image's patches (`[oh * ow, k *
/// k * cin]`, zeros where SAME padding reads outside) times the weights
/// (`[k * k * cin, cout]`, their layout already) in one matrix multiply.
/// Loops over 3 input channels and 8 outputs kept the accumulators in
/// memory, and conv1 took as long as the 13 pointwise layers together.
fn conv(inp: &[f32], n: usize, (h, w): (usize, usize), layer: &Layer, out: &mut [f32], simd: Simd) {
    let geo = Geometry::new(layer, h, w);
    let (k, s, cin, cout) = (layer.k, layer.stride, layer.cin, layer.cout);
    let (isz, osz) = (h * w * cin, geo.oh * geo.ow * cout);
    let patch = k * k * cin;
    let pixels = geo.oh * geo.ow;
    let mut patches = vec![0f32; pixels * patch];
    let im2col = Layer {
        kind: Kind::Pointwise,
        k: 1,
        stride: 1,
        cin: patch,
        cout,
        weights: Vec::new(),
        bias: Vec::new(),
        from_burn: Vec::new(),
    };
    for (x, y) in inp.chunks_exact(isz).zip(out.chunks_exact_mut(osz)).take(n) {
        for oy in 0..geo.oh {
            let (ky0, iy0, ny) = window(oy, s, geo.pad_t, k, h);
            for ox in 0..geo.ow {
                let (kx0, ix0, nx) = window(ox, s, geo.pad_l, k, w);
                let dst = &mut patches[(oy * geo.ow + ox) * patch..][..patch];
                dst.fill(0.0);
                for dy in 0..ny {
                    let src = &x[((iy0 + dy) * w + ix0) * cin..][..nx * cin];
                    dst[((ky0 + dy) * k + kx0) * cin..][..nx * cin].copy_from_slice(src);
                }
            }
        }
        matmul_bias_relu6(
            &patches,
            pixels,
            &im2col,
            &layer.weights,
            &layer.bias,
            y,
            simd,
        );
    }
}

/// `out[p, :] = relu6(bias + inp[p, :] @ W)` for `pixels` rows.
pub(crate) fn pointwise(inp: &[f32], pixels: usize, layer: &Layer, out: &mut [f32], simd: Simd) {
    matmul_bias_relu6(inp, pixels, layer, &layer.weights, &layer.bias, out, simd)
}

/// `out = relu6(bias + inp @ weights)`, `inp` `[pixels, shape.cin]`,
/// `weights` `[shape.cin, shape.cout]`.
fn matmul_bias_relu6(
    inp: &[f32],
    pixels: usize,
    shape: &Layer,
    weights: &[f32],
    bias: &[f32],
    out: &mut [f32],
    simd: Simd,
) {
    let (cin, cout) = (shape.cin, shape.cout);
    #[cfg(target_arch = "x86_64")]
    if avx512::takes(cout) && simd == Simd::Avx512 {
        // SAFETY: `Simd::Avx512` means the CPU reports AVX-512F.
        unsafe { avx512::matmul_bias_relu6(inp, pixels, (cin, cout), weights, bias, out) };
        return;
    }
    assert!(inp.len() >= pixels * cin && out.len() >= pixels * cout && weights.len() >= cin * cout);
    // SAFETY: `out` is `pixels x cout`, `inp` is `pixels x cin` and `weights`
    // `cin x cout`, all row-major and contiguous, matching the strides passed,
    // and long enough (checked above).
    unsafe {
        gemm::gemm(
            pixels,
            cout,
            cin,
            out.as_mut_ptr(),
            1,
            cout as isize,
            false,
            inp.as_ptr(),
            1,
            cin as isize,
            weights.as_ptr(),
            1,
            cout as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    let out = &mut out[..pixels * cout];
    if simd.avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU reports AVX2 and FMA.
        unsafe {
            bias_relu6_avx2(out, bias)
        }
    } else {
        bias_relu6(out, bias)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bias_relu6_avx2(out: &mut [f32], bias: &[f32]) {
    bias_relu6(out, bias)
}

/// `row = relu6(row + bias)` for every row of `out`.
#[inline(always)]
fn bias_relu6(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x = (*x + b).clamp(0.0, 6.0);
        }
    }
}

/// The backward of [`pointwise`] for `pixels` rows, given the gradient `g`
/// (`[pixels, cout]`) of its output before ReLU6: `dw += x^T g` and, when
/// asked, `dx = g W^T`.
pub(crate) fn pointwise_backward(
    x: &[f32],
    g: &[f32],
    pixels: usize,
    layer: &Layer,
    dw: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (cin, cout) = (layer.cin, layer.cout);
    assert!(x.len() >= pixels * cin && g.len() >= pixels * cout && dw.len() >= cin * cout);
    // SAFETY: `dw` is `cin x cout` row-major; `x^T` is read from the
    // `pixels x cin` row-major `x` (column stride `cin`, row stride 1) and `g`
    // is `pixels x cout` row-major, all in bounds (checked above).
    unsafe {
        gemm::gemm(
            cin,
            cout,
            pixels,
            dw.as_mut_ptr(),
            1,
            cout as isize,
            true,
            x.as_ptr(),
            cin as isize,
            1,
            g.as_ptr(),
            1,
            cout as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    if let Some(dx) = dx {
        assert!(dx.len() >= pixels * cin && layer.weights.len() >= cin * cout);
        // SAFETY: `dx` is `pixels x cin` row-major; `g` is `pixels x cout`
        // row-major; `W^T` is read from the `cin x cout` row-major weights
        // (column stride `cout`, row stride 1); all in bounds (checked above).
        unsafe {
            gemm::gemm(
                pixels,
                cin,
                cout,
                dx.as_mut_ptr(),
                1,
                cin as isize,
                false,
                g.as_ptr(),
                1,
                cout as isize,
                layer.weights.as_ptr(),
                cout as isize,
                1,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

pub(crate) fn pool_hwc(x: &[f32], c: usize) -> Vec<f32> {
    let mut sum = vec![0f32; c];
    let pixels = x.len() / c.max(1);
    for px in x.chunks_exact(c) {
        for (s, v) in sum.iter_mut().zip(px) {
            *s += v;
        }
    }
    for s in &mut sum {
        *s /= pixels as f32;
    }
    sum
}

fn hwc_to_chw(x: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for p in 0..h * w {
        for ch in 0..c {
            out[ch * h * w + p] = x[p * c + ch];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer of `kind` with pseudo-random weights in `[-0.5, 0.5)`.
    fn layer(kind: Kind, (k, stride, cin, cout): (usize, usize, usize, usize)) -> Layer {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (cin * 131 + cout) as u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect()
        };
        let weights = match kind {
            Kind::Depthwise => rand(k * k * cout),
            _ => rand(k * k * cin * cout),
        };
        Layer {
            kind,
            k,
            stride,
            cin,
            cout,
            weights,
            bias: rand(cout),
            from_burn: Vec::new(),
        }
    }

    /// Every kernel level this CPU has gives the baseline's outputs (up to
    /// float rounding: the levels sum in different orders), for the shapes
    /// the backbones have and the awkward ones: channel counts that are not
    /// multiples of 16 (masked or left to `gemm`), odd sizes (asymmetric SAME
    /// padding), stride 2, tiles with leftover rows.
    #[test]
    fn every_simd_level_computes_the_same_layers() {
        let levels = Simd::available();
        eprintln!("levels on this CPU: {levels:?}");
        let cases = [
            (Kind::Conv, (3, 2, 3, 8), (96, 96)),
            (Kind::Conv, (3, 2, 1, 16), (33, 20)),
            (Kind::Conv, (3, 2, 3, 24), (9, 9)),
            (Kind::Depthwise, (3, 1, 8, 8), (48, 48)),
            (Kind::Depthwise, (3, 2, 24, 24), (13, 7)),
            (Kind::Depthwise, (3, 1, 64, 64), (3, 3)),
            (Kind::Depthwise, (3, 2, 40, 40), (6, 5)),
            (Kind::Pointwise, (1, 1, 8, 16), (48, 48)),
            (Kind::Pointwise, (1, 1, 16, 32), (7, 5)),
            (Kind::Pointwise, (1, 1, 64, 48), (5, 5)),
            (Kind::Pointwise, (1, 1, 128, 256), (3, 3)),
            (Kind::Pointwise, (1, 1, 32, 24), (11, 3)),
            (Kind::Pointwise, (1, 1, 16, 5), (4, 4)),
        ];
        for (kind, shape, (h, w)) in cases {
            let layer = layer(kind, shape);
            let n = 3;
            let inp: Vec<f32> = (0..n * h * w * layer.cin)
                .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 1.0)
                .collect();
            let (oh, ow) = (same_output(h, layer.stride), same_output(w, layer.stride));
            let run = |simd| {
                let mut out = vec![f32::NAN; n * oh * ow * layer.cout];
                layer_forward(&layer, simd, &inp, n, (h, w), &mut out);
                out
            };
            let expected = run(Simd::Baseline);
            assert!(
                expected.iter().all(|v| (0.0..=6.0).contains(v)),
                "{kind:?} {shape:?}"
            );
            for &simd in &levels[1..] {
                for (i, (a, e)) in run(simd).iter().zip(&expected).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-4 * e.abs().max(1.0),
                        "{simd:?} {kind:?} {shape:?} at {h}x{w}, value {i}: {a} vs {e}"
                    );
                }
            }
        }
    }
}
