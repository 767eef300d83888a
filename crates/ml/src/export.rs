//! Hands a trained model to the int8 engine: the engine's [`FloatGraph`] (batch norm
//! already folded, ReLU6 fused into each conv) and per-layer calibration ranges.
//!
//! Ranges are computed with burn on whole batches rather than with the engine's
//! plain float executor, which is written for clarity and is much slower.

use burn::tensor::{Device, Tensor};
use tinystudio_engine::float_graph::{Activation, Layer, Padding, PixelScaling};
use tinystudio_engine::quantizer::bias_correction_subset;
use tinystudio_engine::{Calibration, FloatGraph};

use crate::data::{InputScaling, images_to_tensor};
use crate::error::{Error, Result};
use crate::inference::{DEFAULT_BATCH_SIZE, TrainedModel};
use crate::model::{ConvLayer, Dense, global_average_pool};

fn tensor_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap_or_default()
}

fn conv_layer(layer: &ConvLayer) -> Layer {
    let [oc, icg, kh, kw] = layer.weight.dims();
    let w = tensor_vec(layer.weight.val());
    let bias = tensor_vec(layer.bias.val());
    if layer.groups > 1 {
        // burn [c, 1, kh, kw] -> engine [kh, kw, c]
        let mut weights = vec![0f32; kh * kw * oc];
        for c in 0..oc {
            for y in 0..kh {
                for x in 0..kw {
                    weights[(y * kw + x) * oc + c] = w[(c * kh + y) * kw + x];
                }
            }
        }
        Layer::DepthwiseConv2d {
            weights,
            shape: [kh, kw, oc],
            bias,
            stride: layer.stride,
            padding: Padding::Same,
            activation: Activation::Relu6,
        }
    } else {
        // burn [out, in, kh, kw] -> engine [out, kh, kw, in]
        let mut weights = vec![0f32; oc * kh * kw * icg];
        for o in 0..oc {
            for i in 0..icg {
                for y in 0..kh {
                    for x in 0..kw {
                        weights[((o * kh + y) * kw + x) * icg + i] =
                            w[((o * icg + i) * kh + y) * kw + x];
                    }
                }
            }
        }
        Layer::Conv2d {
            weights,
            shape: [oc, kh, kw, icg],
            bias,
            stride: layer.stride,
            padding: Padding::Same,
            activation: Activation::Relu6,
        }
    }
}

fn dense_layer(d: &Dense, activation: Activation) -> Layer {
    let [i, o] = d.weight.dims();
    let w = tensor_vec(d.weight.val());
    // burn [in, out] -> engine [out, in]
    let mut weights = vec![0f32; o * i];
    for r in 0..i {
        for c in 0..o {
            weights[c * i + r] = w[r * o + c];
        }
    }
    Layer::FullyConnected {
        weights,
        shape: [o, i],
        bias: tensor_vec(d.bias.val()),
        activation,
    }
}

/// The whole classifier as the engine's float graph: 27 conv layers, global average
/// pool, the head's dense layers (dropout is the identity at inference) and softmax.
pub fn float_graph(model: &TrainedModel) -> Result<FloatGraph> {
    let config = &model.config;
    if config.scaling != InputScaling::Int8Aligned {
        return Err(Error::InvalidInput(
            "only models trained with (p - 128) / 127.5 input scaling can be exported".into(),
        ));
    }
    let mut layers: Vec<Layer> = model.backbone().layers.iter().map(conv_layer).collect();
    layers.push(Layer::GlobalAveragePool);
    if let Some(h) = &model.head().hidden {
        layers.push(dense_layer(h, Activation::Relu));
    }
    layers.push(dense_layer(&model.head().output, Activation::None));
    layers.push(Layer::Softmax);
    let graph = FloatGraph {
        input_shape: [
            config.input.height,
            config.input.width,
            config.input.channels,
        ],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: config.class_names.clone(),
        layers,
    };
    graph
        .output_shapes()
        .map_err(|e| Error::InvalidInput(format!("exported graph is inconsistent: {e}")))?;
    Ok(graph)
}

/// Per-layer output `(min, max)` over `images` (HWC u8 at the model's input size),
/// in the same layer order as [`float_graph`], and up to
/// [`tinystudio_engine::quantizer::BIAS_CORRECTION_SAMPLES`] of the images as the graph's float inputs, which the
/// quantizer uses to correct its biases.
pub fn calibrate(model: &TrainedModel, images: &[&[u8]]) -> Result<Calibration> {
    if images.is_empty() {
        return Err(Error::InvalidInput(
            "calibration needs at least one sample image".into(),
        ));
    }
    let device = Device::flex();
    let backbone = model.backbone();
    let head = model.head();
    let n_layers = backbone.layers.len() + 2 + usize::from(head.hidden.is_some()) + 1;
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); n_layers];
    let mut widen = |i: usize, t: &Tensor<4>| {
        let v = tensor_vec(t.clone());
        let r = &mut ranges[i];
        for x in v {
            r.0 = r.0.min(x);
            r.1 = r.1.max(x);
        }
    };
    for batch in images.chunks(DEFAULT_BATCH_SIZE) {
        // [batch, c, h, w]
        let mut x = images_to_tensor(batch, model.config.input, model.config.scaling, &device)?;
        let mut i = 0;
        for layer in &backbone.layers {
            x = layer.forward(x);
            widen(i, &x);
            i += 1;
        }
        let [b, c, _, _] = x.dims();
        let mut f = global_average_pool(x);
        widen(i, &f.clone().reshape([b, c, 1, 1]));
        i += 1;
        if let Some(h) = &head.hidden {
            f = burn::tensor::activation::relu(h.forward(f));
            let [b, n] = f.dims();
            widen(i, &f.clone().reshape([b, n, 1, 1]));
            i += 1;
        }
        let logits = head.output.forward(f);
        let [b, n] = logits.dims();
        widen(i, &logits.clone().reshape([b, n, 1, 1]));
        i += 1;
        let probs = burn::tensor::activation::softmax(logits, 1);
        widen(i, &probs.reshape([b, n, 1, 1]));
    }
    // The exported graph's input scaling: (p - 128) / 127.5, checked in `float_graph`.
    let samples = bias_correction_subset(images)
        .map(|img| {
            img.iter()
                .map(|&p| PixelScaling::MinusOneToOne.to_float(p))
                .collect()
        })
        .collect();
    Ok(Calibration { ranges, samples })
}

/// Convenience for the worker: the graph and its calibration in one call.
pub fn export(
    model: &TrainedModel,
    calibration_images: &[&[u8]],
) -> Result<(FloatGraph, Calibration)> {
    Ok((float_graph(model)?, calibrate(model, calibration_images)?))
}
