//! From a model blob to firmware on a board (host side, `std`).
//!
//! - [`boards`]: the supported boards and their limits.
//! - [`footprint`]: what a model needs on a board (flash, RAM, latency),
//!   estimated before building ([`check_fits`], which refuses a model that
//!   cannot fit) and measured after.
//! - [`build`]: builds `crates/firmware` for a board with the model built in,
//!   streams cargo's log, writes ELF / `.bin` / `.hex` / `.uf2` and a
//!   [`SizeReport`].
//! - [`Emulator`], [`run_emulated`]: runs the firmware on QEMU's Cortex-M4
//!   and classifies images over its UART, exactly as on a board.
//! - [`serial`], [`monitor`]: the machine's serial ports, and reading what
//!   a board prints on one (answers to frames, and predictions a camera
//!   loop prints unasked); [`flash`]: flashing a build with the board's
//!   own tool.
//! - [`library`]: the engine as a C static library for Cortex-M4F and
//!   Cortex-M0+ (`crates/clib`), packaged with a model as an Arduino
//!   library, a C library or a Rust crate.
//! - [`toolchain::detect`]: rustup target, or build-std with the library
//!   sources (Debian's packages), or an error naming what to install.
//!
//! Everything here blocks and may run for a minute (a first build): call it
//! from a worker thread (`spawn_blocking`), never on an async runtime.

pub mod artifacts;
pub mod boards;
mod build;
mod emulator;
mod error;
pub mod flash;
pub mod footprint;
pub mod import;
pub mod library;
pub mod monitor;
mod process;
pub mod serial;
mod size;
pub mod toolchain;

/// The firmware's wire format, compiled from the firmware's own source so
/// both ends share one definition.
#[path = "../../firmware/src/protocol.rs"]
pub mod wire;

use std::path::PathBuf;

pub use boards::{ArtifactKind, BOARDS, Board, Cpu, MPS2_AN386_ARMV6M, board};
pub use build::{BuildOptions, BuildOutput, DEFAULT_CAMERA_INTERVAL_MS, build, build_with};
pub use emulator::{
    BoardOutput, CAMERA_FRAMES_FILE, Cost, CostUnit, Emulator, OpProfile, Ready, Response,
    camera_frame, frame, run_emulated,
};
pub use error::{Error, Result};
pub use flash::{FlashConfig, FlashReport, FlashRequest};
pub use footprint::{DoesNotFit, STACK_RESERVE, check_fits};
pub use monitor::{BoardEvent, Monitor};
pub use serial::{DEFAULT_BAUD, LineReader, PortInfo, PortWriter};
pub use size::SizeReport;

/// Where the firmware sources and QEMU are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `crates/firmware` of a TinyStudio checkout (it builds against the
    /// engine beside it, `../engine`).
    pub firmware_dir: PathBuf,
    /// `crates/clib` of the same checkout: the engine as a C static library.
    pub clib_dir: PathBuf,
    /// `qemu-system-arm`.
    pub qemu: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            firmware_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware")),
            clib_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../clib")),
            qemu: PathBuf::from("qemu-system-arm"),
        }
    }
}

impl Config {
    /// Defaults, overridden by `TINYSTUDIO_FIRMWARE_DIR`, `TINYSTUDIO_CLIB_DIR`
    /// and `TINYSTUDIO_QEMU`.
    pub fn from_env() -> Config {
        let mut c = Config::default();
        if let Some(dir) = std::env::var_os("TINYSTUDIO_FIRMWARE_DIR").filter(|v| !v.is_empty()) {
            c.firmware_dir = dir.into();
        }
        if let Some(dir) = std::env::var_os("TINYSTUDIO_CLIB_DIR").filter(|v| !v.is_empty()) {
            c.clib_dir = dir.into();
        }
        if let Some(q) = std::env::var_os("TINYSTUDIO_QEMU").filter(|v| !v.is_empty()) {
            c.qemu = q.into();
        }
        c
    }
}
