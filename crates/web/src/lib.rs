//! The web server: HTML pages for people, a JSON API for scripts, and the
//! Edge-Impulse-compatible ingestion API, all over one [`AppState`].
//!
//! Layout: `api/` holds the JSON routes, `pages/` the HTML ones (one askama
//! page struct per page, its template under `templates/` at the same path),
//! `actions/` the operations both call (uploads, classification, starting
//! jobs; the two never call each other), `auth.rs` the one place that
//! decides who may touch which project.

mod actions;
mod api;
mod assets;
mod auth;
mod error;
mod pages;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use tinystudio_images::DecodeLimits;
use tinystudio_storage::{BlobStore, Db};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use auth::Access;
pub use error::AppError;
pub use routes::{RouteInfo, list as route_list};

/// Limits and switches of the web layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Largest request body accepted by upload routes, in bytes.
    pub max_body_bytes: usize,
    /// Largest single uploaded file, in bytes.
    pub max_file_bytes: usize,
    /// Limits applied when decoding uploads.
    pub decode: DecodeLimits,
    /// How long an unreferenced blob is kept before collection; protects
    /// blobs of uploads that are about to commit.
    pub gc_grace_ms: i64,
    /// Where flashing tools and a Pico's drive are looked for.
    pub flash: tinystudio_deploy::FlashConfig,
    /// Capture links (the phone's QR code) start with this instead of the
    /// address the browser used, e.g. behind a proxy (`--public-url`).
    pub public_url: Option<String>,
    /// The server speaks https (`--tls`), so links to it are `https://`.
    pub tls: bool,
    /// The server listens on loopback only, so a phone cannot reach it; set
    /// by the app from the address it binds.
    pub loopback_only: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024 * 1024,
            max_file_bytes: 32 * 1024 * 1024,
            decode: DecodeLimits::default(),
            gc_grace_ms: 10 * 60 * 1000,
            flash: Default::default(),
            public_url: None,
            tls: false,
            loopback_only: true,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
    pub config: Arc<WebConfig>,
    /// Value of the local-user cookie (see `auth`).
    pub(crate) local_secret: Arc<str>,
    /// Boards on this machine's serial ports (`actions::board`).
    pub(crate) boards: actions::board::Boards,
    /// Whether accounts exist (the studio's mode, see `auth`).
    pub(crate) accounts: Arc<auth::AccountsFlag>,
    /// Failed sign-ins and join codes, per account and per address.
    pub(crate) limits: Arc<auth::Limits>,
    /// The one-time token of the first-run setup page (`/setup`), made when
    /// the studio listens beyond loopback with no accounts; printed in the
    /// log, never served.
    pub setup_token: Option<Arc<str>>,
    /// What form posts hand to the pages they redirect to (`pages::flash`).
    pub(crate) flashes: Arc<pages::flash::Flashes>,
}

impl AppState {
    pub async fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        config: WebConfig,
    ) -> Result<Self, AppError> {
        let local_secret = auth::local_secret(&db).await?;
        let accounts = Arc::new(auth::AccountsFlag::default());
        let setup_token = if !config.loopback_only && !accounts.get(&db).await? {
            let token = auth::new_setup_token();
            tracing::warn!(
                "this studio listens beyond this machine and has no accounts: it serves no \
                 projects until an admin exists. Make one with `tinystudio user create --admin \
                 NAME`, or open /setup and enter this one-time setup token: {token}"
            );
            Some(token.into())
        } else {
            None
        };
        Ok(Self {
            db,
            blobs,
            config: Arc::new(config),
            local_secret: local_secret.into(),
            boards: Default::default(),
            accounts,
            limits: Default::default(),
            setup_token,
            flashes: Default::default(),
        })
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    routes::router(&state)
        .fallback(|| async { AppError::NotFound("no such page or API route".into()) })
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'",
            ),
        ))
        .layer(axum::middleware::from_fn(close_after_error_with_body))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// An error can answer a request before its body is read (a query string
/// refused before the upload), and the server then drops the rest of the
/// body by closing the connection. `Connection: close` on errors to
/// requests with a body says so: a client that kept the connection for its
/// next request would see it closed under that request (hyper's clients
/// fail with "incomplete message").
async fn close_after_error_with_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|n| n.as_bytes() != b"0");
    let mut response = next.run(req).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
