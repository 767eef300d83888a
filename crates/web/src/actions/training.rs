//! The impulse and starting a training job.

use tinystudio_domain::jobs::{Train, TrainPayload};
use tinystudio_domain::{ImpulseConfig, ProjectId};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::{impulses, samples};

use crate::{AppError, AppState};

/// The project's impulse (the defaults until one is saved) and its version (0 = never saved).
pub async fn current_impulse(
    state: &AppState,
    project: ProjectId,
) -> Result<(i64, ImpulseConfig), AppError> {
    Ok(match impulses::latest(&state.db, project).await? {
        Some(stored) => (stored.version, stored.config),
        None => (0, ImpulseConfig::default()),
    })
}

/// The current impulse's version, once valid; the default impulse is saved
/// as version 1 the first time a job needs it.
pub async fn saved_impulse(state: &AppState, project: ProjectId) -> Result<i64, AppError> {
    let (version, config) = current_impulse(state, project).await?;
    config.validate()?;
    Ok(if version == 0 {
        impulses::save(&state.db, project, &config).await?.version
    } else {
        version
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

/// The version of the impulse a job starts from (saving the defaults as
/// the first version if none was saved), after checking that the dataset
/// can train, with what to fix.
pub async fn trainable_impulse(state: &AppState, project: ProjectId) -> Result<i64, AppError> {
    let version = saved_impulse(state, project).await?;
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
    Ok(version)
}

/// Queues training with the current impulse.
pub async fn start_training(state: &AppState, project: ProjectId) -> Result<Job, AppError> {
    let impulse_version = trainable_impulse(state, project).await?;
    train_version(state, project, impulse_version).await
}

/// Queues training with one saved impulse version.
pub async fn train_version(
    state: &AppState,
    project: ProjectId,
    impulse_version: i64,
) -> Result<Job, AppError> {
    let payload = TrainPayload { impulse_version };
    Ok(jobs::enqueue::<Train>(&state.db, project, &payload).await?)
}
