//! Bringing your own model: a `.tflite` checked against the engine at once
//! (every operator it cannot run is named in the answer), then stored under
//! a new import job, which converts, saves and profiles it
//! (`worker/src/jobs/import.rs`).

use tinystudio_deploy::import::{ImportError, InputKind, Inspected, inspect};
use tinystudio_domain::artifacts::IMPORT_UPLOAD;
use tinystudio_domain::impulse::ResizeMode;
use tinystudio_domain::jobs::{Import, ImportPayload, PixelRange};
use tinystudio_domain::{JobId, ProjectId};
use tinystudio_storage::BlobKey;
use tinystudio_storage::jobs::{self, Job};

use crate::{AppError, AppState};

/// What the person sends with the file.
pub struct ImportRequest {
    pub file_name: String,
    pub file: Vec<u8>,
    /// One per output, in order; empty for `class 0`, `class 1`, ...
    pub labels: Vec<String>,
    pub input: InputKind,
}

/// Why an import did not start.
pub enum ImportRefused {
    /// The file: what the engine cannot run, or an input it cannot take.
    Model(ImportError),
    Studio(AppError),
}

impl<E: Into<AppError>> From<E> for ImportRefused {
    fn from(e: E) -> Self {
        ImportRefused::Studio(e.into())
    }
}

/// Labels from a form or query: separated by commas or new lines.
pub fn parse_labels(raw: &str) -> Vec<String> {
    raw.split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The input from a form or query: `input=raw` for raw tensors, else a
/// picture with `resizeMode` and `pixelRange`.
pub fn parse_input(
    input: Option<&str>,
    resize_mode: Option<&str>,
    pixel_range: Option<&str>,
) -> Result<InputKind, AppError> {
    match input.unwrap_or("image") {
        "" | "image" => Ok(InputKind::Image(
            parse_resize_mode(resize_mode)?,
            parse_pixel_range(pixel_range)?,
        )),
        "raw" => Ok(InputKind::Raw),
        other => Err(AppError::BadRequest(format!(
            "input {other:?}: use image or raw"
        ))),
    }
}

fn parse_resize_mode(raw: Option<&str>) -> Result<ResizeMode, AppError> {
    match raw.unwrap_or("squash") {
        "" | "squash" => Ok(ResizeMode::Squash),
        "fitShortest" => Ok(ResizeMode::FitShortest),
        "fitLongest" => Ok(ResizeMode::FitLongest),
        other => Err(AppError::BadRequest(format!(
            "resizeMode {other:?}: use squash, fitShortest or fitLongest"
        ))),
    }
}

fn parse_pixel_range(raw: Option<&str>) -> Result<Option<PixelRange>, AppError> {
    match raw.unwrap_or("") {
        "" | "auto" => Ok(None),
        "zeroToOne" => Ok(Some(PixelRange::ZeroToOne)),
        "minusOneToOne" => Ok(Some(PixelRange::MinusOneToOne)),
        other => Err(AppError::BadRequest(format!(
            "pixelRange {other:?}: use auto, zeroToOne or minusOneToOne"
        ))),
    }
}

/// Checks the file and queues its import; nothing is stored when the
/// engine cannot run it.
pub async fn start_import(
    state: &AppState,
    project: ProjectId,
    req: ImportRequest,
) -> Result<(Job, Inspected), ImportRefused> {
    if req.file.is_empty() {
        return Err(AppError::BadRequest("send the .tflite file".into()).into());
    }
    let file_name = req
        .file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    let file_name = if file_name.is_empty() {
        "model.tflite".to_owned()
    } else {
        file_name
    };
    let ImportRequest {
        file,
        labels,
        input,
        ..
    } = req;
    let (file, inspected) = tokio::task::spawn_blocking(move || {
        let inspected = inspect(&file, &labels, input);
        (file, inspected)
    })
    .await
    .map_err(|e| AppError::Internal(format!("checking the model: {e}")))?;
    let inspected = inspected.map_err(ImportRefused::Model)?;
    let job_id = JobId::new();
    state
        .blobs
        .put(
            &BlobKey::artifact(&job_id.to_string(), IMPORT_UPLOAD)?,
            file.into(),
        )
        .await?;
    let payload = ImportPayload {
        file_name,
        labels: inspected.labels.clone(),
        impulse: inspected.impulse.clone(),
        pixel_scaling: inspected.pixel_range,
    };
    let job = jobs::enqueue_with_id::<Import>(&state.db, job_id, project, &payload).await?;
    Ok((job, inspected))
}
