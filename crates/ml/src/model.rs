//! MobileNetV1 and the classification head in burn.
//!
//! Batch norm is folded into each convolution when the model is built: every
//! MobileNetV1 layer is conv -> batch norm (inference mode) -> ReLU6, and with frozen
//! statistics `bn(conv(x, W)) == conv(x, W * s) + (beta - mean * s)` exactly (up to
//! float rounding), with `s = gamma / sqrt(var + 1e-3)`. That is one op instead of
//! two per layer, the same weights the int8 export needs, and still trainable when
//! the last blocks are fine-tuned (batch norm statistics stay frozen, as Keras does
//! for a frozen-BN fine-tune).
//!
//! All convolutions use TensorFlow "SAME" padding computed from the actual input size
//! (for stride 2 on even inputs that pads only bottom/right, like Keras's
//! `ZeroPadding2D(((0, 1), (0, 1)))` + "valid"), so the int8 engine, which implements
//! SAME, sees exactly the same arithmetic for any input size.

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, relu6, softmax};
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::keras_h5::{Classifier, ConvBn, MobileNetV1Weights, NUM_BLOCKS, STRIDE2_BLOCKS};

/// Number of conv layers: conv1 plus a depthwise and a pointwise per block.
pub const NUM_LAYERS: usize = 1 + 2 * NUM_BLOCKS;

/// TensorFlow SAME padding `(begin, end)` for one spatial axis.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// Output size of a SAME convolution.
pub fn same_output(input: usize, stride: usize) -> usize {
    input.div_ceil(stride)
}

/// A convolution with batch norm folded in, followed by ReLU6.
#[derive(Module, Debug)]
pub struct ConvLayer {
    /// `[out_channels, in_channels / groups, kh, kw]`
    pub weight: Param<Tensor<4>>,
    /// `[out_channels]`
    pub bias: Param<Tensor<1>>,
    pub stride: usize,
    /// 1 for regular convs, the channel count for depthwise convs.
    pub groups: usize,
}

impl ConvLayer {
    /// `[batch, in, h, w] -> [batch, out, ceil(h / stride), ceil(w / stride)]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let [_, _, kh, kw] = self.weight.dims();
        let options = ConvOptions::new_with_padding(
            [self.stride, self.stride],
            [
                same_padding(h, kh, self.stride),
                same_padding(w, kw, self.stride),
            ],
            [1, 1],
            self.groups,
        );
        relu6(conv2d(x, self.weight.val(), Some(self.bias.val()), options))
    }

    /// Builds the layer from Keras weights, folding batch norm.
    ///
    /// `depthwise` kernels are `[kh, kw, c, 1]`, regular ones `[kh, kw, in, out]`.
    pub fn from_keras(conv: &ConvBn, stride: usize, depthwise: bool, device: &Device) -> Self {
        let (w, b, groups) = fold_keras(conv, depthwise);
        ConvLayer {
            weight: Param::from_tensor(Tensor::from_data(w, device)),
            bias: Param::from_tensor(Tensor::from_data(b, device)),
            stride,
            groups,
        }
    }

    /// Sums conv1's kernel over its input channels, so a single luma channel gives
    /// exactly what the RGB network gives for a gray image (R = G = B = luma).
    pub fn collapse_input_channels(self) -> Self {
        let w = self.weight.val();
        let [o, _, kh, kw] = w.dims();
        let w = w.sum_dim(1).reshape([o, 1, kh, kw]);
        ConvLayer {
            weight: Param::from_tensor(w),
            ..self
        }
    }

    /// A copy whose parameters are fresh leaves on `device` (an autodiff device for
    /// fine-tuning), detached from wherever this layer's tensors came from.
    pub fn trainable_copy(&self, device: &Device) -> Self {
        ConvLayer {
            weight: Param::from_tensor(Tensor::from_data(self.weight.val().into_data(), device)),
            bias: Param::from_tensor(Tensor::from_data(self.bias.val().into_data(), device)),
            stride: self.stride,
            groups: self.groups,
        }
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }
}

/// Folded weights in burn's layout: `([out, in/groups, kh, kw], [out], groups)`.
fn fold_keras(conv: &ConvBn, depthwise: bool) -> (TensorData, TensorData, usize) {
    let (scale, shift) = conv.bn.scale_shift();
    let s = &conv.kernel.shape;
    let (kh, kw) = (s[0], s[1]);
    if depthwise {
        // [kh, kw, c, 1] -> [c, 1, kh, kw]
        let c = s[2];
        let mut w = vec![0f32; c * kh * kw];
        for y in 0..kh {
            for x in 0..kw {
                for ch in 0..c {
                    w[(ch * kh + y) * kw + x] = conv.kernel.data[(y * kw + x) * c + ch] * scale[ch];
                }
            }
        }
        (
            TensorData::new(w, [c, 1, kh, kw]),
            TensorData::new(shift, [c]),
            c,
        )
    } else {
        // [kh, kw, in, out] -> [out, in, kh, kw]
        let (cin, cout) = (s[2], s[3]);
        let mut w = vec![0f32; cout * cin * kh * kw];
        for y in 0..kh {
            for x in 0..kw {
                for i in 0..cin {
                    for o in 0..cout {
                        w[((o * cin + i) * kh + y) * kw + x] =
                            conv.kernel.data[((y * kw + x) * cin + i) * cout + o] * scale[o];
                    }
                }
            }
        }
        (
            TensorData::new(w, [cout, cin, kh, kw]),
            TensorData::new(shift, [cout]),
            1,
        )
    }
}

/// The MobileNetV1 feature extractor (no classifier).
///
/// Layer 0 is conv1; block `b` (1-based, like Keras's `conv_dw_b`) is layers
/// `2b - 1` (depthwise) and `2b` (pointwise).
#[derive(Module, Debug)]
pub struct MobileNetV1 {
    pub layers: Vec<ConvLayer>,
}

impl MobileNetV1 {
    /// Builds the network for `input_channels` 3 (RGB) or 1 (grayscale, see
    /// [`ConvLayer::collapse_input_channels`]).
    pub fn from_keras(
        weights: &MobileNetV1Weights,
        input_channels: usize,
        device: &Device,
    ) -> Self {
        let mut layers = Vec::with_capacity(NUM_LAYERS);
        let conv1 = ConvLayer::from_keras(&weights.conv1, 2, false, device);
        layers.push(if input_channels == 1 {
            conv1.collapse_input_channels()
        } else {
            conv1
        });
        for b in 0..NUM_BLOCKS {
            let stride = if STRIDE2_BLOCKS.contains(&(b + 1)) {
                2
            } else {
                1
            };
            layers.push(ConvLayer::from_keras(
                &weights.depthwise[b],
                stride,
                true,
                device,
            ));
            layers.push(ConvLayer::from_keras(
                &weights.pointwise[b],
                1,
                false,
                device,
            ));
        }
        MobileNetV1 { layers }
    }

    /// Runs layers `from..to` (layer indices, see the type docs).
    /// `[batch, c, h, w] -> [batch, c', h', w']`
    pub fn forward_layers(&self, mut x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        for layer in &self.layers[from..to] {
            x = layer.forward(x);
        }
        x
    }

    /// `[batch, c, h, w] -> [batch, features]`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        global_average_pool(self.forward_layers(x, 0, self.layers.len()))
    }

    pub fn feature_dim(&self) -> usize {
        self.layers.last().map(|l| l.out_channels()).unwrap_or(0)
    }
}

/// `[batch, c, h, w] -> [batch, c]`
pub fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([n, c])
}

/// Layer index where the last `blocks` blocks start.
pub fn first_layer_of_last_blocks(blocks: usize) -> usize {
    NUM_LAYERS - 2 * blocks.min(NUM_BLOCKS)
}

/// Keras's ImageNet classifier: global average pool -> (dropout) -> 1x1 conv -> softmax.
/// Dropout is the identity at inference, and a 1x1 conv on a 1x1 map is a dense layer.
#[derive(Module, Debug)]
pub struct ImageNetHead {
    /// `[features, 1000]`
    pub weight: Param<Tensor<2>>,
    /// `[1000]`
    pub bias: Param<Tensor<1>>,
}

impl ImageNetHead {
    pub fn from_keras(cls: &Classifier, device: &Device) -> Self {
        let (f, k) = (cls.kernel.shape[2], cls.kernel.shape[3]);
        ImageNetHead {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(cls.kernel.data.clone(), [f, k]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(cls.bias.clone(), [k]),
                device,
            )),
        }
    }

    /// `[batch, features] -> [batch, 1000]` probabilities
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        softmax(
            linear(features, self.weight.val(), Some(self.bias.val())),
            1,
        )
    }
}

/// What the classification head looks like; saved with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    pub input_dim: usize,
    /// Neurons of the optional hidden dense layer (ReLU); `None` for a linear head.
    pub hidden: Option<usize>,
    pub dropout: f32,
    pub num_classes: usize,
}

/// A dense layer; burn's `linear` layout (`[in, out]`), which is also Keras's.
#[derive(Module, Debug)]
pub struct Dense {
    /// `[in, out]`
    pub weight: Param<Tensor<2>>,
    /// `[out]`
    pub bias: Param<Tensor<1>>,
}

impl Dense {
    /// Glorot-uniform weights and zero bias, Keras's `Dense` defaults, from our own
    /// seeded generator so training is reproducible and independent of burn's global RNG.
    pub fn glorot(
        input: usize,
        output: usize,
        rng: &mut crate::data::Rng,
        device: &Device,
    ) -> Self {
        let limit = (6.0 / (input + output) as f32).sqrt();
        let w: Vec<f32> = (0..input * output)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * limit)
            .collect();
        Dense {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [input, output]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0f32; output], [output]),
                device,
            )),
        }
    }

    /// `[batch, in] -> [batch, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        linear(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// `[optional dense + ReLU] -> dropout -> dense -> (softmax)`.
#[derive(Module, Debug)]
pub struct Head {
    pub hidden: Option<Dense>,
    pub output: Dense,
}

impl Head {
    pub fn new(config: &HeadConfig, rng: &mut crate::data::Rng, device: &Device) -> Self {
        let (hidden, out_in) = match config.hidden {
            Some(n) => (Some(Dense::glorot(config.input_dim, n, rng, device)), n),
            None => (None, config.input_dim),
        };
        Head {
            hidden,
            output: Dense::glorot(out_in, config.num_classes, rng, device),
        }
    }

    /// `[batch, features] -> [batch, classes]` logits. `dropout_mask` (training
    /// only) is `[batch, width]` of `0` or `1 / (1 - rate)`, made by the caller's
    /// seeded generator.
    pub fn forward_logits(&self, x: Tensor<2>, dropout_mask: Option<Tensor<2>>) -> Tensor<2> {
        let mut x = match &self.hidden {
            Some(h) => relu(h.forward(x)),
            None => x,
        };
        if let Some(mask) = dropout_mask {
            x = x * mask;
        }
        self.output.forward(x)
    }

    /// Width of the tensor dropout applies to.
    pub fn dropout_width(&self) -> usize {
        self.output.weight.dims()[0]
    }

    /// `[batch, features] -> [batch, classes]` probabilities.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        softmax(self.forward_logits(x, None), 1)
    }
}

/// The trainable part of a model: the last `tail.len() / 2` backbone blocks (empty
/// when the backbone is frozen) and the head. Its input is the activation at the
/// cut point (`[batch, c, h, w]`), or the pooled features (`[batch, features]`) when
/// nothing is fine-tuned.
#[derive(Module, Debug)]
pub struct Trainable {
    pub tail: Vec<ConvLayer>,
    pub head: Head,
}

impl Trainable {
    /// `[batch, c, h, w] -> [batch, features]`
    pub fn tail_features(&self, mut x: Tensor<4>) -> Tensor<2> {
        for layer in &self.tail {
            x = layer.forward(x);
        }
        global_average_pool(x)
    }
}
