//! Tuning: the impulse search for one board. Trials train on the training
//! set and are scored on its validation split (never on the test set); the
//! output lists every trial, marks the ones no other trial beats on both
//! accuracy and latency, and names the best that fits the board.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::footprint::Footprint;
use crate::impulse::ImpulseConfig;

pub struct Tune;

impl JobSpec for Tune {
    const KIND: JobKind = JobKind::Tune;
    /// A search is long and restarts from nothing; one retry after a lost
    /// worker is enough.
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = TunePayload;
    type Output = TuneOutput;
}

/// Default time budget of a search.
pub const DEFAULT_BUDGET_SECONDS: u32 = 300;
/// Longest a search may be asked to run.
pub const MAX_BUDGET_SECONDS: u32 = 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunePayload {
    /// The board the impulse must fit (`tinystudio_deploy::BOARDS`).
    pub board: String,
    /// The search starts from this impulse version (its training settings
    /// are kept where the search does not vary them).
    pub impulse_version: i64,
    pub budget_seconds: u32,
    /// Trials slower than this on the board (estimated) are not chosen.
    pub latency_budget_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TuneOutput {
    pub board: String,
    pub trials: Vec<Trial>,
    /// Index in `trials` of the most accurate trial (int8, validation;
    /// averaged over other splits where the leaders were checked) that fits
    /// the board and the latency budget.
    pub best: Option<usize>,
    /// Index of the trial of the impulse the search started from.
    pub baseline: Option<usize>,
    pub elapsed_ms: u64,
    pub budget_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trial {
    pub impulse: ImpulseConfig,
    pub outcome: TrialOutcome,
    /// Validation accuracy of the float model (the epoch kept).
    pub float_accuracy: Option<f64>,
    /// Validation accuracy of the int8 model, as the board runs it.
    pub int8_accuracy: Option<f64>,
    /// The same impulse's int8 validation accuracy on other splits (other
    /// seeds), for the leading trials when the search had time left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<f64>,
    /// Estimated on the board, from the int8 model.
    pub footprint: Option<Footprint>,
    pub ms: u64,
    /// The worker that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// No other trial that fits is at least as accurate (by
    /// [`Trial::mean_accuracy`]) and at least as fast, and better in one of
    /// the two.
    pub pareto: bool,
}

impl Trial {
    /// A trial that ended without scores (skipped, stopped or failed).
    pub fn unscored(impulse: ImpulseConfig, outcome: TrialOutcome) -> Self {
        Trial {
            impulse,
            outcome,
            float_accuracy: None,
            int8_accuracy: None,
            checks: Vec::new(),
            footprint: None,
            ms: 0,
            worker: None,
            pareto: false,
        }
    }

    /// Int8 validation accuracy averaged over this trial's split and the
    /// other splits it was checked on.
    pub fn mean_accuracy(&self) -> Option<f64> {
        self.int8_accuracy
            .map(|a| (a + self.checks.iter().sum::<f64>()) / (1 + self.checks.len()) as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "camelCase")]
pub enum TrialOutcome {
    /// Trained and scored; fits the board and the latency budget.
    Scored,
    /// Trained and scored, but too big for the board or too slow.
    OutOfBudget(String),
    /// Stopped after some epochs: far below the best trial so far, or out of time.
    Stopped(String),
    /// Not trained: a smaller trial of the same kind already did not fit.
    Skipped(String),
    Failed(String),
}

impl TrialOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            TrialOutcome::Scored => "scored",
            TrialOutcome::OutOfBudget(_) => "out of budget",
            TrialOutcome::Stopped(_) => "stopped early",
            TrialOutcome::Skipped(_) => "skipped",
            TrialOutcome::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            TrialOutcome::Scored => None,
            TrialOutcome::OutOfBudget(r)
            | TrialOutcome::Stopped(r)
            | TrialOutcome::Skipped(r)
            | TrialOutcome::Failed(r) => Some(r),
        }
    }
}
