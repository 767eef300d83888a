use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{Category, Label, SampleId};
use tinystudio_storage::BlobKey;
use tinystudio_storage::samples::{self, SampleChange};

use super::{ApiJson, ApiQuery, parse_id};
use crate::actions::samples::{filter_from, upload_files};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

/// Most samples one page may hold.
pub const MAX_PAGE: i64 = 1000;
/// Most samples one bulk request may name.
pub const MAX_BULK: usize = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    category: Option<String>,
    label: Option<String>,
    /// `true` lists only samples without a label.
    unlabeled: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let filter = filter_from(
        q.category.as_deref(),
        q.label.as_deref(),
        q.unlabeled.unwrap_or(false),
    )?;
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) || offset < 0 {
        return Err(AppError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE} and offset at least 0"
        )));
    }
    let (total, samples) =
        samples::list(&state.db, access.project.id, &filter, limit, offset).await?;
    Ok(Json(json!({ "total": total, "samples": samples })))
}

pub async fn counts(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    Ok(Json(json!(
        samples::counts(&state.db, access.project.id).await?
    )))
}

fn sample_id(raw: &str) -> Result<SampleId, AppError> {
    parse_id(raw, "sample")
}

pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(json!(
        samples::get(&state.db, access.project.id, sample_id(&id)?).await?
    )))
}

/// A change to one or many samples, as the API receives it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeBody {
    /// A new label, or `null` to remove the label.
    #[serde(default, with = "double_option")]
    label: Option<Option<String>>,
    category: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

impl ChangeBody {
    pub fn into_change(self) -> Result<SampleChange, AppError> {
        let label = match self.label {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => Some(Some(Label::parse(&raw)?)),
        };
        let category = self.category.map(|c| c.parse::<Category>()).transpose()?;
        if label.is_none() && category.is_none() {
            return Err(AppError::BadRequest(
                "nothing to change: send \"label\" and/or \"category\"".into(),
            ));
        }
        Ok(SampleChange { label, category })
    }
}

pub async fn update(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<Value>, AppError> {
    let id = sample_id(&id)?;
    let change = body.into_change()?;
    samples::update(&state.db, access.project.id, &[id], &change).await?;
    Ok(Json(json!(
        samples::get(&state.db, access.project.id, id).await?
    )))
}

pub async fn delete(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    samples::delete(&state.db, access.project.id, &[sample_id(&id)?]).await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkBody {
    ids: Vec<String>,
    /// `"delete"` or `"update"`.
    action: String,
    #[serde(default, with = "double_option")]
    label: Option<Option<String>>,
    category: Option<String>,
}

/// One change applied to many samples, all or nothing.
pub async fn bulk(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<Value>, AppError> {
    if body.ids.is_empty() || body.ids.len() > MAX_BULK {
        return Err(AppError::BadRequest(format!(
            "ids must list 1 to {MAX_BULK} samples"
        )));
    }
    let ids = body
        .ids
        .iter()
        .map(|id| sample_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let affected = match body.action.as_str() {
        "delete" => samples::delete(&state.db, access.project.id, &ids).await?,
        "update" => {
            let change = ChangeBody {
                label: body.label,
                category: body.category,
            }
            .into_change()?;
            samples::update(&state.db, access.project.id, &ids, &change).await?
        }
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown action {other:?}: use \"update\" or \"delete\""
            )));
        }
    };
    Ok(Json(json!({ "success": true, "affected": affected })))
}

pub async fn rebalance(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let moved = samples::rebalance(&state.db, access.project.id).await?;
    let counts = samples::counts(&state.db, access.project.id).await?;
    Ok(Json(
        json!({ "success": true, "moved": moved, "counts": counts }),
    ))
}

fn image_response(content_type: &str, bytes: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            // A sample's content never changes.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub async fn image(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let sample = samples::get(&state.db, access.project.id, sample_id(&id)?).await?;
    let bytes = state
        .blobs
        .get(&BlobKey::sample(&sample.sha256)?)
        .await?
        .ok_or_else(|| AppError::Internal(format!("blob of sample {} is missing", sample.id)))?;
    Ok(image_response(&sample.content_type, bytes))
}

/// The cached thumbnail; made again from the original if it went missing.
pub async fn thumbnail(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let sample = samples::get(&state.db, access.project.id, sample_id(&id)?).await?;
    let key = BlobKey::thumbnail(&sample.sha256)?;
    if let Some(bytes) = state.blobs.get(&key).await? {
        return Ok(image_response("image/jpeg", bytes));
    }
    let original = state
        .blobs
        .get(&BlobKey::sample(&sample.sha256)?)
        .await?
        .ok_or_else(|| AppError::Internal(format!("blob of sample {} is missing", sample.id)))?;
    let limits = state.config.decode;
    let thumb = tokio::task::spawn_blocking(move || {
        tinystudio_images::decode(&original, &limits)
            .map(|d| tinystudio_images::thumbnail_jpeg(&d.image))
    })
    .await
    .map_err(|e| AppError::Internal(format!("thumbnail task: {e}")))?
    .map_err(|e| {
        AppError::Internal(format!(
            "stored sample {} no longer decodes: {e}",
            sample.id
        ))
    })?;
    let thumb = Bytes::from(thumb);
    state.blobs.put(&key, thumb.clone()).await?;
    Ok(image_response("image/jpeg", thumb))
}

/// Upload through the project's own route (the Dataset page uses it): the
/// same pipeline as the ingestion API, with options as form fields
/// (`category`: training, testing, split or folder; `labelMode`: fixed,
/// filename, folder or none; `label`).
pub async fn upload(
    State(state): State<AppState>,
    access: ProjectAccess,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, AppError> {
    let files = upload_files(&state, access.project.id, multipart).await?;
    Ok(Json(json!({ "success": true, "files": files })))
}
