//! Workshops: an admin makes a class and hands out its join code or link;
//! students register with it; the class's owner (the instructor) follows
//! every student's projects read-only, with their newest model's accuracy.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_domain::{ClassId, check_password, parse_class_name, parse_user_name};
use tinystudio_storage::classes::{self, Class, ClassProject, ClassSummary};
use tinystudio_storage::users;

use super::{PageError, render};
use crate::auth::{Person, peer};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "classes/list.html")]
struct ClassesPage {
    classes: Vec<ClassSummary>,
    base: String,
}

fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.config.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4000");
    let scheme = if state.config.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, PageError> {
    render(&ClassesPage {
        classes: classes::list(&state.db).await?,
        base: base_url(&state, &headers),
    })
}

#[derive(Deserialize)]
pub struct NewClass {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    person: Person,
    Form(form): Form<NewClass>,
) -> Result<Redirect, PageError> {
    let name = parse_class_name(&form.name)?;
    let Some(me) = person.user() else {
        return Err(AppError::BadRequest(
            "a class needs accounts: make an admin first (`tinystudio user create --admin NAME` \
             or Users), sign in, then make the class"
                .into(),
        )
        .into());
    };
    let class = classes::create(&state.db, &name, me.user.id).await?;
    Ok(Redirect::to(&format!("/classes/{}", class.id)))
}

#[derive(Deserialize)]
pub struct OpenForm {
    open: String,
}

pub async fn set_open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<OpenForm>,
) -> Result<Redirect, PageError> {
    let id = class_id(&id)?;
    let open = match form.open.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(
                AppError::BadRequest(format!("open: {other:?} is neither true nor false")).into(),
            );
        }
    };
    classes::set_open(&state.db, id, open).await?;
    Ok(Redirect::to(&format!("/classes/{id}")))
}

fn class_id(raw: &str) -> Result<ClassId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound("no such class".into()))
}

#[derive(Template)]
#[template(path = "classes/show.html")]
struct ClassPage {
    class: Class,
    code: String,
    link: String,
    students: Vec<String>,
    projects: Vec<ClassProject>,
}

impl ClassPage {
    fn percent(v: Option<f64>) -> String {
        v.map(|a| format!("{:.1} %", a * 100.0))
            .unwrap_or_else(|| "—".into())
    }
    fn accuracy(&self, p: &ClassProject) -> String {
        Self::percent(
            p.metrics
                .as_ref()
                .and_then(|m| m.validation_accuracy)
                .map(f64::from),
        )
    }
    fn int8_accuracy(&self, p: &ClassProject) -> String {
        Self::percent(p.metrics.as_ref().and_then(|m| m.int8_validation_accuracy))
    }
}

/// The class's page: for its owner, and for admins.
pub async fn show(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let class = classes::get(&state.db, class_id(&id)?).await?;
    let allowed = match person.user() {
        Some(me) => me.user.id == class.owner_id || me.user.is_admin,
        None => true,
    };
    if !allowed {
        // As if it did not exist: a student learns nothing of other classes.
        return Err(AppError::NotFound("no such class".into()).into());
    }
    let students = classes::students(&state.db, class.id)
        .await?
        .into_iter()
        .map(|u| u.name)
        .collect();
    render(&ClassPage {
        code: class.display_code(),
        link: format!(
            "{}/join/{}",
            base_url(&state, &headers),
            class.display_code()
        ),
        projects: classes::projects(&state.db, class.id).await?,
        students,
        class,
    })
}

#[derive(Template)]
#[template(path = "classes/join.html")]
struct JoinPage {
    code: String,
    class_name: String,
    error: Option<String>,
}

async fn open_class(state: &AppState, code: &str) -> Result<Class, AppError> {
    let not_valid =
        || AppError::NotFound("this join code is not valid: check it with your instructor".into());
    let code = classes::normalize_code(code).ok_or_else(not_valid)?;
    let class = classes::by_code(&state.db, &code)
        .await?
        .ok_or_else(not_valid)?;
    if !class.is_open() {
        return Err(AppError::Forbidden(
            "this class is closed to new students: ask your instructor".into(),
        ));
    }
    Ok(class)
}

pub async fn join_page(
    State(state): State<AppState>,
    parts: Parts,
    Path(code): Path<String>,
) -> Result<Html<String>, PageError> {
    let addr = peer(&parts);
    state.limits.check(None, addr)?;
    let class = match open_class(&state, &code).await {
        Ok(class) => class,
        Err(e) => {
            // Guessing codes counts as failing to sign in.
            state.limits.fail(None, addr);
            return Err(e.into());
        }
    };
    render(&JoinPage {
        code: class.display_code(),
        class_name: class.name,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct JoinForm {
    name: String,
    password: String,
}

/// Registers a student with the class's code and signs them in.
pub async fn join(
    State(state): State<AppState>,
    parts: Parts,
    Path(code): Path<String>,
    Form(form): Form<JoinForm>,
) -> Result<Response, PageError> {
    let addr = peer(&parts);
    state.limits.check(None, addr)?;
    let class = match open_class(&state, &code).await {
        Ok(class) => class,
        Err(e) => {
            state.limits.fail(None, addr);
            return Err(e.into());
        }
    };
    let again = |error: String| {
        render(&JoinPage {
            code: class.display_code(),
            class_name: class.name.clone(),
            error: Some(error),
        })
        .map(|html| (StatusCode::BAD_REQUEST, html).into_response())
    };
    let name = match parse_user_name(&form.name) {
        Ok(name) => name,
        Err(e) => return again(e.to_string()),
    };
    if let Err(e) = check_password(&form.password, &name) {
        return again(e.to_string());
    }
    let user = match users::create(&state.db, &name, &form.password, false).await {
        Ok(user) => user,
        Err(tinystudio_storage::StorageError::Conflict(msg)) => {
            return Ok((StatusCode::CONFLICT, again(msg)?).into_response());
        }
        Err(e) => return Err(AppError::from(e).into()),
    };
    classes::add_student(&state.db, class.id, user.id).await?;
    Ok(super::account::sign_in(&state, &user, "/").await?)
}
