use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{KeyId, KeyScope, parse_project_name};
use tinystudio_storage::{keys, members, projects};

use super::{ApiJson, parse_id};
use crate::auth::{Person, Principal, ProjectAccess};
use crate::{AppError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

/// Creates a project and its first API key. A signed-in person becomes its
/// owner; on a local studio a script may also start one without
/// credentials (a new project reveals nothing about others). A request
/// carrying an API key is refused by the route table, so a key of one
/// project cannot be mistaken for access to the instance.
pub async fn create(
    State(state): State<AppState>,
    Person(by): Person,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let name = parse_project_name(&body.name)?;
    let owner = match &by {
        Principal::User(s) => Some(s.user.id),
        _ => None,
    };
    let project = projects::create_owned(&state.db, &name, owner).await?;
    let (_, secret) =
        keys::create_with(&state.db, project.id, "default", KeyScope::Full, owner).await?;
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

/// The projects the caller may open: all of them for the local user, a
/// person's own and shared ones otherwise.
pub async fn list(State(state): State<AppState>, person: Person) -> Result<Json<Value>, AppError> {
    let projects = match person.user() {
        Some(me) => members::projects_of(&state.db, me.user.id)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
        None => projects::list(&state.db).await?,
    };
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
    /// `full` (the default) or `ingestion`.
    scope: Option<String>,
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
    let scope: KeyScope = body.scope.as_deref().unwrap_or("full").parse()?;
    let (key, secret) = keys::create_with(
        &state.db,
        access.project.id,
        &name,
        scope,
        crate::auth::key_maker(&access.principal),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "apiKey": secret, "id": key.id, "name": key.name, "prefix": key.prefix, "scope": key.scope,
        })),
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
