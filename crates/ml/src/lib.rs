//! Machine learning for TinyStudio: the MobileNetV1 backbone in burn with Keras
//! ImageNet weights, feature extraction, head training, and export for the int8
//! engine.
//!
//! Layout follows burn's guide: [`data`] (pixels to tensors, augmentation, splits),
//! [`model`] (the networks), [`training`], [`inference`], plus [`keras_h5`] (reading
//! Keras weights), [`backbones`] (finding, downloading and deriving them) and
//! [`export`] (the engine's float graph and calibration ranges).

#[cfg(feature = "burn")]
pub mod backbones;
#[cfg(feature = "burn")]
mod cpu;
#[cfg(feature = "burn")]
pub mod data;
pub mod error;
#[cfg(feature = "burn")]
pub mod export;
#[cfg(feature = "burn")]
mod finetune;
#[cfg(feature = "burn")]
pub mod inference;
pub mod keras_h5;
#[cfg(feature = "burn")]
pub mod model;
#[cfg(feature = "burn")]
pub mod training;

pub use error::{Error, Result};
