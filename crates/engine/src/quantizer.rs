//! Post-training int8 quantization of a [`FloatGraph`] (host only), with
//! TFLite's conventions so the result also runs bit-exactly in TFLite Micro:
//! asymmetric int8 activations from calibrated ranges, per-channel symmetric
//! int8 convolution weights, per-tensor symmetric fully connected weights,
//! int32 biases at `input_scale * weight_scale`, softmax output at 1/256 with
//! zero point -128, pooling that keeps its input's quantization.

use crate::error::{Error, Result};
use crate::float_graph::{FloatGraph, Layer};
use crate::model::{
    ConvOptions, DType, DepthwiseOptions, Metadata, Model, Op, PoolOptions, Quantization, Tensor,
};
use crate::ops::{Activation, Padding};
use crate::quant::round_f64;

/// Observed float range of every layer's output (after its fused activation).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub ranges: Vec<(f32, f32)>,
}

impl Calibration {
    /// Runs the float graph on representative inputs and records each layer's range.
    pub fn from_samples(graph: &FloatGraph, samples: &[Vec<f32>]) -> Result<Self> {
        let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); graph.layers.len()];
        for s in samples {
            for (r, out) in ranges.iter_mut().zip(graph.forward(s)?) {
                for v in out {
                    r.0 = r.0.min(v);
                    r.1 = r.1.max(v);
                }
            }
        }
        if samples.is_empty() {
            return Err(Error::Message(
                "calibration needs at least one sample".into(),
            ));
        }
        Ok(Calibration { ranges })
    }
}

/// Asymmetric int8 (scale, zero point) for a float range, as TFLite chooses
/// them: the range is widened to contain 0 so that 0 is exactly representable.
pub fn activation_quantization(min: f32, max: f32) -> (f32, i32) {
    let (min, max) = (f64::from(min.min(0.0)), f64::from(max.max(0.0)));
    if !(min.is_finite() && max.is_finite()) || max - min < 1e-9 {
        return (1.0 / 255.0, -128);
    }
    let scale = (max - min) / 255.0;
    let zero_point = round_f64(-128.0 - min / scale).clamp(-128.0, 127.0) as i32;
    (scale as f32, zero_point)
}

/// The range a fused activation can actually produce.
fn clip(range: (f32, f32), a: Activation) -> (f32, f32) {
    match a {
        Activation::None => range,
        Activation::Relu => (range.0.max(0.0), range.1.max(0.0)),
        Activation::Relu6 => (range.0.clamp(0.0, 6.0), range.1.clamp(0.0, 6.0)),
    }
}

/// Symmetric int8 quantization of `w`, one scale per `channel_of(index)`.
fn quantize_weights(
    w: &[f32],
    channels: usize,
    channel_of: impl Fn(usize) -> usize,
) -> (Vec<u8>, Vec<f32>) {
    let mut max = vec![0f32; channels];
    for (i, v) in w.iter().enumerate() {
        let c = channel_of(i);
        max[c] = max[c].max(v.abs());
    }
    // An all-zero channel gets the scale of weights in [-1, 1]: any scale works.
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 / 127.0 })
        .collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            round_f64(f64::from(v) / f64::from(scales[channel_of(i)])).clamp(-127.0, 127.0) as i8
                as u8
        })
        .collect();
    (q, scales)
}

fn quantize_bias(b: &[f32], input_scale: f32, weight_scales: &[f32]) -> Vec<u8> {
    b.iter()
        .enumerate()
        .flat_map(|(c, &v)| {
            let s =
                f64::from(input_scale) * f64::from(weight_scales[c.min(weight_scales.len() - 1)]);
            let q =
                round_f64(f64::from(v) / s).clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
            q.to_le_bytes()
        })
        .collect()
}

/// Quantizes a float graph to an int8 [`Model`].
pub fn quantize(graph: &FloatGraph, calibration: &Calibration) -> Result<Model> {
    let shapes = graph.output_shapes()?;
    if calibration.ranges.len() != graph.layers.len() {
        return Err(Error::Message(format!(
            "calibration has {} ranges for {} layers",
            calibration.ranges.len(),
            graph.layers.len()
        )));
    }
    let mut model = Model {
        metadata: Metadata {
            labels: graph.labels.clone(),
            pixel_scaling: Some(graph.pixel_scaling),
        },
        ..Model::default()
    };
    let push = |model: &mut Model, t: Tensor| {
        model.tensors.push(t);
        model.tensors.len() - 1
    };
    let [h, w, c] = graph.input_shape;
    let (in_scale, in_zp) = graph.pixel_scaling.natural_quantization();
    let act_tensor = |name: String, shape: Vec<usize>, scale: f32, zp: i32| Tensor {
        name,
        shape,
        dtype: DType::Int8,
        quant: Some(Quantization::per_tensor(scale, zp)),
        data: None,
    };
    let mut x = push(
        &mut model,
        act_tensor("input".into(), vec![1, h, w, c], in_scale, in_zp),
    );
    model.input = x;
    for (i, (layer, shape)) in graph.layers.iter().zip(&shapes).enumerate() {
        let name = format!("{}_{i}", layer.name());
        let (x_scale, x_zp) = (model.tensors[x].scale(), model.tensors[x].zero_point());
        let out_shape = vec![1, shape[0], shape[1], shape[2]];
        let range = calibration.ranges[i];
        let op_activation = match layer {
            Layer::Conv2d { activation, .. }
            | Layer::DepthwiseConv2d { activation, .. }
            | Layer::FullyConnected { activation, .. } => *activation,
            _ => Activation::None,
        };
        let (scale, zp) = {
            let (lo, hi) = clip(range, op_activation);
            activation_quantization(lo, hi)
        };
        let weights_tensor =
            |name: String, shape: Vec<usize>, data: Vec<u8>, scales: Vec<f32>, axis: usize| {
                Tensor {
                    name,
                    shape,
                    dtype: DType::Int8,
                    quant: Some(Quantization {
                        zero_point: vec![0; scales.len()],
                        scale: scales,
                        axis,
                    }),
                    data: Some(data),
                }
            };
        let bias_tensor = |name: String, data: Vec<u8>, scales: Vec<f32>| Tensor {
            name,
            shape: vec![data.len() / 4],
            dtype: DType::Int32,
            quant: Some(Quantization {
                zero_point: vec![0; scales.len()],
                scale: scales.iter().map(|s| s * x_scale).collect(),
                axis: 0,
            }),
            data: Some(data),
        };
        let y = match layer {
            Layer::Conv2d {
                weights,
                shape: [oc, kh, kw, ic],
                bias,
                stride,
                padding,
                activation,
            } => {
                let per = kh * kw * ic;
                let (q, scales) = quantize_weights(weights, *oc, |j| j / per);
                let b = quantize_bias(bias, x_scale, &scales);
                let f = push(
                    &mut model,
                    weights_tensor(
                        format!("{name}_weights"),
                        vec![*oc, *kh, *kw, *ic],
                        q,
                        scales.clone(),
                        0,
                    ),
                );
                let bt = push(&mut model, bias_tensor(format!("{name}_bias"), b, scales));
                let y = push(&mut model, act_tensor(name, out_shape, scale, zp));
                model.ops.push(Op::Conv2d {
                    input: x,
                    filter: f,
                    bias: Some(bt),
                    output: y,
                    options: ConvOptions {
                        stride: (*stride, *stride),
                        padding: *padding,
                        activation: *activation,
                    },
                });
                y
            }
            Layer::DepthwiseConv2d {
                weights,
                shape: [kh, kw, ch],
                bias,
                stride,
                padding,
                activation,
            } => {
                let (q, scales) = quantize_weights(weights, *ch, |j| j % ch);
                let b = quantize_bias(bias, x_scale, &scales);
                let f = push(
                    &mut model,
                    weights_tensor(
                        format!("{name}_weights"),
                        vec![1, *kh, *kw, *ch],
                        q,
                        scales.clone(),
                        3,
                    ),
                );
                let bt = push(&mut model, bias_tensor(format!("{name}_bias"), b, scales));
                let y = push(&mut model, act_tensor(name, out_shape, scale, zp));
                model.ops.push(Op::DepthwiseConv2d {
                    input: x,
                    filter: f,
                    bias: Some(bt),
                    output: y,
                    options: DepthwiseOptions {
                        stride: (*stride, *stride),
                        padding: *padding,
                        activation: *activation,
                        depth_multiplier: 1,
                    },
                });
                y
            }
            Layer::GlobalAveragePool => {
                let in_shape = &model.tensors[x].shape;
                let (ih, iw) = match in_shape.as_slice() {
                    [_, ih, iw, _] => (*ih, *iw),
                    _ => {
                        return Err(Error::Message(format!(
                            "layer {i}: global average pool needs a 4-D input"
                        )));
                    }
                };
                // TFLite's int8 pooling keeps the input's quantization.
                let y = push(&mut model, act_tensor(name, out_shape, x_scale, x_zp));
                model.ops.push(Op::AveragePool2d {
                    input: x,
                    output: y,
                    options: PoolOptions {
                        filter: (ih, iw),
                        stride: (1, 1),
                        padding: Padding::Valid,
                        activation: Activation::None,
                    },
                });
                y
            }
            Layer::FullyConnected {
                weights,
                shape: [o, n],
                bias,
                activation,
            } => {
                let (q, scale_all) = quantize_weights(weights, 1, |_| 0);
                let b = quantize_bias(bias, x_scale, &scale_all);
                let f = push(
                    &mut model,
                    weights_tensor(
                        format!("{name}_weights"),
                        vec![*o, *n],
                        q,
                        scale_all.clone(),
                        0,
                    ),
                );
                let bt = push(
                    &mut model,
                    bias_tensor(format!("{name}_bias"), b, scale_all),
                );
                let y = push(&mut model, act_tensor(name, vec![1, *o], scale, zp));
                model.ops.push(Op::FullyConnected {
                    input: x,
                    filter: f,
                    bias: Some(bt),
                    output: y,
                    activation: *activation,
                });
                y
            }
            Layer::Softmax => {
                let shape = model.tensors[x].shape.clone();
                let y = push(&mut model, act_tensor(name, shape, 1.0 / 256.0, -128));
                model.ops.push(Op::Softmax {
                    input: x,
                    output: y,
                    beta: 1.0,
                });
                y
            }
        };
        x = y;
    }
    if model.ops.is_empty() {
        return Err(Error::Message("the float graph has no layers".into()));
    }
    model.output = x;
    Ok(model)
}
