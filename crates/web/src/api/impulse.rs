//! The Impulse step's API: the impulse itself (versioned), its cost
//! estimate, and starting a training job.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderName;
use serde_json::{Value, json};
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::estimate::{Estimate, estimate};
use tinystudio_storage::impulses;

use super::ApiJson;
use crate::actions::training::{current_impulse, start_training, training_labels};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-impulse-version");

pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<([(HeaderName, String); 1], Json<ImpulseConfig>), AppError> {
    let (version, config) = current_impulse(&state, access.project.id).await?;
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

pub async fn train(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let job = start_training(&state, access.project.id).await?;
    Ok(Json(json!({ "jobId": job.id })))
}
