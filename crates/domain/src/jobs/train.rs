//! Training: the project's impulse (one saved version of it) and training
//! set make a model.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::ModelId;
use crate::model::ModelMetrics;

pub struct Train;

impl JobSpec for Train {
    const KIND: JobKind = JobKind::Train;
    const MAX_ATTEMPTS: i64 = 3;
    type Payload = TrainPayload;
    type Output = TrainOutput;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainPayload {
    /// The impulse version trained; the model records it.
    pub impulse_version: i64,
}

/// The model made, and its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainOutput {
    pub model_id: ModelId,
    pub model_version: i64,
    #[serde(flatten)]
    pub metrics: ModelMetrics,
}
