//! Constants of TFLite's `schema.fbs` used by the importer and exporter.

pub const OP_ADD: i32 = 0;
pub const OP_AVERAGE_POOL_2D: i32 = 1;
pub const OP_CONV_2D: i32 = 3;
pub const OP_DEPTHWISE_CONV_2D: i32 = 4;
pub const OP_DEQUANTIZE: i32 = 6;
pub const OP_FULLY_CONNECTED: i32 = 9;
pub const OP_MAX_POOL_2D: i32 = 17;
pub const OP_RESHAPE: i32 = 22;
pub const OP_SOFTMAX: i32 = 25;
pub const OP_QUANTIZE: i32 = 114;

pub const TYPE_FLOAT32: u8 = 0;
pub const TYPE_INT32: u8 = 2;
pub const TYPE_INT8: u8 = 9;

pub const PADDING_SAME: u8 = 0;
pub const PADDING_VALID: u8 = 1;

pub const ACT_NONE: u8 = 0;
pub const ACT_RELU: u8 = 1;
pub const ACT_RELU6: u8 = 3;

// BuiltinOptions union members.
pub const OPTIONS_CONV_2D: u8 = 1;
pub const OPTIONS_DEPTHWISE_CONV_2D: u8 = 2;
pub const OPTIONS_POOL_2D: u8 = 5;
pub const OPTIONS_FULLY_CONNECTED: u8 = 8;
pub const OPTIONS_SOFTMAX: u8 = 9;
pub const OPTIONS_ADD: u8 = 11;
pub const OPTIONS_RESHAPE: u8 = 17;
pub const OPTIONS_QUANTIZE: u8 = 89;

pub fn op_name(code: i32) -> &'static str {
    match code {
        OP_ADD => "ADD",
        OP_AVERAGE_POOL_2D => "AVERAGE_POOL_2D",
        OP_CONV_2D => "CONV_2D",
        OP_DEPTHWISE_CONV_2D => "DEPTHWISE_CONV_2D",
        OP_FULLY_CONNECTED => "FULLY_CONNECTED",
        OP_MAX_POOL_2D => "MAX_POOL_2D",
        OP_RESHAPE => "RESHAPE",
        OP_SOFTMAX => "SOFTMAX",
        OP_QUANTIZE => "QUANTIZE",
        OP_DEQUANTIZE => "DEQUANTIZE",
        _ => "operator",
    }
}
