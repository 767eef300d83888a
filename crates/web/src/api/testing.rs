//! The Test step's API: classify the test set as a job, classify one image now.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{JobKind, ProjectId};
use tinystudio_storage::{jobs, models};

use super::ApiJson;
use super::models::model_id;
use crate::auth::ProjectAccess;
use crate::classify::{Classification, classify};
use crate::{AppError, AppState};

/// Edge Impulse's default minimum confidence.
pub const DEFAULT_THRESHOLD: f64 = 0.6;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestBody {
    /// `"int8"` (default) or `"float32"`.
    precision: Option<String>,
    /// Results whose top score is below this count as uncertain (default 0.6).
    threshold: Option<f64>,
}

pub async fn start_test(
    state: &AppState,
    project: ProjectId,
    model: tinystudio_domain::ModelId,
    precision: Option<&str>,
    threshold: Option<f64>,
) -> Result<jobs::Job, AppError> {
    let model = models::get(&state.db, project, model).await?;
    let precision = match precision.unwrap_or("int8") {
        p @ ("int8" | "float32") => p,
        other => {
            return Err(AppError::BadRequest(format!(
                "precision must be \"int8\" or \"float32\", not {other:?}"
            )));
        }
    };
    let threshold = threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(AppError::BadRequest(
            "threshold must be between 0 and 1".into(),
        ));
    }
    let payload = json!({ "modelId": model.id, "precision": precision, "threshold": threshold });
    Ok(jobs::enqueue(&state.db, project, JobKind::Test, &payload, 2).await?)
}

pub async fn test(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body: TestBody = ApiJson::optional(&body)?;
    let job = start_test(
        &state,
        access.project.id,
        model_id(&id)?,
        body.precision.as_deref(),
        body.threshold,
    )
    .await?;
    Ok(Json(json!({ "jobId": job.id })))
}

/// `POST .../models/{modelId}/classify` with the image as the body.
pub async fn classify_image(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Classification>, AppError> {
    let model = models::get(&state.db, access.project.id, model_id(&id)?).await?;
    if body.is_empty() {
        return Err(AppError::BadRequest(
            "send the image as the request body".into(),
        ));
    }
    Ok(Json(classify(&state, &model, body.to_vec()).await?))
}
