//! The float model the ML crate hands over for quantization (host only),
//! and a plain float executor for it.
//!
//! Layouts follow TFLite's (NHWC activations, `[out_c, kh, kw, in_c]`
//! convolution weights) so the quantizer only rescales and never transposes.
//! Batch norm must already be folded into the weights and biases.

use crate::error::{Error, Result};
pub use crate::input::PixelScaling;
pub use crate::ops::{Activation, Padding};
use crate::ops::{output_size, padding_before};

#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    Conv2d {
        /// `[out_c, kh, kw, in_c]`
        weights: Vec<f32>,
        /// `[out_c, kh, kw, in_c]`
        shape: [usize; 4],
        /// `[out_c]`
        bias: Vec<f32>,
        stride: usize,
        padding: Padding,
        activation: Activation,
    },
    DepthwiseConv2d {
        /// `[kh, kw, c]` (depth multiplier 1)
        weights: Vec<f32>,
        /// `[kh, kw, c]`
        shape: [usize; 3],
        /// `[c]`
        bias: Vec<f32>,
        stride: usize,
        padding: Padding,
        activation: Activation,
    },
    /// Mean over height and width: `[h, w, c]` -> `[1, 1, c]`.
    GlobalAveragePool,
    FullyConnected {
        /// `[out, in]`; the input is flattened in HWC order.
        weights: Vec<f32>,
        /// `[out, in]`
        shape: [usize; 2],
        /// `[out]`
        bias: Vec<f32>,
        activation: Activation,
    },
    Softmax,
}

impl Layer {
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv2d",
            Layer::DepthwiseConv2d { .. } => "depthwise_conv2d",
            Layer::GlobalAveragePool => "global_average_pool",
            Layer::FullyConnected { .. } => "fully_connected",
            Layer::Softmax => "softmax",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FloatGraph {
    /// `[h, w, c]`
    pub input_shape: [usize; 3],
    pub pixel_scaling: PixelScaling,
    pub labels: Vec<String>,
    pub layers: Vec<Layer>,
}

fn err(layer: usize, what: String) -> Error {
    Error::Message(format!("float graph layer {layer}: {what}"))
}

fn activate(x: f32, a: Activation) -> f32 {
    match a {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::Relu6 => x.clamp(0.0, 6.0),
    }
}

/// Spatial geometry of a windowed layer: output size and padding before.
fn geometry(
    input: [usize; 3],
    k: (usize, usize),
    stride: usize,
    padding: Padding,
    layer: usize,
) -> Result<([usize; 2], [usize; 2])> {
    let oh = output_size(padding, input[0], k.0, stride);
    let ow = output_size(padding, input[1], k.1, stride);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(err(
            layer,
            format!("window {k:?} stride {stride} does not fit input {input:?}"),
        ));
    };
    let pads = match padding {
        Padding::Same => [
            padding_before(stride, input[0], k.0, oh),
            padding_before(stride, input[1], k.1, ow),
        ],
        Padding::Valid => [0, 0],
    };
    Ok(([oh, ow], pads))
}

/// The kernel taps of output pixel `[oy, ox]` that fall inside the input, in
/// row-major order, with the index of the input pixel each one reads.
fn taps(
    [oy, ox]: [usize; 2],
    (kh, kw): (usize, usize),
    stride: usize,
    [pt, pl]: [usize; 2],
    [ih, iw, _]: [usize; 3],
) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..kh).flat_map(move |ky| {
        (0..kw).filter_map(move |kx| {
            let iy = (oy * stride + ky).checked_sub(pt).filter(|&v| v < ih)?;
            let ix = (ox * stride + kx).checked_sub(pl).filter(|&v| v < iw)?;
            Some((ky, kx, iy * iw + ix))
        })
    })
}

/// Adds one kernel tap to every output channel: `out[o] += sum_c w[o][c] * x[c]`
/// where `w[o]` starts at `o * filter_len + offset`. Four output channels run
/// side by side for speed; each one still sums in input channel order, so the
/// result does not depend on the grouping.
fn conv_tap(out: &mut [f32], weights: &[f32], offset: usize, filter_len: usize, x: &[f32]) {
    let n = x.len();
    let row = |o: usize| &weights[o * filter_len + offset..][..n];
    let mut groups = out.chunks_exact_mut(4);
    let mut o = 0;
    for acc in &mut groups {
        let (w0, w1, w2, w3) = (row(o), row(o + 1), row(o + 2), row(o + 3));
        let [mut a0, mut a1, mut a2, mut a3] = [acc[0], acc[1], acc[2], acc[3]];
        for c in 0..n {
            let v = x[c];
            a0 += w0[c] * v;
            a1 += w1[c] * v;
            a2 += w2[c] * v;
            a3 += w3[c] * v;
        }
        acc.copy_from_slice(&[a0, a1, a2, a3]);
        o += 4;
    }
    for acc in groups.into_remainder() {
        for (w, v) in row(o).iter().zip(x) {
            *acc += w * v;
        }
        o += 1;
    }
}

impl FloatGraph {
    /// Shape `[h, w, c]` of every layer's output (FC and softmax: `[1, 1, n]`),
    /// checking that weights and biases match.
    pub fn output_shapes(&self) -> Result<Vec<[usize; 3]>> {
        let mut shape = self.input_shape;
        if shape.contains(&0) {
            return Err(Error::Message(
                "float graph input shape has a zero dimension".into(),
            ));
        }
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            shape = match layer {
                Layer::Conv2d {
                    weights,
                    shape: [oc, kh, kw, ic],
                    bias,
                    stride,
                    padding,
                    ..
                } => {
                    if *ic != shape[2] || weights.len() != oc * kh * kw * ic || bias.len() != *oc {
                        return Err(err(
                            i,
                            format!("conv weights/bias do not match input channels {}", shape[2]),
                        ));
                    }
                    let ([oh, ow], _) = geometry(shape, (*kh, *kw), *stride, *padding, i)?;
                    [oh, ow, *oc]
                }
                Layer::DepthwiseConv2d {
                    weights,
                    shape: [kh, kw, c],
                    bias,
                    stride,
                    padding,
                    ..
                } => {
                    if *c != shape[2] || weights.len() != kh * kw * c || bias.len() != *c {
                        return Err(err(
                            i,
                            format!("depthwise weights/bias do not match {} channels", shape[2]),
                        ));
                    }
                    let ([oh, ow], _) = geometry(shape, (*kh, *kw), *stride, *padding, i)?;
                    [oh, ow, *c]
                }
                Layer::GlobalAveragePool => [1, 1, shape[2]],
                Layer::FullyConnected {
                    weights,
                    shape: [o, n],
                    bias,
                    ..
                } => {
                    if *n != shape.iter().product::<usize>()
                        || weights.len() != o * n
                        || bias.len() != *o
                    {
                        return Err(err(
                            i,
                            format!("fully connected weights do not match input {shape:?}"),
                        ));
                    }
                    [1, 1, *o]
                }
                Layer::Softmax => shape,
            };
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// Float inference: every layer's output, in order (HWC).
    pub fn forward(&self, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        let shapes = self.output_shapes()?;
        let expected: usize = self.input_shape.iter().product();
        if input.len() != expected {
            return Err(Error::LengthMismatch {
                expected,
                actual: input.len(),
            });
        }
        let mut x = input.to_vec();
        let mut shape = self.input_shape;
        let mut outputs = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let out_shape = shapes[i];
            let [ih, iw, ic] = shape;
            let [oh, ow, oc] = out_shape;
            let mut y = vec![0f32; oh * ow * oc];
            match layer {
                Layer::Conv2d {
                    weights,
                    shape: [_, kh, kw, _],
                    bias,
                    stride,
                    padding,
                    activation,
                } => {
                    let (_, [pt, pl]) = geometry(shape, (*kh, *kw), *stride, *padding, i)?;
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let out = &mut y[(oy * ow + ox) * oc..][..oc];
                            out.copy_from_slice(bias);
                            for (ky, kx, px) in taps([oy, ox], (*kh, *kw), *stride, [pt, pl], shape)
                            {
                                let px = &x[px * ic..][..ic];
                                conv_tap(out, weights, (ky * kw + kx) * ic, kh * kw * ic, px);
                            }
                            out.iter_mut().for_each(|v| *v = activate(*v, *activation));
                        }
                    }
                }
                Layer::DepthwiseConv2d {
                    weights,
                    shape: [kh, kw, _],
                    bias,
                    stride,
                    padding,
                    activation,
                } => {
                    let (_, [pt, pl]) = geometry(shape, (*kh, *kw), *stride, *padding, i)?;
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let out = &mut y[(oy * ow + ox) * oc..][..oc];
                            out.copy_from_slice(bias);
                            for (ky, kx, px) in taps([oy, ox], (*kh, *kw), *stride, [pt, pl], shape)
                            {
                                let w = &weights[(ky * kw + kx) * oc..][..oc];
                                let px = &x[px * ic..][..oc];
                                for ((acc, w), v) in out.iter_mut().zip(w).zip(px) {
                                    *acc += w * v;
                                }
                            }
                            out.iter_mut().for_each(|v| *v = activate(*v, *activation));
                        }
                    }
                }
                Layer::GlobalAveragePool => {
                    for (c, v) in y.iter_mut().enumerate() {
                        *v = x.iter().skip(c).step_by(ic).sum::<f32>() / (ih * iw) as f32;
                    }
                }
                Layer::FullyConnected {
                    weights,
                    shape: [_, n],
                    bias,
                    activation,
                } => {
                    for (o, v) in y.iter_mut().enumerate() {
                        let dot: f32 = weights[o * n..(o + 1) * n]
                            .iter()
                            .zip(&x)
                            .map(|(w, a)| w * a)
                            .sum();
                        *v = activate(dot + bias[o], *activation);
                    }
                }
                Layer::Softmax => {
                    for (row, out) in x.chunks(ic).zip(y.chunks_mut(ic)) {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
                        for (o, v) in out.iter_mut().zip(row) {
                            *o = (v - max).exp() / sum;
                        }
                    }
                }
            }
            outputs.push(y.clone());
            x = y;
            shape = out_shape;
        }
        Ok(outputs)
    }

    /// Float input from 8-bit pixels (HWC) through the graph's pixel scaling.
    pub fn scale_pixels(&self, pixels: &[u8]) -> Vec<f32> {
        pixels
            .iter()
            .map(|&p| self.pixel_scaling.to_float(p))
            .collect()
    }
}
