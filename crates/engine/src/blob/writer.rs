//! [`Model`] -> blob: prepares every operator's parameters (the TFLite
//! `Prepare` step, done once on the host) into the records of
//! [`super::record`], plans the arena from them (a chain's in-place plan
//! where it needs less), and serialises the whole once. The result is
//! checked by parsing it back, so the no_std validator is the single
//! authority on what a valid blob is.

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
    /// The blob's version: before 2, per-channel shifts are 32-bit words.
    version: u16,
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

    /// Per-channel shifts: one byte each (TFLite's are in `[-31, 31]`).
    fn push_shifts(&mut self, v: &[i32]) -> Result<u32> {
        if self.version < 2 {
            return Ok(self.push_i32s(v));
        }
        let b = v
            .iter()
            .map(|&s| i8::try_from(s).map(|s| s as u8))
            .collect::<core::result::Result<Vec<u8>, _>>()
            .map_err(|_| Error::Malformed("requantization shift out of range"))?;
        Ok(self.push(&b))
    }
}

fn act_range(a: Activation, t: &Tensor) -> (i8, i8) {
    let (lo, hi) = quant::activation_range(a, t.scale(), t.zero_point());
    (lo as i8, hi as i8)
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
) -> Result<Window> {
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
    // Each pair is stored as two 16-bit halves.
    for (a, b) in [kernel, stride, (pt, pl)] {
        if a > 0xffff || b > 0xffff {
            return Err(Error::Unsupported("dimension above 65535"));
        }
    }
    Ok(Window {
        kernel_h: kernel.0,
        kernel_w: kernel.1,
        stride_h: stride.0,
        stride_w: stride.1,
        pad_top: pt,
        pad_left: pl,
    })
}

/// Serialises a model to the blob format.
pub fn write(model: &Model) -> Result<Vec<u8>> {
    write_version(model, VERSION)
}

/// [`write`] in an older `version` of the format (which the reader still
/// takes): for the tests that old blobs read as they did.
fn write_version(model: &Model, version: u16) -> Result<Vec<u8>> {
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
        version,
    };

    // Tensor records; their arena offsets come with the plan, below.
    let mut tensor_records = Vec::with_capacity(n);
    for &t in &act {
        let tensor = model.tensor(t)?;
        let mut dims = [1u32; 4];
        for (d, &s) in dims.iter_mut().zip(&tensor.shape) {
            *d = u32::try_from(s).map_err(|_| Error::Unsupported("dimension above 2^32"))?;
        }
        tensor_records.push(TensorRecord {
            rank: tensor.shape.len() as u8,
            dtype: dtype::INT8,
            dims,
            scale: tensor.scale(),
            zero_point: tensor.zero_point(),
            offset: 0,
            len: u32::try_from(tensor.elements())
                .map_err(|_| Error::Unsupported("tensor above 4 GiB"))?,
        });
    }

    let mut op_records = Vec::with_capacity(model.ops.len());
    for op in &model.ops {
        let mut act_bounds = (-128i8, 127i8);
        let out = model.tensor(op.output())?;
        let first_in = model.tensor(op.activation_inputs()[0])?;
        let mut input2 = 0xffff;
        let params = match op {
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
                let window = window(si, so, (kh, kw), options.stride, options.padding, &out.name)?;
                let weights = weights_data(model, f, *bias, (first_in, out), (oc, 0), &mut data)?;
                act_bounds = act_range(options.activation, out);
                OpParams::Conv { window, weights }
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
                let window = window(si, so, (kh, kw), options.stride, options.padding, &out.name)?;
                let weights = weights_data(model, f, *bias, (first_in, out), (oc, 3), &mut data)?;
                act_bounds = act_range(options.activation, out);
                OpParams::Depthwise {
                    window,
                    depth_multiplier: options.depth_multiplier as u32,
                    weights,
                }
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
                let weights =
                    weights_data(model, f, *bias, (first_in, out), (units, 0), &mut data)?;
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
                let double_scales = data.push_i32s(&words);
                act_bounds = act_range(*activation, out);
                OpParams::FullyConnected {
                    filter_offset: -f.zero_point(),
                    weights,
                    double_scales,
                }
            }
            Op::AveragePool2d { options, .. } | Op::MaxPool2d { options, .. } => {
                if first_in.scale() != out.scale() || first_in.zero_point() != out.zero_point() {
                    return Err(msg(format!(
                        "pooling '{}' must keep its input's scale and zero point",
                        out.name
                    )));
                }
                let window = window(
                    nhwc(first_in)?,
                    nhwc(out)?,
                    options.filter,
                    options.stride,
                    options.padding,
                    &out.name,
                )?;
                act_bounds = act_range(options.activation, out);
                if matches!(op, Op::AveragePool2d { .. }) {
                    OpParams::AveragePool { window }
                } else {
                    OpParams::MaxPool { window }
                }
            }
            Op::Reshape { .. } => {
                if first_in.scale() != out.scale() || first_in.zero_point() != out.zero_point() {
                    return Err(msg(format!(
                        "reshape '{}' must keep its input's quantization",
                        out.name
                    )));
                }
                OpParams::Reshape
            }
            Op::Softmax { beta, .. } => {
                if out.zero_point() != -128 || (out.scale() - 1.0 / 256.0).abs() > 0.001 / 256.0 {
                    return Err(msg(format!(
                        "softmax output '{}' must have scale 1/256 and zero point -128",
                        out.name
                    )));
                }
                let (input_multiplier, input_left_shift, diff_min) =
                    quant::softmax_params(*beta, first_in.scale());
                OpParams::Softmax {
                    input_multiplier,
                    input_left_shift,
                    diff_min,
                }
            }
            Op::Add {
                inputs, activation, ..
            } => {
                let b = model.tensor(inputs[1])?;
                input2 = index(inputs[1]) as u16;
                let (rescales, left_shift) =
                    quant::add_params(first_in.scale(), b.scale(), out.scale());
                let [input1, input2, output] =
                    rescales.map(|(multiplier, shift)| Rescale { multiplier, shift });
                act_bounds = act_range(*activation, out);
                OpParams::Add {
                    input1,
                    input2,
                    output,
                    left_shift,
                }
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
                let (multiplier, shift) =
                    quant::mean_multiplier(first_in.scale(), out.scale(), positions);
                OpParams::Mean(Rescale { multiplier, shift })
            }
            Op::Quantize { .. } => {
                let (multiplier, shift) = quant::quantize_multiplier(
                    f64::from(first_in.scale()) / f64::from(out.scale()),
                );
                OpParams::Requantize(Rescale { multiplier, shift })
            }
        };
        op_records.push(OpRecord {
            act_min: act_bounds.0,
            act_max: act_bounds.1,
            input: index(op.activation_inputs()[0]) as u16,
            output: index(op.output()) as u16,
            input2,
            params,
        });
    }

    // The plan: a chain's in-place plan where it needs less arena than
    // the general one.
    let plan = match in_place_plan(&tensor_records, &op_records, &buffers, &buffer_of) {
        Some(chain) if chain.arena_size < plan.arena_size => chain,
        _ => plan,
    };
    for (rec, &b) in tensor_records.iter_mut().zip(&buffer_of) {
        rec.offset = u32::try_from(plan.offsets.get(b).copied().unwrap_or(0))
            .map_err(|_| Error::Unsupported("arena above 4 GiB"))?;
    }

    let data_len = data.bytes.len();
    let total = data_off + data_len;
    let label_count = u16::try_from(model.metadata.labels.len())
        .map_err(|_| Error::Unsupported("more than 65535 labels"))?;
    let header = Header {
        version,
        total_len: total,
        checksum: 0,
        arena_size: plan.arena_size,
        tensor_count: n,
        op_count: model.ops.len(),
        tensors_off,
        ops_off,
        input: index(model.input),
        output: index(model.output),
        labels_off,
        labels_count: usize::from(label_count),
        pixel_scaling: model.metadata.pixel_scaling.map_or(0, |p| p.code()),
        data_off,
        data_len,
    };
    if u32::try_from(total).is_err() || u32::try_from(plan.arena_size).is_err() {
        return Err(Error::Unsupported("blob or arena larger than 4 GiB"));
    }
    let mut blob = Vec::with_capacity(total);
    blob.extend_from_slice(&header.encode());
    for rec in &tensor_records {
        blob.extend_from_slice(&rec.encode());
    }
    for rec in &op_records {
        blob.extend_from_slice(&rec.encode());
    }
    blob.extend_from_slice(&labels);
    blob.resize(data_off, 0);
    blob.extend_from_slice(&data.bytes);
    write_checksum(&mut blob)?;
    ModelView::parse(&blob)?;
    Ok(blob)
}

/// A weighted layer's constants into the data section, in this order: its
/// int8 weights, its bias, and per output channel (`channels`, along `axis`
/// of the weights' quantization) TFLite's multipliers and shifts.
fn weights_data(
    model: &Model,
    f: &Tensor,
    bias: Option<usize>,
    (input, output): (&Tensor, &Tensor),
    (channels, axis): (usize, usize),
    data: &mut Data,
) -> Result<Weights> {
    let weights = data.push(f.data.as_deref().unwrap_or(&[]));
    let bias = bias_data(model, bias, channels, data)?;
    let (m, s) = channel_multipliers(input, f, output, channels, axis)?;
    Ok(Weights {
        data: weights,
        len: f.elements() as u32,
        bias,
        multipliers: data.push_i32s(&m),
        shifts: data.push_shifts(&s)?,
    })
}

/// For chain-shaped graphs (each operator reads only its predecessor's
/// output), a plan that lets windowed operators overwrite input rows they no
/// longer need; indexed by buffer. `None` for other graphs.
fn in_place_plan(
    tensors: &[TensorRecord],
    ops: &[OpRecord],
    buffers: &[Buffer],
    buffer_of: &[usize],
) -> Option<planner::Plan> {
    let shape = |t: u16| -> Option<Shape4> {
        let r = tensors.get(usize::from(t))?;
        let rank = usize::from(r.rank).clamp(1, 4);
        let mut d = [1usize; 4];
        for (k, &v) in r.dims[..rank].iter().enumerate() {
            d[4 - rank + k] = v as usize;
        }
        Some(Shape4::new(d[0], d[1], d[2], d[3]))
    };
    // The model's input is the first tensor (`write` lists it first).
    let mut current = buffer_of[0];
    let mut chain = vec![current];
    let mut links = Vec::new();
    for op in ops {
        if matches!(op.params, OpParams::Add { .. }) {
            return None;
        }
        let (input, output) = (usize::from(op.input), usize::from(op.output));
        let link = match op.params.window() {
            Some(w) => w.in_place_delta(shape(op.input)?, shape(op.output)?),
            None => None,
        };
        if buffer_of[input] != current {
            return None;
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
            return None;
        }
    }
    if seen.iter().any(|s| !s) {
        return None;
    }
    let sizes: Vec<usize> = chain.iter().map(|&b| buffers[b].size).collect();
    planner::plan_chain(&sizes, &links).map(|p| {
        let mut offsets = vec![0; buffers.len()];
        for (pos, &b) in chain.iter().enumerate() {
            offsets[b] = p.offsets[pos];
        }
        planner::Plan { offsets, ..p }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interpreter;
    use crate::blob::PreparedOp;

    /// Runs a blob on a few inputs; the outputs, in order.
    fn outputs(blob: &[u8]) -> Vec<i8> {
        let view = ModelView::parse(blob).unwrap();
        let mut arena = vec![0u8; view.arena_size()];
        let mut it = Interpreter::new(view, &mut arena).unwrap();
        let mut all = Vec::new();
        for seed in 0..4u32 {
            let input = it.input_mut();
            for (i, v) in input.iter_mut().enumerate() {
                *v = ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) as i8;
            }
            it.invoke().unwrap();
            all.extend_from_slice(it.output());
        }
        all
    }

    /// A version 1 blob (per-channel shifts as words) still reads, and runs
    /// as the version 2 blob of the same model, which is smaller by 3
    /// bytes a channel (less the data section's alignment).
    #[test]
    fn version_1_blobs_run_as_version_2() {
        for name in ["ds_cnn.tflite", "resnet8.tflite", "depth_multiplier.tflite"] {
            let path = format!("{}/tests/models/{name}", env!("CARGO_MANIFEST_DIR"));
            let tflite = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let model = Model::from_tflite(&tflite).unwrap();
            let (new, old) = (write(&model).unwrap(), write_version(&model, 1).unwrap());
            assert_eq!(Header::parse(&new).unwrap().version, VERSION);
            assert_eq!(Header::parse(&old).unwrap().version, 1);
            // Per weighted layer: its shifts, and the slack of aligning them.
            let view = ModelView::parse(&new).unwrap();
            let (mut channels, mut layers) = (0, 0);
            for i in 0..view.op_count() {
                let shifts = match view.op(i).unwrap() {
                    PreparedOp::Conv { params, .. } => params.shift,
                    PreparedOp::Depthwise { params, .. } => params.shift,
                    PreparedOp::FullyConnected { params, .. } => params.shift,
                    _ => continue,
                };
                assert_eq!(shifts.width(), 1, "{name}");
                channels += shifts.len();
                layers += 1;
            }
            assert!(channels > 0, "{name}");
            assert!(
                old.len() - new.len() + (DATA_ALIGN - 1) * layers >= 3 * channels,
                "{name}: {} -> {} bytes for {channels} channels",
                old.len(),
                new.len()
            );
            assert_eq!(outputs(&old), outputs(&new), "{name}");
        }
    }
}
