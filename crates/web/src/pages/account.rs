//! Signing in and out, the first-run setup and a person's own account.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_domain::{check_password, parse_user_name};
use tinystudio_storage::{sessions, users};

use super::{PageError, render};
use crate::auth::{self, Person, SESSION_LIFETIME_MS, constant_time_eq, peer};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "account/login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
}

/// Where to go after signing in: only a path on this studio, never another
/// site (`//host` or a full URL).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Remembers, for the sign-in form only, the page someone opened before
/// signing in. A cookie rather than a field of the page: the 401 page must
/// not repeat what was asked for (a project's id), so a refusal reads the
/// same whatever the URL named.
const NEXT_COOKIE: &str = "tinystudio_next";

/// The login page answered with 401 to someone who opened a page without
/// signing in; it brings them back there afterwards.
pub fn login_required(state: &AppState, uri: &Uri, e: AppError) -> Response {
    let page = LoginPage {
        next: String::new(),
        error: Some(e.public_message()),
    };
    let next = safe_next(uri.path_and_query().map(|p| p.as_str()));
    let secure = if state.config.tls { "; Secure" } else { "" };
    // Hex, so any path is a valid cookie value.
    let cookie = format!(
        "{NEXT_COOKIE}={}; Path=/login; HttpOnly; SameSite=Lax; Max-Age=3600{secure}",
        hex::encode(next)
    );
    match render(&page) {
        Ok(html) => {
            let mut response = (StatusCode::UNAUTHORIZED, html).into_response();
            if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// The page remembered by [`login_required`], if any.
fn remembered_next(headers: &header::HeaderMap) -> Option<String> {
    let raw = auth::cookie(headers, NEXT_COOKIE)?;
    String::from_utf8(hex::decode(raw).ok()?).ok()
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(Query(q): Query<NextQuery>) -> Result<Html<String>, PageError> {
    render(&LoginPage {
        next: safe_next(q.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// Signs `user` in: a new session, its cookie, and a redirect.
pub(crate) async fn sign_in(
    state: &AppState,
    user: &users::User,
    next: &str,
) -> Result<Response, AppError> {
    let (_, token) = sessions::create(&state.db, user.id, SESSION_LIFETIME_MS).await?;
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::session_cookie(state, Some(&token)),
    );
    Ok(response)
}

pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let addr = peer(&parts);
    let next = match form.next.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => safe_next(Some(n)),
        None => safe_next(remembered_next(&parts.headers).as_deref()),
    };
    // A name that cannot exist is counted under what was typed, bounded.
    let name = parse_user_name(&form.name).unwrap_or_else(|_| form.name.chars().take(40).collect());
    state.limits.check(Some(&name), addr)?;
    match users::verify(&state.db, &name, &form.password).await? {
        Some(user) => {
            state.limits.accounts.succeed(&name);
            let mut response = sign_in(&state, &user, &next).await?;
            response.headers_mut().append(
                header::SET_COOKIE,
                header::HeaderValue::from_static(
                    "tinystudio_next=; Path=/login; HttpOnly; SameSite=Lax; Max-Age=0",
                ),
            );
            Ok(response)
        }
        None => {
            state.limits.fail(Some(&name), addr);
            let page = LoginPage {
                next,
                error: Some("wrong name or password".into()),
            };
            Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response())
        }
    }
}

pub async fn logout(State(state): State<AppState>, person: Person) -> Result<Response, PageError> {
    if let Some(s) = person.user() {
        sessions::delete(&state.db, s.session).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth::session_cookie(&state, None));
    Ok(response)
}

#[derive(Template)]
#[template(path = "account/setup.html")]
struct SetupPage {
    /// Setup is possible (a networked studio with no accounts yet).
    open: bool,
}

pub async fn setup_page(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let open = state.setup_token.is_some() && !state.accounts.get(&state.db).await?;
    render(&SetupPage { open })
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    password: String,
}

/// Makes the first admin with the one-time token from the server's log.
pub async fn setup(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    let addr = peer(&parts);
    state.limits.check(None, addr)?;
    let Some(expected) = state.setup_token.clone() else {
        return Err(AppError::NotFound(
            "there is no setup on this studio: it runs on loopback (no accounts needed) or \
             already has accounts; use `tinystudio user create --admin NAME`"
                .into(),
        )
        .into());
    };
    if !constant_time_eq(form.token.trim().as_bytes(), expected.as_bytes()) {
        state.limits.fail(None, addr);
        return Err(AppError::Forbidden(
            "wrong setup token: copy the one printed in the server's log".into(),
        )
        .into());
    }
    let name = parse_user_name(&form.name)?;
    check_password(&form.password, &name)?;
    let user = users::create_first_admin(&state.db, &name, &form.password).await?;
    tracing::info!(user.name = %user.name, "first admin made on the setup page");
    Ok(sign_in(&state, &user, "/").await?)
}

#[derive(Template)]
#[template(path = "account/page.html")]
struct AccountPage {
    name: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    done: Option<String>,
}

pub async fn page(
    person: Person,
    Query(q): Query<AccountQuery>,
) -> Result<Html<String>, PageError> {
    render(&AccountPage {
        name: person.user().map(|s| s.user.name.clone()),
        notice: q.done,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
}

/// Changes one's own password; other browsers signed in are signed out.
pub async fn change_password(
    State(state): State<AppState>,
    parts: Parts,
    person: Person,
    Form(form): Form<PasswordForm>,
) -> Result<Redirect, PageError> {
    let Some(me) = person.user() else {
        return Err(AppError::BadRequest(
            "this studio has no accounts: there is no password to change".into(),
        )
        .into());
    };
    let addr = peer(&parts);
    state.limits.check(Some(&me.user.name), addr)?;
    if users::verify(&state.db, &me.user.name, &form.current)
        .await?
        .is_none()
    {
        state.limits.fail(Some(&me.user.name), addr);
        return Err(AppError::BadRequest("current password: wrong password".into()).into());
    }
    check_password(&form.password, &me.user.name)?;
    users::set_password(&state.db, me.user.id, &form.password).await?;
    sessions::delete_for_user(&state.db, me.user.id, Some(me.session)).await?;
    Ok(Redirect::to(&format!(
        "/account?done={}",
        super::view::url_encode("Password changed; other browsers were signed out.")
    )))
}
