//! `.tflite` -> [`Model`]: the int8 subset this engine runs.
//!
//! Field numbers follow TFLite's `schema.fbs`. Anything outside the subset is
//! reported as `Unsupported` with the offending operator or tensor named.

use std::collections::HashMap;

use super::flatbuf::{Table, Vector};
use super::schema::*;
use crate::error::{Error, Result};
use crate::model::{
    ConvOptions, DType, DepthwiseOptions, Metadata, Model, Op, PoolOptions, Quantization, Tensor,
};
use crate::ops::{Activation, Padding};

fn msg(s: String) -> Error {
    Error::Message(s)
}

fn activation(code: u8) -> Result<Activation> {
    match code {
        ACT_NONE => Ok(Activation::None),
        ACT_RELU => Ok(Activation::Relu),
        ACT_RELU6 => Ok(Activation::Relu6),
        other => Err(msg(format!(
            "fused activation function {other} is not supported (only NONE, RELU, RELU6)"
        ))),
    }
}

fn padding(code: u8) -> Result<Padding> {
    match code {
        PADDING_SAME => Ok(Padding::Same),
        PADDING_VALID => Ok(Padding::Valid),
        _ => Err(Error::Malformed("unknown padding type")),
    }
}

fn positive(v: i32, what: &str) -> Result<usize> {
    if v > 0 {
        Ok(v as usize)
    } else {
        Err(msg(format!("{what} must be positive, got {v}")))
    }
}

fn int_list(v: Vector<'_>) -> Result<Vec<i32>> {
    (0..v.len()).map(|i| v.i32(i)).collect()
}

struct Importer<'a> {
    file: &'a [u8],
    tensors: Vector<'a>,
    buffers: Vector<'a>,
    map: HashMap<usize, usize>,
    model: Model,
}

impl<'a> Importer<'a> {
    /// Imports TFLite tensor `index` (once) and returns its model index.
    fn tensor(&mut self, index: i32) -> Result<usize> {
        let idx = usize::try_from(index)
            .map_err(|_| msg(format!("operator refers to tensor {index}")))?;
        if let Some(&m) = self.map.get(&idx) {
            return Ok(m);
        }
        if idx >= self.tensors.len() {
            return Err(msg(format!("tensor index {idx} out of range")));
        }
        let t = self.tensors.table(idx)?;
        let name = t.string(3)?.to_string();
        let shape = int_list(t.vector(0, 4)?)?
            .into_iter()
            .map(|d| {
                usize::try_from(d)
                    .map_err(|_| msg(format!("tensor '{name}' has a negative dimension")))
            })
            .collect::<Result<Vec<_>>>()?;
        let dtype = match t.u8(1, 0)? {
            TYPE_INT8 => DType::Int8,
            TYPE_INT32 => DType::Int32,
            TYPE_FLOAT32 => DType::Float32,
            other => {
                return Err(msg(format!(
                    "tensor '{name}' has type code {other}; only int8, int32 (bias) and float32 are supported"
                )));
            }
        };
        let quant = match t.table(4)? {
            Some(q) => {
                let scales = q.vector(2, 4)?;
                let zps = q.vector(3, 8)?;
                if scales.is_empty() {
                    None
                } else {
                    let scale = (0..scales.len())
                        .map(|i| scales.f32(i))
                        .collect::<Result<Vec<_>>>()?;
                    let zero_point = (0..zps.len())
                        .map(|i| {
                            let z = zps.i64(i)?;
                            i32::try_from(z)
                                .map_err(|_| Error::Malformed("zero point out of range"))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let axis = usize::try_from(q.i32(6, 0)?)
                        .map_err(|_| Error::Malformed("negative quantized dimension"))?;
                    if scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
                        return Err(msg(format!("tensor '{name}' has a non-positive scale")));
                    }
                    Some(Quantization {
                        scale,
                        zero_point,
                        axis,
                    })
                }
            }
            None => None,
        };
        let buffer = t.u32(2, 0)? as usize;
        let data = if buffer == 0 {
            None
        } else {
            if buffer >= self.buffers.len() {
                return Err(Error::Malformed("tensor buffer index out of range"));
            }
            let b: Table<'_> = self.buffers.table(buffer)?;
            let offset = b.u64(1, 0)?;
            let size = b.u64(2, 0)?;
            let bytes = if offset > 1 {
                let start =
                    usize::try_from(offset).map_err(|_| Error::Malformed("buffer offset"))?;
                let len = usize::try_from(size).map_err(|_| Error::Malformed("buffer size"))?;
                start
                    .checked_add(len)
                    .and_then(|end| self.file.get(start..end))
                    .ok_or(Error::Truncated(
                        "external buffer runs past the end of the file",
                    ))?
            } else {
                b.vector(0, 1)?.bytes()
            };
            (!bytes.is_empty()).then(|| bytes.to_vec())
        };
        let elements = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or(Error::Malformed("tensor size overflows"))?;
        if let Some(d) = &data
            && d.len() != elements
        {
            return Err(msg(format!(
                "constant tensor '{name}' holds {} bytes, its shape needs {elements}",
                d.len()
            )));
        }
        let m = self.model.tensors.len();
        self.model.tensors.push(Tensor {
            name,
            shape,
            dtype,
            quant,
            data,
        });
        self.map.insert(idx, m);
        Ok(m)
    }

    fn optional_tensor(&mut self, inputs: &[i32], i: usize) -> Result<Option<usize>> {
        match inputs.get(i) {
            Some(&t) if t >= 0 => Ok(Some(self.tensor(t)?)),
            _ => Ok(None),
        }
    }

    /// A constant int32 operand's values (MEAN's axes), read from its
    /// buffer without making it a tensor of the model.
    fn constant_i32s(&self, list: &[i32], i: usize, op: &str) -> Result<Vec<i32>> {
        let t = list
            .get(i)
            .and_then(|&t| usize::try_from(t).ok())
            .filter(|&t| t < self.tensors.len())
            .ok_or_else(|| msg(format!("{op} is missing operand {i}")))?;
        let t = self.tensors.table(t)?;
        let buffer = t.u32(2, 0)? as usize;
        if t.u8(1, 0)? != TYPE_INT32 || buffer == 0 || buffer >= self.buffers.len() {
            return Err(msg(format!(
                "{op}'s operand {i} must be a constant int32 tensor"
            )));
        }
        let bytes = self.buffers.table(buffer)?.vector(0, 1)?.bytes();
        Ok(bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn required(&mut self, list: &[i32], i: usize, op: &str) -> Result<usize> {
        let t = *list
            .get(i)
            .ok_or_else(|| msg(format!("{op} is missing operand {i}")))?;
        self.tensor(t)
    }
}

/// An operator of a `.tflite` file that the engine cannot run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorProblem {
    /// Its position in the file's operator list.
    pub index: usize,
    /// TFLite's name for it (`CONV_2D`, `TANH`).
    pub operator: String,
    pub error: Error,
}

impl std::fmt::Display for OperatorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "operator {} ({}): {}",
            self.index, self.operator, self.error
        )
    }
}

/// Parses a `.tflite` file into a [`Model`]; the first operator the engine
/// cannot run is the error ([`check`] lists all of them).
pub fn import(bytes: &[u8]) -> Result<Model> {
    match convert(bytes)? {
        Ok(model) => Ok(model),
        Err(problems) => Err(problems
            .into_iter()
            .next()
            .map(|p| p.error)
            .unwrap_or(Error::Malformed("operator problems without an operator"))),
    }
}

/// Every operator of a `.tflite` file the engine cannot run (empty when it
/// runs them all); an error when the file itself is not a model the engine
/// reads (not a flatbuffer, several subgraphs or inputs).
pub fn check(bytes: &[u8]) -> Result<Vec<OperatorProblem>> {
    Ok(convert(bytes)?.err().unwrap_or_default())
}

/// The model, or the operators that kept it from converting.
fn convert(bytes: &[u8]) -> Result<std::result::Result<Model, Vec<OperatorProblem>>> {
    let root = Table::root(bytes)?;
    let version = root.u32(0, 0)?;
    if version != 3 {
        return Err(msg(format!(
            "TFLite schema version {version} is not supported (expected 3)"
        )));
    }
    let opcode_tables = root.vector(1, 4)?;
    let mut opcodes = Vec::with_capacity(opcode_tables.len());
    for i in 0..opcode_tables.len() {
        let t = opcode_tables.table(i)?;
        let deprecated = i32::from(t.u8(0, 0)? as i8);
        let builtin = t.i32(3, 0)?;
        opcodes.push(deprecated.max(builtin));
    }
    let subgraphs = root.vector(2, 4)?;
    if subgraphs.len() != 1 {
        return Err(msg(format!(
            "the model has {} subgraphs; only single-subgraph models are supported",
            subgraphs.len()
        )));
    }
    let sg = subgraphs.table(0)?;
    let mut imp = Importer {
        file: bytes,
        tensors: sg.vector(0, 4)?,
        buffers: root.vector(4, 4)?,
        map: HashMap::new(),
        model: Model::default(),
    };
    let inputs = int_list(sg.vector(1, 4)?)?;
    let outputs = int_list(sg.vector(2, 4)?)?;
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(msg(format!(
            "the model has {} inputs and {} outputs; exactly one of each is supported",
            inputs.len(),
            outputs.len()
        )));
    }
    imp.model.input = imp.tensor(inputs[0])?;
    let operators = sg.vector(3, 4)?;
    let mut float_boundary = Vec::new();
    let mut problems = Vec::new();
    for i in 0..operators.len() {
        let o = operators.table(i)?;
        let code_index = o.u32(0, 0)? as usize;
        let code = *opcodes
            .get(code_index)
            .ok_or(Error::Malformed("operator code index out of range"))?;
        let ins = int_list(o.vector(1, 4)?)?;
        let outs = int_list(o.vector(2, 4)?)?;
        let opts = o.table(4)?;
        let u8_opt = |id: usize, d: u8| -> Result<u8> { opts.map_or(Ok(d), |t| t.u8(id, d)) };
        let i32_opt = |id: usize, d: i32| -> Result<i32> { opts.map_or(Ok(d), |t| t.i32(id, d)) };
        let name = op_name(code);
        // Every operator is converted even after one fails, so that
        // [`check`] can name all of them.
        let mut convert = || -> Result<Option<Op>> {
            let input = imp.required(&ins, 0, &name)?;
            let output = imp.required(&outs, 0, &name)?;
            let op = match code {
                OP_CONV_2D => {
                    if i32_opt(4, 1)? != 1 || i32_opt(5, 1)? != 1 {
                        return Err(Error::Unsupported("CONV_2D with dilation"));
                    }
                    Op::Conv2d {
                        input,
                        filter: imp.required(&ins, 1, &name)?,
                        bias: imp.optional_tensor(&ins, 2)?,
                        output,
                        options: ConvOptions {
                            padding: padding(u8_opt(0, 0)?)?,
                            stride: (
                                positive(i32_opt(2, 0)?, "stride")?,
                                positive(i32_opt(1, 0)?, "stride")?,
                            ),
                            activation: activation(u8_opt(3, 0)?)?,
                        },
                    }
                }
                OP_DEPTHWISE_CONV_2D => {
                    if i32_opt(5, 1)? != 1 || i32_opt(6, 1)? != 1 {
                        return Err(Error::Unsupported("DEPTHWISE_CONV_2D with dilation"));
                    }
                    Op::DepthwiseConv2d {
                        input,
                        filter: imp.required(&ins, 1, &name)?,
                        bias: imp.optional_tensor(&ins, 2)?,
                        output,
                        options: DepthwiseOptions {
                            padding: padding(u8_opt(0, 0)?)?,
                            stride: (
                                positive(i32_opt(2, 0)?, "stride")?,
                                positive(i32_opt(1, 0)?, "stride")?,
                            ),
                            depth_multiplier: positive(i32_opt(3, 1)?, "depth multiplier")?,
                            activation: activation(u8_opt(4, 0)?)?,
                        },
                    }
                }
                OP_FULLY_CONNECTED => {
                    if u8_opt(1, 0)? != 0 {
                        return Err(Error::Unsupported("FULLY_CONNECTED with shuffled weights"));
                    }
                    Op::FullyConnected {
                        input,
                        filter: imp.required(&ins, 1, &name)?,
                        bias: imp.optional_tensor(&ins, 2)?,
                        output,
                        activation: activation(u8_opt(0, 0)?)?,
                    }
                }
                OP_AVERAGE_POOL_2D | OP_MAX_POOL_2D => {
                    let options = PoolOptions {
                        padding: padding(u8_opt(0, 0)?)?,
                        stride: (
                            positive(i32_opt(2, 0)?, "stride")?,
                            positive(i32_opt(1, 0)?, "stride")?,
                        ),
                        filter: (
                            positive(i32_opt(4, 0)?, "filter")?,
                            positive(i32_opt(3, 0)?, "filter")?,
                        ),
                        activation: activation(u8_opt(5, 0)?)?,
                    };
                    if code == OP_AVERAGE_POOL_2D {
                        Op::AveragePool2d {
                            input,
                            output,
                            options,
                        }
                    } else {
                        Op::MaxPool2d {
                            input,
                            output,
                            options,
                        }
                    }
                }
                // Shape changes only (Keras' Conv1D is EXPAND_DIMS, CONV_2D,
                // SQUEEZE): the output tensor's shape says it all.
                OP_RESHAPE | OP_EXPAND_DIMS | OP_SQUEEZE => Op::Reshape { input, output },
                OP_MEAN => Op::Mean {
                    input,
                    output,
                    axes: imp.constant_i32s(&ins, 1, &name)?,
                    keep_dims: u8_opt(0, 0)? != 0,
                },
                OP_SOFTMAX => Op::Softmax {
                    input,
                    output,
                    beta: opts.map_or(Ok(0.0), |t| t.f32(0, 0.0))?,
                },
                OP_ADD => Op::Add {
                    inputs: [input, imp.required(&ins, 1, &name)?],
                    output,
                    activation: activation(u8_opt(0, 0)?)?,
                },
                OP_QUANTIZE if imp.model.tensors[input].dtype == DType::Float32 => {
                    float_boundary.push((input, output));
                    return Ok(None);
                }
                OP_QUANTIZE => Op::Quantize { input, output },
                OP_DEQUANTIZE => {
                    float_boundary.push((input, output));
                    return Ok(None);
                }
                other => return Err(Error::UnsupportedOperator(other as u32)),
            };
            Ok(Some(op))
        };
        match convert() {
            Ok(Some(op)) => imp.model.ops.push(op),
            Ok(None) => {}
            Err(error) => problems.push(OperatorProblem {
                index: i,
                operator: name.into_owned(),
                error,
            }),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    imp.model.output = imp.tensor(outputs[0])?;
    // Models with a float interface quantize their input first and dequantize
    // their output last. Those conversions are dropped: the int8 tensors become
    // the interface (pixels are quantized by `input::InputMapper`, scores read
    // with the output scale), which is what the firmware runs anyway.
    for (from, to) in float_boundary {
        if from == imp.model.input {
            imp.model.input = to;
        } else if to == imp.model.output {
            imp.model.output = from;
        } else {
            return Err(Error::Unsupported(
                "QUANTIZE from float or DEQUANTIZE inside the graph (only at its input or output)",
            ));
        }
    }
    imp.model.metadata = Metadata::default();
    Ok(Ok(imp.model))
}
