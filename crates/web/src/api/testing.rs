//! The Test step's API: classify the test set as a job, classify one image now.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_storage::models;

use super::ApiJson;
use super::models::model_id;
use crate::actions::classify::{Classification, classify};
use crate::actions::testing::start_test;
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestBody {
    /// `"int8"` (default) or `"float32"`.
    precision: Option<String>,
    /// Results whose top score is below this count as uncertain (default 0.6).
    threshold: Option<f64>,
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
