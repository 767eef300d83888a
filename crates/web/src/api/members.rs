//! `/api/projects/{id}/members`: sharing a project from a script.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_storage::members;

use super::ApiJson;
use crate::actions::members as act;
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "members": members::list(&state.db, access.project.id).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    name: String,
    role: String,
}

pub async fn add(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<Json<Value>, AppError> {
    act::add(
        &state,
        &access.principal,
        access.project.id,
        &body.name,
        &body.role,
    )
    .await?;
    list(State(state), access).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<Value>, AppError> {
    act::set_role(&state, access.project.id, act::user_id(&user)?, &body.role).await?;
    list(State(state), access).await
}

pub async fn remove(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, user)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    members::remove(&state.db, access.project.id, act::user_id(&user)?).await?;
    list(State(state), access).await
}
