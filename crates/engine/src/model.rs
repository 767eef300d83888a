//! The owned, editable model (host only): what the `.tflite` importer and the
//! quantizer produce and what the blob writer and `.tflite` exporter consume.
//!
//! It mirrors the TFLite graph closely (tensors with quantization, constant
//! buffers, operators referring to tensors by index) so that import and export
//! are straight mappings, while the operator enum keeps only the options this
//! engine implements.

use crate::error::{Error, Result};
use crate::input::PixelScaling;
pub use crate::ops::{Activation, Padding};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Int8,
    Int32,
    Float32,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::Int8 => 1,
            DType::Int32 | DType::Float32 => 4,
        }
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`, per tensor (one
/// entry) or per channel along `axis`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub axis: usize,
}

impl Quantization {
    pub fn per_tensor(scale: f32, zero_point: i32) -> Self {
        Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub quant: Option<Quantization>,
    /// Constant contents (little-endian), `None` for activations.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Per-tensor scale (the first scale for per-channel tensors); 0 when unquantized.
    pub fn scale(&self) -> f32 {
        self.quant
            .as_ref()
            .and_then(|q| q.scale.first().copied())
            .unwrap_or(0.0)
    }

    pub fn zero_point(&self) -> i32 {
        self.quant
            .as_ref()
            .and_then(|q| q.zero_point.first().copied())
            .unwrap_or(0)
    }

    /// Scale of channel `c` (per-tensor scales broadcast).
    pub fn channel_scale(&self, c: usize) -> f32 {
        match &self.quant {
            Some(q) if q.scale.len() > 1 => q.scale.get(c).copied().unwrap_or(0.0),
            _ => self.scale(),
        }
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvOptions {
    /// (height, width)
    pub stride: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseOptions {
    pub stride: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
    pub depth_multiplier: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// (height, width)
    pub filter: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
}

/// One operator; fields are tensor indices into [`Model::tensors`].
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv2d {
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
        options: ConvOptions,
    },
    DepthwiseConv2d {
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
        options: DepthwiseOptions,
    },
    FullyConnected {
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
        activation: Activation,
    },
    AveragePool2d {
        input: usize,
        output: usize,
        options: PoolOptions,
    },
    MaxPool2d {
        input: usize,
        output: usize,
        options: PoolOptions,
    },
    Reshape {
        input: usize,
        output: usize,
    },
    Softmax {
        input: usize,
        output: usize,
        beta: f32,
    },
    Add {
        inputs: [usize; 2],
        output: usize,
        activation: Activation,
    },
    /// The mean over the spatial axes (Keras' global average pooling),
    /// `axes` as the file gives them: TFLite picks its arithmetic from them
    /// and `keep_dims`.
    Mean {
        input: usize,
        output: usize,
        axes: Vec<i32>,
        keep_dims: bool,
    },
    /// int8 -> int8 requantization.
    Quantize {
        input: usize,
        output: usize,
    },
}

impl Op {
    /// Activation (non-constant) inputs.
    pub fn activation_inputs(&self) -> Vec<usize> {
        match self {
            Op::Conv2d { input, .. }
            | Op::DepthwiseConv2d { input, .. }
            | Op::FullyConnected { input, .. }
            | Op::AveragePool2d { input, .. }
            | Op::MaxPool2d { input, .. }
            | Op::Reshape { input, .. }
            | Op::Softmax { input, .. }
            | Op::Mean { input, .. }
            | Op::Quantize { input, .. } => vec![*input],
            Op::Add { inputs, .. } => inputs.to_vec(),
        }
    }

    pub fn output(&self) -> usize {
        match self {
            Op::Conv2d { output, .. }
            | Op::DepthwiseConv2d { output, .. }
            | Op::FullyConnected { output, .. }
            | Op::AveragePool2d { output, .. }
            | Op::MaxPool2d { output, .. }
            | Op::Reshape { output, .. }
            | Op::Softmax { output, .. }
            | Op::Add { output, .. }
            | Op::Mean { output, .. }
            | Op::Quantize { output, .. } => *output,
        }
    }

    /// TFLite's operator name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "CONV_2D",
            Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            Op::FullyConnected { .. } => "FULLY_CONNECTED",
            Op::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            Op::MaxPool2d { .. } => "MAX_POOL_2D",
            Op::Reshape { .. } => "RESHAPE",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Add { .. } => "ADD",
            Op::Mean { .. } => "MEAN",
            Op::Quantize { .. } => "QUANTIZE",
        }
    }
}

/// What the firmware and the studio need to know beyond the graph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    pub labels: Vec<String>,
    /// How u8 pixels become the float input the model was trained on.
    pub pixel_scaling: Option<PixelScaling>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    pub tensors: Vec<Tensor>,
    pub ops: Vec<Op>,
    pub input: usize,
    pub output: usize,
    pub metadata: Metadata,
}

impl Model {
    pub fn tensor(&self, i: usize) -> Result<&Tensor> {
        self.tensors
            .get(i)
            .ok_or_else(|| Error::Message(format!("tensor index {i} out of range")))
    }

    pub fn input_tensor(&self) -> Result<&Tensor> {
        self.tensor(self.input)
    }

    pub fn output_tensor(&self) -> Result<&Tensor> {
        self.tensor(self.output)
    }

    /// Parses a `.tflite` flatbuffer (int8 subset).
    pub fn from_tflite(bytes: &[u8]) -> Result<Model> {
        crate::tflite::import(bytes)
    }

    /// Serialises to a `.tflite` flatbuffer that TFLite Micro and the TFLite
    /// interpreter can run.
    pub fn to_tflite(&self) -> Result<Vec<u8>> {
        crate::tflite::export(self)
    }

    /// Serialises to the firmware's model blob (plans the arena on the way).
    pub fn to_blob(&self) -> Result<Vec<u8>> {
        crate::blob::write(self)
    }

    /// Runs one inference on the host (builds a blob and an arena each call;
    /// use [`crate::interpreter::HostRunner`] for repeated inferences).
    pub fn run(&self, input: &[i8]) -> Result<Vec<i8>> {
        crate::interpreter::HostRunner::new(self.to_blob()?)?.run(input)
    }

    /// Multiply-accumulates per operator (index, op name, MACs).
    pub fn macs(&self) -> Result<Vec<(usize, &'static str, u64)>> {
        let blob = self.to_blob()?;
        let view = crate::blob::ModelView::parse(&blob)?;
        let mut out = Vec::new();
        for i in 0..view.op_count() {
            let op = view.op(i)?;
            out.push((i, op.name(), op.macs()));
        }
        Ok(out)
    }
}
