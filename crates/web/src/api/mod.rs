//! The JSON API. Who may use each route is declared in [`routes`] and
//! decided by `crate::auth`; handlers read the decision through
//! `ProjectAccess` or `KeyProject`. JSON fields are camelCase. Documented
//! in API.md.

mod board;
mod capture;
mod deploy;
mod edge_impulse;
mod exploring;
mod impulse;
mod ingestion;
mod jobs;
mod members;
mod models;
mod projects;
mod samples;
mod testing;
mod tuning;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts};
use axum::http::Method;
use tinystudio_domain::Role;

use crate::AppError;
pub use crate::actions::parse_id;
use crate::auth::Access;
use crate::routes::Table;

/// The API's routes and who may use each (see `crate::routes`).
pub fn routes(t: &mut Table<'_>) {
    use Access::{Board, Ingestion, NewProject, Person, Project, Public};
    use Method as M;
    use Role::{Editor, Owner, Viewer};
    let uploads = || Some(DefaultBodyLimit::max(t.config.max_body_bytes));
    // `ingest::read_upload` enforces the body limit itself (see there).
    let multipart = || Some(DefaultBodyLimit::disable());
    let (uploads, multipart) = (uploads(), multipart());
    t.add(M::POST, "/api/projects", NewProject, projects::create);
    t.add(M::GET, "/api/projects", Person, projects::list);
    t.add(
        M::GET,
        "/api/projects/{project_id}",
        Project(Viewer),
        projects::get,
    );
    t.add(
        M::PATCH,
        "/api/projects/{project_id}",
        Project(Editor),
        projects::rename,
    );
    t.add(
        M::DELETE,
        "/api/projects/{project_id}",
        Project(Owner),
        projects::delete,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/keys",
        Project(Owner),
        projects::create_key,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/keys",
        Project(Owner),
        projects::list_keys,
    );
    t.add(
        M::DELETE,
        "/api/projects/{project_id}/keys/{key_id}",
        Project(Owner),
        projects::revoke_key,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/members",
        Project(Viewer),
        members::list,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/members",
        Project(Owner),
        members::add,
    );
    t.add(
        M::PATCH,
        "/api/projects/{project_id}/members/{user_id}",
        Project(Owner),
        members::set_role,
    );
    t.add(
        M::DELETE,
        "/api/projects/{project_id}/members/{user_id}",
        Project(Owner),
        members::remove,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/capture-links",
        Project(Editor),
        capture::create,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/capture-links",
        Project(Editor),
        capture::list,
    );
    t.add(
        M::DELETE,
        "/api/projects/{project_id}/capture-links/{link_id}",
        Project(Editor),
        capture::revoke,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/samples",
        Project(Viewer),
        samples::list,
    );
    t.add_limited(
        M::POST,
        "/api/projects/{project_id}/samples",
        Project(Editor),
        samples::upload,
        multipart,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/samples/counts",
        Project(Viewer),
        samples::counts,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/samples/bulk",
        Project(Editor),
        samples::bulk,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/samples/{sample_id}",
        Project(Viewer),
        samples::get,
    );
    t.add(
        M::PATCH,
        "/api/projects/{project_id}/samples/{sample_id}",
        Project(Editor),
        samples::update,
    );
    t.add(
        M::DELETE,
        "/api/projects/{project_id}/samples/{sample_id}",
        Project(Editor),
        samples::delete,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/samples/{sample_id}/image",
        Project(Viewer),
        samples::image,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/samples/{sample_id}/thumbnail",
        Project(Viewer),
        samples::thumbnail,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/rebalance",
        Project(Editor),
        samples::rebalance,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/impulse",
        Project(Viewer),
        impulse::get,
    );
    t.add(
        M::PUT,
        "/api/projects/{project_id}/impulse",
        Project(Editor),
        impulse::put,
    );
    // Computes an estimate and changes nothing.
    t.add(
        M::POST,
        "/api/projects/{project_id}/impulse/estimate",
        Project(Viewer),
        impulse::estimate_for,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/train",
        Project(Editor),
        impulse::train,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/explore",
        Project(Editor),
        exploring::start,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/explore",
        Project(Viewer),
        exploring::get,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/tune",
        Project(Editor),
        tuning::start,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/tune/{job_id}/apply",
        Project(Editor),
        tuning::apply,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/jobs",
        Project(Viewer),
        jobs::list,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/jobs/{job_id}",
        Project(Viewer),
        jobs::get,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/jobs/{job_id}/events",
        Project(Viewer),
        jobs::events,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/jobs/{job_id}/cancel",
        Project(Editor),
        jobs::cancel,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/models",
        Project(Viewer),
        models::list,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/models/{model_id}",
        Project(Viewer),
        models::get,
    );
    // A `.tflite` file as the body, checked at once, imported by a job.
    t.add_limited(
        M::POST,
        "/api/projects/{project_id}/models/import",
        Project(Editor),
        models::import,
        uploads,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/models/{model_id}/test",
        Project(Editor),
        testing::test,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/models/{model_id}/deploy",
        Project(Editor),
        deploy::deploy,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/models/{model_id}/files/{name}",
        Project(Viewer),
        models::file,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/models/{model_id}/library",
        Project(Editor),
        deploy::start_library_build,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/libraries",
        Project(Viewer),
        deploy::libraries,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/libraries/{library_id}/download",
        Project(Viewer),
        deploy::library_download,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/models/{model_id}/footprint",
        Project(Viewer),
        deploy::footprint,
    );
    // Classifies one picture and keeps nothing.
    t.add_limited(
        M::POST,
        "/api/projects/{project_id}/models/{model_id}/classify",
        Project(Viewer),
        testing::classify_image,
        uploads,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/deployments",
        Project(Viewer),
        deploy::list,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/deployments/{deployment_id}/artifacts/{name}",
        Project(Viewer),
        deploy::artifact,
    );
    t.add_limited(
        M::POST,
        "/api/projects/{project_id}/deployments/{deployment_id}/run",
        Project(Editor),
        deploy::run,
        uploads,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/deployments/{deployment_id}/flash",
        Board(Editor),
        board::flash,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/board",
        Board(Viewer),
        board::status,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/board/ports",
        Board(Viewer),
        board::ports,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/board/connect",
        Board(Editor),
        board::connect,
    );
    t.add(
        M::POST,
        "/api/projects/{project_id}/board/disconnect",
        Board(Editor),
        board::disconnect,
    );
    t.add(
        M::GET,
        "/api/projects/{project_id}/board/events",
        Board(Viewer),
        board::events,
    );
    t.add_limited(
        M::POST,
        "/api/projects/{project_id}/board/classify",
        Board(Editor),
        board::classify,
        uploads,
    );
    // The boards the studio can build for: product facts, no one's data.
    t.add(M::GET, "/api/boards", Public, deploy::boards);
    t.add_limited(
        M::POST,
        "/api/{category}/files",
        Ingestion,
        ingestion::files,
        Some(DefaultBodyLimit::disable()),
    );
    edge_impulse::routes(t);
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
