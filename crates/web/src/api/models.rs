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

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportQuery {
    file_name: Option<String>,
    /// Comma-separated, one per output.
    labels: Option<String>,
    /// `image` (the default) or `raw`.
    input: Option<String>,
    resize_mode: Option<String>,
    pixel_range: Option<String>,
}

/// `POST .../models/import`: the `.tflite` file as the body. 202 with the
/// import job and what the studio read from the file; 422 with every
/// operator the engine cannot run (nothing is stored).
pub async fn import(
    State(state): State<AppState>,
    access: ProjectAccess,
    super::ApiQuery(q): super::ApiQuery<ImportQuery>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, AppError> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use crate::actions::importing::{
        ImportRefused, ImportRequest, parse_input, parse_labels, start_import,
    };
    let req = ImportRequest {
        file_name: q.file_name.unwrap_or_default(),
        file: body.to_vec(),
        labels: q.labels.as_deref().map(parse_labels).unwrap_or_default(),
        input: parse_input(
            q.input.as_deref(),
            q.resize_mode.as_deref(),
            q.pixel_range.as_deref(),
        )?,
    };
    match start_import(&state, access.project.id, req).await {
        Ok((job, inspected)) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "success": true,
                "jobId": job.id,
                "labels": inspected.labels,
                "impulse": inspected.impulse,
                "pixelRange": inspected.pixel_range,
                "inputShape": inspected.input_shape,
                "profile": inspected.profile,
            })),
        )
            .into_response()),
        Err(ImportRefused::Model(e)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "success": false, "error": e.summary, "problems": e.problems })),
        )
            .into_response()),
        Err(ImportRefused::Studio(e)) => Err(e),
    }
}
