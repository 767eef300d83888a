//! One trial of an impulse search, as a job of its own so that every idle
//! worker can take one: the search (a [`Tune`](super::Tune) job) queues its
//! next trials as children and runs them itself too, collecting each
//! trial's [`Trial`] as it ends.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec, Trial};
use crate::JobId;
use crate::impulse::ImpulseConfig;

pub struct TuneTrial;

impl JobSpec for TuneTrial {
    const KIND: JobKind = JobKind::Trial;
    /// A lost worker's trial is run again once; the search waits for it.
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = TrialPayload;
    type Output = Trial;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrialPayload {
    /// The search that queued this trial.
    pub search: JobId,
    /// The impulse to train and score.
    pub impulse: ImpulseConfig,
    /// The board its int8 model must fit (`tinystudio_deploy::BOARDS`).
    pub board: String,
    pub latency_budget_ms: Option<f64>,
    /// The search's best validation accuracy so far: a trial far below it
    /// after half its epochs is stopped.
    pub best_so_far: Option<f64>,
    /// The search's deadline (Unix milliseconds): the trial stops there.
    pub deadline_ms: i64,
    /// The training set the search started on
    /// (`tinystudio_worker::dataset::TrainingSet::fingerprint`): a worker
    /// that finds another set (samples added or relabelled since) fails the
    /// trial instead of scoring it on other data.
    pub training_set: String,
}
