//! int8 inference engine shared by the studio and the firmware.
//!
//! See `README.md` for the module map and formats.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod error;
pub mod kernels;
pub mod ops;
pub mod quant;

pub use error::{Error, Result};
