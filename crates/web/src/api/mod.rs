//! The JSON API. Every route that touches a project takes [`ProjectAccess`]
//! (key or local user), the ingestion routes take [`KeyProject`]; JSON
//! fields are camelCase. Documented in API.md.

mod board;
mod capture;
mod deploy;
mod edge_impulse;
mod impulse;
mod ingestion;
mod jobs;
mod models;
mod projects;
mod samples;
mod testing;
mod tuning;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::routing::{get, post};

pub use crate::actions::parse_id;
use crate::{AppError, AppState};

pub fn router(state: &AppState) -> Router<AppState> {
    let uploads = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    // `ingest::read_upload` enforces the body limit itself (see there).
    let multipart_uploads = axum::extract::DefaultBodyLimit::disable();
    Router::new()
        .route("/api/projects", post(projects::create).get(projects::list))
        .route(
            "/api/projects/{project_id}",
            get(projects::get)
                .patch(projects::rename)
                .delete(projects::delete),
        )
        .route(
            "/api/projects/{project_id}/keys",
            post(projects::create_key).get(projects::list_keys),
        )
        .route(
            "/api/projects/{project_id}/keys/{key_id}",
            axum::routing::delete(projects::revoke_key),
        )
        .route(
            "/api/projects/{project_id}/capture-links",
            post(capture::create).get(capture::list),
        )
        .route(
            "/api/projects/{project_id}/capture-links/{link_id}",
            axum::routing::delete(capture::revoke),
        )
        .route(
            "/api/projects/{project_id}/samples",
            get(samples::list)
                .post(samples::upload)
                .layer(multipart_uploads),
        )
        .route(
            "/api/projects/{project_id}/samples/counts",
            get(samples::counts),
        )
        .route(
            "/api/projects/{project_id}/samples/bulk",
            post(samples::bulk),
        )
        .route(
            "/api/projects/{project_id}/samples/{sample_id}",
            get(samples::get)
                .patch(samples::update)
                .delete(samples::delete),
        )
        .route(
            "/api/projects/{project_id}/samples/{sample_id}/image",
            get(samples::image),
        )
        .route(
            "/api/projects/{project_id}/samples/{sample_id}/thumbnail",
            get(samples::thumbnail),
        )
        .route(
            "/api/projects/{project_id}/rebalance",
            post(samples::rebalance),
        )
        .route(
            "/api/projects/{project_id}/impulse",
            get(impulse::get).put(impulse::put),
        )
        .route(
            "/api/projects/{project_id}/impulse/estimate",
            post(impulse::estimate_for),
        )
        .route("/api/projects/{project_id}/train", post(impulse::train))
        .route("/api/projects/{project_id}/tune", post(tuning::start))
        .route(
            "/api/projects/{project_id}/tune/{job_id}/apply",
            post(tuning::apply),
        )
        .route("/api/projects/{project_id}/jobs", get(jobs::list))
        .route("/api/projects/{project_id}/jobs/{job_id}", get(jobs::get))
        .route(
            "/api/projects/{project_id}/jobs/{job_id}/events",
            get(jobs::events),
        )
        .route(
            "/api/projects/{project_id}/jobs/{job_id}/cancel",
            post(jobs::cancel),
        )
        .route("/api/projects/{project_id}/models", get(models::list))
        .route(
            "/api/projects/{project_id}/models/{model_id}",
            get(models::get),
        )
        .route(
            "/api/projects/{project_id}/models/{model_id}/test",
            post(testing::test),
        )
        .route(
            "/api/projects/{project_id}/models/{model_id}/deploy",
            post(deploy::deploy),
        )
        .route(
            "/api/projects/{project_id}/models/{model_id}/footprint",
            get(deploy::footprint),
        )
        .route("/api/projects/{project_id}/deployments", get(deploy::list))
        .route(
            "/api/projects/{project_id}/deployments/{deployment_id}/artifacts/{name}",
            get(deploy::artifact),
        )
        .route(
            "/api/projects/{project_id}/deployments/{deployment_id}/run",
            post(deploy::run).layer(uploads),
        )
        .route(
            "/api/projects/{project_id}/deployments/{deployment_id}/flash",
            post(board::flash),
        )
        .route("/api/projects/{project_id}/board", get(board::status))
        .route("/api/projects/{project_id}/board/ports", get(board::ports))
        .route(
            "/api/projects/{project_id}/board/connect",
            post(board::connect),
        )
        .route(
            "/api/projects/{project_id}/board/disconnect",
            post(board::disconnect),
        )
        .route(
            "/api/projects/{project_id}/board/events",
            get(board::events),
        )
        .route(
            "/api/projects/{project_id}/board/classify",
            post(board::classify).layer(uploads),
        )
        .route("/api/boards", get(deploy::boards))
        .route(
            "/api/projects/{project_id}/models/{model_id}/classify",
            post(testing::classify_image).layer(uploads),
        )
        .route(
            "/api/{category}/files",
            post(ingestion::files).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .merge(edge_impulse::router())
}

/// `Json` whose rejections are API errors in our format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default> ApiJson<T> {
    /// Parses an optional body read as bytes: an empty (or blank) body is
    /// `T::default()`.
    pub fn optional(bytes: &[u8]) -> Result<T, AppError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(bytes)
            .map_err(|e| AppError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        AppError::BadRequest(format!("invalid JSON body: {}", r.body_text()))
    }
}

/// `Query` whose rejections are API errors in our format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::BadRequest(format!("invalid query string: {}", r.body_text()))
    }
}
