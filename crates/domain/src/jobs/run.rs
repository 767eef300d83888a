//! A firmware build for the emulated board classifies one image under QEMU,
//! and the host engine checks its answer.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::JobId;

pub struct Run;

impl JobSpec for Run {
    const KIND: JobKind = JobKind::Run;
    /// The person is waiting for the answer: a failure is reported, not retried.
    const MAX_ATTEMPTS: i64 = 1;
    type Payload = RunPayload;
    type Output = RunOutput;
}

/// The preprocessed image itself is stored under the run's id
/// ([`RUN_INPUT`](crate::artifacts::RUN_INPUT)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunPayload {
    /// The firmware build (a deploy job for the emulated board).
    pub deployment_id: JobId,
    /// What the image is, for people: a test sample's or an upload's file name.
    #[serde(default)]
    pub input_name: Option<String>,
    /// The test sample's label, when the image is one.
    #[serde(default)]
    pub true_label: Option<String>,
}

/// What the board printed, parsed, beside the host engine's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    pub deployment_id: JobId,
    pub input_name: Option<String>,
    pub true_label: Option<String>,
    /// The board's serial output, line by line.
    pub lines: Vec<String>,
    pub scores: Vec<LabelScore>,
    pub predicted: Option<String>,
    /// The board's int8 output tensor.
    pub raw: Vec<i8>,
    /// The host engine's on the same input.
    pub host_raw: Vec<i8>,
    pub matches_host: bool,
    /// Instructions of the inference on the emulated Cortex-M4.
    pub instructions: Option<u64>,
    /// The board's own timing of the inference, at its clock.
    pub classification_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}
