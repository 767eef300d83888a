//! The contract between the web server and the worker: one type per job
//! kind with its payload, its output and its retry policy ([`JobSpec`]), the
//! events a running job reports ([`Report`]), and the kinds and states as
//! stored in the queue.
//!
//! The web server enqueues a `J::Payload`, the worker decodes it, runs the
//! job and stores a `J::Output`; pages and the API read the output back as
//! that type. JSON is only the storage format.
//!
//! Failures: a job is a deterministic function of its payload and the
//! stored data it reads, so the worker retries only what can change on a
//! second try (the database or the blob store was unreachable, the worker
//! died); everything else fails the job at once (see the worker's
//! `runner.rs`). `MAX_ATTEMPTS` bounds the retries.

pub mod deploy;
pub mod explore;
pub mod import;
pub mod library;
pub mod run;
pub mod test;
pub mod train;
pub mod trial;
pub mod tune;

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::model::Epoch;

pub use deploy::{Deploy, DeployOutput, DeployPayload};
pub use explore::{Explore, ExploreOutput, ExplorePayload, MapPoint};
pub use import::{
    Import, ImportOutput, ImportPayload, Imported, ModelProfile, OperatorProfile, PixelRange,
};
pub use library::{Library, LibraryOutput, LibraryPayload};
pub use run::{Run, RunOutput, RunPayload};
pub use test::{Precision, Test, TestOutput, TestPayload};
pub use train::{Train, TrainOutput, TrainPayload};
pub use trial::{TrialPayload, TuneTrial};
pub use tune::{
    DEFAULT_BUDGET_SECONDS, MAX_BUDGET_SECONDS, Trial, TrialOutcome, Tune, TuneOutput, TunePayload,
};

/// A payload or output as the queue stores it. Through text rather than
/// `serde_json::to_value`, which widens an `f32` to `f64` (an impulse's
/// dropout of 0.1 would read back as 0.10000000149011612).
pub fn to_stored_json<T: Serialize>(value: &T) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// One kind of background job, declared the way crates.io declares its
/// background jobs: a kind name, serde types for what goes in and what
/// comes out, and how often it may run.
pub trait JobSpec: 'static {
    const KIND: JobKind;
    /// Runs before the job fails for good, the first included. Only
    /// transient failures use the extra runs.
    const MAX_ATTEMPTS: i64;
    type Payload: Serialize + DeserializeOwned + fmt::Debug + Send + Sync + 'static;
    type Output: Serialize + DeserializeOwned + fmt::Debug + Send + Sync + 'static;
}

/// What a running job reports besides its progress: rows of the job's
/// event log, streamed to the page as server-sent events named by the
/// variant (`log`, `epoch`) with the content as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
pub enum Report {
    /// A line of the job's log.
    Log(String),
    /// A training epoch ended.
    Epoch(Epoch),
}

impl Report {
    /// The event's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Log(_) => "log",
            Report::Epoch(_) => "epoch",
        }
    }

    /// The event's content.
    pub fn data(&self) -> serde_json::Value {
        match self {
            Report::Log(line) => serde_json::Value::String(line.clone()),
            Report::Epoch(epoch) => serde_json::to_value(epoch).unwrap_or_default(),
        }
    }

    /// An event from its name and content, as [`kind`](Self::kind) and
    /// [`data`](Self::data) gave them.
    pub fn from_parts(kind: &str, data: serde_json::Value) -> Result<Self, ValidationError> {
        let invalid = |e: serde_json::Error| ValidationError::new("event", format!("{kind}: {e}"));
        match kind {
            "log" => serde_json::from_value(data)
                .map(Report::Log)
                .map_err(invalid),
            "epoch" => serde_json::from_value(data)
                .map(Report::Epoch)
                .map_err(invalid),
            other => Err(ValidationError::new(
                "event",
                format!("unknown event kind {other:?}"),
            )),
        }
    }
}

/// What a job does. The string form is stored in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Train a model from the project's impulse and training set.
    Train,
    /// Run a model over the test set.
    Test,
    /// Build firmware for a board.
    Deploy,
    /// Run a firmware build on the emulated board.
    Run,
    /// Search the impulse for a board.
    Tune,
    /// One trial of a search, queued by the search.
    Trial,
    /// Map the samples by their backbone features.
    Explore,
    /// Convert and profile an uploaded `.tflite`.
    Import,
    /// Package a model as a library for people's own firmware.
    Library,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Train => "train",
            JobKind::Test => "test",
            JobKind::Deploy => "deploy",
            JobKind::Run => "run",
            JobKind::Tune => "tune",
            JobKind::Trial => "trial",
            JobKind::Explore => "explore",
            JobKind::Import => "import",
            JobKind::Library => "library",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(JobKind::Train),
            "test" => Ok(JobKind::Test),
            "deploy" => Ok(JobKind::Deploy),
            "run" => Ok(JobKind::Run),
            "tune" => Ok(JobKind::Tune),
            "trial" => Ok(JobKind::Trial),
            "explore" => Ok(JobKind::Explore),
            "import" => Ok(JobKind::Import),
            "library" => Ok(JobKind::Library),
            other => Err(ValidationError::new(
                "kind",
                format!("unknown job kind {other:?}"),
            )),
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// A finished job never changes again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(JobStatus::Queued),
            "running" => Ok(JobStatus::Running),
            "succeeded" => Ok(JobStatus::Succeeded),
            "failed" => Ok(JobStatus::Failed),
            "cancelled" => Ok(JobStatus::Cancelled),
            other => Err(ValidationError::new(
                "status",
                format!("unknown job status {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImpulseConfig;

    #[test]
    fn stored_json_keeps_an_f32_as_written() {
        let stored = to_stored_json(&ImpulseConfig::default()).unwrap();
        assert_eq!(stored["learning"]["dropout"], serde_json::json!(0.1));
        let back: ImpulseConfig = serde_json::from_value(stored).unwrap();
        assert_eq!(back, ImpulseConfig::default());
    }
}
