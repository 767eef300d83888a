use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tinystudio_domain::ValidationError;
use tinystudio_storage::StorageError;

/// Every way a request can fail. Renders as `{"success": false, "error":
/// "..."}` for the API; pages wrap it in [`crate::pages::PageError`] to get
/// an HTML page instead. Internal errors are logged here, once, and their
/// details never reach the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The server cannot do this now (database unreachable, blob folder
    /// read-only, no admin yet on a networked studio); the message says
    /// which, so an operator knows what to fix.
    #[error("{0}")]
    Unavailable(String),
    /// No room left to store the request's files.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Stored data was found damaged; the message names it.
    #[error("{0}")]
    Damaged(String),
    /// Too many failed logins from one address or for one name.
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Damaged(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message the client sees.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; the server log has the details".into()
            }
            AppError::Unavailable(message) | AppError::InsufficientStorage(message) => {
                tracing::warn!(error = %message, "request refused by a server fault");
                message.clone()
            }
            other => other.to_string(),
        }
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => AppError::NotFound(format!("no such {what}")),
            StorageError::Conflict(msg) => AppError::Conflict(msg),
            StorageError::DiskFull(detail) => AppError::InsufficientStorage(format!(
                "the studio's storage is full ({detail}): nothing more can be stored until \
                 space is freed on the server"
            )),
            StorageError::NotWritable(detail) => AppError::Unavailable(format!(
                "the studio cannot write to its data folder ({detail}): make the blob folder \
                 writable again"
            )),
            // Logged once where it was found (the blob store).
            e @ StorageError::DamagedBlob { .. } => AppError::Damaged(format!(
                "{e}; restore it from a backup, or make it again (upload the sample again, \
                 train the model again)"
            )),
            e if e.is_unavailable() => AppError::Unavailable(format!(
                "the database is unreachable right now ({e}); try again shortly"
            )),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "success": false, "error": self.public_message() });
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A restarting database is back within seconds; clients that
            // honour the header wait rather than hammer.
            return (status, [(axum::http::header::RETRY_AFTER, "5")], Json(body)).into_response();
        }
        (status, Json(body)).into_response()
    }
}

/// An [`AppError`] shown as an HTML page.
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.0.public_message(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, page.message).into_response(),
        }
    }
}
