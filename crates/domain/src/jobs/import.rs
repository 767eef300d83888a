//! Bringing your own model: a `.tflite` file checked against the engine
//! when it is uploaded, then converted, stored as one of the project's
//! models and profiled on the emulated board by a job.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::ModelId;
use crate::impulse::ImpulseConfig;

pub struct Import;

impl JobSpec for Import {
    const KIND: JobKind = JobKind::Import;
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = ImportPayload;
    type Output = ImportOutput;
}

/// The uploaded file is the job's artifact `upload.tflite`
/// ([`crate::artifacts::IMPORT_UPLOAD`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportPayload {
    /// The name it was uploaded under, for people.
    pub file_name: String,
    /// The classes, in output order.
    pub labels: Vec<String>,
    /// How pictures become its input, as the person confirmed it: size and
    /// colour from the model's input tensor, resize mode chosen; `None` for
    /// a model that takes raw tensors.
    pub impulse: Option<ImpulseConfig>,
    /// The float range the model was trained on for pixels (`None`: raw).
    pub pixel_scaling: Option<PixelRange>,
}

/// The float values a model expects for pixels 0..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PixelRange {
    /// `p / 255`.
    ZeroToOne,
    /// `(p - 128) / 127.5`.
    MinusOneToOne,
}

/// What a model imported into a project is: kept on its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub file_name: String,
    /// Its input, as an impulse (the learning block is unused); `None` when
    /// it takes raw tensors: its input bytes are the int8 values.
    pub impulse: Option<ImpulseConfig>,
    /// The input tensor's shape.
    #[serde(default)]
    pub input_shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutput {
    pub model_id: ModelId,
    pub model_version: i64,
    pub profile: ModelProfile,
}

/// A model's size and cost, operator by operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelProfile {
    pub operators: Vec<OperatorProfile>,
    pub macs: u64,
    /// Of `macs`: those the Cortex-M4's fast kernels compute (the rest run
    /// the portable kernels, several times slower).
    pub fast_path_macs: u64,
    /// Weights and biases.
    pub parameters: u64,
    pub arena_bytes: u64,
    pub blob_bytes: u64,
    /// Instructions of one inference on the emulated Cortex-M4 (`None` when
    /// it could not be measured here; `profile_note` says why).
    pub instructions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorProfile {
    pub index: usize,
    pub name: String,
    pub macs: u64,
    pub fast_path_macs: u64,
    /// Measured on the emulated Cortex-M4, with the kernel that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}
