//! TinyStudio firmware: runs one impulse (model blob and input settings built
//! in at compile time) on a microcontroller, fed with frames of pixels over
//! UART. See `README.md` for building and flashing, `protocol.rs` for the
//! wire format and `app.rs` for what the board prints.
#![no_std]

pub mod app;
pub mod board;
/// The camera loop's build-time settings (see `build.rs`).
pub mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
/// The kernels this model's layers select on this target (see `build.rs`).
pub mod kernels {
    include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
}
pub mod model;
pub mod protocol;
