//! HTML pages. One askama struct per page, next to its handler; templates
//! live under `templates/` at the matching path. Forms post and redirect,
//! so every page works without JavaScript; `static/app.js` adds upload
//! progress, drag and drop and selection on top.

mod board;
mod capture;
mod dataset;
mod deploy;
mod impulse;
mod jobs;
mod projects;
mod settings;
mod test;
mod view;

use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use tinystudio_domain::{ModelId, ProjectId};
use tinystudio_storage::models::{self, Model};
use tinystudio_storage::projects as project_store;

use crate::auth::{LOCAL_COOKIE, has_local_cookie};
pub use crate::error::PageError;
use crate::{AppError, AppState};

pub fn router(state: &AppState) -> Router<AppState> {
    let uploads = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    Router::new()
        .route("/", get(projects::list))
        .route("/projects", post(projects::create))
        .route("/projects/{project_id}", get(projects::open))
        .route("/projects/{project_id}/dataset", get(dataset::page))
        .route(
            "/projects/{project_id}/dataset/upload",
            // `ingest::read_upload` enforces the body limit itself.
            post(dataset::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/projects/{project_id}/dataset/bulk", post(dataset::bulk))
        .route("/projects/{project_id}/capture", get(capture::page))
        .route(
            "/projects/{project_id}/capture/upload",
            // `ingest::read_upload` enforces the body limit itself.
            post(capture::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/projects/{project_id}/capture/links",
            post(capture::create_link),
        )
        .route(
            "/projects/{project_id}/capture/links/{link_id}/revoke",
            post(capture::revoke_link),
        )
        .route(
            "/projects/{project_id}/dataset/rebalance",
            post(dataset::rebalance),
        )
        .route(
            "/projects/{project_id}/samples/{sample_id}",
            get(dataset::sample_page).post(dataset::sample_edit),
        )
        .route(
            "/projects/{project_id}/impulse",
            get(impulse::page).post(impulse::save),
        )
        .route("/projects/{project_id}/tune", post(impulse::tune))
        .route(
            "/projects/{project_id}/tune/{job_id}/apply",
            post(impulse::apply),
        )
        .route("/projects/{project_id}/test", get(test::page))
        .route("/projects/{project_id}/test/run", post(test::run))
        .route(
            "/projects/{project_id}/test/classify",
            post(test::classify_upload).layer(uploads),
        )
        .route("/projects/{project_id}/deploy", get(deploy::page))
        .route("/projects/{project_id}/deploy/build", post(deploy::build))
        .route(
            "/projects/{project_id}/deploy/run",
            post(deploy::run).layer(uploads),
        )
        .route(
            "/projects/{project_id}/deploy/board/connect",
            post(board::connect),
        )
        .route(
            "/projects/{project_id}/deploy/board/disconnect",
            post(board::disconnect),
        )
        .route(
            "/projects/{project_id}/deploy/board/classify",
            post(board::classify).layer(uploads),
        )
        .route("/projects/{project_id}/deploy/flash", post(board::flash))
        .route("/docs/firmware", get(deploy::firmware_readme))
        .route("/projects/{project_id}/jobs/{job_id}", get(jobs::page))
        .route(
            "/projects/{project_id}/jobs/{job_id}/cancel",
            post(jobs::cancel),
        )
        .route("/projects/{project_id}/settings", get(settings::page))
        .route(
            "/projects/{project_id}/settings/rename",
            post(settings::rename),
        )
        .route(
            "/projects/{project_id}/settings/delete",
            post(settings::delete),
        )
        .route(
            "/projects/{project_id}/settings/keys",
            post(settings::create_key),
        )
        .route(
            "/projects/{project_id}/settings/keys/{key_id}/revoke",
            post(settings::revoke_key),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            set_local_cookie,
        ))
}

/// Gives the browser the local user's cookie on its first page view, except
/// on a page opened with a capture link (a phone's).
async fn set_local_cookie(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let has_cookie = has_local_cookie(request.headers(), &state.local_secret);
    let mut response = next.run(request).await;
    let phone = response
        .extensions()
        .get::<capture::NoLocalCookie>()
        .is_some();
    if !has_cookie && !phone {
        let cookie = format!(
            "{LOCAL_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000",
            state.local_secret
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Renders a page struct.
pub fn render(page: &impl Template) -> Result<Html<String>, PageError> {
    page.render()
        .map(Html)
        .map_err(|e| PageError(AppError::Internal(format!("template: {e}"))))
}

/// The project's models, newest first, and the one the page shows: the one
/// named by `model` (a model id from the query), else the newest.
pub async fn models_with_selection(
    state: &AppState,
    project: ProjectId,
    model: Option<&str>,
) -> Result<(Vec<Model>, Option<Model>), AppError> {
    let all = models::list(&state.db, project).await?;
    let selected = match model.and_then(|m| m.parse::<ModelId>().ok()) {
        Some(id) => all.iter().find(|m| m.id == id).cloned(),
        None => all.first().cloned(),
    };
    Ok((all, selected))
}

/// The project header and step navigation every project page shows.
pub struct Nav {
    pub project_id: String,
    pub project_name: String,
    pub steps: Vec<NavStep>,
}

pub struct NavStep {
    pub title: &'static str,
    pub url: String,
    pub active: bool,
}

impl Nav {
    pub fn new(project: &project_store::Project, active: &'static str) -> Self {
        let base = format!("/projects/{}", project.id);
        // The workflow's steps, in order; each is a page of its own.
        let steps = [
            ("dataset", "Dataset"),
            ("impulse", "Impulse"),
            ("test", "Test"),
            ("deploy", "Deploy"),
            ("settings", "Settings"),
        ]
        .into_iter()
        .map(|(key, title)| NavStep {
            title,
            url: format!("{base}/{key}"),
            active: key == active,
        })
        .collect();
        Self {
            project_id: project.id.to_string(),
            project_name: project.name.clone(),
            steps,
        }
    }
}

/// Formats a byte count for people.
pub fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a Unix-millisecond time as UTC.
pub fn human_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}
