//! Who is asking, and may they touch this project? Decided here and only here.
//!
//! Three kinds of callers exist today:
//! - scripts, with a project API key in `x-api-key`: they reach that one
//!   project and nothing else;
//! - a phone that scanned a capture link's QR code, with the link's token
//!   (`?token=` on the capture page, `x-capture-token` on its uploads): it
//!   may open that project's capture page and add photos to it until the
//!   link expires or is revoked, and nothing else ([`CaptureUploader`],
//!   [`CaptureViewer`]); [`resolve`] never looks at the token, so every
//!   other route refuses it;
//! - the local user of a studio running on its own machine (no accounts
//!   yet), recognised by an HttpOnly, SameSite=Strict cookie that every page
//!   sets. The cookie keeps other web sites from driving the studio through
//!   the person's browser (CSRF): they can neither read it nor make the
//!   browser send it.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use rand::RngCore;
use tinystudio_domain::ProjectId;
use tinystudio_storage::capture_links::{self, CaptureLink, LinkState};
use tinystudio_storage::keys::{self, ApiKey};
use tinystudio_storage::projects::{self, Project};
use tinystudio_storage::{Db, settings};

use crate::error::PageError;
use crate::{AppError, AppState};

pub const LOCAL_COOKIE: &str = "tinystudio_local";
pub const API_KEY_HEADER: &str = "x-api-key";
pub const CAPTURE_TOKEN_HEADER: &str = "x-capture-token";

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

#[derive(Debug, Clone)]
pub enum Principal {
    /// The person using the studio on this machine.
    Local,
    /// A script holding one project's key.
    Key(ApiKey),
}

pub fn has_local_cookie(headers: &HeaderMap, secret: &str) -> bool {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == LOCAL_COOKIE && constant_time_eq(value.as_bytes(), secret.as_bytes())
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller, if any credentials came with the request. A key that is
/// present but wrong is an error, never a fall-back to the cookie.
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
    if has_local_cookie(headers, &state.local_secret) {
        return Ok(Some(Principal::Local));
    }
    Ok(None)
}

fn missing_credentials() -> AppError {
    AppError::Unauthorized(
        "missing x-api-key header (create a key on the project's settings page)".into(),
    )
}

/// Access to the project named by the route's `{project_id}`.
pub struct ProjectAccess {
    pub project: Project,
}

impl FromRequestParts<AppState> for ProjectAccess {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = resolve(&parts.headers, state)
            .await?
            .ok_or_else(missing_credentials)?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        let raw = params
            .get("project_id")
            .ok_or_else(|| AppError::Internal("route without {project_id}".into()))?;
        let id: Option<ProjectId> = raw.parse().ok();
        if let Principal::Key(key) = &principal {
            // The same answer whether or not the other project exists, so a
            // key reveals nothing about projects it does not belong to.
            if id != Some(key.project_id) {
                return Err(AppError::Forbidden(
                    "this API key does not belong to the requested project".into(),
                ));
            }
        }
        let id = id.ok_or_else(|| AppError::NotFound("no such project".into()))?;
        let project = projects::get(&state.db, id).await?;
        Ok(Self { project })
    }
}

/// The project of the request's API key, for routes that name no project
/// (the ingestion API).
pub struct KeyProject(pub Project);

impl FromRequestParts<AppState> for KeyProject {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if !parts.headers.contains_key(API_KEY_HEADER) {
            return Err(missing_credentials());
        }
        match resolve(&parts.headers, state).await? {
            Some(Principal::Key(key)) => Ok(Self(projects::get(&state.db, key.project_id).await?)),
            _ => Err(missing_credentials()),
        }
    }
}

/// The local user: pages' form posts and instance-wide API routes.
pub struct LocalUser;

impl FromRequestParts<AppState> for LocalUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match resolve(&parts.headers, state).await? {
            Some(Principal::Local) => Ok(LocalUser),
            Some(Principal::Key(_)) => Err(AppError::Forbidden(
                "a project API key cannot be used for this route".into(),
            )),
            None => Err(AppError::Unauthorized(
                "this route is for the studio's own pages; open the studio in a browser first"
                    .into(),
            )),
        }
    }
}

/// The project id of the route's `{project_id}`; a malformed one is a 404.
async fn route_project_id(parts: &mut Parts, state: &AppState) -> Result<ProjectId, AppError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?;
    params
        .get("project_id")
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| AppError::NotFound("no such project".into()))
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
    /// The local user, on the Dataset or capture page.
    Local,
    /// A phone holding a capture link of this project.
    Link(CaptureLink),
}

/// May add photos to the route's project through the capture upload: the
/// local user, or a live capture link of that project in
/// `x-capture-token`. A token that is present but not good is refused,
/// never a fall-back to the cookie; an API key is refused (scripts have the
/// ingestion API).
pub struct CaptureUploader {
    pub project: Project,
    pub by: Capturer,
}

impl FromRequestParts<AppState> for CaptureUploader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let id = route_project_id(parts, state).await?;
        let by = if let Some(raw) = parts.headers.get(CAPTURE_TOKEN_HEADER) {
            let token = raw.to_str().map_err(|_| {
                AppError::Unauthorized("the x-capture-token header is not valid text".into())
            })?;
            Capturer::Link(capture_link(state, token, id).await?)
        } else {
            match resolve(&parts.headers, state).await? {
                Some(Principal::Local) => Capturer::Local,
                Some(Principal::Key(_)) => {
                    return Err(AppError::Forbidden(
                        "a project API key cannot be used for this route; scripts upload \
                         through /api/{category}/files"
                            .into(),
                    ));
                }
                None => {
                    return Err(AppError::Unauthorized(
                        "capture uploads need the studio's page or a capture link (the QR \
                         code on the Capture panel)"
                            .into(),
                    ));
                }
            }
        };
        Ok(Self {
            project: projects::get(&state.db, id).await?,
            by,
        })
    }
}

/// The capture page: viewing it needs no credentials, like every page (see
/// [`PageProject`]); opened with `?token=` it is a phone's, and the token
/// must be a live capture link of this project.
pub struct CaptureViewer {
    pub project: Project,
    /// The phone's link and its token, to send with each upload.
    pub link: Option<(CaptureLink, String)>,
}

impl FromRequestParts<AppState> for CaptureViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let id = route_project_id(parts, state).await?;
        let token = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| *name == "token")
                .map(|(_, value)| value.to_owned())
        });
        let link = match token {
            Some(token) => Some((capture_link(state, &token, id).await?, token)),
            None => None,
        };
        Ok(Self {
            project: projects::get(&state.db, id).await?,
            link,
        })
    }
}

/// A project page. Pages are the local user's: until accounts exist (see
/// ARCHITECTURE.md), viewing needs no credentials; changing anything goes
/// through a form post that needs [`LocalUser`].
pub struct PageProject(pub Project);

impl FromRequestParts<AppState> for PageProject {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let id = route_project_id(parts, state).await?;
        Ok(Self(projects::get(&state.db, id).await?))
    }
}
