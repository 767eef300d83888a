//! One error type for every layer of the engine.
//!
//! It is `no_std` and allocation-free so that the firmware can report *why* a
//! blob was rejected; the host-only parts add a `Message` variant for errors
//! that need a dynamic description (file names, tensor names).

use core::fmt;

/// Result alias used across the crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Everything that can go wrong while loading, preparing or running a model.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The input ended before a structure that it announces.
    Truncated(&'static str),
    /// A structure is present but its contents are inconsistent or out of range.
    Malformed(&'static str),
    /// The model is well-formed but uses something this engine does not implement.
    Unsupported(&'static str),
    /// An operator code (TFLite builtin code) the engine does not implement.
    UnsupportedOperator(u32),
    /// The blob does not start with the model-blob magic.
    BadMagic,
    /// The blob was written by a newer (or unknown) format version.
    UnsupportedVersion(u16),
    /// The blob's contents do not match its checksum (corrupted flash or file).
    ChecksumMismatch { expected: u32, actual: u32 },
    /// The caller's arena is smaller than the planned arena.
    ArenaTooSmall { needed: usize, available: usize },
    /// A buffer handed to the engine has the wrong length.
    LengthMismatch { expected: usize, actual: usize },
    /// A picture or target size that input preprocessing cannot handle.
    Preprocess(&'static str),
    /// Host-side error with a description built at run time.
    #[cfg(feature = "std")]
    Message(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated(what) => write!(f, "model data is truncated: {what}"),
            Error::Malformed(what) => write!(f, "model data is malformed: {what}"),
            Error::Unsupported(what) => write!(f, "unsupported by the int8 engine: {what}"),
            Error::UnsupportedOperator(code) => write!(
                f,
                "unsupported operator (TFLite builtin code {code}); supported: CONV_2D, \
                 DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, \
                 RESHAPE, EXPAND_DIMS, SQUEEZE, SOFTMAX, ADD, QUANTIZE, DEQUANTIZE"
            ),
            Error::BadMagic => write!(f, "not a TinyStudio model blob (bad magic bytes)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "model blob format version {v} is not supported by this engine; rebuild the blob"
            ),
            Error::ChecksumMismatch { expected, actual } => write!(
                f,
                "model blob checksum mismatch (stored {expected:#010x}, computed {actual:#010x}); \
                 the blob is corrupted"
            ),
            Error::ArenaTooSmall { needed, available } => write!(
                f,
                "tensor arena too small: the model needs {needed} bytes, {available} given"
            ),
            Error::LengthMismatch { expected, actual } => {
                write!(
                    f,
                    "buffer length mismatch: expected {expected} bytes, got {actual}"
                )
            }
            Error::Preprocess(what) => write!(f, "cannot preprocess the picture: {what}"),
            #[cfg(feature = "std")]
            Error::Message(m) => f.write_str(m),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
