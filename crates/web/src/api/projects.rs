use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{KeyId, parse_project_name};
use tinystudio_storage::{keys, projects};

use super::{ApiJson, parse_id};
use crate::auth::{LocalUser, Principal, ProjectAccess, resolve};
use crate::{AppError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

/// Creates a project and its first API key. Needs no credentials: a new
/// project reveals nothing about others, and a script needs some way to
/// start. A request carrying an API key is refused, so a key of one project
/// cannot be mistaken for access to the instance.
pub async fn create(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if let Some(Principal::Key(_)) = resolve(&headers, &state).await? {
        return Err(AppError::Forbidden(
            "a project API key cannot create projects; send the request without x-api-key".into(),
        ));
    }
    let name = parse_project_name(&body.name)?;
    let project = projects::create(&state.db, &name).await?;
    let (_, secret) = keys::create(&state.db, project.id, "default").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": project.id,
            "name": project.name,
            "createdAt": project.created_at,
            "apiKey": secret,
        })),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    _user: LocalUser,
) -> Result<Json<Value>, AppError> {
    let projects = projects::list(&state.db).await?;
    Ok(Json(json!({ "projects": projects })))
}

pub async fn get(access: ProjectAccess) -> Json<Value> {
    Json(json!(access.project))
}

pub async fn rename(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Json<Value>, AppError> {
    let name = parse_project_name(&body.name)?;
    projects::rename(&state.db, access.project.id, &name).await?;
    Ok(Json(json!(
        projects::get(&state.db, access.project.id).await?
    )))
}

pub async fn delete(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    crate::actions::projects::delete_project(&state, access.project.id).await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    name: Option<String>,
}

pub async fn create_key(
    State(state): State<AppState>,
    access: ProjectAccess,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // The body is optional: an empty one takes the default name.
    let body: KeyBody = ApiJson::optional(&body)?;
    let name = body.name.unwrap_or_else(|| "api".into());
    let name = parse_project_name(&name).map_err(|e| AppError::BadRequest(format!("key {e}")))?;
    let (key, secret) = keys::create(&state.db, access.project.id, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "apiKey": secret, "id": key.id, "name": key.name, "prefix": key.prefix })),
    ))
}

pub async fn list_keys(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "keys": keys::list(&state.db, access.project.id).await? }),
    ))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let key_id: KeyId = parse_id(&key_id, "API key")?;
    keys::revoke(&state.db, access.project.id, key_id).await?;
    Ok(Json(json!({ "success": true })))
}
