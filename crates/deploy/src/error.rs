use std::path::PathBuf;

use crate::footprint::DoesNotFit;

pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong between a model blob and a running board.
/// Messages say what to do, since they reach the studio's users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown board {0:?}; known boards: {known}", known = crate::boards::BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", "))]
    UnknownBoard(String),

    #[error("no Rust toolchain here can build for {target}: {hint}")]
    NoToolchain { target: String, hint: String },

    #[error(
        "the firmware sources are not at {0} (set TINYSTUDIO_FIRMWARE_DIR to the crates/firmware directory of a TinyStudio checkout)"
    )]
    FirmwareSourceMissing(PathBuf),

    #[error("the model blob is not valid: {0}")]
    InvalidModel(#[from] tinystudio_engine::Error),

    #[error("{0}")]
    DoesNotFit(Box<DoesNotFit>),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the firmware build failed ({status}); last lines of the log:\n{tail}")]
    BuildFailed { status: String, tail: String },

    #[error("cannot read the firmware ELF {path}: {what}")]
    Elf { path: PathBuf, what: String },

    #[error("QEMU: {0}")]
    Emulator(String),

    #[error("timed out after {seconds:.1} s waiting for {what}")]
    Timeout { what: String, seconds: f64 },

    #[error("the board answered: {0}")]
    Board(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<DoesNotFit> for Error {
    fn from(d: DoesNotFit) -> Self {
        Error::DoesNotFit(Box::new(d))
    }
}
