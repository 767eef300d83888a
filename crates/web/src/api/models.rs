//! Trained models, versioned per project.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tinystudio_domain::ModelId;
use tinystudio_storage::models;

use super::parse_id;
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
    Ok(Json(json!(
        models::get(&state.db, access.project.id, model_id(&id)?).await?
    )))
}
