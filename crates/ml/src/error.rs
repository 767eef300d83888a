//! One error type for the crate, so the worker can wrap every failure with `anyhow`
//! context and show the message to the user as is.

use std::path::PathBuf;

/// Everything that can go wrong while loading backbones, training or exporting.
///
/// Messages name the file, layer or dataset involved, because the person reading
/// them usually has to fix (or re-download) exactly that file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read HDF5 file {path}: {message}")]
    Hdf5 { path: PathBuf, message: String },
    #[error("{path}: layer `{layer}` is missing (is this a Keras MobileNetV1 file?)")]
    MissingLayer { path: PathBuf, layer: String },
    #[error("{path}: layer `{layer}` has no `{dataset}` weights")]
    MissingDataset {
        path: PathBuf,
        layer: String,
        dataset: String,
    },
    #[error("{path}: `{layer}/{dataset}` has shape {found:?}, expected {expected:?}")]
    BadShape {
        path: PathBuf,
        layer: String,
        dataset: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(
        "unsupported MobileNetV1 width multiplier {0} (supported: 0.1, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0)"
    )]
    UnsupportedAlpha(f32),
    #[error("downloading {url} failed: {message}")]
    Download { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Training went wrong (the loss exploded, the accuracy collapsed).
    #[error("{0}")]
    Diverged(String),
    #[error("{path}: {message}")]
    BadModelFile { path: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    #[cfg_attr(not(feature = "burn"), allow(dead_code))]
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
