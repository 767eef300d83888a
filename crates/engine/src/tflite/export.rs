//! [`Model`] -> `.tflite`, so that users can run our models with TFLite Micro.
//!
//! A small forward FlatBuffers writer: every object is written after the
//! object that refers to it (FlatBuffers offsets are unsigned and point
//! forward), vtables just before their tables, and every scalar aligned to its
//! size from the start of the buffer, as the FlatBuffers verifier requires.

use super::schema::*;
use crate::error::{Error, Result};
use crate::model::{DType, Model, Op, Tensor};
use crate::ops::{Activation, Padding};

/// A FlatBuffers object to serialise.
enum Obj {
    Table(Vec<(u16, Field)>),
    /// Scalars vector: element size (alignment) and little-endian bytes.
    Scalars(usize, Vec<u8>),
    Tables(Vec<Obj>),
    Str(String),
}

enum Field {
    U8(u8),
    I32(i32),
    U32(u32),
    F32(f32),
    Obj(Obj),
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, a: usize) {
        while !self.buf.len().is_multiple_of(a) {
            self.buf.push(0);
        }
    }

    /// Writes `obj` at the end of the buffer; returns its position.
    fn write(&mut self, obj: &Obj) -> usize {
        match obj {
            Obj::Str(s) => {
                self.align(4);
                let pos = self.buf.len();
                self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
                pos
            }
            Obj::Scalars(size, bytes) => {
                // The length sits just before the elements, which need their alignment (16 for data).
                let elem_align = if *size == 1 && bytes.len() >= 16 {
                    16
                } else {
                    (*size).max(4)
                };
                while !(self.buf.len() + 4).is_multiple_of(elem_align) {
                    self.buf.push(0);
                }
                let pos = self.buf.len();
                self.buf
                    .extend_from_slice(&((bytes.len() / size) as u32).to_le_bytes());
                self.buf.extend_from_slice(bytes);
                pos
            }
            Obj::Tables(items) => {
                self.align(4);
                let pos = self.buf.len();
                self.buf
                    .extend_from_slice(&(items.len() as u32).to_le_bytes());
                let slots: Vec<usize> = items
                    .iter()
                    .map(|_| {
                        let s = self.buf.len();
                        self.buf.extend_from_slice(&[0; 4]);
                        s
                    })
                    .collect();
                for (slot, item) in slots.into_iter().zip(items) {
                    let target = self.write(item);
                    self.patch(slot, target);
                }
                pos
            }
            Obj::Table(fields) => self.write_table(fields),
        }
    }

    fn patch(&mut self, slot: usize, target: usize) {
        let rel = (target - slot) as u32;
        self.buf[slot..slot + 4].copy_from_slice(&rel.to_le_bytes());
    }

    fn write_table(&mut self, fields: &[(u16, Field)]) -> usize {
        // Inline layout: soffset (4 bytes) then fields, each aligned to its size.
        let mut layout = Vec::new(); // (field id, offset in table, size)
        let mut at = 4usize;
        for (id, f) in fields {
            let size = match f {
                Field::U8(_) => 1,
                _ => 4,
            };
            at = at.div_ceil(size) * size;
            layout.push((*id, at, size));
            at += size;
        }
        let table_len = at.div_ceil(4) * 4;
        let max_id = fields
            .iter()
            .map(|(id, _)| *id as usize)
            .max()
            .map_or(0, |m| m + 1);
        let vtable_len = 4 + 2 * max_id;
        // vtable, then the table aligned to 4.
        self.align(2);
        let mut vtable_pos = self.buf.len();
        if !(vtable_pos + vtable_len).is_multiple_of(4) {
            self.buf.extend_from_slice(&[0; 2]);
            vtable_pos += 2;
        }
        let mut vt = vec![0u16; 2 + max_id];
        vt[0] = vtable_len as u16;
        vt[1] = table_len as u16;
        for &(id, off, _) in &layout {
            vt[2 + id as usize] = off as u16;
        }
        for v in vt {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let table = self.buf.len();
        self.buf.resize(table + table_len, 0);
        let soffset = (table - vtable_pos) as i32;
        self.buf[table..table + 4].copy_from_slice(&soffset.to_le_bytes());
        let mut children = Vec::new();
        for ((_, f), &(_, off, _)) in fields.iter().zip(&layout) {
            let p = table + off;
            match f {
                Field::U8(v) => self.buf[p] = *v,
                Field::I32(v) => self.buf[p..p + 4].copy_from_slice(&v.to_le_bytes()),
                Field::U32(v) => self.buf[p..p + 4].copy_from_slice(&v.to_le_bytes()),
                Field::F32(v) => self.buf[p..p + 4].copy_from_slice(&v.to_le_bytes()),
                Field::Obj(o) => children.push((p, o)),
            }
        }
        for (slot, o) in children {
            let target = self.write(o);
            self.patch(slot, target);
        }
        table
    }
}

fn ints(v: impl IntoIterator<Item = i32>) -> Obj {
    Obj::Scalars(4, v.into_iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn act(a: Activation) -> u8 {
    match a {
        Activation::None => ACT_NONE,
        Activation::Relu => ACT_RELU,
        Activation::Relu6 => ACT_RELU6,
    }
}

fn pad(p: Padding) -> u8 {
    match p {
        Padding::Same => PADDING_SAME,
        Padding::Valid => PADDING_VALID,
    }
}

fn to_i32(x: usize) -> Result<i32> {
    i32::try_from(x).map_err(|_| Error::Unsupported("dimension above 2^31"))
}

fn tensor_obj(t: &Tensor, buffer: u32) -> Result<Obj> {
    let shape = t
        .shape
        .iter()
        .map(|&d| to_i32(d))
        .collect::<Result<Vec<_>>>()?;
    let mut fields = vec![
        (0, Field::Obj(ints(shape))),
        (
            1,
            Field::U8(match t.dtype {
                DType::Int8 => TYPE_INT8,
                DType::Int32 => TYPE_INT32,
                DType::Float32 => TYPE_FLOAT32,
            }),
        ),
        (2, Field::U32(buffer)),
        (3, Field::Obj(Obj::Str(t.name.clone()))),
    ];
    if let Some(q) = &t.quant {
        let scales: Vec<u8> = q.scale.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut zps: Vec<i64> = q.zero_point.iter().map(|&z| i64::from(z)).collect();
        zps.resize(q.scale.len(), zps.first().copied().unwrap_or(0));
        let zps: Vec<u8> = zps.iter().flat_map(|z| z.to_le_bytes()).collect();
        // TFLite rejects a quantized dimension outside the tensor's rank; old
        // converters wrote the filter's axis (3) on 1-D biases.
        let axis = if q.scale.len() > 1 && q.axis < t.shape.len() {
            to_i32(q.axis)?
        } else {
            0
        };
        fields.push((
            4,
            Field::Obj(Obj::Table(vec![
                (2, Field::Obj(Obj::Scalars(4, scales))),
                (3, Field::Obj(Obj::Scalars(8, zps))),
                (6, Field::I32(axis)),
            ])),
        ));
    }
    Ok(Obj::Table(fields))
}

/// Serialises a model as a TFLite flatbuffer (schema version 3).
pub fn export(model: &Model) -> Result<Vec<u8>> {
    let mut tensors: Vec<Tensor> = model.tensors.clone();
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new()]; // buffer 0: the empty sentinel
    let mut tensor_buffer = vec![0u32; tensors.len()];
    let mut codes: Vec<(i32, i32)> = Vec::new(); // (builtin code, version)
    let mut operators = Vec::new();
    for op in &model.ops {
        let (code, version) = match op {
            Op::Conv2d { .. } => (OP_CONV_2D, 3),
            Op::DepthwiseConv2d { .. } => (OP_DEPTHWISE_CONV_2D, 3),
            Op::FullyConnected { .. } => (OP_FULLY_CONNECTED, 4),
            Op::AveragePool2d { .. } => (OP_AVERAGE_POOL_2D, 2),
            Op::MaxPool2d { .. } => (OP_MAX_POOL_2D, 2),
            Op::Reshape { .. } => (OP_RESHAPE, 1),
            Op::Softmax { .. } => (OP_SOFTMAX, 2),
            Op::Add { .. } => (OP_ADD, 2),
            Op::Mean { .. } => (OP_MEAN, 2),
            Op::Quantize { .. } => (OP_QUANTIZE, 2),
        };
        let opcode_index = match codes.iter().position(|c| c.0 == code) {
            Some(i) => i,
            None => {
                codes.push((code, version));
                codes.len() - 1
            }
        };
        let t = |i: usize| to_i32(i);
        let opt = |i: Option<usize>| i.map_or(Ok(-1), to_i32);
        // TFLite's DEPTHWISE_CONV_2D requires a bias operand: give bias-free
        // convolutions an explicit zero bias.
        let mut with_bias =
            |bias: &Option<usize>, filter: usize, depthwise: bool| -> Result<Option<usize>> {
                if bias.is_some() {
                    return Ok(*bias);
                }
                let f = model.tensor(filter)?;
                // Output channels: first dimension of a conv filter, last of a depthwise one.
                let channels = if depthwise {
                    f.shape.last()
                } else {
                    f.shape.first()
                };
                let channels = *channels.ok_or(Error::Malformed("filter without dimensions"))?;
                tensors.push(Tensor {
                    name: format!("{}_zero_bias", f.name),
                    shape: vec![channels],
                    dtype: DType::Int32,
                    quant: None,
                    data: Some(vec![0; channels * 4]),
                });
                tensor_buffer.push(0);
                Ok(Some(tensors.len() - 1))
            };
        let (inputs, options_type, options): (Vec<i32>, u8, Vec<(u16, Field)>) = match op {
            Op::Conv2d {
                input,
                filter,
                bias,
                options,
                ..
            } => (
                vec![
                    t(*input)?,
                    t(*filter)?,
                    opt(with_bias(bias, *filter, false)?)?,
                ],
                OPTIONS_CONV_2D,
                vec![
                    (0, Field::U8(pad(options.padding))),
                    (1, Field::I32(to_i32(options.stride.1)?)),
                    (2, Field::I32(to_i32(options.stride.0)?)),
                    (3, Field::U8(act(options.activation))),
                    (4, Field::I32(1)),
                    (5, Field::I32(1)),
                ],
            ),
            Op::DepthwiseConv2d {
                input,
                filter,
                bias,
                options,
                ..
            } => (
                vec![
                    t(*input)?,
                    t(*filter)?,
                    opt(with_bias(bias, *filter, true)?)?,
                ],
                OPTIONS_DEPTHWISE_CONV_2D,
                vec![
                    (0, Field::U8(pad(options.padding))),
                    (1, Field::I32(to_i32(options.stride.1)?)),
                    (2, Field::I32(to_i32(options.stride.0)?)),
                    (3, Field::I32(to_i32(options.depth_multiplier)?)),
                    (4, Field::U8(act(options.activation))),
                    (5, Field::I32(1)),
                    (6, Field::I32(1)),
                ],
            ),
            Op::FullyConnected {
                input,
                filter,
                bias,
                activation,
                ..
            } => (
                vec![t(*input)?, t(*filter)?, opt(*bias)?],
                OPTIONS_FULLY_CONNECTED,
                vec![(0, Field::U8(act(*activation)))],
            ),
            Op::AveragePool2d { input, options, .. } | Op::MaxPool2d { input, options, .. } => (
                vec![t(*input)?],
                OPTIONS_POOL_2D,
                vec![
                    (0, Field::U8(pad(options.padding))),
                    (1, Field::I32(to_i32(options.stride.1)?)),
                    (2, Field::I32(to_i32(options.stride.0)?)),
                    (3, Field::I32(to_i32(options.filter.1)?)),
                    (4, Field::I32(to_i32(options.filter.0)?)),
                    (5, Field::U8(act(options.activation))),
                ],
            ),
            Op::Reshape { input, output } => {
                let shape = model
                    .tensor(*output)?
                    .shape
                    .iter()
                    .map(|&d| to_i32(d))
                    .collect::<Result<Vec<_>>>()?;
                let shape_tensor = tensors.len();
                tensors.push(Tensor {
                    name: format!("{}_shape", model.tensor(*output)?.name),
                    shape: vec![shape.len()],
                    dtype: DType::Int32,
                    quant: None,
                    data: Some(shape.iter().flat_map(|d| d.to_le_bytes()).collect()),
                });
                tensor_buffer.push(0);
                (
                    vec![t(*input)?, t(shape_tensor)?],
                    OPTIONS_RESHAPE,
                    vec![(0, Field::Obj(ints(shape)))],
                )
            }
            Op::Softmax { input, beta, .. } => (
                vec![t(*input)?],
                OPTIONS_SOFTMAX,
                vec![(0, Field::F32(*beta))],
            ),
            Op::Add {
                inputs, activation, ..
            } => (
                vec![t(inputs[0])?, t(inputs[1])?],
                OPTIONS_ADD,
                vec![(0, Field::U8(act(*activation)))],
            ),
            Op::Mean {
                input,
                output,
                axes,
                keep_dims,
            } => {
                let axes_tensor = tensors.len();
                tensors.push(Tensor {
                    name: format!("{}_axes", model.tensor(*output)?.name),
                    shape: vec![axes.len()],
                    dtype: DType::Int32,
                    quant: None,
                    data: Some(axes.iter().flat_map(|a| a.to_le_bytes()).collect()),
                });
                tensor_buffer.push(0);
                (
                    vec![t(*input)?, t(axes_tensor)?],
                    OPTIONS_REDUCER,
                    vec![(0, Field::U8(u8::from(*keep_dims)))],
                )
            }
            Op::Quantize { input, .. } => (vec![t(*input)?], OPTIONS_QUANTIZE, vec![]),
        };
        operators.push(Obj::Table(vec![
            (0, Field::U32(opcode_index as u32)),
            (1, Field::Obj(ints(inputs))),
            (2, Field::Obj(ints([t(op.output())?]))),
            (3, Field::U8(options_type)),
            (4, Field::Obj(Obj::Table(options))),
        ]));
    }
    for (i, t) in tensors.iter().enumerate() {
        if let Some(d) = &t.data {
            buffers.push(d.clone());
            tensor_buffer[i] = (buffers.len() - 1) as u32;
        }
    }
    let tensor_objs = tensors
        .iter()
        .zip(&tensor_buffer)
        .map(|(t, &b)| tensor_obj(t, b))
        .collect::<Result<Vec<_>>>()?;
    let subgraph = Obj::Table(vec![
        (0, Field::Obj(Obj::Tables(tensor_objs))),
        (1, Field::Obj(ints([to_i32(model.input)?]))),
        (2, Field::Obj(ints([to_i32(model.output)?]))),
        (3, Field::Obj(Obj::Tables(operators))),
        (4, Field::Obj(Obj::Str("main".into()))),
    ]);
    let opcodes = codes
        .iter()
        .map(|&(code, version)| {
            Obj::Table(vec![
                (0, Field::U8(code.min(127) as u8)),
                (2, Field::I32(version)),
                (3, Field::I32(code)),
            ])
        })
        .collect();
    let buffer_objs = buffers
        .into_iter()
        .map(|d| {
            if d.is_empty() {
                Obj::Table(vec![])
            } else {
                Obj::Table(vec![(0, Field::Obj(Obj::Scalars(1, d)))])
            }
        })
        .collect();
    let root = Obj::Table(vec![
        (0, Field::U32(3)),
        (1, Field::Obj(Obj::Tables(opcodes))),
        (2, Field::Obj(Obj::Tables(vec![subgraph]))),
        (
            3,
            Field::Obj(Obj::Str("TinyStudio int8 engine export".into())),
        ),
        (4, Field::Obj(Obj::Tables(buffer_objs))),
    ]);
    let mut w = Writer { buf: vec![0; 8] };
    w.buf[4..8].copy_from_slice(b"TFL3");
    let root_pos = w.write(&root);
    w.patch(0, root_pos);
    Ok(w.buf)
}
