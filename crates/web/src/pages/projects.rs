use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::{ProjectId, parse_project_name};
use tinystudio_storage::classes::{self, Class};
use tinystudio_storage::members;
use tinystudio_storage::projects::{self, ProjectSummary};

use super::{PageError, human_time, render};
use crate::auth::Person;
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "projects/list.html")]
struct ProjectsPage {
    projects: Vec<ProjectSummary>,
    classes: Vec<Class>,
}

impl ProjectsPage {
    fn created(&self, p: &ProjectSummary) -> String {
        human_time(p.project.created_at)
    }
}

/// The person's projects (all of them on a local studio), and for an
/// instructor the classes they own.
pub async fn list(
    State(state): State<AppState>,
    person: Person,
) -> Result<Html<String>, PageError> {
    let (projects, classes) = match person.user() {
        Some(me) => (
            members::projects_of(&state.db, me.user.id)
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            classes::owned_by(&state.db, me.user.id).await?,
        ),
        None => (projects::list(&state.db).await?, Vec::new()),
    };
    render(&ProjectsPage { projects, classes })
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    person: Person,
    Form(form): Form<CreateForm>,
) -> Result<Redirect, PageError> {
    let name = parse_project_name(&form.name)?;
    let owner = person.user().map(|me| me.user.id);
    let project = projects::create_owned(&state.db, &name, owner).await?;
    Ok(Redirect::to(&format!("/projects/{}/dataset", project.id)))
}

pub async fn open(
    _: crate::auth::PageProject,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    let id: ProjectId = id
        .parse()
        .map_err(|_| AppError::NotFound("no such project".into()))?;
    Ok(Redirect::to(&format!("/projects/{id}/dataset")))
}
