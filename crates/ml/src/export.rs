//! Hands a trained model to the int8 engine: the engine's [`FloatGraph`] (batch norm
//! already folded, ReLU6 fused into each conv) and per-layer calibration ranges.
//!
//! Ranges come from the fused feature-extraction path (`cpu.rs`) rather than
//! the engine's plain float executor, which is written for clarity and is much
//! slower; a test checks that both give the same ranges.

use burn::tensor::{Device, Tensor, TensorData};
use tinystudio_engine::float_graph::{Activation, Layer, Padding, PixelScaling};
use tinystudio_engine::quantizer::bias_correction_subset;
use tinystudio_engine::{Calibration, FloatGraph};

use crate::cpu::{EMPTY_RANGE, FastBackbone, widen};
use crate::data::InputScaling;
use crate::error::{Error, Result};
use crate::inference::TrainedModel;
use crate::model::{ConvLayer, Dense};

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
    let shape = model.config.input;
    if let Some(n) = images.iter().position(|img| img.len() != shape.len()) {
        return Err(Error::InvalidInput(format!(
            "calibration image {n} has {} bytes, expected {}",
            images[n].len(),
            shape.len()
        )));
    }
    // The backbone (nearly all of the work) on the fused per-image path,
    // the head on the pooled features with burn.
    let fast = FastBackbone::from_model(model.backbone());
    let (mut ranges, pooled) = fast.calibrate(
        images,
        (shape.height, shape.width, shape.channels),
        model.config.scaling,
    );
    let head = model.head();
    let mut push_range = |t: Tensor<2>| {
        let mut r = EMPTY_RANGE;
        widen(&mut r, &tensor_vec(t));
        ranges.push(r);
    };
    let features = pooled[0].len();
    let mut f: Tensor<2> = Tensor::from_data(
        TensorData::new(pooled.concat(), [images.len(), features]),
        &Device::flex(),
    );
    push_range(f.clone());
    if let Some(h) = &head.hidden {
        f = burn::tensor::activation::relu(h.forward(f));
        push_range(f.clone());
    }
    let logits = head.output.forward(f);
    push_range(logits.clone());
    push_range(burn::tensor::activation::softmax(logits, 1));
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
