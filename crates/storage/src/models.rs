//! Trained models, versioned per project. The files (weights, int8 blob,
//! `.tflite`) are artifacts in the blob store owned by the model's id.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::jobs::Imported;
use tinystudio_domain::model::ModelMetrics;
use tinystudio_domain::{ImpulseConfig, JobId, ModelId, ProjectId};

use crate::blobs::get_checked;
use crate::projects::parse_id;
use crate::{BlobKey, BlobStore, Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub id: ModelId,
    pub project_id: ProjectId,
    pub version: i64,
    pub impulse_version: i64,
    pub job_id: JobId,
    pub labels: Vec<String>,
    pub metrics: ModelMetrics,
    pub created_at: i64,
    /// Brought in as a `.tflite` file rather than trained here (then
    /// `impulse_version` is the project's impulse at the time, unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
    /// SHA-256 of each of its files, by name; empty for models saved before
    /// hashes were recorded (their files are read unchecked).
    #[serde(skip)]
    pub artifact_hashes: BTreeMap<String, String>,
}

impl Model {
    /// An imported model whose input is not a picture: its input bytes are
    /// the int8 tensor, and it has no impulse.
    pub fn takes_raw_tensors(&self) -> bool {
        self.imported.as_ref().is_some_and(|i| i.impulse.is_none())
    }
}

const COLUMNS: &str = "id, project_id, version, impulse_version, job_id, labels, metrics, created_at, \
     artifact_hashes, imported";

fn from_row(row: &AnyRow) -> Result<Model> {
    let corrupt = |e: serde_json::Error| StorageError::Corrupt(format!("model: {e}"));
    Ok(Model {
        id: parse_id(&row.try_get::<String, _>("id")?, "model id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        version: row.try_get("version")?,
        impulse_version: row.try_get("impulse_version")?,
        job_id: parse_id(&row.try_get::<String, _>("job_id")?, "job id")?,
        labels: serde_json::from_str(&row.try_get::<String, _>("labels")?).map_err(corrupt)?,
        metrics: serde_json::from_str(&row.try_get::<String, _>("metrics")?).map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
        imported: match row.try_get::<Option<String>, _>("imported")? {
            Some(json) => Some(serde_json::from_str(&json).map_err(corrupt)?),
            None => None,
        },
        artifact_hashes: match row.try_get::<Option<String>, _>("artifact_hashes")? {
            Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
            None => BTreeMap::new(),
        },
    })
}

/// One of the model's files, checked against the hash recorded when it was
/// saved: a damaged file is [`StorageError::DamagedBlob`], never returned.
pub async fn read_artifact(
    blobs: &dyn BlobStore,
    model: &Model,
    name: &str,
) -> Result<Option<Bytes>> {
    let key = BlobKey::artifact(&model.id.to_string(), name)?;
    let expected = model.artifact_hashes.get(name).map(String::as_str);
    get_checked(blobs, &key, expected).await
}

/// What a new model row records besides its id and project.
pub struct NewModel<'a> {
    pub impulse_version: i64,
    /// The job that made it (a training or an import).
    pub job_id: JobId,
    pub labels: &'a [String],
    pub metrics: &'a ModelMetrics,
    /// SHA-256 of each of its files (already stored), by name.
    pub artifact_hashes: &'a BTreeMap<String, String>,
    pub imported: Option<&'a Imported>,
}

/// Records a model made by `new.job_id`, whose files are owned by `id`. A
/// job that runs twice (its first worker died after saving) gets its first
/// model back instead of a second.
pub async fn insert(
    db: &Db,
    id: ModelId,
    project_id: ProjectId,
    new: NewModel<'_>,
) -> Result<Model> {
    let NewModel {
        impulse_version,
        job_id,
        labels,
        metrics,
        artifact_hashes,
        imported,
    } = new;
    if let Some(existing) = by_job(db, job_id).await? {
        return Ok(existing);
    }
    let labels = serde_json::to_string(labels).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let metrics =
        serde_json::to_string(metrics).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let hashes =
        serde_json::to_string(artifact_hashes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let imported = imported
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
    // Versions are taken as MAX + 1; two workers saving at once may pick the
    // same one, and the loser of the unique constraint tries the next.
    for _ in 0..20 {
        let inserted = sqlx::query(
            "INSERT INTO models (id, project_id, version, impulse_version, job_id, labels, metrics, created_at, artifact_hashes, imported) \
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6, $7, $8, $9 FROM models WHERE project_id = $2",
        )
        .bind(id.to_string())
        .bind(project_id.to_string())
        .bind(impulse_version)
        .bind(job_id.to_string())
        .bind(&labels)
        .bind(&metrics)
        .bind(now_ms())
        .bind(&hashes)
        .bind(imported.as_deref())
        .execute(&db.pool)
        .await;
        match inserted {
            Ok(_) => return get(db, project_id, id).await,
            Err(e) if crate::db::is_unique_violation(&e) => {
                // The same job saved by a twin run: that model stands.
                if let Some(existing) = by_job(db, job_id).await? {
                    return Ok(existing);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Conflict(
        "could not number the model: too many concurrent saves".into(),
    ))
}

pub async fn by_job(db: &Db, job_id: JobId) -> Result<Option<Model>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM models WHERE job_id = $1"))
        .bind(job_id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(db: &Db, project_id: ProjectId, id: ModelId) -> Result<Model> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM models WHERE id = $1 AND project_id = $2"
    ))
    .bind(id.to_string())
    .bind(project_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StorageError::NotFound("model"))?;
    from_row(&row)
}

/// The project's models, newest first.
pub async fn list(db: &Db, project_id: ProjectId) -> Result<Vec<Model>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM models WHERE project_id = $1 ORDER BY version DESC"
    ))
    .bind(project_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// How a board fits camera frames to `model` (firmware and libraries): its
/// impulse's resize mode; the default for a model that takes raw tensors,
/// which has no camera loop.
pub async fn resize_mode_of(
    db: &Db,
    model: &Model,
) -> Result<tinystudio_domain::impulse::ResizeMode> {
    if model.takes_raw_tensors() {
        return Ok(Default::default());
    }
    Ok(impulse_of(db, model).await?.input.resize_mode)
}

/// The impulse `model` was trained with: the version its training job
/// saved, which never changes; for an imported model, its input as the
/// person confirmed it.
pub async fn impulse_of(db: &Db, model: &Model) -> Result<ImpulseConfig> {
    if let Some(imported) = &model.imported {
        return imported.impulse.clone().ok_or_else(|| {
            StorageError::Conflict(format!(
                "model v{} takes raw tensors (input {:?}), not pictures",
                model.version, imported.input_shape
            ))
        });
    }
    crate::impulses::get_version(db, model.project_id, model.impulse_version)
        .await
        .map(|stored| stored.config)
}
