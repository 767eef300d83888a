//! The upload pipeline shared by the ingestion API and the Dataset page:
//! read the multipart body within limits, then for each file decode it
//! (refusing anything that is not a sound image), store the original and its
//! thumbnail durably, and only then insert the row that points to them.

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use bytes::Bytes;
use serde::Serialize;
use tinystudio_domain::upload::{
    Next, UploadCollector, UploadLimits, base_name, check_file_name, folders,
};
use tinystudio_domain::{
    Label, Metadata, ProjectId, SampleId, UploadCategory, label_from_file_name,
};
use tinystudio_images::{DecodeError, decode, thumbnail_jpeg};
use tinystudio_storage::blobs::sha256_hex;
use tinystudio_storage::samples::{self, NewSample};
use tinystudio_storage::{BlobKey, now_ms};

use crate::{AppError, AppState};

/// One uploaded file, as sent. `path` may hold folders (a browser folder
/// upload sends `cifar3/train/ship/0001.jpg`); only its last part is stored.
pub struct IncomingFile {
    pub path: String,
    pub bytes: Bytes,
}

/// Where each file's label comes from.
#[derive(Debug, Clone)]
pub enum LabelSource {
    Fixed(Label),
    /// The part of the file name before the first `.`, as Edge Impulse does.
    FileName,
    /// The folder the file was in.
    Folder,
    None,
}

/// Where each file's category comes from.
#[derive(Debug, Clone, Copy)]
pub enum CategorySource {
    Fixed(UploadCategory),
    /// A `train`/`training` or `test`/`testing` folder in the file's path;
    /// the automatic split for files in neither.
    Folder,
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub category: CategorySource,
    pub label: LabelSource,
    /// Skip a file whose content the project already holds.
    pub disallow_duplicates: bool,
    /// Make the stored file name unique by adding a date id before the extension.
    pub add_date_id: bool,
    pub metadata: Metadata,
}

/// The result for one file, in the ingestion API's reply format.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileOutcome {
    pub success: bool,
    pub file_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_id: Option<SampleId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The project already held this content and `x-disallow-duplicates`
    /// asked to skip it; `sample_id` names the existing sample.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileOutcome {
    fn failed(file_name: &str, error: impl Into<String>) -> Self {
        Self {
            success: false,
            file_name: file_name.to_owned(),
            sample_id: None,
            label: None,
            category: None,
            duplicate: false,
            error: Some(error.into()),
        }
    }
}

/// The parts of a multipart upload: files (parts named `data`) and the
/// text fields beside them.
pub struct UploadBody {
    pub files: Vec<IncomingFile>,
    pub fields: HashMap<String, String>,
}

const MAX_FIELD_BYTES: usize = 64 * 1024;

fn multipart_error(e: MultipartError, state: &AppState) -> AppError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge(format!(
            "the request body is larger than the limit of {} bytes; send fewer files per request",
            state.config.max_body_bytes
        ))
    } else {
        AppError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Reads the whole body before anything is stored, so a request that fails
/// as a whole (too large, malformed) changes nothing.
///
/// The limits are enforced by `domain::upload::UploadCollector` rather than
/// by a layer, so that a request slightly over a limit is read to its end
/// before the 413 is sent (see there); the fuzz crate drives the same
/// collector from arbitrary bodies.
pub async fn read_upload(
    mut multipart: Multipart,
    state: &AppState,
) -> Result<UploadBody, AppError> {
    let mut collector = UploadCollector::new(UploadLimits {
        max_file_bytes: state.config.max_file_bytes,
        max_body_bytes: state.config.max_body_bytes,
        max_field_bytes: MAX_FIELD_BYTES,
    });
    'parts: while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, state))?
    {
        collector.begin_part(
            field.name().unwrap_or_default(),
            field.file_name().unwrap_or_default(),
        );
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, state))? {
            if collector.chunk(&chunk) == Next::Stop {
                break 'parts;
            }
        }
    }
    let upload = collector.finish().map_err(|refusal| {
        if refusal.is_too_large() {
            AppError::PayloadTooLarge(refusal.to_string())
        } else {
            AppError::BadRequest(refusal.to_string())
        }
    })?;
    Ok(UploadBody {
        files: upload
            .files
            .into_iter()
            .map(|f| IncomingFile {
                path: f.path,
                bytes: Bytes::from(f.bytes),
            })
            .collect(),
        fields: upload.fields,
    })
}

fn with_date_id(name: &str) -> String {
    let id = format!("{:x}{:04x}", now_ms(), rand::random::<u16>());
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{id}.{ext}"),
        _ => format!("{name}.{id}"),
    }
}

/// Stores every file that is a sound image; reports each file's outcome.
pub async fn ingest(
    state: &AppState,
    project_id: ProjectId,
    options: &IngestOptions,
    files: Vec<IncomingFile>,
) -> Result<Vec<FileOutcome>, AppError> {
    let mut outcomes = Vec::with_capacity(files.len());
    for file in files {
        outcomes.push(ingest_one(state, project_id, options, file).await?);
    }
    Ok(outcomes)
}

/// Per-file problems become a failed outcome; storage failures abort the
/// request (files stored before stay stored, each one complete).
async fn ingest_one(
    state: &AppState,
    project_id: ProjectId,
    options: &IngestOptions,
    file: IncomingFile,
) -> Result<FileOutcome, AppError> {
    let original_name = base_name(&file.path).to_owned();
    if let Err(e) = check_file_name(&original_name) {
        return Ok(FileOutcome::failed(&original_name, e));
    }
    let folder_parts = folders(&file.path);
    let label = match &options.label {
        LabelSource::Fixed(label) => Some(label.clone()),
        LabelSource::None => None,
        LabelSource::FileName => match label_from_file_name(&original_name) {
            Ok(label) => Some(label),
            Err(e) => return Ok(FileOutcome::failed(&original_name, e.message)),
        },
        LabelSource::Folder => match folder_parts.last().map(|f| Label::parse(f)) {
            Some(Ok(label)) => Some(label),
            Some(Err(e)) => return Ok(FileOutcome::failed(&original_name, e.message)),
            None => {
                return Ok(FileOutcome::failed(
                    &original_name,
                    "the label comes from the folder name, but this file is not in a folder",
                ));
            }
        },
    };

    let limits = state.config.decode;
    let bytes = file.bytes.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        decode(&bytes, &limits).map(|d| {
            let thumb = thumbnail_jpeg(&d.image);
            (
                d.width(),
                d.height(),
                d.content_type(),
                thumb,
                sha256_hex(&bytes),
            )
        })
    })
    .await
    .map_err(|e| AppError::Internal(format!("decode task: {e}")))?;
    let (width, height, content_type, thumbnail, sha) = match decoded {
        Ok(d) => d,
        Err(e) => {
            return Ok(FileOutcome::failed(
                &original_name,
                describe(&original_name, &e),
            ));
        }
    };

    let sha_bytes: [u8; 32] = hex::decode(&sha)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| AppError::Internal("sha256 hex".into()))?;
    let requested = match options.category {
        CategorySource::Fixed(c) => c,
        CategorySource::Folder => folder_parts
            .iter()
            .rev()
            .find_map(|f| match f.to_ascii_lowercase().as_str() {
                "train" | "training" => Some(UploadCategory::Training),
                "test" | "testing" => Some(UploadCategory::Testing),
                _ => None,
            })
            .unwrap_or(UploadCategory::Split),
    };

    let existing = samples::find_by_hash(&state.db, project_id, &sha).await?;
    let category = match &existing {
        None => requested.resolve(&sha_bytes),
        Some(existing) if options.disallow_duplicates => {
            // Edge Impulse's wording and per-file rejection, so its clients
            // report the file as skipped and go on with the others.
            return Ok(FileOutcome {
                success: false,
                file_name: original_name,
                sample_id: Some(existing.id),
                label: existing.label.clone(),
                category: Some(existing.category.to_string()),
                duplicate: true,
                error: Some(format!(
                    "An item with this hash already exists (ids: {})",
                    existing.id
                )),
            });
        }
        // A copy goes where its original is: the same image in training
        // and testing would make the test accuracy a measure of memory.
        Some(existing) if requested == UploadCategory::Split => existing.category,
        Some(existing) if requested.resolve(&sha_bytes) == existing.category => existing.category,
        Some(existing) => {
            return Ok(FileOutcome::failed(
                &original_name,
                format!(
                    "{original_name}: the same image is already in {} as sample {} ({}); \
                     a copy in {} would put one image in both sets",
                    existing.category,
                    existing.id,
                    existing.file_name,
                    requested.resolve(&sha_bytes),
                ),
            ));
        }
    };

    // Blobs first, synced; the row that points to them last.
    let stored = async {
        state
            .blobs
            .put(&BlobKey::sample(&sha)?, file.bytes.clone())
            .await?;
        state
            .blobs
            .put(&BlobKey::thumbnail(&sha)?, Bytes::from(thumbnail))
            .await
    };
    stored
        .await
        .map_err(|e| storing_failed(&original_name, e.into()))?;
    let file_name = if options.add_date_id {
        with_date_id(&original_name)
    } else {
        original_name
    };
    let sample = samples::insert(
        &state.db,
        NewSample {
            project_id,
            file_name,
            label,
            category,
            sha256: sha,
            size_bytes: file.bytes.len() as i64,
            width: width as i64,
            height: height as i64,
            content_type: content_type.to_owned(),
            metadata: options.metadata.clone(),
        },
    )
    .await?;
    Ok(FileOutcome {
        success: true,
        file_name: sample.file_name,
        sample_id: Some(sample.id),
        label: sample.label,
        category: Some(sample.category.to_string()),
        duplicate: false,
        error: None,
    })
}

/// A server fault while storing names the file it stopped at, so a client
/// knows what to send again: earlier files of the request were stored.
fn storing_failed(file_name: &str, e: AppError) -> AppError {
    let what = |m: String| format!("{m}; {file_name:?} and the files after it were not stored");
    match e {
        AppError::InsufficientStorage(m) => AppError::InsufficientStorage(what(m)),
        AppError::Unavailable(m) => AppError::Unavailable(what(m)),
        other => other,
    }
}

fn describe(file_name: &str, e: &DecodeError) -> String {
    format!("{file_name}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_id_goes_before_the_extension() {
        let named = with_date_id("car.jpg");
        assert!(named.starts_with("car.") && named.ends_with(".jpg") && named.len() > 8);
        assert!(with_date_id("noext").starts_with("noext."));
    }
}
