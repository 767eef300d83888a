//! The part of Edge Impulse's studio API (`/v1/api/...`) that Edge Impulse's
//! own clients call before they upload, so `edge-impulse-uploader --api-key`
//! works against the studio unchanged. The uploads themselves go to the
//! ingestion routes (`api/ingestion.rs`), which already speak Edge Impulse's
//! protocol.
//!
//! What the uploader (edge-impulse-cli 1.3x) does, read from its source:
//! 1. `GET /v1/api/projects` with `x-api-key`: checks the key and lists its
//!    projects. It parses a body as JSON only when the content type says
//!    `application/json`; any status but 2xx, or `"success": false`, becomes
//!    an error whose message is the body's `error` (it prints
//!    "Failed to authenticate with Edge Impulse: <error>" and exits).
//! 2. `GET /v1/api/{projectId}`: reads `project.name`, `project.owner` and
//!    `project.whitelabelId` (a number would send it to a white-label lookup,
//!    so it is `null`).
//! 3. `POST /api/{category}/files` on the ingestion host, once per file.
//!
//! This module is a view over the studio's own storage, decided by
//! [`crate::auth`] like every other route: the same keys, the same 401, 403
//! and 404 answers. Anything else under `/v1` answers 404 with a message
//! that says what is supported.

use axum::Json;
use axum::http::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tinystudio_storage::projects::Project;

use crate::AppError;
use crate::auth::{Access, KeyProject};
use crate::routes::Table;

/// An ingestion key is enough: these are the calls the uploader makes.
pub fn routes(t: &mut Table<'_>) {
    t.add(
        Method::GET,
        "/v1/api/projects",
        Access::Ingestion,
        list_projects,
    );
    t.add(
        Method::GET,
        "/v1/api/{project_id}",
        Access::Ingestion,
        project_info,
    );
    t.any("/v1/{*rest}", Access::Public, unsupported);
    t.any("/v1", Access::Public, unsupported);
}

/// `GET /v1/api/projects`: the key's own project, the only one it opens.
async fn list_projects(KeyProject(project): KeyProject) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({
        "success": true,
        "projects": [project_json(&project)?],
    })))
}

/// `GET /v1/api/{projectId}`: the project, in Edge Impulse's `ProjectInfoResponse` shape.
async fn project_info(KeyProject(project): KeyProject) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({
        "success": true,
        "project": project_json(&project)?,
        // Keys are stored hashed, so there is no development key to hand out;
        // the uploader is used with `--api-key`.
        "developmentKeys": {},
    })))
}

async fn unsupported() -> AppError {
    AppError::NotFound(
        "TinyStudio answers only the Edge Impulse studio API calls that edge-impulse-uploader \
         makes with --api-key (GET /v1/api/projects, GET /v1/api/{projectId}); \
         pass --api-key ei_... from the project's settings page"
            .into(),
    )
}

/// Edge Impulse's `Project` object. Its `id` is the studio's own project id
/// (a string; the clients only pass it back in paths). The fields besides
/// id, name and creation time carry the values a self-hosted studio has.
fn project_json(project: &Project) -> Result<Value, AppError> {
    let created =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(project.created_at) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .ok_or_else(|| {
                AppError::Internal(format!(
                    "project {} has an unrepresentable creation time {}",
                    project.id, project.created_at
                ))
            })?;
    Ok(json!({
        "id": project.id,
        "name": project.name,
        "description": "",
        "created": created,
        "owner": "TinyStudio",
        "ownerIsDeveloperProfile": false,
        "collaborators": [],
        "labelingMethod": "single_label",
        "metadata": {},
        "isEnterpriseProject": false,
        "whitelabelId": null,
        "category": "Images",
        "tier": "free",
        "hasPublicVersion": false,
        "isPublic": false,
        "allowsLivePublicAccess": false,
        "indPauseProcessingSamples": false,
        "publicProjectListed": false,
    }))
}
