use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
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
}

impl SettingsPage {
    fn when(&self, ms: &i64) -> String {
        human_time(*ms)
    }
}

async fn show(
    state: &AppState,
    project: &projects::Project,
    new_key: Option<String>,
    host: String,
) -> Result<Html<String>, PageError> {
    render(&SettingsPage {
        nav: Nav::new(project, "settings"),
        keys: keys::list(&state.db, project.id).await?,
        new_key,
        host,
    })
}

fn host(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4000")
        .to_owned()
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    headers: axum::http::HeaderMap,
) -> Result<Html<String>, PageError> {
    show(&state, &project, None, host(&headers)).await
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
    projects::rename(&state.db, project.id, &parse_project_name(&form.name)?).await?;
    Ok(Redirect::to(&format!("/projects/{}/settings", project.id)))
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

/// Creates a key and shows it once, on the response to this post (not on
/// a page that could be reloaded or cached).
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
    headers: axum::http::HeaderMap,
    Form(form): Form<KeyForm>,
) -> Result<Html<String>, PageError> {
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
    show(&state, &project, Some(secret), host(&headers)).await
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
    Ok(Redirect::to(&format!("/projects/{}/settings", project.id)))
}
