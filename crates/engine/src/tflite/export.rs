//! [`Model`] -> `.tflite` (written in the next step).

use crate::error::{Error, Result};
use crate::model::Model;

pub fn export(_model: &Model) -> Result<Vec<u8>> {
    Err(Error::Unsupported("tflite export"))
}
