//! The fine-tuned blocks' forward and backward, written by hand in NHWC.
//!
//! Through burn-flex's autodiff the trainable tail ran in NCHW, one op over
//! the whole batch at a time, each allocating its output and its backward
//! converting layouts inside the convolutions: about 250 images/s for all 13
//! blocks, well behind TensorFlow's step (BENCHMARKS.md has both).
//! Here each thread takes a share of the batch through the same kernels as
//! feature extraction (`cpu.rs`), keeps every layer's output in buffers that
//! live as long as the training run, and runs the backward on them:
//! pointwise layers as three matrix multiplies through `gemm` (output,
//! weight gradient, input gradient), depthwise layers as loops over the
//! channel axis compiled for AVX2. The head (two small dense layers,
//! dropout, softmax cross-entropy) and Adam stay in burn: they cost little,
//! and the optimiser's behaviour (rates, epsilon, state) stays burn's. Tests
//! check the gradients against burn's autodiff on the same weights.

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::cpu::{
    CHUNK, Geometry, Kind, Layer, Simd, layer_forward, pointwise_backward, pool_hwc, window,
};
use crate::error::{Error, Result};
use crate::model::{ConvLayer, same_output};

/// The trainable tail in NHWC, and its activations from the last
/// [`Tail::forward`].
pub(crate) struct Tail {
    layers: Vec<Layer>,
    /// `(h, w, c)` entering each layer, and after the last one.
    shapes: Vec<(usize, usize, usize)>,
    simd: Simd,
    chunks: Vec<Chunk>,
}

/// One thread's share of a batch: its images' activations, layer by layer.
#[derive(Default)]
struct Chunk {
    n: usize,
    /// `acts[0]` is the input, `acts[l + 1]` layer `l`'s output, each
    /// `[n, h, w, c]`.
    acts: Vec<Vec<f32>>,
    /// Gradient buffers the backward ping-pongs between.
    grad: [Vec<f32>; 2],
    /// Per layer, `(weights, bias)` gradients summed over the chunk's images.
    grads: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Tail {
    /// `layers` are the fine-tuned blocks (depthwise and pointwise layers; the
    /// first conv is never fine-tuned), `input` the cut activation's
    /// `[c, h, w]`.
    pub(crate) fn new(layers: &[ConvLayer], input: &[usize]) -> Result<Self> {
        let layers: Vec<Layer> = layers.iter().map(Layer::from_conv).collect();
        if layers.iter().any(|l| l.kind == Kind::Conv) {
            return Err(Error::InvalidInput(
                "only depthwise and pointwise layers can be fine-tuned".into(),
            ));
        }
        let &[c, h, w] = input else {
            return Err(Error::InvalidInput(format!(
                "fine-tuning input must be [c, h, w], not {input:?}"
            )));
        };
        let mut shapes = vec![(h, w, c)];
        for l in &layers {
            let (h, w, _) = shapes[shapes.len() - 1];
            shapes.push((same_output(h, l.stride), same_output(w, l.stride), l.cout));
        }
        Ok(Tail {
            layers,
            shapes,
            simd: Simd::detect(),
            chunks: Vec::new(),
        })
    }

    /// Takes the weights of `layers` (after an optimiser step).
    pub(crate) fn load(&mut self, layers: &[ConvLayer]) {
        for (ours, theirs) in self.layers.iter_mut().zip(layers) {
            ours.load(theirs);
        }
    }

    /// Width of the pooled features.
    pub(crate) fn feature_dim(&self) -> usize {
        self.shapes[self.shapes.len() - 1].2
    }

    /// Runs `rows` (`[batch, c, h, w]` row-major, as cached) through the
    /// tail, keeping the activations for [`Self::backward`]; returns the
    /// globally pooled features, `[batch, features]`.
    pub(crate) fn forward(&mut self, rows: &[f32]) -> Vec<f32> {
        let (h, w, c) = self.shapes[0];
        let row_len = h * w * c;
        let batch = rows.len() / row_len.max(1);
        let threads = rayon::current_num_threads().max(1);
        let chunks = batch.div_ceil(CHUNK).max(threads.min(batch));
        let size = batch.div_ceil(chunks.max(1)).max(1);
        let chunks = batch.div_ceil(size);
        self.chunks.resize_with(chunks, Chunk::default);
        let (layers, shapes, simd) = (&self.layers, &self.shapes, self.simd);
        self.chunks
            .par_iter_mut()
            .zip(rows.par_chunks(size * row_len))
            .flat_map_iter(|(chunk, rows)| {
                let n = rows.len() / row_len;
                chunk.n = n;
                chunk.acts.resize_with(shapes.len(), Vec::new);
                let input = &mut chunk.acts[0];
                input.resize(n * row_len, 0.0);
                for (src, dst) in rows
                    .chunks_exact(row_len)
                    .zip(input.chunks_exact_mut(row_len))
                {
                    chw_to_hwc(src, dst, h * w, c);
                }
                for (l, layer) in layers.iter().enumerate() {
                    let (ih, iw, _) = shapes[l];
                    let (oh, ow, oc) = shapes[l + 1];
                    let (done, rest) = chunk.acts.split_at_mut(l + 1);
                    let out = &mut rest[0];
                    out.resize(n * oh * ow * oc, 0.0);
                    layer_forward(layer, simd, &done[l], n, (ih, iw), out);
                }
                let (oh, ow, oc) = shapes[shapes.len() - 1];
                let last = &chunk.acts[shapes.len() - 1];
                last.chunks_exact(oh * ow * oc)
                    .flat_map(|x| pool_hwc(x, oc))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The backward of the last [`Self::forward`], given the loss gradient
    /// of its pooled features (`[batch, features]`); returns burn-layout
    /// gradients for the layers' parameters, registered under `params`'s ids.
    pub(crate) fn backward(
        &mut self,
        d_features: &[f32],
        params: &[ConvLayer],
        device: &Device,
    ) -> GradientsParams {
        let (layers, shapes, simd) = (&self.layers, &self.shapes, self.simd);
        let features = self.feature_dim();
        let mut offset = 0;
        let starts: Vec<usize> = self
            .chunks
            .iter()
            .map(|c| {
                let s = offset;
                offset += c.n;
                s
            })
            .collect();
        self.chunks
            .par_iter_mut()
            .zip(starts)
            .for_each(|(chunk, start)| {
                let d = &d_features[start * features..(start + chunk.n) * features];
                if simd.avx2() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the CPU reports AVX2 and FMA.
                    unsafe {
                        chunk_backward_avx2(chunk, d, layers, shapes)
                    }
                } else {
                    chunk_backward(chunk, d, layers, shapes, false);
                }
            });
        let mut grads = GradientsParams::new();
        for (l, (layer, param)) in layers.iter().zip(params).enumerate() {
            let mut dw = vec![0f32; layer.weights.len()];
            let mut db = vec![0f32; layer.bias.len()];
            for chunk in &self.chunks {
                let (w, b) = &chunk.grads[l];
                add(&mut dw, w);
                add(&mut db, b);
            }
            let dims = param.weight.dims();
            grads.register(
                param.weight.id,
                Tensor::<4>::from_data(TensorData::new(layer.to_burn_layout(&dw), dims), device),
            );
            grads.register(
                param.bias.id,
                Tensor::<1>::from_data(TensorData::new(db, [layer.cout]), device),
            );
        }
        grads
    }

    /// Pooled features of `rows` (`[batch, c, h, w]`) without keeping more
    /// than a training batch's activations.
    pub(crate) fn features(&mut self, rows: &[f32], batch: usize) -> Vec<f32> {
        let (h, w, c) = self.shapes[0];
        rows.chunks(batch.max(1) * h * w * c)
            .flat_map(|piece| self.forward(piece))
            .collect()
    }
}

#[inline(always)]
fn add(acc: &mut [f32], x: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(x) {
        *a += x;
    }
}

fn chw_to_hwc(src: &[f32], dst: &mut [f32], pixels: usize, c: usize) {
    for ch in 0..c {
        for p in 0..pixels {
            dst[p * c + ch] = src[ch * pixels + p];
        }
    }
}

/// [`chunk_backward`] with its element-wise loops (ReLU6's mask, the bias
/// gradient) compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_backward_avx2(
    chunk: &mut Chunk,
    d: &[f32],
    layers: &[Layer],
    shapes: &[(usize, usize, usize)],
) {
    chunk_backward(chunk, d, layers, shapes, true)
}

/// One chunk's backward, from the pooled features' gradient `d` (`[n,
/// features]`) down to the first layer's weights (the tail's input is frozen,
/// so its gradient is not computed).
#[inline(always)]
fn chunk_backward(
    chunk: &mut Chunk,
    d: &[f32],
    layers: &[Layer],
    shapes: &[(usize, usize, usize)],
    avx2: bool,
) {
    let n = chunk.n;
    chunk.grads.resize_with(layers.len(), Default::default);
    let (h, w, c) = shapes[shapes.len() - 1];
    let [g, gin] = &mut chunk.grad;
    g.resize(n * h * w * c, 0.0);
    let scale = 1.0 / (h * w) as f32;
    for (img, dimg) in g.chunks_exact_mut(h * w * c).zip(d.chunks_exact(c)) {
        for px in img.chunks_exact_mut(c) {
            for (x, &dv) in px.iter_mut().zip(dimg) {
                *x = dv * scale;
            }
        }
    }
    for l in (0..layers.len()).rev() {
        let layer = &layers[l];
        let (ih, iw, ic) = shapes[l];
        let (oh, ow, oc) = shapes[l + 1];
        let y = &chunk.acts[l + 1][..n * oh * ow * oc];
        let x = &chunk.acts[l][..n * ih * iw * ic];
        let gs = &mut g[..n * oh * ow * oc];
        // ReLU6 passes the gradient where its input was inside (0, 6).
        for (g, &y) in gs.iter_mut().zip(y) {
            *g = if y > 0.0 && y < 6.0 { *g } else { 0.0 };
        }
        let (dw, db) = &mut chunk.grads[l];
        dw.clear();
        dw.resize(layer.weights.len(), 0.0);
        db.clear();
        db.resize(oc, 0.0);
        for px in gs.chunks_exact(oc) {
            add(db, px);
        }
        let need_input = l > 0;
        if need_input {
            gin.resize(n * ih * iw * ic, 0.0);
        }
        let gin_slice = &mut gin[..if need_input { n * ih * iw * ic } else { 0 }];
        match layer.kind {
            Kind::Pointwise => pointwise_backward(
                x,
                gs,
                n * ih * iw,
                layer,
                dw,
                need_input.then_some(gin_slice),
            ),
            _ => {
                let geo = Geometry::new(layer, ih, iw);
                for i in 0..n {
                    let xi = &x[i * ih * iw * ic..][..ih * iw * ic];
                    let gi = &gs[i * oh * ow * oc..][..oh * ow * oc];
                    let dxi = if need_input {
                        Some(&mut gin_slice[i * ih * iw * ic..][..ih * iw * ic])
                    } else {
                        None
                    };
                    depthwise_backward(avx2, xi, gi, layer, &geo, dw, dxi);
                }
            }
        }
        std::mem::swap(g, gin);
    }
}

fn depthwise_backward(
    avx2: bool,
    x: &[f32],
    g: &[f32],
    layer: &Layer,
    geo: &Geometry,
    dw: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    if avx2 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `avx2` is only true when the CPU reports AVX2 and FMA.
        unsafe {
            depthwise_backward_avx2(x, g, layer, geo, dw, dx)
        }
    } else {
        depthwise_backward_loops(x, g, layer, geo, dw, dx)
    }
}

/// The same loops compiled with AVX2 enabled, so they vectorise 8 floats wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_backward_avx2(
    x: &[f32],
    g: &[f32],
    layer: &Layer,
    geo: &Geometry,
    dw: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    depthwise_backward_loops(x, g, layer, geo, dw, dx)
}

/// One image's depthwise backward: `dw[tap, c] += g[o, c] * x[tap(o), c]`
/// and `dx[tap(o), c] += g[o, c] * w[tap, c]` over output pixels `o` and
/// the taps inside the image (SAME padding reads zeros outside).
#[inline(always)]
fn depthwise_backward_loops(
    x: &[f32],
    g: &[f32],
    layer: &Layer,
    geo: &Geometry,
    dw: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (k, s, c) = (layer.k, layer.stride, layer.cout);
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for oy in 0..geo.oh {
        let (ky0, iy0, ny) = window(oy, s, geo.pad_t, k, geo.ih);
        for ox in 0..geo.ow {
            let (kx0, ix0, nx) = window(ox, s, geo.pad_l, k, geo.iw);
            let go = &g[(oy * geo.ow + ox) * c..][..c];
            for dy in 0..ny {
                for ddx in 0..nx {
                    let p = ((iy0 + dy) * geo.iw + ix0 + ddx) * c;
                    let t = ((ky0 + dy) * k + kx0 + ddx) * c;
                    let xi = &x[p..p + c];
                    for ((acc, &gv), &xv) in dw[t..t + c].iter_mut().zip(go).zip(xi) {
                        *acc += gv * xv;
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        let wt = &layer.weights[t..t + c];
                        for ((acc, &gv), &wv) in dx[p..p + c].iter_mut().zip(go).zip(wt) {
                            *acc += gv * wv;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::Tail;
    use crate::data::Rng;
    use crate::model::{ConvLayer, Head, HeadConfig, Trainable};

    fn random(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
    }

    fn layer(rng: &mut Rng, cin: usize, cout: usize, depthwise: bool, stride: usize) -> ConvLayer {
        let device = Device::flex().autodiff();
        let (shape, groups) = if depthwise {
            ([cout, 1, 3, 3], cout)
        } else {
            ([cout, cin, 1, 1], 1)
        };
        let w = random(rng, shape.iter().product(), -0.4, 0.4);
        ConvLayer {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, shape), &device)),
            bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(random(rng, cout, -0.2, 0.5), [cout]),
                &device,
            )),
            stride,
            groups,
        }
    }

    fn close(what: &str, ours: &[f32], burn: &[f32]) {
        assert_eq!(ours.len(), burn.len(), "{what}");
        let scale = burn.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (i, (a, b)) in ours.iter().zip(burn).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale + 1e-5 * b.abs().max(1.0),
                "{what}[{i}]: ours {a}, burn {b} (largest {scale})"
            );
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Features and every parameter's gradient equal burn autodiff's on the
    /// same weights, through strided and unstrided depthwise layers, odd
    /// sizes (asymmetric SAME padding), saturated ReLU6 and a batch that
    /// does not split evenly over threads.
    #[test]
    fn gradients_match_burn_autodiff() {
        let mut rng = Rng::new(7);
        let tail = vec![
            layer(&mut rng, 8, 8, true, 2),
            layer(&mut rng, 8, 16, false, 1),
            layer(&mut rng, 16, 16, true, 1),
            layer(&mut rng, 16, 24, false, 1),
            layer(&mut rng, 24, 24, true, 2),
            layer(&mut rng, 24, 32, false, 1),
        ];
        let (batch, c, h, w) = (11, 8, 9, 7);
        let x = random(&mut rng, batch * c * h * w, 0.0, 4.0);
        let d = random(&mut rng, batch * 32, -1.0, 1.0);

        let device = Device::flex().autodiff();
        let model = Trainable {
            tail: tail.clone(),
            head: Head::new(
                &HeadConfig {
                    input_dim: 32,
                    hidden: None,
                    dropout: 0.0,
                    num_classes: 2,
                },
                &mut Rng::new(0),
                &device,
            ),
        };
        let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, c, h, w]), &device);
        let features = model.tail_features(input);
        let direction = Tensor::<2>::from_data(TensorData::new(d.clone(), [batch, 32]), &device);
        let mut grads = (features.clone() * direction).sum().backward();
        let expected = GradientsParams::from_module(&mut grads, &model.tail);

        let mut fast = Tail::new(&tail, &[c, h, w]).unwrap();
        close("features", &fast.forward(&x), &values(features.inner()));
        let ours = fast.backward(&d, &tail, &Device::flex());
        for (i, l) in tail.iter().enumerate() {
            for (name, id) in [("weight", l.weight.id), ("bias", l.bias.id)] {
                let what = format!("layer {i} {name}");
                if name == "weight" {
                    let (a, b) = (ours.get::<4>(id), expected.get::<4>(id));
                    close(&what, &values(a.unwrap()), &values(b.unwrap()));
                } else {
                    let (a, b) = (ours.get::<1>(id), expected.get::<1>(id));
                    close(&what, &values(a.unwrap()), &values(b.unwrap()));
                }
            }
        }
    }
}
