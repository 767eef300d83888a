//! Who is asking, and may they touch this? Decided here and only here.
//!
//! Every route declares the [`Access`] it needs in the route table
//! (`routes.rs`); [`guard`] runs before the route's handler, decides, and
//! hands the handler a [`Grant`]. The extractors below ([`ProjectAccess`],
//! [`KeyProject`], [`Person`], [`PageProject`], [`CaptureUploader`],
//! [`CaptureViewer`]) only read that grant, so a handler cannot be reached
//! by someone the table does not let in.
//!
//! Callers:
//! - scripts, with a project API key in `x-api-key`: that one project, and
//!   only what the key's scope opens (`ingestion`: uploads and the Edge
//!   Impulse calls its uploader makes; `full`: the project's whole API);
//! - a phone holding a capture link's token (`?token=` on the capture page,
//!   `x-capture-token` on its uploads): that project's capture page and
//!   uploads, until the link expires or is revoked;
//! - people. On a studio listening on loopback with no accounts, the one
//!   local user, recognised by an HttpOnly, SameSite=Strict cookie every page
//!   hands out. Once an account exists, everyone signs in: a session token in
//!   an HttpOnly, SameSite=Lax cookie (Secure under TLS), and every
//!   state-changing request made with it carries the session's CSRF token.
//!   A project's members have a role (owner, editor, viewer); the instructor
//!   of a class reads its students' projects. Admins (and the local user)
//!   manage accounts and classes and reach this machine's boards.
//!
//! A studio listening beyond loopback with no accounts serves nothing but
//! the first-run setup until an admin exists.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use tinystudio_domain::{KeyScope, ProjectId, Role, SessionId};
use tinystudio_storage::capture_links::{self, CaptureLink, LinkState};
use tinystudio_storage::keys::{self, ApiKey};
use tinystudio_storage::projects::{self, Project};
use tinystudio_storage::users::User;
use tinystudio_storage::{Db, members, sessions, settings, users};

use crate::error::PageError;
use crate::{AppError, AppState};

pub const LOCAL_COOKIE: &str = "tinystudio_local";
pub const SESSION_COOKIE: &str = "tinystudio_session";
pub const API_KEY_HEADER: &str = "x-api-key";
pub const CAPTURE_TOKEN_HEADER: &str = "x-capture-token";
/// Where scripts on a page (`static/*.js`) send the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where forms send it: in the form's action URL, so a multipart upload is
/// checked before its body is read.
pub const CSRF_PARAM: &str = "_csrf";
/// How long a sign-in lasts.
pub const SESSION_LIFETIME_MS: i64 = 14 * 24 * 60 * 60 * 1000;

/// What a route requires. Declared once per route in `routes.rs`, which
/// also lists it for the access test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: assets, the login, setup and join pages.
    Public,
    /// Any person: the local user or a signed-in account.
    Person,
    /// `POST /api/projects`: a signed-in person (who becomes its owner); on a
    /// local studio also a script without credentials, as before accounts.
    NewProject,
    /// Server-wide things: accounts, classes. The local user or an admin.
    Admin,
    /// The route's `{project_id}`: a person whose role there is at least
    /// this, or a full-scope key of the project.
    Project(Role),
    /// This machine's boards (serial ports, flashing) for the route's
    /// project: as `Project`, and the person must be an admin (or the local
    /// user), the key one an admin made.
    Board(Role),
    /// A key of any scope (uploads, Edge Impulse's client calls); a route
    /// with `{project_id}` must name the key's project.
    Ingestion,
    /// The route's project's capture page and uploads: a live capture link
    /// of the project, or a person as `Project(role)`.
    Capture(Role),
}

impl Access {
    /// Whether a viewer's role is enough, i.e. the route changes nothing.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Access::Project(Role::Viewer)
                | Access::Board(Role::Viewer)
                | Access::Capture(Role::Viewer)
        )
    }
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session: SessionId,
    /// The session's CSRF token, derived from its secret token.
    pub csrf: String,
}

#[derive(Debug, Clone)]
pub enum Principal {
    /// The person using a local studio (no accounts) on this machine.
    Local,
    /// A person signed in with an account.
    User(SignedIn),
    /// A script holding one project's key.
    Key(ApiKey),
    /// A phone holding a capture link, with its token.
    Capture(CaptureLink, String),
    /// Nobody known, on a public route.
    Anonymous,
}

impl Principal {
    /// May use server-wide things (boards, accounts, classes).
    fn is_admin(&self) -> bool {
        match self {
            Principal::Local => true,
            Principal::User(s) => s.user.is_admin,
            Principal::Key(k) => k.scope == KeyScope::Full && k.by_operator,
            Principal::Capture(..) | Principal::Anonymous => false,
        }
    }

    fn is_person(&self) -> bool {
        matches!(self, Principal::Local | Principal::User(_))
    }
}

/// What [`guard`] decided, for the handler.
#[derive(Debug, Clone)]
pub struct Grant {
    pub principal: Principal,
    /// The route's project, when it names one.
    pub project: Option<Project>,
    /// The person's role in it (`Owner` for the local user and full keys).
    pub role: Option<Role>,
}

/// The local user's cookie value: random, created once per installation and
/// shared by every web server through the database.
pub async fn local_secret(db: &Db) -> Result<String, AppError> {
    Ok(settings::get_or_init(db, "local_session_secret", || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    })
    .await?)
}

/// A random one-time token for the first-run setup page.
pub fn new_setup_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether accounts exist, remembered once true: accounts are never all
/// deleted, so a studio never goes back to having none. While false it is
/// asked of the database, because another web server may make the first.
#[derive(Default)]
pub struct AccountsFlag(AtomicBool);

impl AccountsFlag {
    pub async fn get(&self, db: &Db) -> Result<bool, AppError> {
        if self.0.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let exist = users::any_exist(db).await?;
        if exist {
            self.0.store(true, Ordering::Relaxed);
        }
        Ok(exist)
    }
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

pub fn has_local_cookie(headers: &HeaderMap, secret: &str) -> bool {
    cookie(headers, LOCAL_COOKIE).is_some_and(|v| constant_time_eq(v.as_bytes(), secret.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF token of a session: a hash of its secret token, so it needs no
/// storage and cannot be computed without the (HttpOnly) cookie.
pub fn csrf_token(session_token: &str) -> String {
    tinystudio_storage::blobs::sha256_hex(format!("csrf:{session_token}").as_bytes())
}

/// The `Set-Cookie` value that signs a browser in (or, with `None`, out).
pub fn session_cookie(state: &AppState, token: Option<&str>) -> HeaderValue {
    let secure = if state.config.tls { "; Secure" } else { "" };
    let value = match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_LIFETIME_MS / 1000
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    // Tokens are hex, so the value is always a valid header.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

/// The caller, if any credentials came with the request. A key that is
/// present but wrong is an error, never a fall-back to a cookie.
pub async fn resolve(headers: &HeaderMap, state: &AppState) -> Result<Option<Principal>, AppError> {
    if let Some(raw) = headers.get(API_KEY_HEADER) {
        let secret = raw
            .to_str()
            .map_err(|_| AppError::Unauthorized("the x-api-key header is not valid text".into()))?;
        return match keys::authenticate(&state.db, secret.trim()).await? {
            Some(key) => Ok(Some(Principal::Key(key))),
            None => Err(AppError::Unauthorized("invalid or revoked API key".into())),
        };
    }
    if state.accounts.get(&state.db).await? {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        return Ok(sessions::authenticate(&state.db, token)
            .await?
            .map(|(session, user)| {
                Principal::User(SignedIn {
                    user,
                    session: session.id,
                    csrf: csrf_token(token),
                })
            }));
    }
    if state.config.loopback_only && has_local_cookie(headers, &state.local_secret) {
        return Ok(Some(Principal::Local));
    }
    Ok(None)
}

fn missing_credentials(api: bool) -> AppError {
    if api {
        AppError::Unauthorized(
            "missing credentials: send an x-api-key header (create a key on the project's \
             settings page) or sign in"
                .into(),
        )
    } else {
        AppError::Unauthorized("sign in first: open /login".into())
    }
}

fn no_such_project() -> AppError {
    AppError::NotFound("no such project".into())
}

/// The request's `{project_id}`, if the route has one; a malformed id is
/// `Some(None)`.
async fn path_project(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<Option<ProjectId>>, AppError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok(params.get("project_id").map(|raw| raw.parse().ok()))
}

fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    })
}

/// Decides whether the request may use a route that requires `access`.
pub async fn authorize(
    access: Access,
    parts: &mut Parts,
    state: &AppState,
) -> Result<Grant, AppError> {
    let api = is_api(parts.uri.path());
    let accounts = state.accounts.get(&state.db).await?;
    if access == Access::Public {
        let principal = resolve(&parts.headers, state).await.ok().flatten();
        return Ok(Grant {
            principal: principal.unwrap_or(Principal::Anonymous),
            project: None,
            role: None,
        });
    }
    if !accounts && !state.config.loopback_only {
        return Err(AppError::Unavailable(
            "this studio listens beyond this machine and has no accounts yet: an admin must \
             be made first, with `tinystudio user create --admin NAME` on the server or on the \
             /setup page with the one-time token printed in the server's log"
                .into(),
        ));
    }
    let project_param = path_project(parts, state).await?;
    // A capture link, where the route takes one.
    if let Access::Capture(_) = access {
        let token = match parts.headers.get(CAPTURE_TOKEN_HEADER) {
            Some(raw) => Some(
                raw.to_str()
                    .map_err(|_| {
                        AppError::Unauthorized(
                            "the x-capture-token header is not valid text".into(),
                        )
                    })?
                    .to_owned(),
            ),
            None => query_param(parts, "token").map(str::to_owned),
        };
        if let Some(token) = token {
            let id = project_param.flatten().ok_or_else(no_such_project)?;
            let link = capture_link(state, &token, id).await?;
            let project = projects::get(&state.db, id).await?;
            return Ok(Grant {
                principal: Principal::Capture(link, token),
                project: Some(project),
                role: None,
            });
        }
    }
    let principal = match resolve(&parts.headers, state).await? {
        Some(p) => p,
        // A local studio's pages are open to whoever reaches loopback (the
        // page hands out the cookie), and scripts may start projects.
        None if !accounts
            && ((!api && parts.method == Method::GET) || access == Access::NewProject) =>
        {
            Principal::Local
        }
        None => return Err(missing_credentials(api)),
    };
    if let Principal::User(signed_in) = &principal
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .or_else(|| query_param(parts, CSRF_PARAM))
            .unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), signed_in.csrf.as_bytes()) {
            return Err(AppError::Forbidden(
                "missing or wrong CSRF token: reload the page and try again".into(),
            ));
        }
    }
    if let Principal::Key(key) = &principal {
        if !api {
            return Err(AppError::Forbidden(
                "an API key opens the API (/api/...), not the studio's pages; sign in instead"
                    .into(),
            ));
        }
        let wanted = match access {
            Access::Ingestion => KeyScope::Ingestion,
            _ => KeyScope::Full,
        };
        if wanted == KeyScope::Full && key.scope != KeyScope::Full {
            return Err(AppError::Forbidden(format!(
                "this API key's scope is {}: it may only upload (POST /api/{{category}}/files); \
                 make a key with scope full for this route",
                key.scope
            )));
        }
    }
    let mut grant = Grant {
        principal,
        project: None,
        role: None,
    };
    match access {
        Access::Public => {}
        Access::Person | Access::NewProject => {
            if !grant.principal.is_person() {
                return Err(AppError::Forbidden(
                    "this route is for people using the studio, not for API keys; sign in".into(),
                ));
            }
        }
        Access::Admin => {
            if !grant.principal.is_person() {
                return Err(AppError::Forbidden(
                    "an API key cannot be used for this route; sign in as an admin".into(),
                ));
            }
            if !grant.principal.is_admin() {
                return Err(AppError::Forbidden(
                    "this needs an admin of the studio".into(),
                ));
            }
        }
        Access::Ingestion => {
            let Principal::Key(key) = &grant.principal else {
                return Err(AppError::Unauthorized(
                    "missing x-api-key header (create a key on the project's settings page)".into(),
                ));
            };
            if let Some(named) = project_param
                && named != Some(key.project_id)
            {
                return Err(AppError::Forbidden(
                    "this API key does not belong to the requested project".into(),
                ));
            }
            grant.project = Some(projects::get(&state.db, key.project_id).await?);
        }
        Access::Project(need) | Access::Board(need) | Access::Capture(need) => {
            let named = project_param
                .ok_or_else(|| AppError::Internal("project route without {project_id}".into()))?;
            let role = match &grant.principal {
                // The same answer whether or not the other project exists, so
                // a key reveals nothing about projects it does not belong to.
                Principal::Key(key) if named != Some(key.project_id) => {
                    return Err(AppError::Forbidden(
                        "this API key does not belong to the requested project".into(),
                    ));
                }
                Principal::Key(_) | Principal::Local => Role::Owner,
                Principal::User(s) => {
                    let id = named.ok_or_else(no_such_project)?;
                    // Not a member: as if the project did not exist.
                    members::access(&state.db, id, s.user.id)
                        .await?
                        .ok_or_else(no_such_project)?
                }
                Principal::Capture(..) | Principal::Anonymous => {
                    return Err(AppError::Internal(
                        "no person or key on a project route".into(),
                    ));
                }
            };
            let id = named.ok_or_else(no_such_project)?;
            let project = projects::get(&state.db, id).await?;
            if role < need {
                return Err(AppError::Forbidden(format!(
                    "your role in this project is {role}; this needs {need}{}",
                    if need == Role::Owner { "" } else { " or owner" }
                )));
            }
            if matches!(access, Access::Board(_)) && !grant.principal.is_admin() {
                return Err(AppError::Forbidden(
                    "boards on the studio's machine (serial ports, flashing) are for admins of \
                     the studio; ask one, or download the firmware and flash it yourself"
                        .into(),
                ));
            }
            grant.project = Some(project);
            grant.role = Some(role);
        }
    }
    Ok(grant)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Whether a path is the JSON API's (errors as JSON) or a page's (HTML).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path.starts_with("/v1")
}

/// The route table's middleware: decides with [`authorize`], hands the
/// handler the [`Grant`], and adds the session's CSRF token to the forms
/// of the pages it answers with.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let api = is_api(parts.uri.path());
    let grant = match authorize(access, &mut parts, &state).await {
        Ok(grant) => grant,
        // Scripts of the pages (uploads, live classification) ask for JSON
        // and read the error from it.
        Err(e) if api || wants_json(&parts.headers) => return e.into_response(),
        Err(e @ AppError::Unauthorized(_))
            if state.accounts.get(&state.db).await.unwrap_or(false) =>
        {
            return crate::pages::account::login_required(&state, &parts.uri, e);
        }
        Err(e) => return PageError(e).into_response(),
    };
    let csrf = match &grant.principal {
        Principal::User(s) => Some(s.csrf.clone()),
        _ => None,
    };
    let who = match &grant.principal {
        Principal::User(s) => Some(CurrentUser {
            name: s.user.name.clone(),
            is_admin: s.user.is_admin,
            csrf: s.csrf.clone(),
        }),
        _ => None,
    };
    parts.extensions.insert(grant);
    let request = Request::from_parts(parts, body);
    let response = CURRENT_USER.scope(who, next.run(request)).await;
    match csrf {
        Some(token) if !api => add_csrf_to_forms(response, &token).await,
        _ => response,
    }
}

/// The signed-in person, for the page being rendered (`base.html` shows
/// who is signed in and carries the CSRF token for scripts).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub name: String,
    pub is_admin: bool,
    pub csrf: String,
}

tokio::task_local! {
    static CURRENT_USER: Option<CurrentUser>;
}

/// The signed-in person of the request being answered, if any.
pub fn current_user() -> Option<CurrentUser> {
    CURRENT_USER.try_with(Clone::clone).ok().flatten()
}

/// Adds `?_csrf=TOKEN` to the action of every POST form of an HTML page,
/// in one place so that no form (today's or tomorrow's) can forget it. The
/// token goes in the URL rather than a hidden field so multipart uploads
/// are checked before their body is read. Hand-written over our own
/// templates (`<form ... method="post" ...>` with a quoted action), which
/// avoids a streaming HTML rewriter for one attribute.
async fn add_csrf_to_forms(response: Response, token: &str) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Pages are rendered in memory and small.
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return AppError::Internal("page too large to add CSRF tokens".into()).into_response();
    };
    let html = String::from_utf8_lossy(&bytes);
    let rewritten = rewrite_forms(&html, token);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(rewritten))
}

fn rewrite_forms(html: &str, token: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + len];
        out.push_str(&rest[..start]);
        if tag.to_ascii_lowercase().contains("method=\"post\"") {
            out.push_str(&with_csrf_action(tag, token));
        } else {
            out.push_str(tag);
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

fn with_csrf_action(tag: &str, token: &str) -> String {
    match tag.find("action=\"") {
        Some(at) => {
            let value_start = at + "action=\"".len();
            let Some(value_len) = tag[value_start..].find('"') else {
                return tag.to_owned();
            };
            let value_end = value_start + value_len;
            let sep = if tag[value_start..value_end].contains('?') {
                "&amp;"
            } else {
                "?"
            };
            format!(
                "{}{sep}{CSRF_PARAM}={token}{}",
                &tag[..value_end],
                &tag[value_end..]
            )
        }
        None => format!("{tag} action=\"?{CSRF_PARAM}={token}\""),
    }
}

fn grant_of(parts: &Parts) -> Result<Grant, AppError> {
    parts.extensions.get::<Grant>().cloned().ok_or_else(|| {
        AppError::Internal(format!("route {} has no access declared", parts.uri.path()))
    })
}

/// Access to the project named by the route's `{project_id}`.
pub struct ProjectAccess {
    pub project: Project,
    pub principal: Principal,
    pub role: Role,
}

impl FromRequestParts<AppState> for ProjectAccess {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        let grant = grant_of(parts)?;
        Ok(Self {
            project: grant
                .project
                .ok_or_else(|| AppError::Internal("no project granted".into()))?,
            role: grant.role.unwrap_or(Role::Viewer),
            principal: grant.principal,
        })
    }
}

/// The project of the request's API key, for routes that name no project
/// (the ingestion API).
pub struct KeyProject(pub Project);

impl FromRequestParts<AppState> for KeyProject {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        grant_of(parts)?
            .project
            .map(Self)
            .ok_or_else(|| AppError::Internal("no project granted".into()))
    }
}

/// A person: the local user or a signed-in account (never a key).
pub struct Person(pub Principal);

impl Person {
    /// The account, when signed in (`None`: the local user).
    pub fn user(&self) -> Option<&SignedIn> {
        match &self.0 {
            Principal::User(s) => Some(s),
            _ => None,
        }
    }
}

impl FromRequestParts<AppState> for Person {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        let grant = grant_of(parts)?;
        if grant.principal.is_person() {
            Ok(Person(grant.principal))
        } else {
            Err(AppError::Forbidden(
                "this route is for people using the studio, not for API keys".into(),
            ))
        }
    }
}

/// The live capture link with this token for `project`, or why not. The
/// answer for another project's link is the same whether or not the
/// project exists.
pub async fn capture_link(
    state: &AppState,
    token: &str,
    project: ProjectId,
) -> Result<CaptureLink, AppError> {
    let again = "make a new QR code on the studio's Capture panel and scan it";
    let link = capture_links::find(&state.db, token.trim())
        .await?
        .ok_or_else(|| {
            AppError::Unauthorized(format!("this capture link is not valid: {again}"))
        })?;
    if link.project_id != project {
        return Err(AppError::Forbidden(
            "this capture link belongs to another project".into(),
        ));
    }
    match link.state(tinystudio_storage::now_ms()) {
        LinkState::Active => Ok(link),
        LinkState::Expired => Err(AppError::Unauthorized(format!(
            "this capture link expired at {}: {again}",
            crate::pages::human_time(link.expires_at)
        ))),
        LinkState::Revoked => Err(AppError::Unauthorized(format!(
            "this capture link was revoked: {again}"
        ))),
    }
}

/// Who adds photos through a Capture panel.
#[derive(Debug, Clone)]
pub enum Capturer {
    /// A person, on the Dataset or capture page.
    Person,
    /// A phone holding a capture link of this project.
    Link(CaptureLink),
}

/// May add photos to the route's project through the capture upload: a
/// person with write access, or a live capture link of that project in
/// `x-capture-token`.
pub struct CaptureUploader {
    pub project: Project,
    pub by: Capturer,
}

impl FromRequestParts<AppState> for CaptureUploader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        let grant = grant_of(parts)?;
        let by = match grant.principal {
            Principal::Capture(link, _) => Capturer::Link(link),
            Principal::Local | Principal::User(_) => Capturer::Person,
            Principal::Key(_) | Principal::Anonymous => {
                return Err(AppError::Forbidden(
                    "a project API key cannot be used for this route; scripts upload \
                     through /api/{category}/files"
                        .into(),
                ));
            }
        };
        Ok(Self {
            project: grant
                .project
                .ok_or_else(|| AppError::Internal("no project granted".into()))?,
            by,
        })
    }
}

/// The capture page: a person's, or (opened with `?token=`) a phone's.
pub struct CaptureViewer {
    pub project: Project,
    /// The phone's link and its token, to send with each upload.
    pub link: Option<(CaptureLink, String)>,
}

impl FromRequestParts<AppState> for CaptureViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, PageError> {
        let grant = grant_of(parts)?;
        let link = match grant.principal {
            Principal::Capture(link, token) => Some((link, token)),
            _ => None,
        };
        Ok(Self {
            project: grant
                .project
                .ok_or_else(|| AppError::Internal("no project granted".into()))?,
            link,
        })
    }
}

/// A project page, for whoever the route table let in.
pub struct PageProject(pub Project);

impl FromRequestParts<AppState> for PageProject {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, PageError> {
        Ok(Self(grant_of(parts)?.project.ok_or_else(|| {
            AppError::Internal("no project granted".into())
        })?))
    }
}

/// Who a new key is made by: the account, or (`None`) the studio's
/// operator; a key made with a key inherits that key's maker, so a key can
/// never do more than the person behind it.
pub fn key_maker(by: &Principal) -> Option<tinystudio_domain::UserId> {
    match by {
        Principal::User(s) => Some(s.user.id),
        Principal::Key(k) => k.created_by,
        _ => None,
    }
}

/// The address a request came from, for rate limiting (unknown when the
/// server was started without connection info).
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Failed sign-ins (and join codes) per account and per address. Counts
/// only failures, so people who type their password right are never
/// slowed; bounded memory, because an attacker chooses the names.
/// Hand-written: rate-limiter crates (governor) count requests, not
/// failures, and cannot say when the lock ends.
pub struct LoginLimiter {
    entries: Mutex<HashMap<String, Failures>>,
    limit: u32,
    lock: Duration,
    window: Duration,
    capacity: usize,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(
            5,
            Duration::from_secs(60),
            Duration::from_secs(15 * 60),
            10_000,
        )
    }
}

impl LoginLimiter {
    /// After `limit` failures within `window`, refuse for `lock` from the
    /// last failure; remember at most `capacity` names and addresses.
    pub fn new(limit: u32, lock: Duration, window: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            limit,
            lock,
            window,
            capacity,
        }
    }

    /// `Err(seconds)` while `key` is locked.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(f) if f.count >= self.limit => {
                let until = f.last + self.lock;
                let now = Instant::now();
                if until > now {
                    Err((until - now).as_secs().max(1))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.retain(|_, f| now.duration_since(f.last) < self.window);
            if entries.len() >= self.capacity {
                // Still full: forget the oldest, not the newest attacker.
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        let entry = entries.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= self.window {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    pub fn succeed(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The limiters of the studio: one per account name, one per address.
pub struct Limits {
    pub accounts: LoginLimiter,
    pub addresses: LoginLimiter,
}

impl Default for Limits {
    /// An address gets ten times an account's failures: a workshop's
    /// students often share one address (a school's NAT), and one student's
    /// typos must not lock out the class; guessing a name's password is
    /// still held to the account's 5.
    fn default() -> Self {
        Self {
            accounts: LoginLimiter::default(),
            addresses: LoginLimiter::new(
                50,
                Duration::from_secs(60),
                Duration::from_secs(15 * 60),
                10_000,
            ),
        }
    }
}

impl Limits {
    /// Refuses while the account or the address is locked, saying for how long.
    pub fn check(&self, account: Option<&str>, addr: Option<IpAddr>) -> Result<(), AppError> {
        let wait = account
            .map(|a| self.accounts.check(a))
            .unwrap_or(Ok(()))
            .and(
                addr.map(|a| self.addresses.check(&a.to_string()))
                    .unwrap_or(Ok(())),
            );
        wait.map_err(|secs| {
            AppError::TooManyRequests(format!("too many failed attempts: try again in {secs} s"))
        })
    }

    pub fn fail(&self, account: Option<&str>, addr: Option<IpAddr>) {
        if let Some(a) = account {
            self.accounts.fail(a);
        }
        if let Some(a) = addr {
            self.addresses.fail(&a.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_get_the_token() {
        let html = r#"<form method="post" action="/a"><form method="get" action="/b"><form method="post" action="/c?x=1" class="k"><form method="post" class="stacked">"#;
        let out = rewrite_forms(html, "T");
        assert_eq!(
            out,
            r#"<form method="post" action="/a?_csrf=T"><form method="get" action="/b"><form method="post" action="/c?x=1&amp;_csrf=T" class="k"><form method="post" class="stacked" action="?_csrf=T">"#
        );
    }

    #[test]
    fn limiter_locks_after_failures_and_stays_bounded() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60), Duration::from_secs(600), 4);
        for _ in 0..2 {
            limiter.fail("ada");
        }
        assert!(limiter.check("ada").is_ok());
        limiter.fail("ada");
        let wait = limiter.check("ada").unwrap_err();
        assert!((1..=60).contains(&wait));
        limiter.succeed("ada");
        assert!(limiter.check("ada").is_ok());
        for i in 0..100 {
            limiter.fail(&format!("name{i}"));
        }
        assert!(limiter.len() <= 4);
    }
}
