//! TinyStudio firmware: runs one impulse (model blob and input settings built
//! in at compile time) on a microcontroller, fed with frames of pixels over
//! UART. See `README.md` for building and flashing, `protocol.rs` for the
//! wire format and `app.rs` for what the board prints.
#![no_std]

pub mod app;
pub mod board;
pub mod model;
pub mod protocol;
