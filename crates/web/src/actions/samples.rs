//! Sample operations the API and the Dataset page share: listing filters
//! and the upload form.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use tinystudio_domain::{Category, Label, ProjectId, UploadCategory};
use tinystudio_storage::samples::{LabelFilter, SampleFilter};

use super::ingest::{self, CategorySource, FileOutcome, IngestOptions, LabelSource};
use crate::{AppError, AppState};

/// Turns query parameters into a storage filter.
pub fn filter_from(
    category: Option<&str>,
    label: Option<&str>,
    unlabeled: bool,
) -> Result<SampleFilter, AppError> {
    let category = match category.filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<Category>()?),
        None => None,
    };
    let label = if unlabeled {
        Some(LabelFilter::Unlabeled)
    } else {
        label
            .filter(|l| !l.is_empty())
            .map(|l| LabelFilter::Is(l.to_owned()))
    };
    Ok(SampleFilter { category, label })
}

/// Reads an upload form and stores its files.
pub async fn upload_files(
    state: &AppState,
    project_id: ProjectId,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Vec<FileOutcome>, AppError> {
    let multipart = multipart.map_err(|e| {
        AppError::BadRequest(format!(
            "expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })?;
    let body = ingest::read_upload(multipart, state).await?;
    let field = |name: &str| {
        body.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    };
    let category = match field("category") {
        "" | "split" => CategorySource::Fixed(UploadCategory::Split),
        "folder" => CategorySource::Folder,
        other => CategorySource::Fixed(other.parse()?),
    };
    let label = match field("labelMode") {
        "" | "filename" => LabelSource::FileName,
        "folder" => LabelSource::Folder,
        "none" => LabelSource::None,
        "fixed" => LabelSource::Fixed(Label::parse(field("label"))?),
        other => {
            return Err(AppError::BadRequest(format!(
                "labelMode must be fixed, filename, folder or none, not {other:?}"
            )));
        }
    };
    let options = IngestOptions {
        category,
        label,
        disallow_duplicates: field("disallowDuplicates") == "1",
        add_date_id: false,
        metadata: Default::default(),
    };
    ingest::ingest(state, project_id, &options, body.files).await
}
