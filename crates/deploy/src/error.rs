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

    #[error(
        "the C library sources are not at {0} (set TINYSTUDIO_CLIB_DIR to the crates/clib directory of a TinyStudio checkout)"
    )]
    LibrarySourceMissing(PathBuf),

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

    #[error("baud rate {0} is out of range: give 1 to 4000000 (boards use 115200)")]
    BadBaud(u32),

    #[error(
        "no serial port {path}; ports here: {available} (a pseudo-terminal such as /dev/pts/3 may be named too)"
    )]
    PortNotFound { path: String, available: String },

    #[error(
        "permission denied opening {path}: the user running the studio needs access to serial ports (Debian and Ubuntu: `sudo usermod -aG dialout $USER`, then log in again)"
    )]
    PortPermission { path: String },

    #[error(
        "{path} is in use by another program (a serial monitor, bossac, another studio); close it and connect again"
    )]
    PortBusy { path: String },

    #[error("{path} is not a serial port: {why}")]
    NotASerialPort { path: String, why: String },

    #[error("serial port {path}: {what}")]
    Serial { path: String, what: String },

    #[error("{0}")]
    NotFlashable(String),

    #[error("{0}")]
    ToolMissing(String),

    #[error("{0}")]
    NoBoard(String),

    #[error("flashing failed: `{command}` said:\n{output}")]
    FlashFailed { command: String, output: String },
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
