//! What the studio does on request, shared by the JSON API (`api/`) and the
//! HTML pages (`pages/`): they parse their requests, call an action and
//! render its answer; they never call each other. Actions take the
//! already-authorised project (see `auth.rs`). Every long operation is a
//! job: the action queues it and answers with it at once, and the caller
//! follows it (`GET .../jobs/{id}`, its event stream, or the job page).
//!
//! - [`ingest`], [`samples`]: uploads and sample listing filters.
//! - [`capture`]: capture links (the phone's QR code) and capture uploads.
//! - [`classify`]: one image through the int8 model, now.
//! - [`exploring`], [`network`]: the data explorer's map; a sample's feature
//!   maps and the convolution playground.
//! - [`training`], [`testing`], [`deploy`]: starting training, test runs,
//!   firmware builds and runs on the emulated board.
//! - [`tuning`]: the impulse search for a board, and applying one of its trials.
//! - [`board`]: boards on this machine's serial ports: connecting,
//!   their live output, classifying on them beside the host engine,
//!   flashing them.
//! - [`jobs`]: finding a job of a project.
//! - [`projects`]: deleting a project with its files.

pub mod board;
pub mod capture;
pub mod classify;
pub mod deploy;
pub mod exploring;
pub mod importing;
pub mod ingest;
pub mod jobs;
pub mod members;
pub mod network;
pub mod projects;
pub mod samples;
pub mod testing;
pub mod training;
pub mod tuning;

use tinystudio_domain::artifacts::MODEL_BLOB;
use tinystudio_storage::models::{self, Model};

use crate::{AppError, AppState};

/// A model's int8 file, as the board runs it.
pub(crate) async fn model_blob(state: &AppState, model: &Model) -> Result<bytes::Bytes, AppError> {
    models::read_artifact(state.blobs.as_ref(), model, MODEL_BLOB)
        .await?
        .ok_or_else(|| AppError::Internal(format!("model {} has no int8 file", model.id)))
}

/// An id from a URL or a form; anything else is a 404 naming what it is not.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("no such {what}")))
}
