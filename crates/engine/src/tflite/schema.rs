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
pub const OP_MEAN: i32 = 40;
pub const OP_SQUEEZE: i32 = 43;
pub const OP_EXPAND_DIMS: i32 = 70;
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
pub const OPTIONS_REDUCER: u8 = 27;
pub const OPTIONS_QUANTIZE: u8 = 89;

/// TFLite's `BuiltinOperator` names, by code (0 to 126, as in `schema.fbs`),
/// so that what the engine cannot run is named in its errors.
const BUILTIN_NAMES: [&str; 127] = [
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
];

/// The name of builtin operator `code` (`BUILTIN_<code>` past the table).
pub fn op_name(code: i32) -> std::borrow::Cow<'static, str> {
    match usize::try_from(code)
        .ok()
        .and_then(|c| BUILTIN_NAMES.get(c))
    {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => std::borrow::Cow::Owned(format!("BUILTIN_{code}")),
    }
}
