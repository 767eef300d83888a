//! The firmware's model blob: a compact, versioned, checksummed container
//! parsed zero-copy from `&[u8]` without allocation.
//!
//! Layout (all integers little-endian, offsets from the blob start):
//!
//! ```text
//! header   64 B   magic "TSMB", version, lengths, CRC-32 (of the whole blob,
//!                 this field read as zero), arena size,
//!                 counts, section offsets, input/output tensor, pixel scaling
//! tensors  40 B each: rank, dtype, dims[4], scale, zero point,
//!                 arena offset, byte length (activation tensors only)
//! ops      64 B each: opcode, activation bounds, tensor indices, window,
//!                 offsets of weights / bias / per-channel multipliers and shifts
//! labels   u16 length + UTF-8 bytes, repeated
//! data     8-byte aligned constants: int8 weights, int32 biases and
//!          multipliers, int8 shifts (int32 in version 1)
//! ```
//!
//! Everything the kernels need is prepared on the host (per-channel
//! multipliers and shifts, padding, arena offsets), so the device only
//! validates: [`ModelView::parse`] checks the checksum, every offset and
//! length, every tensor shape against its operator and every parameter range,
//! after which inference cannot index out of bounds. The interpreter's
//! Prepare step (`Interpreter::new`, once) then picks each operator's kernel
//! and keeps the choices in the arena's last bytes ([`plan_len`]), so that
//! `invoke` only decodes the records ([`ModelView::op`]) and runs.

pub mod record;
#[cfg(feature = "std")]
mod writer;
#[cfg(feature = "std")]
pub use writer::{write, write_checksum};

use crate::error::{Error, Result};
use crate::input::{InputMapper, PixelScaling};
use crate::kernels::{
    AddParams, ConvParams, DepthwiseParams, FullyConnectedParams, I32s, MeanParams, PoolParams,
    RequantizeParams, Shape4, Shifts, SoftmaxParams, Window,
};
pub use record::{OpParams, OpRecord, Rescale, TensorRecord, Weights};

pub const MAGIC: [u8; 4] = *b"TSMB";
/// The version written. Version 1 (per-channel shifts as 32-bit words)
/// still reads; 2 stores them as bytes.
pub const VERSION: u16 = 2;
/// The oldest version read.
pub const OLDEST_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
pub const TENSOR_RECORD_LEN: usize = 40;
pub const OP_RECORD_LEN: usize = 64;
/// Alignment of every constant in the data section.
pub const DATA_ALIGN: usize = 8;
/// Byte offset of the activations' arena size in the header (for tools
/// reading it raw).
pub const ARENA_SIZE_OFFSET: usize = 16;
/// Where the header records the operator count (`u16`).
pub const OP_COUNT_OFFSET: usize = 22;
/// Marks an absent tensor or data reference.
pub const NONE: u32 = u32::MAX;

/// Operator codes of op records.
pub mod opcode {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const FULLY_CONNECTED: u8 = 3;
    pub const AVERAGE_POOL_2D: u8 = 4;
    pub const MAX_POOL_2D: u8 = 5;
    pub const RESHAPE: u8 = 6;
    pub const SOFTMAX: u8 = 7;
    pub const ADD: u8 = 8;
    pub const REQUANTIZE: u8 = 9;
    pub const MEAN: u8 = 10;
}

/// Tensor element types of tensor records.
pub mod dtype {
    pub const INT8: u8 = 1;
}

/// Bytes at the arena's end where the interpreter keeps its plan (one kernel
/// choice per operator), rounded up to whole words.
pub const fn plan_len(op_count: usize) -> usize {
    op_count.next_multiple_of(4)
}

/// [`ModelView::arena_size`] of a blob (its activations plus the
/// interpreter's plan), usable in `const` context so firmware can size a
/// `static` arena from `include_bytes!` at compile time:
///
/// ```
/// # const BLOB: &[u8] = &[b'T', b'S', b'M', b'B', 1, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x27, 0, 0, 0, 0, 3, 0];
/// const ARENA: usize = tinystudio_engine::blob::arena_size_const(BLOB);
/// static mut TENSOR_ARENA: [u8; ARENA] = [0; ARENA];
/// # assert_eq!(ARENA, 10_000 + 4); // 3 operators: one word of plan
/// ```
///
/// Returns 0 if the bytes are not a blob (the later `ModelView::parse` then
/// reports why), so a bad file never fails the build in a confusing way.
pub const fn arena_size_const(bytes: &[u8]) -> usize {
    if bytes.len() < OP_COUNT_OFFSET + 2
        || bytes[0] != MAGIC[0]
        || bytes[1] != MAGIC[1]
        || bytes[2] != MAGIC[2]
        || bytes[3] != MAGIC[3]
    {
        return 0;
    }
    let activations = u32::from_le_bytes([
        bytes[ARENA_SIZE_OFFSET],
        bytes[ARENA_SIZE_OFFSET + 1],
        bytes[ARENA_SIZE_OFFSET + 2],
        bytes[ARENA_SIZE_OFFSET + 3],
    ]) as usize;
    let ops = u16::from_le_bytes([bytes[OP_COUNT_OFFSET], bytes[OP_COUNT_OFFSET + 1]]) as usize;
    activations + plan_len(ops)
}

fn rd<const N: usize>(b: &[u8], pos: usize) -> Result<[u8; N]> {
    b.get(pos..pos.checked_add(N).ok_or(Error::Truncated("blob offset"))?)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::Truncated("blob record"))
}
fn u16_at(b: &[u8], pos: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(rd(b, pos)?))
}
fn u32_at(b: &[u8], pos: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(rd(b, pos)?))
}

/// Views `u8` bytes as `i8`.
pub(crate) fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity (every bit
    // pattern is valid for both), and the lifetime is carried over.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

/// Views `u8` bytes as `i8`, mutably.
pub(crate) fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `as_i8`; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<i8>(), b.len()) }
}

/// CRC-32 of a whole blob with its checksum field (bytes 12..16) read as zero,
/// so that header fields (arena size, offsets) are protected too.
pub fn blob_checksum(blob: &[u8]) -> u32 {
    crate::crc32::Crc32::new()
        .update(blob.get(..12).unwrap_or(blob))
        .update(&[0; 4])
        .update(blob.get(16..).unwrap_or(&[]))
        .finish()
}

/// Fixed header fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub total_len: usize,
    pub checksum: u32,
    pub arena_size: usize,
    pub tensor_count: usize,
    pub op_count: usize,
    pub tensors_off: usize,
    pub ops_off: usize,
    pub input: usize,
    pub output: usize,
    pub labels_off: usize,
    pub labels_count: usize,
    pub pixel_scaling: u8,
    pub data_off: usize,
    pub data_len: usize,
}

impl Header {
    pub fn parse(b: &[u8]) -> Result<Header> {
        if b.len() < 4 {
            return Err(Error::Truncated("blob header"));
        }
        if b.get(0..4) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated("blob header"));
        }
        let version = u16_at(b, 4)?;
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion(version));
        }
        if u16_at(b, 6)? as usize != HEADER_LEN {
            return Err(Error::Malformed("blob header length"));
        }
        let h = Header {
            version,
            total_len: u32_at(b, 8)? as usize,
            checksum: u32_at(b, 12)?,
            arena_size: u32_at(b, 16)? as usize,
            tensor_count: u16_at(b, 20)? as usize,
            op_count: u16_at(b, OP_COUNT_OFFSET)? as usize,
            tensors_off: u32_at(b, 24)? as usize,
            ops_off: u32_at(b, 28)? as usize,
            input: u16_at(b, 32)? as usize,
            output: u16_at(b, 34)? as usize,
            labels_off: u32_at(b, 36)? as usize,
            labels_count: u16_at(b, 40)? as usize,
            pixel_scaling: rd::<1>(b, 42)?[0],
            data_off: u32_at(b, 44)? as usize,
            data_len: u32_at(b, 48)? as usize,
        };
        if h.total_len > b.len() {
            return Err(Error::Truncated("blob shorter than its header says"));
        }
        Ok(h)
    }
}

/// An activation tensor of the blob: where it lives in the arena and how it is quantized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    pub rank: usize,
    pub dims: [usize; 4],
    pub scale: f32,
    pub zero_point: i32,
    pub offset: usize,
    pub len: usize,
}

impl TensorInfo {
    /// The shape as given in the model (first `rank` dims).
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank.min(4)]
    }

    /// The shape as NHWC, leading dimensions padded with 1.
    pub fn shape4(&self) -> Shape4 {
        let mut d = [1usize; 4];
        let r = self.rank.min(4);
        d[4 - r..].copy_from_slice(&self.dims[..r]);
        Shape4::new(d[0], d[1], d[2], d[3])
    }

    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len
    }

    /// Size of the last dimension.
    pub fn depth(&self) -> usize {
        self.dims[self.rank.clamp(1, 4) - 1]
    }
}

/// One operator with its parameters prepared and validated, and the indices
/// of the activation tensors it reads and writes.
#[derive(Debug, Clone, Copy)]
pub enum PreparedOp<'a> {
    Conv {
        params: ConvParams<'a>,
        input: usize,
        output: usize,
    },
    Depthwise {
        params: DepthwiseParams<'a>,
        input: usize,
        output: usize,
    },
    FullyConnected {
        params: FullyConnectedParams<'a>,
        input: usize,
        output: usize,
    },
    AveragePool {
        params: PoolParams,
        input: usize,
        output: usize,
    },
    MaxPool {
        params: PoolParams,
        input: usize,
        output: usize,
    },
    Reshape {
        input: usize,
        output: usize,
    },
    Softmax {
        params: SoftmaxParams,
        input: usize,
        output: usize,
    },
    Add {
        params: AddParams,
        inputs: [usize; 2],
        output: usize,
    },
    Requantize {
        params: RequantizeParams,
        input: usize,
        output: usize,
    },
    Mean {
        params: MeanParams,
        input: usize,
        output: usize,
    },
}

impl PreparedOp<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            PreparedOp::Conv { .. } => "CONV_2D",
            PreparedOp::Depthwise { .. } => "DEPTHWISE_CONV_2D",
            PreparedOp::FullyConnected { .. } => "FULLY_CONNECTED",
            PreparedOp::AveragePool { .. } => "AVERAGE_POOL_2D",
            PreparedOp::MaxPool { .. } => "MAX_POOL_2D",
            PreparedOp::Reshape { .. } => "RESHAPE",
            PreparedOp::Softmax { .. } => "SOFTMAX",
            PreparedOp::Add { .. } => "ADD",
            PreparedOp::Requantize { .. } => "QUANTIZE",
            PreparedOp::Mean { .. } => "MEAN",
        }
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self) -> u64 {
        match self {
            PreparedOp::Conv { params, .. } => params.macs(),
            PreparedOp::Depthwise { params, .. } => params.macs(),
            PreparedOp::FullyConnected { params, .. } => params.macs(),
            _ => 0,
        }
    }

    /// The kernel variant the dispatcher picks for this operator.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            PreparedOp::Conv { params, .. } => crate::kernels::select_conv(params).name,
            PreparedOp::Depthwise { params, .. } => crate::kernels::select_depthwise(params).name,
            PreparedOp::FullyConnected { params, .. } => {
                crate::kernels::select_fully_connected(params).name
            }
            PreparedOp::Reshape { .. } => "alias_or_copy",
            PreparedOp::Add { params, .. } => crate::kernels::add::name(params),
            _ => "reference",
        }
    }

    pub fn output(&self) -> usize {
        match *self {
            PreparedOp::Conv { output, .. }
            | PreparedOp::Depthwise { output, .. }
            | PreparedOp::FullyConnected { output, .. }
            | PreparedOp::AveragePool { output, .. }
            | PreparedOp::MaxPool { output, .. }
            | PreparedOp::Reshape { output, .. }
            | PreparedOp::Softmax { output, .. }
            | PreparedOp::Add { output, .. }
            | PreparedOp::Requantize { output, .. }
            | PreparedOp::Mean { output, .. } => output,
        }
    }
}

/// A weighted layer's constants in the blob: int8 weights, bias,
/// per-channel multipliers and shifts.
type Constants<'a> = (&'a [i8], Option<I32s<'a>>, I32s<'a>, Shifts<'a>);

/// A parsed, validated model blob borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    bytes: &'a [u8],
    header: Header,
}

impl<'a> ModelView<'a> {
    /// Verifies the checksum and validates every record.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_inner(bytes, true)
    }

    /// As [`parse`](Self::parse) but skips the checksum: for bytes that were
    /// already verified once (e.g. re-opened from RAM on every inference).
    pub fn parse_verified(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_inner(bytes, false)
    }

    fn parse_inner(bytes: &'a [u8], verify_checksum: bool) -> Result<Self> {
        let header = Header::parse(bytes)?;
        let bytes = bytes
            .get(..header.total_len)
            .ok_or(Error::Truncated("blob"))?;
        if header.total_len < HEADER_LEN {
            return Err(Error::Malformed("blob length smaller than its header"));
        }
        if verify_checksum {
            let actual = blob_checksum(bytes);
            if actual != header.checksum {
                return Err(Error::ChecksumMismatch {
                    expected: header.checksum,
                    actual,
                });
            }
        }
        let section = |off: usize, count: usize, size: usize| -> Result<()> {
            let end = count
                .checked_mul(size)
                .and_then(|n| n.checked_add(off))
                .ok_or(Error::Malformed("section size overflows"))?;
            if off < HEADER_LEN || end > bytes.len() {
                return Err(Error::Truncated("blob section out of bounds"));
            }
            Ok(())
        };
        section(header.tensors_off, header.tensor_count, TENSOR_RECORD_LEN)?;
        section(header.ops_off, header.op_count, OP_RECORD_LEN)?;
        section(header.data_off, header.data_len, 1)?;
        let view = ModelView { bytes, header };
        for i in 0..header.tensor_count {
            view.tensor(i)?;
        }
        if header.input >= header.tensor_count || header.output >= header.tensor_count {
            return Err(Error::Malformed(
                "input or output tensor index out of range",
            ));
        }
        if header.op_count == 0 {
            return Err(Error::Malformed("model has no operators"));
        }
        for i in 0..header.op_count {
            view.validate_op(&view.op(i)?)?;
        }
        PixelScaling::from_code(header.pixel_scaling)?;
        if header.labels_count > 0 {
            let mut pos = header.labels_off;
            if pos < HEADER_LEN {
                return Err(Error::Malformed("labels offset"));
            }
            for _ in 0..header.labels_count {
                let (label, next) = view.label_at(pos)?;
                core::str::from_utf8(label).map_err(|_| Error::Malformed("label is not UTF-8"))?;
                pos = next;
            }
        }
        Ok(view)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bytes of arena an interpreter needs: the activations
    /// ([`activations_size`](Self::activations_size)) and its plan
    /// ([`plan_len`]) after them.
    pub fn arena_size(&self) -> usize {
        self.header.arena_size + plan_len(self.header.op_count)
    }

    /// Bytes of arena the activation tensors take (the planner's plan).
    pub fn activations_size(&self) -> usize {
        self.header.arena_size
    }

    pub fn op_count(&self) -> usize {
        self.header.op_count
    }

    pub fn tensor_count(&self) -> usize {
        self.header.tensor_count
    }

    /// Tensor `i`, decoded and validated.
    pub fn tensor(&self, i: usize) -> Result<TensorInfo> {
        self.tensor_at(i, true)
    }

    /// Tensor `i`, decoded, and validated when `check` (the record was
    /// validated at parse otherwise).
    fn tensor_at(&self, i: usize, check: bool) -> Result<TensorInfo> {
        if i >= self.header.tensor_count {
            return Err(Error::Malformed("tensor index out of range"));
        }
        let base = self.header.tensors_off + i * TENSOR_RECORD_LEN;
        let rec = TensorRecord::decode(
            self.bytes
                .get(base..base + TENSOR_RECORD_LEN)
                .ok_or(Error::Truncated("blob record"))?,
        )?;
        let mut dims = [1usize; 4];
        for (d, &r) in dims.iter_mut().zip(&rec.dims) {
            *d = r as usize;
        }
        let t = TensorInfo {
            rank: rec.rank as usize,
            dims,
            scale: rec.scale,
            zero_point: rec.zero_point,
            offset: rec.offset as usize,
            len: rec.len as usize,
        };
        if !check {
            return Ok(t);
        }
        if rec.dtype != dtype::INT8 {
            return Err(Error::Unsupported("non-int8 activation tensor"));
        }
        if !(1..=4).contains(&t.rank) {
            return Err(Error::Malformed("tensor rank"));
        }
        for (k, &d) in dims.iter().enumerate() {
            if d == 0 || (k >= t.rank && d != 1) {
                return Err(Error::Malformed("tensor dimension"));
            }
        }
        let elements = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or(Error::Malformed("tensor size overflows"))?;
        if elements != t.len {
            return Err(Error::Malformed(
                "tensor byte length does not match its shape",
            ));
        }
        if t.offset
            .checked_add(t.len)
            .is_none_or(|end| end > self.header.arena_size)
        {
            return Err(Error::Malformed("tensor lies outside the arena"));
        }
        if !(t.scale.is_finite() && t.scale > 0.0 && (-128..=127).contains(&t.zero_point)) {
            return Err(Error::Malformed("tensor quantization"));
        }
        Ok(t)
    }

    pub fn input(&self) -> Result<TensorInfo> {
        self.tensor(self.header.input)
    }

    pub fn output(&self) -> Result<TensorInfo> {
        self.tensor(self.header.output)
    }

    pub fn pixel_scaling(&self) -> Option<PixelScaling> {
        PixelScaling::from_code(self.header.pixel_scaling)
            .ok()
            .flatten()
    }

    /// Pixel -> input tensor mapping, when the blob records a pixel scaling.
    /// How input bytes become the input tensor: pixels through the recorded
    /// pixel scaling, or, for a model that records none (its input is not a
    /// picture), the bytes as they are ([`InputMapper::raw`]). `None` only
    /// when the blob has no readable input tensor.
    pub fn input_mapper(&self) -> Option<InputMapper> {
        let t = self.input().ok()?;
        Some(match self.pixel_scaling() {
            Some(scaling) => InputMapper::new(scaling, t.scale, t.zero_point),
            None => InputMapper::raw(),
        })
    }

    fn label_at(&self, pos: usize) -> Result<(&'a [u8], usize)> {
        let len = u16_at(self.bytes, pos)? as usize;
        let start = pos + 2;
        let label = self
            .bytes
            .get(start..start + len)
            .ok_or(Error::Truncated("label"))?;
        Ok((label, start + len))
    }

    pub fn label_count(&self) -> usize {
        self.header.labels_count
    }

    /// Label of output class `i` (validated as UTF-8 at parse).
    pub fn label(&self, i: usize) -> Option<&'a str> {
        if i >= self.header.labels_count {
            return None;
        }
        let mut pos = self.header.labels_off;
        for _ in 0..i {
            pos = self.label_at(pos).ok()?.1;
        }
        core::str::from_utf8(self.label_at(pos).ok()?.0).ok()
    }

    fn data(&self, off: u32, len: usize) -> Result<&'a [u8]> {
        let start = off as usize;
        let (lo, hi) = (
            self.header.data_off,
            self.header.data_off + self.header.data_len,
        );
        match start.checked_add(len) {
            Some(end) if start >= lo && end <= hi => self
                .bytes
                .get(start..end)
                .ok_or(Error::Truncated("constant data")),
            _ => Err(Error::Malformed("constant data reference out of bounds")),
        }
    }

    fn i32s(&self, off: u32, count: usize) -> Result<I32s<'a>> {
        I32s::new(self.data(off, count.checked_mul(4).ok_or(Error::Malformed("count"))?)?)
    }

    /// Operator `i`'s record, decoded but not validated.
    pub fn op_record(&self, i: usize) -> Result<OpRecord> {
        if i >= self.header.op_count {
            return Err(Error::Malformed("operator index out of range"));
        }
        let base = self.header.ops_off + i * OP_RECORD_LEN;
        OpRecord::decode(
            self.bytes
                .get(base..base + OP_RECORD_LEN)
                .ok_or(Error::Truncated("blob record"))?,
        )
    }

    /// Operator `i`'s parameters from its record and tensors, decoded. Not
    /// checked again: [`parse`](Self::parse), the only way to a
    /// `ModelView`, validated every operator. The decoding itself stays
    /// bounds-checked, and every kernel re-checks the lengths of what it is
    /// handed. Not inlined, so that its frame is gone before a kernel's
    /// starts.
    #[inline(never)]
    pub fn op(&self, i: usize) -> Result<PreparedOp<'a>> {
        let rec = self.op_record(i)?;
        let (act_min, act_max) = (i32::from(rec.act_min), i32::from(rec.act_max));
        let (input, output) = (usize::from(rec.input), usize::from(rec.output));
        let tin = self.tensor_at(input, false)?;
        let tout = self.tensor_at(output, false)?;
        // A weighted layer's constants for `channels` output channels:
        // int8 weights, bias, multipliers, shifts.
        let constants = |w: &Weights, channels: usize| -> Result<Constants<'a>> {
            let bias = if w.bias == NONE {
                None
            } else {
                Some(self.i32s(w.bias, channels)?)
            };
            Ok((
                as_i8(self.data(w.data, w.len as usize)?),
                bias,
                self.i32s(w.multipliers, channels)?,
                if self.header.version >= 2 {
                    Shifts::bytes(self.data(w.shifts, channels)?)
                } else {
                    Shifts::from(self.i32s(w.shifts, channels)?)
                },
            ))
        };
        let op = match rec.params {
            OpParams::Conv { window, weights } => {
                let (si, so) = (tin.shape4(), tout.shape4());
                let (filter, bias, multiplier, shift) = constants(&weights, so.c)?;
                let params = ConvParams {
                    input: si,
                    output: so,
                    window,
                    input_offset: -tin.zero_point,
                    output_offset: tout.zero_point,
                    act_min,
                    act_max,
                    filter,
                    bias,
                    multiplier,
                    shift,
                };
                PreparedOp::Conv {
                    params,
                    input,
                    output,
                }
            }
            OpParams::Depthwise {
                window,
                depth_multiplier,
                weights,
            } => {
                let (si, so) = (tin.shape4(), tout.shape4());
                let (filter, bias, multiplier, shift) = constants(&weights, so.c)?;
                let params = DepthwiseParams {
                    input: si,
                    output: so,
                    window,
                    depth_multiplier: depth_multiplier as usize,
                    input_offset: -tin.zero_point,
                    output_offset: tout.zero_point,
                    act_min,
                    act_max,
                    filter,
                    bias,
                    multiplier,
                    shift,
                };
                PreparedOp::Depthwise {
                    params,
                    input,
                    output,
                }
            }
            OpParams::FullyConnected {
                filter_offset,
                weights,
                double_scales,
            } => {
                let units = tout.depth();
                let depth = (weights.len as usize)
                    .checked_div(units)
                    .ok_or(Error::Malformed("fully connected units"))?;
                let batches = tin.len.checked_div(depth).unwrap_or(0);
                let (filter, bias, multiplier, shift) = constants(&weights, units)?;
                let params = FullyConnectedParams {
                    batches,
                    depth,
                    units,
                    input_offset: -tin.zero_point,
                    filter_offset,
                    output_offset: tout.zero_point,
                    act_min,
                    act_max,
                    filter,
                    bias,
                    multiplier,
                    shift,
                    double_scale: if record::absent(double_scales) {
                        None
                    } else {
                        Some(self.i32s(double_scales, 2 * units)?)
                    },
                };
                PreparedOp::FullyConnected {
                    params,
                    input,
                    output,
                }
            }
            OpParams::AveragePool { window } | OpParams::MaxPool { window } => {
                let params = PoolParams {
                    input: tin.shape4(),
                    output: tout.shape4(),
                    window,
                    act_min,
                    act_max,
                };
                if matches!(rec.params, OpParams::AveragePool { .. }) {
                    PreparedOp::AveragePool {
                        params,
                        input,
                        output,
                    }
                } else {
                    PreparedOp::MaxPool {
                        params,
                        input,
                        output,
                    }
                }
            }
            OpParams::Reshape => PreparedOp::Reshape { input, output },
            OpParams::Softmax {
                input_multiplier,
                input_left_shift,
                diff_min,
            } => {
                let depth = tin.depth();
                let params = SoftmaxParams {
                    outer: tin.len / depth,
                    depth,
                    input_multiplier,
                    input_left_shift,
                    diff_min,
                };
                PreparedOp::Softmax {
                    params,
                    input,
                    output,
                }
            }
            OpParams::Add {
                input1,
                input2,
                output: rescale,
                left_shift,
            } => {
                let second = usize::from(rec.input2);
                let tin2 = self.tensor_at(second, false)?;
                let params = AddParams {
                    len: tout.len,
                    input1_offset: -tin.zero_point,
                    input2_offset: -tin2.zero_point,
                    output_offset: tout.zero_point,
                    left_shift,
                    input1_multiplier: input1.multiplier,
                    input1_shift: input1.shift,
                    input2_multiplier: input2.multiplier,
                    input2_shift: input2.shift,
                    output_multiplier: rescale.multiplier,
                    output_shift: rescale.shift,
                    act_min,
                    act_max,
                };
                PreparedOp::Add {
                    params,
                    inputs: [input, second],
                    output,
                }
            }
            OpParams::Requantize(r) => {
                let params = RequantizeParams {
                    len: tout.len,
                    input_zero_point: tin.zero_point,
                    output_zero_point: tout.zero_point,
                    multiplier: r.multiplier,
                    shift: r.shift,
                };
                PreparedOp::Requantize {
                    params,
                    input,
                    output,
                }
            }
            OpParams::Mean(r) => {
                // `[batches, positions..., channels]` to `[batches, channels]`
                // (kept dimensions of 1 or not).
                let batches = if tin.rank >= 3 { tin.dims[0] } else { 0 };
                let channels = tout.depth();
                let positions = batches
                    .checked_mul(channels)
                    .and_then(|bc| tin.len.checked_div(bc))
                    .unwrap_or(0);
                let params = MeanParams {
                    batches,
                    positions,
                    channels,
                    input_zero_point: tin.zero_point,
                    output_zero_point: tout.zero_point,
                    multiplier: r.multiplier,
                    shift: r.shift,
                };
                PreparedOp::Mean {
                    params,
                    input,
                    output,
                }
            }
        };
        Ok(op)
    }

    /// Checks a decoded operator against its tensors: each tensor valid,
    /// input and output apart in the arena (or, for windowed operators, the
    /// output only over input rows already read), the element counts, and
    /// the kernels' parameters (`validate`).
    #[inline(never)]
    fn validate_op(&self, op: &PreparedOp<'a>) -> Result<()> {
        let (input, output) = match *op {
            PreparedOp::Conv { input, output, .. }
            | PreparedOp::Depthwise { input, output, .. }
            | PreparedOp::FullyConnected { input, output, .. }
            | PreparedOp::AveragePool { input, output, .. }
            | PreparedOp::MaxPool { input, output, .. }
            | PreparedOp::Reshape { input, output }
            | PreparedOp::Softmax { input, output, .. }
            | PreparedOp::Requantize { input, output, .. }
            | PreparedOp::Mean { input, output, .. } => (input, output),
            PreparedOp::Add { inputs, output, .. } => (inputs[0], output),
        };
        let tin = self.tensor(input)?;
        let tout = self.tensor(output)?;
        if input == output {
            return Err(Error::Malformed(
                "operator reads and writes the same tensor",
            ));
        }
        let disjoint = |a: &TensorInfo| -> Result<()> {
            if a.offset < tout.offset + tout.len && tout.offset < a.offset + a.len {
                Err(Error::Malformed(
                    "operator input and output overlap in the arena",
                ))
            } else {
                Ok(())
            }
        };
        // Windowed operators may overwrite input rows they no longer need
        // (the interpreter then runs them one output row at a time).
        let disjoint_or_in_place = |w: &Window| -> Result<()> {
            if disjoint(&tin).is_ok() {
                return Ok(());
            }
            let delta = tout.offset as isize - tin.offset as isize;
            match w.in_place_delta(tin.shape4(), tout.shape4()) {
                Some(max) if delta <= max => Ok(()),
                _ => Err(Error::Malformed(
                    "operator output overlaps input it still reads",
                )),
            }
        };
        let same_len = |what: &'static str| {
            if tin.len == tout.len {
                Ok(())
            } else {
                Err(Error::Malformed(what))
            }
        };
        match op {
            PreparedOp::Conv { params, .. } => {
                disjoint_or_in_place(&params.window)?;
                params.validate()
            }
            PreparedOp::Depthwise { params, .. } => {
                disjoint_or_in_place(&params.window)?;
                params.validate()
            }
            PreparedOp::AveragePool { params, .. } | PreparedOp::MaxPool { params, .. } => {
                disjoint_or_in_place(&params.window)?;
                params.validate()
            }
            PreparedOp::FullyConnected { params, .. } => {
                disjoint(&tin)?;
                if params.batches.checked_mul(params.units) != Some(tout.len) {
                    return Err(Error::Malformed("fully connected output size"));
                }
                params.validate()
            }
            PreparedOp::Reshape { .. } => {
                same_len("reshape changes the element count")?;
                if tin.offset == tout.offset {
                    Ok(())
                } else {
                    disjoint(&tin)
                }
            }
            PreparedOp::Softmax { params, .. } => {
                disjoint(&tin)?;
                params.validate()?;
                same_len("softmax output size")
            }
            PreparedOp::Add { params, inputs, .. } => {
                let tin2 = self.tensor(inputs[1])?;
                disjoint(&tin)?;
                disjoint(&tin2)?;
                if tin.len != tout.len || tin2.len != tout.len {
                    return Err(Error::Unsupported("ADD with broadcasting"));
                }
                params.validate()
            }
            PreparedOp::Requantize { params, .. } => {
                disjoint(&tin)?;
                same_len("quantize changes the element count")?;
                params.validate()
            }
            PreparedOp::Mean { params, .. } => {
                disjoint(&tin)?;
                params.validate()?;
                if tin.depth() != params.channels
                    || params.input_len() != Some(tin.len)
                    || params.batches.checked_mul(params.channels) != Some(tout.len)
                {
                    return Err(Error::Malformed("mean shapes"));
                }
                Ok(())
            }
        }
    }
}
