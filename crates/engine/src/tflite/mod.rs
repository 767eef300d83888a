//! `.tflite` import and export (host only).

mod export;
pub mod flatbuf;
mod import;
mod schema;

pub use export::export;
pub use import::{OperatorProblem, check, import};
