//! HTML pages. One askama struct per page, next to its handler; templates
//! live under `templates/` at the matching path. Forms post and redirect,
//! so every page works without JavaScript; `static/app.js` adds upload
//! progress, drag and drop and selection on top.

pub(crate) mod account;
mod admin;
mod board;
mod capture;
mod classes;
mod dataset;
mod deploy;
mod explore;
pub(crate) mod flash;
mod impulse;
mod jobs;
mod members;
mod network;
mod projects;
mod settings;
mod test;
mod view;

use askama::Template;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{Html, Response};
use tinystudio_domain::{ModelId, ProjectId, Role};
use tinystudio_storage::models::{self, Model};
use tinystudio_storage::projects as project_store;

use crate::auth::Access;
use crate::auth::{LOCAL_COOKIE, has_local_cookie};
pub use crate::error::PageError;
use crate::routes::Table;
use crate::{AppError, AppState};

/// The pages' routes and who may use each (see `crate::routes`).
pub fn routes(t: &mut Table<'_>) {
    use Access::{Admin, Board, Capture, Person, Project, Public};
    use Method as M;
    use Role::{Editor, Owner, Viewer};
    let uploads = Some(DefaultBodyLimit::max(t.config.max_body_bytes));
    // `ingest::read_upload` enforces the body limit itself.
    let multipart = Some(DefaultBodyLimit::disable());
    t.add(M::GET, "/", Person, projects::list);
    t.add(M::POST, "/projects", Person, projects::create);
    t.add(
        M::GET,
        "/projects/{project_id}",
        Project(Viewer),
        projects::open,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/dataset",
        Project(Viewer),
        dataset::page,
    );
    t.add_limited(
        M::POST,
        "/projects/{project_id}/dataset/upload",
        Project(Editor),
        dataset::upload,
        multipart,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/dataset/bulk",
        Project(Editor),
        dataset::bulk,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/dataset/rebalance",
        Project(Editor),
        dataset::rebalance,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/capture",
        Capture(Viewer),
        capture::page,
    );
    t.add_limited(
        M::POST,
        "/projects/{project_id}/capture/upload",
        Capture(Editor),
        capture::upload,
        multipart,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/capture/links",
        Project(Editor),
        capture::create_link,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/capture/links/{link_id}/revoke",
        Project(Editor),
        capture::revoke_link,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/samples/{sample_id}",
        Project(Viewer),
        dataset::sample_page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/samples/{sample_id}",
        Project(Editor),
        dataset::sample_edit,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/samples/{sample_id}/network",
        Project(Viewer),
        network::page,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/samples/{sample_id}/network/layers/{layer}",
        Project(Viewer),
        network::layer_png,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/samples/{sample_id}/network/convolve",
        Project(Viewer),
        network::convolve_png,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/explore",
        Project(Viewer),
        explore::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/explore",
        Project(Editor),
        explore::start,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/impulse",
        Project(Viewer),
        impulse::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/impulse",
        Project(Editor),
        impulse::save,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/tune",
        Project(Editor),
        impulse::tune,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/tune/{job_id}/apply",
        Project(Editor),
        impulse::apply,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/test",
        Project(Viewer),
        test::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/test/run",
        Project(Editor),
        test::run,
    );
    // Classifies one picture and keeps nothing.
    t.add_limited(
        M::POST,
        "/projects/{project_id}/test/classify",
        Project(Viewer),
        test::classify_upload,
        uploads,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/deploy",
        Project(Viewer),
        deploy::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/deploy/build",
        Project(Editor),
        deploy::build,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/deploy/library",
        Project(Editor),
        deploy::library,
    );
    t.add_limited(
        M::POST,
        "/projects/{project_id}/deploy/run",
        Project(Editor),
        deploy::run,
        uploads,
    );
    t.add_limited(
        M::POST,
        "/projects/{project_id}/deploy/import",
        Project(Editor),
        deploy::import,
        uploads,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/deploy/board/connect",
        Board(Editor),
        board::connect,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/deploy/board/disconnect",
        Board(Editor),
        board::disconnect,
    );
    t.add_limited(
        M::POST,
        "/projects/{project_id}/deploy/board/classify",
        Board(Editor),
        board::classify,
        uploads,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/deploy/flash",
        Board(Editor),
        board::flash,
    );
    t.add(M::GET, "/docs/firmware", Public, deploy::firmware_readme);
    t.add(
        M::GET,
        "/projects/{project_id}/jobs/{job_id}",
        Project(Viewer),
        jobs::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/jobs/{job_id}/cancel",
        Project(Editor),
        jobs::cancel,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/settings",
        Project(Editor),
        settings::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/settings/rename",
        Project(Editor),
        settings::rename,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/settings/delete",
        Project(Owner),
        settings::delete,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/settings/keys",
        Project(Owner),
        settings::create_key,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/settings/keys/{key_id}/revoke",
        Project(Owner),
        settings::revoke_key,
    );
    t.add(
        M::GET,
        "/projects/{project_id}/members",
        Project(Viewer),
        members::page,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/members",
        Project(Owner),
        members::add,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/members/{user_id}/role",
        Project(Owner),
        members::set_role,
    );
    t.add(
        M::POST,
        "/projects/{project_id}/members/{user_id}/remove",
        Project(Owner),
        members::remove,
    );
    t.add(M::GET, "/login", Public, account::login_page);
    t.add(M::POST, "/login", Public, account::login);
    t.add(M::POST, "/logout", Person, account::logout);
    t.add(M::GET, "/setup", Public, account::setup_page);
    t.add(M::POST, "/setup", Public, account::setup);
    t.add(M::GET, "/account", Person, account::page);
    t.add(
        M::POST,
        "/account/password",
        Person,
        account::change_password,
    );
    t.add(M::GET, "/admin/users", Admin, admin::users);
    t.add(M::POST, "/admin/users", Admin, admin::create_user);
    t.add(
        M::POST,
        "/admin/users/{user_id}/password",
        Admin,
        admin::reset_password,
    );
    t.add(
        M::POST,
        "/admin/users/{user_id}/admin",
        Admin,
        admin::set_admin,
    );
    t.add(M::GET, "/admin/classes", Admin, classes::list);
    t.add(M::POST, "/admin/classes", Admin, classes::create);
    t.add(
        M::POST,
        "/admin/classes/{class_id}/open",
        Admin,
        classes::set_open,
    );
    // The class's owner (or an admin): checked by the handler, which knows the class.
    t.add(M::GET, "/classes/{class_id}", Person, classes::show);
    t.add(M::GET, "/join/{code}", Public, classes::join_page);
    t.add(M::POST, "/join/{code}", Public, classes::join);
}

/// Whether a route's responses may hand a local studio's visitor the local
/// user's cookie: pages, not the API or static files.
pub fn hands_out_local_cookie(path: &str) -> bool {
    !crate::auth::is_api(path) && !path.starts_with("/static/") && path != "/healthz"
}

/// Gives the browser the local user's cookie on its first page view, except
/// on a page opened with a capture link (a phone's), and only on a local
/// studio (loopback, no accounts).
pub async fn set_local_cookie(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let local = state.config.loopback_only && !state.accounts.get(&state.db).await.unwrap_or(true);
    let has_cookie = !local || has_local_cookie(request.headers(), &state.local_secret);
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
            ("explore", "Explore"),
            ("impulse", "Impulse"),
            ("test", "Test"),
            ("deploy", "Deploy"),
            ("members", "Members"),
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
