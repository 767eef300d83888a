//! "Find the best impulse": starting the search for a board, and making one
//! of its trials the project's impulse (saved as a new version and trained
//! again, which the feature cache makes quick).

use serde::Deserialize;
use tinystudio_domain::jobs::{
    DEFAULT_BUDGET_SECONDS, JobKind, JobStatus, MAX_BUDGET_SECONDS, Tune, TuneOutput, TunePayload,
};
use tinystudio_domain::{JobId, ProjectId};
use tinystudio_storage::impulses;
use tinystudio_storage::jobs::{self, Job};

use super::parse_id;
use super::training::{train_version, trainable_impulse};
use crate::{AppError, AppState};

/// Shortest search worth starting: a few trials of a small set.
pub const MIN_BUDGET_SECONDS: u32 = 10;
/// The board searched for when none is named.
pub const DEFAULT_BOARD: &str = "nano33ble";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TuneRequest {
    pub board: Option<String>,
    pub budget_seconds: Option<u32>,
    pub latency_budget_ms: Option<f64>,
}

/// Queues a search from the project's current impulse.
pub async fn start_tuning(
    state: &AppState,
    project: ProjectId,
    request: TuneRequest,
) -> Result<Job, AppError> {
    let board = request.board.unwrap_or_else(|| DEFAULT_BOARD.into());
    if tinystudio_deploy::board(&board).is_none() {
        let names: Vec<&str> = tinystudio_deploy::BOARDS.iter().map(|b| b.name).collect();
        return Err(AppError::BadRequest(format!(
            "unknown board {board:?}: use one of {}",
            names.join(", ")
        )));
    }
    let budget_seconds = request.budget_seconds.unwrap_or(DEFAULT_BUDGET_SECONDS);
    if !(MIN_BUDGET_SECONDS..=MAX_BUDGET_SECONDS).contains(&budget_seconds) {
        return Err(AppError::BadRequest(format!(
            "budgetSeconds must be {MIN_BUDGET_SECONDS} to {MAX_BUDGET_SECONDS}, not {budget_seconds}"
        )));
    }
    if let Some(ms) = request.latency_budget_ms
        && !(ms.is_finite() && ms > 0.0)
    {
        return Err(AppError::BadRequest(
            "latencyBudgetMs must be a positive number of milliseconds".into(),
        ));
    }
    let impulse_version = trainable_impulse(state, project).await?;
    let payload = TunePayload {
        board,
        impulse_version,
        budget_seconds,
        latency_budget_ms: request.latency_budget_ms,
    };
    Ok(jobs::enqueue::<Tune>(&state.db, project, &payload).await?)
}

/// A finished search of this project.
pub async fn search(
    state: &AppState,
    project: ProjectId,
    raw: &str,
) -> Result<(Job, TuneOutput), AppError> {
    let id: JobId = parse_id(raw, "search")?;
    let not_found = || AppError::NotFound("no such search".into());
    let job = jobs::get(&state.db, project, id)
        .await
        .map_err(|_| not_found())?;
    if job.kind != JobKind::Tune {
        return Err(not_found());
    }
    match job.output::<Tune>()? {
        Some(output) if job.status == JobStatus::Succeeded => Ok((job, output)),
        _ => Err(AppError::Conflict(format!("the search is {}", job.status))),
    }
}

/// Saves trial `trial` (counted from 1, as the table shows them) of a
/// search as the project's impulse and queues its training; answers the
/// new impulse version and the training job.
pub async fn apply_trial(
    state: &AppState,
    project: ProjectId,
    raw_job: &str,
    trial: usize,
) -> Result<(i64, Job), AppError> {
    let (_, output) = search(state, project, raw_job).await?;
    let chosen = trial
        .checked_sub(1)
        .and_then(|i| output.trials.get(i))
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no trial {trial}: the search has trials 1 to {}",
                output.trials.len()
            ))
        })?;
    if chosen.int8_accuracy.is_none() {
        return Err(AppError::BadRequest(format!(
            "trial {trial} was not trained to the end ({}); choose a scored trial",
            chosen.outcome.label()
        )));
    }
    let saved = impulses::save(&state.db, project, &chosen.impulse).await?;
    let job = train_version(state, project, saved.version).await?;
    Ok((saved.version, job))
}
