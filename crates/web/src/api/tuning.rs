//! "Find the best impulse" over the API: start a search (a job, followed
//! like any other: `GET .../jobs/{id}` holds its trials when it ends), and
//! make one of its trials the project's impulse.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::actions::tuning::{TuneRequest, apply_trial, start_tuning};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

/// The body is optional: every field has a default.
pub async fn start(
    State(state): State<AppState>,
    access: ProjectAccess,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let request: TuneRequest = ApiJson::optional(&body)?;
    let job = start_tuning(&state, access.project.id, request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "jobId": job.id, "status": job.status })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Counted from 1, as the trial table shows them.
    trial: usize,
}

pub async fn apply(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, job)): Path<(String, String)>,
    ApiJson(request): ApiJson<ApplyRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let (impulse_version, job) =
        apply_trial(&state, access.project.id, &job, request.trial).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "impulseVersion": impulse_version, "jobId": job.id })),
    ))
}
