//! The blob's records, defined once: the [`Header`](super::Header), the
//! [`TensorRecord`] and the [`OpRecord`] with named fields, decoded from
//! bytes on any target (`no_std`) and encoded on the host by the writer.
//! What the fields may hold is checked by `ModelView`, which builds the
//! kernels' parameters from them.

#[cfg(feature = "std")]
use super::{Header, OP_RECORD_LEN, TENSOR_RECORD_LEN};
use super::{NONE, opcode, rd};
use crate::error::{Error, Result};
use crate::kernels::Window;

/// An activation tensor's record (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorRecord {
    pub rank: u8,
    pub dtype: u8,
    /// The shape, padded with 1 past `rank`.
    pub dims: [u32; 4],
    pub scale: f32,
    pub zero_point: i32,
    /// Where the tensor starts in the arena.
    pub offset: u32,
    /// Its length in bytes.
    pub len: u32,
}

/// Byte of [`TensorRecord::offset`] inside a record (the writer patches it
/// when it moves a tensor).
pub const TENSOR_OFFSET_AT: usize = 28;

impl TensorRecord {
    pub fn decode(b: &[u8]) -> Result<TensorRecord> {
        let word = |k: usize| rd::<4>(b, k).map(u32::from_le_bytes);
        let [rank, dtype, _, _] = rd::<4>(b, 0)?;
        Ok(TensorRecord {
            rank,
            dtype,
            dims: [word(4)?, word(8)?, word(12)?, word(16)?],
            scale: f32::from_bits(word(20)?),
            zero_point: word(24)? as i32,
            offset: word(TENSOR_OFFSET_AT)?,
            len: word(32)?,
        })
    }

    #[cfg(feature = "std")]
    pub fn encode(&self) -> [u8; TENSOR_RECORD_LEN] {
        let mut b = [0u8; TENSOR_RECORD_LEN];
        b[0] = self.rank;
        b[1] = self.dtype;
        for (k, d) in self.dims.iter().enumerate() {
            b[4 + 4 * k..8 + 4 * k].copy_from_slice(&d.to_le_bytes());
        }
        b[20..24].copy_from_slice(&self.scale.to_bits().to_le_bytes());
        b[24..28].copy_from_slice(&self.zero_point.to_le_bytes());
        b[TENSOR_OFFSET_AT..TENSOR_OFFSET_AT + 4].copy_from_slice(&self.offset.to_le_bytes());
        b[32..36].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

/// Constants of a weighted layer in the data section (offsets from the
/// blob's start; [`NONE`] for an absent bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// The int8 weights and their count.
    pub data: u32,
    pub len: u32,
    /// One int32 per output channel.
    pub bias: u32,
    /// Per output channel: TFLite's multiplier and shift.
    pub multipliers: u32,
    pub shifts: u32,
}

/// A rescaling by a Q0.31 multiplier and a power-of-two shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rescale {
    pub multiplier: i32,
    pub shift: i32,
}

/// What an operator record holds besides its tensors, by operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpParams {
    Conv {
        window: Window,
        weights: Weights,
    },
    Depthwise {
        window: Window,
        depth_multiplier: u32,
        weights: Weights,
    },
    FullyConnected {
        /// `-weights_zero_point`.
        filter_offset: i32,
        weights: Weights,
        /// Per unit, the `f64` rescaling of TFLite's reference kernel; 0 in
        /// blobs written before 2026-12-07 (they keep the multipliers).
        double_scales: u32,
    },
    AveragePool {
        window: Window,
    },
    MaxPool {
        window: Window,
    },
    Reshape,
    Softmax {
        input_multiplier: i32,
        input_left_shift: i32,
        diff_min: i32,
    },
    Add {
        input1: Rescale,
        input2: Rescale,
        output: Rescale,
        left_shift: i32,
    },
    Requantize(Rescale),
    Mean(Rescale),
}

/// An operator's record (64 bytes: 16 little-endian words). Words 0 to 2
/// hold the opcode, activation bounds and tensors; the others depend on
/// the operator ([`OpParams`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpRecord {
    pub act_min: i8,
    pub act_max: i8,
    pub input: u16,
    pub output: u16,
    /// ADD's second input; `0xffff` for the others.
    pub input2: u16,
    pub params: OpParams,
}

impl OpParams {
    pub fn opcode(&self) -> u8 {
        match self {
            OpParams::Conv { .. } => opcode::CONV_2D,
            OpParams::Depthwise { .. } => opcode::DEPTHWISE_CONV_2D,
            OpParams::FullyConnected { .. } => opcode::FULLY_CONNECTED,
            OpParams::AveragePool { .. } => opcode::AVERAGE_POOL_2D,
            OpParams::MaxPool { .. } => opcode::MAX_POOL_2D,
            OpParams::Reshape => opcode::RESHAPE,
            OpParams::Softmax { .. } => opcode::SOFTMAX,
            OpParams::Add { .. } => opcode::ADD,
            OpParams::Requantize(_) => opcode::REQUANTIZE,
            OpParams::Mean(_) => opcode::MEAN,
        }
    }

    /// The window of a windowed operator.
    pub fn window(&self) -> Option<Window> {
        match *self {
            OpParams::Conv { window, .. }
            | OpParams::Depthwise { window, .. }
            | OpParams::AveragePool { window }
            | OpParams::MaxPool { window } => Some(window),
            _ => None,
        }
    }
}

/// Window words: kernel, stride and padding before, each `h | w << 16`.
fn window_of(w: &[u32; 16]) -> Window {
    let lo = |x: u32| (x & 0xffff) as usize;
    let hi = |x: u32| (x >> 16) as usize;
    Window {
        kernel_h: lo(w[3]),
        kernel_w: hi(w[3]),
        stride_h: lo(w[4]),
        stride_w: hi(w[4]),
        pad_top: lo(w[5]),
        pad_left: hi(w[5]),
    }
}

fn weights_of(w: &[u32; 16]) -> Weights {
    Weights {
        data: w[7],
        len: w[8],
        bias: w[9],
        multipliers: w[10],
        shifts: w[11],
    }
}

fn rescale_of(m: u32, s: u32) -> Rescale {
    Rescale {
        multiplier: m as i32,
        shift: s as i32,
    }
}

impl OpRecord {
    pub fn decode(b: &[u8]) -> Result<OpRecord> {
        let mut w = [0u32; 16];
        for (k, word) in w.iter_mut().enumerate() {
            *word = u32::from_le_bytes(rd(b, 4 * k)?);
        }
        let [code, act_min, act_max, _] = w[0].to_le_bytes();
        let params = match code {
            opcode::CONV_2D => OpParams::Conv {
                window: window_of(&w),
                weights: weights_of(&w),
            },
            opcode::DEPTHWISE_CONV_2D => OpParams::Depthwise {
                window: window_of(&w),
                depth_multiplier: w[6],
                weights: weights_of(&w),
            },
            opcode::FULLY_CONNECTED => OpParams::FullyConnected {
                filter_offset: w[6] as i32,
                weights: weights_of(&w),
                double_scales: w[12],
            },
            opcode::AVERAGE_POOL_2D => OpParams::AveragePool {
                window: window_of(&w),
            },
            opcode::MAX_POOL_2D => OpParams::MaxPool {
                window: window_of(&w),
            },
            opcode::RESHAPE => OpParams::Reshape,
            opcode::SOFTMAX => OpParams::Softmax {
                input_multiplier: w[3] as i32,
                input_left_shift: w[4] as i32,
                diff_min: w[5] as i32,
            },
            opcode::ADD => OpParams::Add {
                input1: rescale_of(w[3], w[4]),
                input2: rescale_of(w[5], w[6]),
                output: rescale_of(w[7], w[8]),
                left_shift: w[9] as i32,
            },
            opcode::REQUANTIZE => OpParams::Requantize(rescale_of(w[3], w[4])),
            opcode::MEAN => OpParams::Mean(rescale_of(w[3], w[4])),
            _ => return Err(Error::Malformed("unknown operator code")),
        };
        Ok(OpRecord {
            act_min: act_min as i8,
            act_max: act_max as i8,
            input: (w[1] & 0xffff) as u16,
            output: (w[1] >> 16) as u16,
            input2: (w[2] & 0xffff) as u16,
            params,
        })
    }

    /// The record's bytes. Windows must fit their 16-bit halves (the
    /// writer checks).
    #[cfg(feature = "std")]
    pub fn encode(&self) -> [u8; OP_RECORD_LEN] {
        let mut w = [0u32; 16];
        w[0] = u32::from(self.params.opcode())
            | u32::from(self.act_min as u8) << 8
            | u32::from(self.act_max as u8) << 16;
        w[1] = u32::from(self.input) | u32::from(self.output) << 16;
        w[2] = u32::from(self.input2);
        let pack = |lo: usize, hi: usize| (lo as u32 & 0xffff) | (hi as u32) << 16;
        if let Some(win) = self.params.window() {
            w[3] = pack(win.kernel_h, win.kernel_w);
            w[4] = pack(win.stride_h, win.stride_w);
            w[5] = pack(win.pad_top, win.pad_left);
        }
        let mut weights = |x: &Weights| {
            [w[7], w[8], w[9], w[10], w[11]] = [x.data, x.len, x.bias, x.multipliers, x.shifts];
        };
        match self.params {
            OpParams::Conv { weights: ref x, .. } => weights(x),
            OpParams::Depthwise {
                depth_multiplier,
                weights: ref x,
                ..
            } => {
                weights(x);
                w[6] = depth_multiplier;
            }
            OpParams::FullyConnected {
                filter_offset,
                weights: ref x,
                double_scales,
            } => {
                weights(x);
                w[6] = filter_offset as u32;
                w[12] = double_scales;
            }
            OpParams::AveragePool { .. } | OpParams::MaxPool { .. } | OpParams::Reshape => {}
            OpParams::Softmax {
                input_multiplier,
                input_left_shift,
                diff_min,
            } => {
                [w[3], w[4], w[5]] = [
                    input_multiplier as u32,
                    input_left_shift as u32,
                    diff_min as u32,
                ];
            }
            OpParams::Add {
                input1,
                input2,
                output,
                left_shift,
            } => {
                w[3..10].copy_from_slice(&[
                    input1.multiplier as u32,
                    input1.shift as u32,
                    input2.multiplier as u32,
                    input2.shift as u32,
                    output.multiplier as u32,
                    output.shift as u32,
                    left_shift as u32,
                ]);
            }
            OpParams::Requantize(r) | OpParams::Mean(r) => {
                [w[3], w[4]] = [r.multiplier as u32, r.shift as u32];
            }
        }
        let mut b = [0u8; OP_RECORD_LEN];
        for (k, word) in w.iter().enumerate() {
            b[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
        }
        b
    }
}

/// Whether a data reference is absent ([`NONE`], or 0 in fields older
/// blobs left unset).
pub fn absent(offset: u32) -> bool {
    offset == NONE || offset == 0
}

#[cfg(feature = "std")]
impl Header {
    /// The header's 64 bytes, its checksum field as given (the writer
    /// computes it over the finished blob).
    pub fn encode(&self) -> [u8; super::HEADER_LEN] {
        let mut h = [0u8; super::HEADER_LEN];
        h[0..4].copy_from_slice(&super::MAGIC);
        h[4..6].copy_from_slice(&self.version.to_le_bytes());
        h[6..8].copy_from_slice(&(super::HEADER_LEN as u16).to_le_bytes());
        h[8..12].copy_from_slice(&(self.total_len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&self.checksum.to_le_bytes());
        h[16..20].copy_from_slice(&(self.arena_size as u32).to_le_bytes());
        h[20..22].copy_from_slice(&(self.tensor_count as u16).to_le_bytes());
        h[22..24].copy_from_slice(&(self.op_count as u16).to_le_bytes());
        h[24..28].copy_from_slice(&(self.tensors_off as u32).to_le_bytes());
        h[28..32].copy_from_slice(&(self.ops_off as u32).to_le_bytes());
        h[32..34].copy_from_slice(&(self.input as u16).to_le_bytes());
        h[34..36].copy_from_slice(&(self.output as u16).to_le_bytes());
        h[36..40].copy_from_slice(&(self.labels_off as u32).to_le_bytes());
        h[40..42].copy_from_slice(&(self.labels_count as u16).to_le_bytes());
        h[42] = self.pixel_scaling;
        h[44..48].copy_from_slice(&(self.data_off as u32).to_le_bytes());
        h[48..52].copy_from_slice(&(self.data_len as u32).to_le_bytes());
        h
    }
}
