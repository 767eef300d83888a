//! The Impulse step's API: the impulse itself (versioned), its cost
//! estimate, and starting a training job.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderName;
use serde_json::{Value, json};
use tinystudio_domain::estimate::{Estimate, estimate};
use tinystudio_domain::{ImpulseConfig, JobKind, ProjectId};
use tinystudio_storage::{impulses, jobs, samples};

use super::ApiJson;
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-impulse-version");

/// How many times a training job is tried before it fails for good.
const TRAIN_ATTEMPTS: i64 = 3;

/// The project's impulse (the defaults until one is saved) and its version (0 = never saved).
pub async fn current(
    state: &AppState,
    project: ProjectId,
) -> Result<(i64, ImpulseConfig), AppError> {
    Ok(match impulses::latest(&state.db, project).await? {
        Some(stored) => (stored.version, stored.config),
        None => (0, ImpulseConfig::default()),
    })
}

/// Labels of the training set, sorted: the classes a model will have.
pub async fn training_labels(
    state: &AppState,
    project: ProjectId,
) -> Result<Vec<String>, AppError> {
    let counts = samples::counts(&state.db, project).await?;
    Ok(counts
        .labels
        .into_iter()
        .filter(|l| l.training > 0)
        .filter_map(|l| l.label)
        .collect())
}

pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<([(HeaderName, String); 1], Json<ImpulseConfig>), AppError> {
    let (version, config) = current(&state, access.project.id).await?;
    Ok(([(VERSION_HEADER, version.to_string())], Json(config)))
}

/// Saves the impulse: fields left out take their defaults.
pub async fn put(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(config): ApiJson<ImpulseConfig>,
) -> Result<([(HeaderName, String); 1], Json<ImpulseConfig>), AppError> {
    config.validate()?;
    let stored = impulses::save(&state.db, access.project.id, &config).await?;
    Ok((
        [(VERSION_HEADER, stored.version.to_string())],
        Json(stored.config),
    ))
}

/// The cost of an impulse that need not be saved (the page asks as the
/// person types).
pub async fn estimate_for(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(config): ApiJson<ImpulseConfig>,
) -> Result<Json<Estimate>, AppError> {
    config.validate()?;
    let classes = training_labels(&state, access.project.id).await?.len() as u32;
    Ok(Json(estimate(&config, classes)))
}

/// Queues training with the current impulse; refuses a dataset that cannot
/// train, with what to fix.
pub async fn start_training(
    state: &AppState,
    project: ProjectId,
) -> Result<tinystudio_storage::jobs::Job, AppError> {
    let (version, config) = current(state, project).await?;
    config.validate()?;
    let version = if version == 0 {
        impulses::save(&state.db, project, &config).await?.version
    } else {
        version
    };
    let labels = training_labels(state, project).await?;
    if labels.len() < 2 {
        return Err(AppError::BadRequest(format!(
            "training needs labelled training samples of at least 2 labels; this project has {}",
            labels.len()
        )));
    }
    let training = samples::counts(&state.db, project).await?;
    if training.training < 4 {
        return Err(AppError::BadRequest(
            "training needs at least 4 training samples".into(),
        ));
    }
    let payload = json!({ "impulseVersion": version });
    Ok(jobs::enqueue(&state.db, project, JobKind::Train, &payload, TRAIN_ATTEMPTS).await?)
}

pub async fn train(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let job = start_training(&state, access.project.id).await?;
    Ok(Json(json!({ "jobId": job.id })))
}
