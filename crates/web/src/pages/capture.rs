//! Capture from a camera: the Capture panel (on the Dataset page and on a
//! page of its own), the phone's view of that page opened through a capture
//! link, and the links themselves (QR codes).

use askama::Template;
use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_domain::impulse::{ColorDepth, ResizeMode};
use tinystudio_domain::{CaptureLinkId, ProjectId};
use tinystudio_storage::capture_links::{self, CaptureLink};
use tinystudio_storage::projects::Project;
use tinystudio_storage::samples::{self, Counts};

use super::{Nav, PageError, human_time, render};
use crate::actions::capture::{self as action, NewLink, reachability_problem};
use crate::actions::parse_id;
use crate::actions::training::current_impulse;
use crate::auth::{CaptureUploader, CaptureViewer, PageProject, Person};
use crate::{AppError, AppState};

/// What the Capture panel needs, on whichever page it sits: where photos
/// go, and the impulse's input so the preview shows the model's crop.
pub struct CapturePanel {
    pub project_id: String,
    pub upload_url: String,
    /// The phone's capture token, sent with each upload; empty for the
    /// local user, whose cookie authorises the upload.
    pub token: String,
    pub width: u32,
    pub height: u32,
    /// `squash`, `fitShortest` or `fitLongest`, as the impulse names them.
    pub resize_mode: &'static str,
    pub grayscale: bool,
    pub labels: Vec<String>,
    pub counts: Counts,
}

impl CapturePanel {
    pub async fn new(
        state: &AppState,
        project: ProjectId,
        token: Option<&str>,
    ) -> Result<Self, AppError> {
        let (_, impulse) = current_impulse(state, project).await?;
        let counts = samples::counts(&state.db, project).await?;
        Ok(Self {
            project_id: project.to_string(),
            upload_url: format!("/projects/{project}/capture/upload"),
            token: token.unwrap_or_default().to_owned(),
            width: impulse.input.width,
            height: impulse.input.height,
            resize_mode: match impulse.input.resize_mode {
                ResizeMode::Squash => "squash",
                ResizeMode::FitShortest => "fitShortest",
                ResizeMode::FitLongest => "fitLongest",
            },
            grayscale: impulse.image.color_depth == ColorDepth::Grayscale,
            labels: counts
                .labels
                .iter()
                .filter_map(|l| l.label.clone())
                .collect(),
            counts,
        })
    }

    /// The impulse's input in words, under the preview.
    pub fn describe(&self) -> String {
        let mode = match self.resize_mode {
            "fitShortest" => "crop to fit the shortest side",
            "fitLongest" => "fit the longest side, black bars",
            _ => "squash",
        };
        let colour = if self.grayscale { "grayscale" } else { "RGB" };
        format!("{}×{} · {mode} · {colour}", self.width, self.height)
    }

    pub fn label_name<'a>(&self, label: &'a Option<String>) -> &'a str {
        label.as_deref().unwrap_or("unlabeled")
    }
}

#[derive(Template)]
#[template(path = "capture/page.html")]
struct CapturePage {
    /// `None` on a phone's view, which links to nothing else.
    nav: Option<Nav>,
    project_name: String,
    capture: CapturePanel,
    /// A link just made: its QR code and URL, shown this once.
    issued: Option<Issued>,
    links: Vec<CaptureLink>,
    problem: Option<String>,
    done: Option<String>,
    /// The phone's link, for its expiry.
    phone_expires: Option<String>,
}

#[derive(Clone)]
struct Issued {
    url: String,
    qr: String,
    expires: String,
}

impl CapturePage {
    fn when(&self, ms: &i64) -> String {
        human_time(*ms)
    }
}

#[derive(Deserialize, Default)]
pub struct CaptureQuery {
    done: Option<String>,
    /// The one-time token of a link just made (see `flash`).
    link: Option<String>,
}

/// Marks a response that must not hand out the local user's cookie (see
/// `pages::set_local_cookie`): a page opened with a capture link is a
/// phone's, and the link is all it may hold.
#[derive(Clone, Copy)]
pub struct NoLocalCookie;

async fn show(
    state: &AppState,
    project: &Project,
    issued: Option<Issued>,
    done: Option<String>,
) -> Result<Response, PageError> {
    Ok(render(&CapturePage {
        nav: Some(Nav::new(project, "dataset")),
        project_name: project.name.clone(),
        capture: CapturePanel::new(state, project.id, None).await?,
        issued,
        links: capture_links::list_active(&state.db, project.id).await?,
        problem: reachability_problem(state),
        done,
        phone_expires: None,
    })?
    .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    viewer: CaptureViewer,
    Query(q): Query<CaptureQuery>,
) -> Result<Response, PageError> {
    let Some((link, token)) = viewer.link else {
        // A link just made is shown once: a reload shows the page without it.
        let issued = q
            .link
            .as_deref()
            .and_then(|t| state.flashes.take::<Issued>(viewer.project.id, t));
        let no_store = issued.is_some();
        let mut response = show(&state, &viewer.project, issued, q.done).await?;
        if no_store {
            // A page holding a live token is not kept in the browser's cache.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        return Ok(response);
    };
    let mut response = render(&CapturePage {
        nav: None,
        project_name: viewer.project.name.clone(),
        capture: CapturePanel::new(&state, viewer.project.id, Some(&token)).await?,
        issued: None,
        links: Vec::new(),
        problem: None,
        done: None,
        phone_expires: Some(human_time(link.expires_at)),
    })?
    .into_response();
    response.extensions_mut().insert(NoLocalCookie);
    // The token is in this page's URL: keep it out of Referer headers and
    // out of caches.
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct LinkForm {
    minutes: Option<i64>,
}

/// "Use a phone": makes a link and sends the browser to the capture page,
/// which shows its QR code once (post, redirect, get: a reload makes no
/// other link). The redirect's URL holds a one-time token for the link
/// (`flash`), not the link.
pub async fn create_link(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let issued = action::create_link(
        &state,
        project.id,
        &headers,
        &NewLink {
            minutes: form.minutes,
        },
    )
    .await?;
    let qr = action::qr_data_url(&issued.url)?;
    let token = state.flashes.put(
        project.id,
        Issued {
            qr,
            expires: human_time(issued.link.expires_at),
            url: issued.url,
        },
    );
    Ok(Redirect::to(&format!("/projects/{}/capture?link={token}", project.id)).into_response())
}

pub async fn revoke_link(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Path((_, link_id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let id: CaptureLinkId = parse_id(&link_id, "capture link")?;
    capture_links::revoke(&state.db, project.id, id).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/capture?done={}",
        project.id,
        super::view::url_encode("Link revoked: its QR code opens nothing now.")
    )))
}

/// One capture request's photos, from the panel's JavaScript (the camera
/// needs it, so this answers JSON only).
pub async fn upload(
    State(state): State<AppState>,
    uploader: CaptureUploader,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<axum::Json<action::CaptureReply>, AppError> {
    let project = uploader.project.id;
    let reply = action::upload(&state, project, multipart).await?;
    if let crate::auth::Capturer::Link(link) = &uploader.by {
        tracing::info!(
            project.id = %project,
            capture_link.id = %link.id,
            files = reply.files.len(),
            "capture upload through a link"
        );
    }
    Ok(axum::Json(reply))
}
