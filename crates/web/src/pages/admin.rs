//! Accounts, for admins: make them, reset a password, grant admin rights.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::{UserId, check_password, parse_user_name};
use tinystudio_storage::sessions;
use tinystudio_storage::users::{self, User};

use super::{PageError, human_time, render};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    users: Vec<User>,
    notice: Option<String>,
}

impl UsersPage {
    fn when(&self, ms: &i64) -> String {
        human_time(*ms)
    }
}

async fn show(state: &AppState, notice: Option<String>) -> Result<Html<String>, PageError> {
    render(&UsersPage {
        users: users::list(&state.db).await?,
        notice,
    })
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    done: Option<String>,
}

pub async fn users(
    State(state): State<AppState>,
    Query(q): Query<UsersQuery>,
) -> Result<Html<String>, PageError> {
    show(&state, q.done).await
}

/// Back to the list with what was done (post, redirect, get).
fn done(message: &str) -> Redirect {
    Redirect::to(&format!(
        "/admin/users?done={}",
        super::view::url_encode(message)
    ))
}

#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    password: String,
    admin: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    Form(form): Form<NewUser>,
) -> Result<Redirect, PageError> {
    let name = parse_user_name(&form.name)?;
    check_password(&form.password, &name)?;
    let admin = form.admin.is_some();
    if !state.accounts.get(&state.db).await? {
        // The local user makes the first account: it must be an admin, or
        // the studio would have accounts and no one to manage them.
        let user = users::create_first_admin(&state.db, &name, &form.password).await?;
        return Ok(done(&format!(
            "Made {}, the studio's first admin: from now on everyone signs in.",
            user.name
        )));
    }
    let user = users::create(&state.db, &name, &form.password, admin).await?;
    Ok(done(&format!("Made the account {}.", user.name)))
}

fn user_id(raw: &str) -> Result<UserId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound("no such user".into()))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// Sets a new password for someone who forgot theirs; their sessions end.
pub async fn reset_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Result<Redirect, PageError> {
    let user = users::get(&state.db, user_id(&id)?).await?;
    check_password(&form.password, &user.name)?;
    users::set_password(&state.db, user.id, &form.password).await?;
    sessions::delete_for_user(&state.db, user.id, None).await?;
    // Locked out by failed sign-ins is often why the reset was asked for.
    state.limits.accounts.succeed(&user.name);
    Ok(done(&format!(
        "New password set for {}; they were signed out.",
        user.name
    )))
}

#[derive(Deserialize)]
pub struct AdminForm {
    admin: String,
}

pub async fn set_admin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<AdminForm>,
) -> Result<Redirect, PageError> {
    let admin = match form.admin.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(AppError::BadRequest(format!(
                "admin: {other:?} is neither true nor false"
            ))
            .into());
        }
    };
    users::set_admin(&state.db, user_id(&id)?, admin).await?;
    Ok(Redirect::to("/admin/users"))
}
