//! Capture links over the API: make one (its token and URL are in the reply
//! only), list the live ones, revoke one. Documented in API.md.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tinystudio_domain::CaptureLinkId;
use tinystudio_storage::capture_links;

use super::{ApiJson, parse_id};
use crate::actions::capture::{IssuedLink, NewLink, create_link};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub async fn create(
    State(state): State<AppState>,
    access: ProjectAccess,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<IssuedLink>), AppError> {
    // The body is optional: an empty one takes the default lifetime.
    let request: NewLink = ApiJson::optional(&body)?;
    let issued = create_link(&state, access.project.id, &headers, &request).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let links = capture_links::list_active(&state.db, access.project.id).await?;
    Ok(Json(json!({ "links": links })))
}

pub async fn revoke(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, link_id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let id: CaptureLinkId = parse_id(&link_id, "capture link")?;
    capture_links::revoke(&state.db, access.project.id, id).await?;
    Ok(Json(json!({ "success": true })))
}
