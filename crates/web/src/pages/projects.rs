use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::{ProjectId, parse_project_name};
use tinystudio_storage::projects::{self, ProjectSummary};

use super::{PageError, human_time, render};
use crate::auth::LocalUser;
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "projects/list.html")]
struct ProjectsPage {
    projects: Vec<ProjectSummary>,
}

impl ProjectsPage {
    fn created(&self, p: &ProjectSummary) -> String {
        human_time(p.project.created_at)
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    render(&ProjectsPage {
        projects: projects::list(&state.db).await?,
    })
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    _user: LocalUser,
    Form(form): Form<CreateForm>,
) -> Result<Redirect, PageError> {
    let name = parse_project_name(&form.name)?;
    let project = projects::create(&state.db, &name).await?;
    Ok(Redirect::to(&format!("/projects/{}/dataset", project.id)))
}

pub async fn open(Path(id): Path<String>) -> Result<Redirect, PageError> {
    let id: ProjectId = id
        .parse()
        .map_err(|_| AppError::NotFound("no such project".into()))?;
    Ok(Redirect::to(&format!("/projects/{id}/dataset")))
}
