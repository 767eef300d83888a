//! The data explorer over the API: map the samples (a job), and read the
//! latest map.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::jobs::job_json;
use crate::actions::exploring::{latest, start_exploring};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub async fn start(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let job = start_exploring(&state, access.project.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "jobId": job.id, "status": job.status })),
    ))
}

/// The latest mapping job, its `result` the map once it has succeeded.
pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    match latest(&state, access.project.id).await? {
        Some((job, _)) => Ok(Json(job_json(&job))),
        None => Err(AppError::NotFound(
            "the samples have not been mapped yet: POST to this address".into(),
        )),
    }
}
