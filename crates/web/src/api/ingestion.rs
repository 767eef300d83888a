//! `POST /api/{training|testing|split}/files`, wire-compatible with Edge
//! Impulse's ingestion service, so existing upload scripts and Edge
//! Impulse's own clients work against the studio.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tinystudio_domain::{Label, UploadCategory, parse_metadata};

use crate::actions::ingest::{self, CategorySource, IngestOptions, LabelSource};
use crate::auth::KeyProject;
use crate::{AppError, AppState};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| AppError::BadRequest(format!("the {name} header is not valid text")))
        })
        .transpose()
}

fn flag(headers: &HeaderMap, name: &str) -> Result<bool, AppError> {
    Ok(matches!(
        header(headers, name)?.map(str::trim),
        Some("1" | "true")
    ))
}

/// Reads the `x-*` headers; any problem fails the whole request before a
/// file is stored.
pub fn options_from_headers(
    headers: &HeaderMap,
    category: UploadCategory,
) -> Result<IngestOptions, AppError> {
    let label = if flag(headers, "x-no-label")? {
        LabelSource::None
    } else if let Some(raw) = header(headers, "x-label")? {
        // Edge Impulse's clients percent-encode the label.
        let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| {
            AppError::BadRequest("x-label is not valid percent-encoded UTF-8".into())
        })?;
        LabelSource::Fixed(
            Label::parse(&decoded)
                .map_err(|e| AppError::BadRequest(format!("x-label {}", e.message)))?,
        )
    } else {
        LabelSource::FileName
    };
    let metadata = match header(headers, "x-metadata")? {
        Some(raw) => parse_metadata(raw)?,
        None => Default::default(),
    };
    Ok(IngestOptions {
        category: CategorySource::Fixed(category),
        label,
        disallow_duplicates: flag(headers, "x-disallow-duplicates")?,
        add_date_id: flag(headers, "x-add-date-id")?,
        metadata,
    })
}

pub async fn files(
    State(state): State<AppState>,
    KeyProject(project): KeyProject,
    Path(category): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, AppError> {
    let category: UploadCategory = category.parse().map_err(|_| {
        AppError::NotFound(format!(
            "no ingestion route /api/{category}/files: use training, testing or split"
        ))
    })?;
    let options = options_from_headers(&headers, category)?;
    let multipart = multipart.map_err(|e| {
        AppError::BadRequest(format!(
            "expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })?;
    let body = ingest::read_upload(multipart, &state).await?;
    let files = ingest::ingest(&state, project.id, &options, body.files).await?;
    Ok(Json(json!({ "success": true, "files": files })))
}
