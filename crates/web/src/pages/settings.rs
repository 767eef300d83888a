use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::{KeyId, KeyScope, parse_project_name};
use tinystudio_storage::keys::{self, ApiKey};
use tinystudio_storage::projects;

use super::{Nav, PageError, human_time, render};
use crate::actions::projects::delete_project;
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "projects/settings.html")]
struct SettingsPage {
    nav: Nav,
    keys: Vec<ApiKey>,
    /// A key just created: shown this once.
    new_key: Option<String>,
    host: String,
    /// What the last form post did.
    done: Option<String>,
}

impl SettingsPage {
    fn when(&self, ms: &i64) -> String {
        human_time(*ms)
    }
}

fn host(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4000")
        .to_owned()
}

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    /// The token of a key just made (see `flash`), never the key itself.
    key: Option<String>,
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    headers: axum::http::HeaderMap,
    Query(q): Query<SettingsQuery>,
) -> Result<Html<String>, PageError> {
    // Shown once: a reload of the same URL shows the page without it.
    let new_key = q
        .key
        .and_then(|token| state.flashes.take::<String>(project.id, &token));
    render(&SettingsPage {
        nav: Nav::new(&project, "settings"),
        keys: keys::list(&state.db, project.id).await?,
        new_key,
        host: host(&headers),
        done: q.done,
    })
}

fn settings_url(project: &projects::Project, done: &str) -> String {
    format!(
        "/projects/{}/settings?done={}",
        project.id,
        super::view::url_encode(done)
    )
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

pub async fn rename(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Form(form): Form<NameForm>,
) -> Result<Redirect, PageError> {
    let name = parse_project_name(&form.name)?;
    projects::rename(&state.db, project.id, &name).await?;
    Ok(Redirect::to(&settings_url(
        &project,
        &format!("Renamed the project \"{name}\"."),
    )))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    confirm: String,
}

pub async fn delete(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Form(form): Form<DeleteForm>,
) -> Result<Redirect, PageError> {
    if form.confirm.trim() != project.name {
        return Err(AppError::BadRequest(
            "type the project's name to confirm that it should be deleted".into(),
        )
        .into());
    }
    delete_project(&state, project.id).await?;
    Ok(Redirect::to("/"))
}

/// Creates a key and shows it once: the post redirects to the Settings page
/// with a one-time token for the key (`flash`), so a reload neither makes
/// another key nor shows this one again, and the key is never in a URL.
#[derive(Deserialize)]
pub struct KeyForm {
    name: String,
    /// `full` or `ingestion`; forms from before scopes existed make full keys.
    scope: Option<String>,
}

pub async fn create_key(
    State(state): State<AppState>,
    Person(by): Person,
    PageProject(project): PageProject,
    Form(form): Form<KeyForm>,
) -> Result<Redirect, PageError> {
    let name = parse_project_name(if form.name.trim().is_empty() {
        "api"
    } else {
        &form.name
    })?;
    let scope: KeyScope = form.scope.as_deref().unwrap_or("full").parse()?;
    let (_, secret) = keys::create_with(
        &state.db,
        project.id,
        &name,
        scope,
        crate::auth::key_maker(&by),
    )
    .await?;
    let token = state.flashes.put(project.id, secret);
    Ok(Redirect::to(&format!(
        "/projects/{}/settings?key={token}",
        project.id
    )))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let key_id: KeyId = key_id
        .parse()
        .map_err(|_| AppError::NotFound("no such API key".into()))?;
    keys::revoke(&state.db, project.id, key_id).await?;
    Ok(Redirect::to(&settings_url(&project, "Revoked the key.")))
}
