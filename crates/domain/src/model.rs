//! What a trained model knows about itself: the metrics the training job
//! records with it, shown on the Impulse, Test and Deploy pages and in the
//! API (`GET .../models/{id}`).

use serde::{Deserialize, Serialize};

/// One epoch of training: a row of the job page's table and a point of its
/// curves. Sent live as the `epoch` event of a training job and kept in the
/// model's [`ModelMetrics::history`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Epoch {
    /// 1-based.
    pub epoch: u32,
    pub loss: f32,
    pub accuracy: f32,
    /// `None` without a validation set.
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
}

/// Where the time of a training job went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TrainingTime {
    /// Fetching, decoding and resizing the images.
    pub decode_ms: u64,
    /// Backbone features (from the cache where possible).
    pub features_ms: u64,
    /// The epochs.
    pub train_ms: u64,
    /// Calibration, quantization and export.
    pub quantize_ms: u64,
    /// Storing the model's files.
    pub save_ms: u64,
}

impl TrainingTime {
    /// Each stage with its name for people, in order.
    pub fn stages(&self) -> [(&'static str, u64); 5] {
        [
            ("decoding", self.decode_ms),
            ("features", self.features_ms),
            ("training", self.train_ms),
            ("quantization", self.quantize_ms),
            ("saving", self.save_ms),
        ]
    }
}

/// A model's metrics, stored with it. Older models lack some fields; they
/// read as their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelMetrics {
    /// The classes, in output order.
    pub labels: Vec<String>,
    /// Float model on the validation split (`None` without one).
    pub validation_accuracy: Option<f32>,
    /// The int8 model, as the board runs it, on the same images.
    pub int8_validation_accuracy: Option<f64>,
    /// Validation confusion matrix, `[actual][predicted]`.
    pub confusion_matrix: Vec<Vec<u32>>,
    pub history: Vec<Epoch>,
    pub training_samples: u64,
    pub validation_samples: u64,
    /// Multiply-accumulates of one int8 inference.
    pub macs: u64,
    /// The int8 model's tensor arena.
    pub arena_bytes: u64,
    /// The int8 model's blob.
    pub blob_bytes: u64,
    /// The backbone, for people (`MobileNetV1 0.25, ImageNet`).
    pub backbone: String,
    pub imagenet_pretrained: bool,
    /// Something the person should know (the int8 model lost accuracy).
    pub warning: Option<String>,
    pub timing_ms: TrainingTime,
}
