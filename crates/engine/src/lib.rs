//! int8 inference engine shared by the studio and the firmware.
//!
//! See `README.md` for the module map and formats.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod blob;
pub mod crc32;
pub mod error;
pub mod input;
pub mod interpreter;
pub mod kernels;
pub mod ops;
pub mod preprocess;
pub mod quant;

#[cfg(feature = "std")]
pub mod float_graph;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod planner;
#[cfg(feature = "std")]
pub mod quantizer;
#[cfg(feature = "std")]
pub mod tflite;

pub use blob::ModelView;
pub use error::{Error, Result};
#[cfg(feature = "std")]
pub use float_graph::FloatGraph;
pub use input::{InputMapper, PixelScaling};
pub use interpreter::Interpreter;
#[cfg(feature = "std")]
pub use interpreter::{HostRunner, LayerOutput};
#[cfg(feature = "std")]
pub use model::Model;
pub use preprocess::{ColorDepth, InputFormat, PixelSource, ResizeMode, Scratch, preprocess};
#[cfg(feature = "std")]
pub use quantizer::{Calibration, quantize};
