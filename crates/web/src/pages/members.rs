//! The Members page: who shares the project, and as what.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::Role;
use tinystudio_storage::members::{self, Member};

use super::{Nav, PageError, render};
use crate::AppState;
use crate::actions::members as act;
use crate::auth::ProjectAccess;

#[derive(Template)]
#[template(path = "projects/members.html")]
struct MembersPage {
    nav: Nav,
    members: Vec<Member>,
    is_owner: bool,
    roles: [Role; 3],
}

pub async fn page(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Html<String>, PageError> {
    render(&MembersPage {
        nav: Nav::new(&access.project, "members"),
        members: members::list(&state.db, access.project.id).await?,
        is_owner: access.role == Role::Owner,
        roles: Role::ALL,
    })
}

#[derive(Deserialize)]
pub struct AddForm {
    name: String,
    role: String,
}

pub async fn add(
    State(state): State<AppState>,
    access: ProjectAccess,
    Form(form): Form<AddForm>,
) -> Result<Redirect, PageError> {
    act::add(
        &state,
        &access.principal,
        access.project.id,
        &form.name,
        &form.role,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/members",
        access.project.id
    )))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, user)): Path<(String, String)>,
    Form(form): Form<RoleForm>,
) -> Result<Redirect, PageError> {
    act::set_role(&state, access.project.id, act::user_id(&user)?, &form.role).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/members",
        access.project.id
    )))
}

pub async fn remove(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, user)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    members::remove(&state.db, access.project.id, act::user_id(&user)?).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/members",
        access.project.id
    )))
}
