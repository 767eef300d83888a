//! Trained models, versioned per project.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tinystudio_domain::ModelId;
use tinystudio_storage::models;

use super::parse_id;
use crate::actions::deploy::{MODEL_DOWNLOADS, model_file};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub fn model_id(raw: &str) -> Result<ModelId, AppError> {
    parse_id(raw, "model")
}

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "models": models::list(&state.db, access.project.id).await? }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let model = models::get(&state.db, access.project.id, model_id(&id)?).await?;
    let mut body = json!(model);
    // Where its files are: every model downloads as .tflite and .tsmb.
    body["downloads"] = MODEL_DOWNLOADS
        .iter()
        .map(|name| {
            (
                name.to_string(),
                json!(format!(
                    "/api/projects/{}/models/{}/files/{name}",
                    access.project.id, model.id
                )),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    Ok(Json(body))
}

/// `GET .../models/{modelId}/files/{name}`: the model as `model.tflite`
/// (TensorFlow Lite, int8) or `model.tsmb` (the engine's blob).
pub async fn file(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id, name)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let (model, bytes) = model_file(&state, access.project.id, model_id(&id)?, &name).await?;
    let download = format!(
        "attachment; filename=\"tinystudio-{}-v{}-{name}\"",
        access.project.id, model.version
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, download),
        ],
        bytes,
    )
        .into_response())
}
