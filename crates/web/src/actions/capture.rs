//! Capture from a camera: the link a phone opens (QR code), and the upload
//! each photo makes, which is the Dataset page's upload with the counts the
//! panel's counter shows.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::HeaderMap;
use axum::http::uri::Authority;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tinystudio_domain::ProjectId;
use tinystudio_storage::capture_links::{self, CaptureLink};
use tinystudio_storage::samples::{self, Counts};

use super::ingest::FileOutcome;
use super::samples::upload_files;
use crate::{AppError, AppState};

/// How long a new link lives unless the caller asks otherwise: long enough
/// to collect a few labels, short enough that a photographed QR code soon
/// opens nothing.
pub const DEFAULT_LIFETIME_MINUTES: i64 = 30;
/// The longest a link may live: one working day.
pub const MAX_LIFETIME_MINUTES: i64 = 24 * 60;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLink {
    /// Lifetime in minutes, 1 to [`MAX_LIFETIME_MINUTES`].
    pub minutes: Option<i64>,
}

/// A link just made: the only time its token and URL exist outside the phone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedLink {
    #[serde(flatten)]
    pub link: CaptureLink,
    pub token: String,
    /// The capture page with the token, for the QR code.
    pub url: String,
}

pub async fn create_link(
    state: &AppState,
    project: ProjectId,
    headers: &HeaderMap,
    request: &NewLink,
) -> Result<IssuedLink, AppError> {
    let minutes = request.minutes.unwrap_or(DEFAULT_LIFETIME_MINUTES);
    if !(1..=MAX_LIFETIME_MINUTES).contains(&minutes) {
        return Err(AppError::BadRequest(format!(
            "minutes must be 1 to {MAX_LIFETIME_MINUTES}, not {minutes}"
        )));
    }
    // Checked before anything is stored, so a bad Host header makes no link.
    let base = base_url(state, headers)?;
    let (link, token) = capture_links::create(&state.db, project, minutes * 60 * 1000).await?;
    let url = format!("{base}/projects/{project}/capture?token={token}");
    Ok(IssuedLink { link, token, url })
}

/// Where a phone reaches this studio: `--public-url` when given, else the
/// address the browser used for the page that asks (its Host header).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(public) = &state.config.public_url {
        return Ok(public.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| AppError::BadRequest("the request has no Host header".into()))?;
    let authority: Authority = host
        .parse()
        .map_err(|_| AppError::BadRequest(format!("the Host header {host:?} is not a host")))?;
    let scheme = if state.config.tls { "https" } else { "http" };
    Ok(format!("{scheme}://{authority}"))
}

/// What stops a phone from using a link, said so the person can fix it;
/// `None` when nothing does.
pub fn reachability_problem(state: &AppState) -> Option<String> {
    if state.config.public_url.is_some() {
        return None;
    }
    if state.config.loopback_only {
        return Some(
            "This studio listens on this computer only (127.0.0.1), so a phone cannot open \
             the link. Restart it with tinystudio serve --listen 0.0.0.0:4000 --tls and \
             open the studio at this computer's network address, or give --public-url."
                .into(),
        );
    }
    if !state.config.tls {
        return Some(
            "Phones open the camera only on https pages: restart the studio with --tls \
             (or put it behind an https proxy and give --public-url)."
                .into(),
        );
    }
    None
}

/// The QR code of `text` as an SVG data URL, for an `<img>` (the page's
/// Content-Security-Policy allows `data:` images, and an image needs no
/// JavaScript). The `qrcode` crate does the encoding: error correction
/// and masking are not worth writing by hand.
pub fn qr_data_url(text: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The reply to one capture upload.
#[derive(Debug, Serialize)]
pub struct CaptureReply {
    pub success: bool,
    pub files: Vec<FileOutcome>,
    /// The project's counts after this upload, for the panel's counter.
    pub counts: Counts,
}

/// Stores the photos of one capture request through the Dataset page's
/// upload (same limits, duplicate check and split).
pub async fn upload(
    state: &AppState,
    project: ProjectId,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<CaptureReply, AppError> {
    let files = upload_files(state, project, multipart).await?;
    let counts = samples::counts(&state.db, project).await?;
    Ok(CaptureReply {
        success: files.iter().all(|f| f.success),
        files,
        counts,
    })
}
