//! [`Model`] -> blob: prepares every operator's parameters (the TFLite
//! `Prepare` step, done once on the host), plans the arena and lays out the
//! sections. The result is checked by parsing it back, so the no_std
//! validator is the single authority on what a valid blob is.

use super::*;
use crate::model::{DType, Model, Op, Tensor};
use crate::ops::{Activation, Padding, output_size, padding_before};
use crate::planner::{self, Buffer};
use crate::quant;

fn msg(s: String) -> Error {
    Error::Message(s)
}

struct Data {
    bytes: Vec<u8>,
    base: usize,
}

impl Data {
    /// Appends `b` aligned to `DATA_ALIGN`; returns its absolute offset.
    fn push(&mut self, b: &[u8]) -> u32 {
        while !self.bytes.len().is_multiple_of(DATA_ALIGN) {
            self.bytes.push(0);
        }
        let off = self.base + self.bytes.len();
        self.bytes.extend_from_slice(b);
        off as u32
    }

    fn push_i32s(&mut self, v: &[i32]) -> u32 {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(&b)
    }
}

fn act_range(a: Activation, t: &Tensor) -> (i8, i8) {
    let (lo, hi) = quant::activation_range(a, t.scale(), t.zero_point());
    (lo as i8, hi as i8)
}

fn pack(lo: usize, hi: usize) -> Result<u32> {
    if lo > 0xffff || hi > 0xffff {
        return Err(Error::Unsupported("dimension above 65535"));
    }
    Ok(lo as u32 | (hi as u32) << 16)
}

fn nhwc(t: &Tensor) -> Result<[usize; 4]> {
    match t.shape.as_slice() {
        [n, h, w, c] => Ok([*n, *h, *w, *c]),
        _ => Err(msg(format!(
            "tensor '{}' must be 4-D NHWC, has shape {:?}",
            t.name, t.shape
        ))),
    }
}

fn int8(t: &Tensor) -> Result<()> {
    if t.dtype != DType::Int8 || t.quant.is_none() {
        return Err(msg(format!(
            "tensor '{}' must be quantized int8 (is {:?}); export the model with full int8 quantization",
            t.name, t.dtype
        )));
    }
    Ok(())
}

/// Per-output-channel multipliers and shifts of a conv/depthwise/FC layer.
fn channel_multipliers(
    input: &Tensor,
    filter: &Tensor,
    output: &Tensor,
    channels: usize,
    axis: usize,
) -> Result<(Vec<i32>, Vec<i32>)> {
    let q = filter
        .quant
        .as_ref()
        .ok_or_else(|| msg(format!("weights '{}' are not quantized", filter.name)))?;
    if q.scale.len() != 1 && (q.scale.len() != channels || q.axis != axis) {
        return Err(msg(format!(
            "weights '{}' have {} scales for {channels} output channels",
            filter.name,
            q.scale.len()
        )));
    }
    let mut m = Vec::with_capacity(channels);
    let mut s = Vec::with_capacity(channels);
    for c in 0..channels {
        let (mult, shift) =
            quant::conv_multiplier(input.scale(), filter.channel_scale(c), output.scale());
        if !quant::multiplier_is_valid(mult, shift) {
            return Err(msg(format!(
                "requantization scale of '{}' is out of range (input {} * weight {} / output {})",
                output.name,
                input.scale(),
                filter.channel_scale(c),
                output.scale()
            )));
        }
        m.push(mult);
        s.push(shift);
    }
    Ok((m, s))
}

fn bias_data(model: &Model, bias: Option<usize>, channels: usize, data: &mut Data) -> Result<u32> {
    let Some(b) = bias else { return Ok(NONE) };
    let t = model.tensor(b)?;
    let bytes = t
        .data
        .as_deref()
        .ok_or(Error::Unsupported("non-constant bias"))?;
    if t.dtype != DType::Int32 || bytes.len() != channels * 4 {
        return Err(msg(format!(
            "bias '{}' must be int32 with {channels} entries",
            t.name
        )));
    }
    Ok(data.push(bytes))
}

fn weights(model: &Model, i: usize) -> Result<&Tensor> {
    let t = model.tensor(i)?;
    if t.dtype != DType::Int8 || t.data.is_none() {
        return Err(msg(format!("weights '{}' must be constant int8", t.name)));
    }
    Ok(t)
}

/// Window of a conv/pool whose output shape must match TFLite's rule.
fn window(
    input: [usize; 4],
    output: [usize; 4],
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    name: &str,
) -> Result<[u32; 3]> {
    let oh = output_size(padding, input[1], kernel.0, stride.0);
    let ow = output_size(padding, input[2], kernel.1, stride.1);
    if oh != Some(output[1]) || ow != Some(output[2]) {
        return Err(msg(format!(
            "output of '{name}' is {}x{}, but the window and padding give {oh:?}x{ow:?}",
            output[1], output[2]
        )));
    }
    let (pt, pl) = match padding {
        Padding::Same => (
            padding_before(stride.0, input[1], kernel.0, output[1]),
            padding_before(stride.1, input[2], kernel.1, output[2]),
        ),
        Padding::Valid => (0, 0),
    };
    Ok([
        pack(kernel.0, kernel.1)?,
        pack(stride.0, stride.1)?,
        pack(pt, pl)?,
    ])
}

/// Serialises a model to the blob format.
pub fn write(model: &Model) -> Result<Vec<u8>> {
    // Activation tensors: the model input and every operator operand that is not constant.
    let mut act: Vec<usize> = vec![model.input];
    for op in &model.ops {
        for t in op.activation_inputs().into_iter().chain([op.output()]) {
            if !act.contains(&t) {
                act.push(t);
            }
        }
    }
    if !act.contains(&model.output) {
        return Err(Error::Malformed(
            "the model output is not produced by any operator",
        ));
    }
    if act.len() > 0xfffe || model.ops.len() > 0xffff {
        return Err(Error::Unsupported(
            "more than 65534 tensors or 65535 operators",
        ));
    }
    let index = |t: usize| act.iter().position(|&a| a == t).unwrap_or(usize::MAX);
    for &t in &act {
        let tensor = model.tensor(t)?;
        int8(tensor)?;
        if tensor.is_constant() {
            return Err(msg(format!(
                "operator input '{}' is a constant",
                tensor.name
            )));
        }
        if tensor.shape.is_empty() || tensor.shape.len() > 4 || tensor.shape.contains(&0) {
            return Err(msg(format!(
                "tensor '{}' has unsupported shape {:?}",
                tensor.name, tensor.shape
            )));
        }
    }

    // Lifetimes: produced by one operator, alive until its last reader;
    // reshape outputs share their input's buffer.
    let n = act.len();
    let mut producer = vec![None; n];
    producer[index(model.input)] = Some(0);
    let mut last = vec![0usize; n];
    let mut group: Vec<usize> = (0..n).collect();
    for (k, op) in model.ops.iter().enumerate() {
        for t in op.activation_inputs() {
            let i = index(t);
            if producer[i].is_none() {
                return Err(msg(format!(
                    "operator {k} ({}) reads '{}' before any operator writes it",
                    op.name(),
                    model.tensor(t)?.name
                )));
            }
            last[i] = last[i].max(k);
        }
        let o = index(op.output());
        if producer[o].is_some() {
            return Err(msg(format!(
                "tensor '{}' is written twice",
                model.tensor(op.output())?.name
            )));
        }
        producer[o] = Some(k);
        last[o] = last[o].max(k);
        if let Op::Reshape { input, .. } = op {
            group[o] = group[index(*input)];
        }
    }
    last[index(model.output)] = model.ops.len();
    let mut buffers: Vec<Buffer> = Vec::new();
    let mut buffer_of = vec![0usize; n];
    let mut roots: Vec<usize> = Vec::new();
    for i in 0..n {
        let root = group[i];
        let size = model.tensor(act[i])?.elements();
        let first = producer[i].unwrap_or(0);
        match roots.iter().position(|&r| r == root) {
            Some(b) => {
                let buf = &mut buffers[b];
                buf.first = buf.first.min(first);
                buf.last = buf.last.max(last[i]);
                buf.size = buf.size.max(size);
                buffer_of[i] = b;
            }
            None => {
                roots.push(root);
                buffer_of[i] = buffers.len();
                buffers.push(Buffer {
                    size,
                    first,
                    last: last[i],
                });
            }
        }
    }
    let plan = planner::plan(&buffers);

    // Section layout.
    let tensors_off = HEADER_LEN;
    let ops_off = tensors_off + n * TENSOR_RECORD_LEN;
    let labels_off = ops_off + model.ops.len() * OP_RECORD_LEN;
    let mut labels = Vec::new();
    for l in &model.metadata.labels {
        let len = u16::try_from(l.len())
            .map_err(|_| Error::Unsupported("label longer than 65535 bytes"))?;
        labels.extend_from_slice(&len.to_le_bytes());
        labels.extend_from_slice(l.as_bytes());
    }
    let data_off = (labels_off + labels.len()).div_ceil(DATA_ALIGN) * DATA_ALIGN;
    let mut data = Data {
        bytes: Vec::new(),
        base: data_off,
    };

    let mut tensor_records = Vec::with_capacity(n * TENSOR_RECORD_LEN);
    for (i, &t) in act.iter().enumerate() {
        let tensor = model.tensor(t)?;
        let mut rec = [0u8; TENSOR_RECORD_LEN];
        rec[0] = tensor.shape.len() as u8;
        rec[1] = dtype::INT8;
        for k in 0..4 {
            let d = tensor.shape.get(k).copied().unwrap_or(1);
            let d = u32::try_from(d).map_err(|_| Error::Unsupported("dimension above 2^32"))?;
            rec[4 + 4 * k..8 + 4 * k].copy_from_slice(&d.to_le_bytes());
        }
        rec[20..24].copy_from_slice(&tensor.scale().to_le_bytes());
        rec[24..28].copy_from_slice(&tensor.zero_point().to_le_bytes());
        let off = plan.offsets.get(buffer_of[i]).copied().unwrap_or(0) as u32;
        rec[28..32].copy_from_slice(&off.to_le_bytes());
        rec[32..36].copy_from_slice(&(tensor.elements() as u32).to_le_bytes());
        tensor_records.extend_from_slice(&rec);
    }

    let mut op_records = Vec::with_capacity(model.ops.len() * OP_RECORD_LEN);
    for op in &model.ops {
        let mut w = [0u32; 16];
        let mut act_bounds = (-128i8, 127i8);
        let out = model.tensor(op.output())?;
        let first_in = model.tensor(op.activation_inputs()[0])?;
        w[1] = pack(index(op.activation_inputs()[0]), index(op.output()))?;
        w[2] = 0xffff;
        let code = match op {
            Op::Conv2d {
                filter,
                bias,
                options,
                ..
            } => {
                let f = weights(model, *filter)?;
                let [oc, kh, kw, ic] = match f.shape.as_slice() {
                    [a, b, c, d] => [*a, *b, *c, *d],
                    _ => return Err(msg(format!("conv filter '{}' must be 4-D", f.name))),
                };
                let (si, so) = (nhwc(first_in)?, nhwc(out)?);
                if si[3] != ic || so[3] != oc {
                    return Err(msg(format!(
                        "conv '{}' channel counts do not match its filter",
                        out.name
                    )));
                }
                if f.zero_point() != 0
                    || f.quant
                        .as_ref()
                        .is_some_and(|q| q.zero_point.iter().any(|&z| z != 0))
                {
                    return Err(Error::Unsupported(
                        "convolution weights with a non-zero zero point",
                    ));
                }
                [w[3], w[4], w[5]] =
                    window(si, so, (kh, kw), options.stride, options.padding, &out.name)?;
                w[7] = data.push(f.data.as_deref().unwrap_or(&[]));
                w[8] = f.elements() as u32;
                w[9] = bias_data(model, *bias, oc, &mut data)?;
                let (m, s) = channel_multipliers(first_in, f, out, oc, 0)?;
                w[10] = data.push_i32s(&m);
                w[11] = data.push_i32s(&s);
                act_bounds = act_range(options.activation, out);
                opcode::CONV_2D
            }
            Op::DepthwiseConv2d {
                filter,
                bias,
                options,
                ..
            } => {
                let f = weights(model, *filter)?;
                let [one, kh, kw, oc] = match f.shape.as_slice() {
                    [a, b, c, d] => [*a, *b, *c, *d],
                    _ => return Err(msg(format!("depthwise filter '{}' must be 4-D", f.name))),
                };
                let (si, so) = (nhwc(first_in)?, nhwc(out)?);
                if one != 1 || so[3] != oc || si[3] * options.depth_multiplier != oc {
                    return Err(msg(format!(
                        "depthwise '{}' channel counts do not match its filter",
                        out.name
                    )));
                }
                if f.quant
                    .as_ref()
                    .is_some_and(|q| q.zero_point.iter().any(|&z| z != 0))
                {
                    return Err(Error::Unsupported(
                        "depthwise weights with a non-zero zero point",
                    ));
                }
                [w[3], w[4], w[5]] =
                    window(si, so, (kh, kw), options.stride, options.padding, &out.name)?;
                w[6] = options.depth_multiplier as u32;
                w[7] = data.push(f.data.as_deref().unwrap_or(&[]));
                w[8] = f.elements() as u32;
                w[9] = bias_data(model, *bias, oc, &mut data)?;
                let (m, s) = channel_multipliers(first_in, f, out, oc, 3)?;
                w[10] = data.push_i32s(&m);
                w[11] = data.push_i32s(&s);
                act_bounds = act_range(options.activation, out);
                opcode::DEPTHWISE_CONV_2D
            }
            Op::FullyConnected {
                filter,
                bias,
                activation,
                ..
            } => {
                let f = weights(model, *filter)?;
                let [units, depth] = match f.shape.as_slice() {
                    [a, b] => [*a, *b],
                    _ => {
                        return Err(msg(format!(
                            "fully connected weights '{}' must be 2-D",
                            f.name
                        )));
                    }
                };
                if depth == 0
                    || first_in.elements() % depth != 0
                    || out.elements() != first_in.elements() / depth * units
                {
                    return Err(msg(format!(
                        "fully connected '{}' shapes do not match its weights",
                        out.name
                    )));
                }
                w[6] = (-f.zero_point()) as u32;
                w[7] = data.push(f.data.as_deref().unwrap_or(&[]));
                w[8] = f.elements() as u32;
                w[9] = bias_data(model, *bias, units, &mut data)?;
                let (m, s) = channel_multipliers(first_in, f, out, units, 0)?;
                w[10] = data.push_i32s(&m);
                w[11] = data.push_i32s(&s);
                // TFLite's reference kernels rescale in double, per unit as
                // `reference_integer_ops::FullyConnected(PerChannel)` does.
                let words: Vec<i32> = (0..units)
                    .flat_map(|u| {
                        let scale = f64::from(first_in.scale()) * f64::from(f.channel_scale(u))
                            / f64::from(out.scale());
                        let bits = scale.to_bits();
                        [bits as u32 as i32, (bits >> 32) as u32 as i32]
                    })
                    .collect();
                w[12] = data.push_i32s(&words);
                act_bounds = act_range(*activation, out);
                opcode::FULLY_CONNECTED
            }
            Op::AveragePool2d { options, .. } | Op::MaxPool2d { options, .. } => {
                if first_in.scale() != out.scale() || first_in.zero_point() != out.zero_point() {
                    return Err(msg(format!(
                        "pooling '{}' must keep its input's scale and zero point",
                        out.name
                    )));
                }
                [w[3], w[4], w[5]] = window(
                    nhwc(first_in)?,
                    nhwc(out)?,
                    options.filter,
                    options.stride,
                    options.padding,
                    &out.name,
                )?;
                act_bounds = act_range(options.activation, out);
                if matches!(op, Op::AveragePool2d { .. }) {
                    opcode::AVERAGE_POOL_2D
                } else {
                    opcode::MAX_POOL_2D
                }
            }
            Op::Reshape { .. } => {
                if first_in.scale() != out.scale() || first_in.zero_point() != out.zero_point() {
                    return Err(msg(format!(
                        "reshape '{}' must keep its input's quantization",
                        out.name
                    )));
                }
                opcode::RESHAPE
            }
            Op::Softmax { beta, .. } => {
                if out.zero_point() != -128 || (out.scale() - 1.0 / 256.0).abs() > 0.001 / 256.0 {
                    return Err(msg(format!(
                        "softmax output '{}' must have scale 1/256 and zero point -128",
                        out.name
                    )));
                }
                let (m, s, d) = quant::softmax_params(*beta, first_in.scale());
                [w[3], w[4], w[5]] = [m as u32, s as u32, d as u32];
                opcode::SOFTMAX
            }
            Op::Add {
                inputs, activation, ..
            } => {
                let b = model.tensor(inputs[1])?;
                w[2] = index(inputs[1]) as u32;
                let ([(m1, s1), (m2, s2), (mo, so)], left) =
                    quant::add_params(first_in.scale(), b.scale(), out.scale());
                w[3..10].copy_from_slice(&[
                    m1 as u32,
                    s1 as u32,
                    m2 as u32,
                    s2 as u32,
                    mo as u32,
                    so as u32,
                    left as u32,
                ]);
                act_bounds = act_range(*activation, out);
                opcode::ADD
            }
            Op::Mean { axes, .. } => {
                let rank = first_in.shape.len();
                let mut resolved = Vec::new();
                for &a in axes {
                    let r = if a < 0 { a + rank as i32 } else { a };
                    if !(0..rank as i32).contains(&r) {
                        return Err(msg(format!(
                            "mean '{}' has axis {a} out of range",
                            out.name
                        )));
                    }
                    if !resolved.contains(&(r as usize)) {
                        resolved.push(r as usize);
                    }
                }
                resolved.sort_unstable();
                if rank < 3 || resolved != (1..rank - 1).collect::<Vec<_>>() {
                    return Err(Error::Unsupported(
                        "MEAN over axes other than all those between the batch and the channels",
                    ));
                }
                let positions = first_in.elements() / out.elements().max(1);
                let (m, s) = quant::mean_multiplier(first_in.scale(), out.scale(), positions);
                [w[3], w[4]] = [m as u32, s as u32];
                opcode::MEAN
            }
            Op::Quantize { .. } => {
                let (m, s) = quant::quantize_multiplier(
                    f64::from(first_in.scale()) / f64::from(out.scale()),
                );
                [w[3], w[4]] = [m as u32, s as u32];
                opcode::REQUANTIZE
            }
        };
        w[0] =
            u32::from(code) | (act_bounds.0 as u8 as u32) << 8 | (act_bounds.1 as u8 as u32) << 16;
        for x in w {
            op_records.extend_from_slice(&x.to_le_bytes());
        }
    }

    let data_len = data.bytes.len();
    let total = data_off + data_len;
    let mut blob = Vec::with_capacity(total);
    blob.resize(HEADER_LEN, 0);
    blob.extend_from_slice(&tensor_records);
    blob.extend_from_slice(&op_records);
    blob.extend_from_slice(&labels);
    blob.resize(data_off, 0);
    blob.extend_from_slice(&data.bytes);
    let u32_of =
        |x: usize| u32::try_from(x).map_err(|_| Error::Unsupported("blob larger than 4 GiB"));
    let h = &mut blob[..HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    h[8..12].copy_from_slice(&u32_of(total)?.to_le_bytes());
    h[16..20].copy_from_slice(&u32_of(plan.arena_size)?.to_le_bytes());
    h[20..22].copy_from_slice(&(n as u16).to_le_bytes());
    h[22..24].copy_from_slice(&(model.ops.len() as u16).to_le_bytes());
    h[24..28].copy_from_slice(&u32_of(tensors_off)?.to_le_bytes());
    h[28..32].copy_from_slice(&u32_of(ops_off)?.to_le_bytes());
    h[32..34].copy_from_slice(&(index(model.input) as u16).to_le_bytes());
    h[34..36].copy_from_slice(&(index(model.output) as u16).to_le_bytes());
    h[36..40].copy_from_slice(&u32_of(labels_off)?.to_le_bytes());
    let label_count = u16::try_from(model.metadata.labels.len())
        .map_err(|_| Error::Unsupported("more than 65535 labels"))?;
    h[40..42].copy_from_slice(&label_count.to_le_bytes());
    h[42] = model.metadata.pixel_scaling.map_or(0, |p| p.code());
    h[44..48].copy_from_slice(&u32_of(data_off)?.to_le_bytes());
    h[48..52].copy_from_slice(&u32_of(data_len)?.to_le_bytes());
    write_checksum(&mut blob)?;
    if let Some(chain) = in_place_plan(&blob, &buffers, &buffer_of)?
        && chain.arena_size < plan.arena_size
    {
        for (i, &b) in buffer_of.iter().enumerate() {
            let off = u32_of(chain.offsets.get(b).copied().unwrap_or(0))?;
            let at = tensors_off + i * TENSOR_RECORD_LEN + 28;
            blob[at..at + 4].copy_from_slice(&off.to_le_bytes());
        }
        blob[ARENA_SIZE_OFFSET..ARENA_SIZE_OFFSET + 4]
            .copy_from_slice(&u32_of(chain.arena_size)?.to_le_bytes());
        write_checksum(&mut blob)?;
    }
    ModelView::parse(&blob)?;
    Ok(blob)
}

/// For chain-shaped graphs (each operator reads only its predecessor's
/// output), a plan that lets windowed operators overwrite input rows they no
/// longer need; indexed by buffer. `None` for other graphs.
fn in_place_plan(
    blob: &[u8],
    buffers: &[Buffer],
    buffer_of: &[usize],
) -> Result<Option<planner::Plan>> {
    let view = ModelView::parse_verified(blob)?;
    let mut current = buffer_of[view.header().input];
    let mut chain = vec![current];
    let mut links = Vec::new();
    for k in 0..view.op_count() {
        let op = view.op(k)?;
        let (input, output, link) = match op {
            PreparedOp::Conv {
                params,
                input,
                output,
            } => (
                input,
                output,
                params.window.in_place_delta(params.input, params.output),
            ),
            PreparedOp::Depthwise {
                params,
                input,
                output,
            } => (
                input,
                output,
                params.window.in_place_delta(params.input, params.output),
            ),
            PreparedOp::AveragePool {
                params,
                input,
                output,
            }
            | PreparedOp::MaxPool {
                params,
                input,
                output,
            } => (
                input,
                output,
                params.window.in_place_delta(params.input, params.output),
            ),
            PreparedOp::Reshape { input, output }
            | PreparedOp::FullyConnected { input, output, .. }
            | PreparedOp::Softmax { input, output, .. }
            | PreparedOp::Requantize { input, output, .. }
            | PreparedOp::Mean { input, output, .. } => (input, output, None),
            PreparedOp::Add { .. } => return Ok(None),
        };
        if buffer_of[input] != current {
            return Ok(None);
        }
        let next = buffer_of[output];
        if next == current {
            continue; // reshape aliasing its input
        }
        links.push(link.map_or(planner::Link::Separate, planner::Link::InPlace));
        chain.push(next);
        current = next;
    }
    // Every buffer must appear exactly once, in chain order.
    let mut seen = vec![false; buffers.len()];
    for &b in &chain {
        if std::mem::replace(&mut seen[b], true) {
            return Ok(None);
        }
    }
    if seen.iter().any(|s| !s) {
        return Ok(None);
    }
    let sizes: Vec<usize> = chain.iter().map(|&b| buffers[b].size).collect();
    Ok(planner::plan_chain(&sizes, &links).map(|p| {
        let mut offsets = vec![0; buffers.len()];
        for (pos, &b) in chain.iter().enumerate() {
            offsets[b] = p.offsets[pos];
        }
        planner::Plan { offsets, ..p }
    }))
}

/// Recomputes and stores the CRC-32 of a blob (after editing it in place).
pub fn write_checksum(blob: &mut [u8]) -> Result<()> {
    let header = Header::parse(blob)?;
    let blob = blob
        .get_mut(..header.total_len)
        .ok_or(Error::Truncated("blob"))?;
    let crc = blob_checksum(blob);
    blob[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}
