//! Impulses, versioned per project: every save is a new version, so a model
//! can always name the exact impulse it was trained with.

use serde::Serialize;
use sqlx::Row;
use tinystudio_domain::{ImpulseConfig, ProjectId};

use crate::{Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredImpulse {
    pub version: i64,
    pub config: ImpulseConfig,
    pub created_at: i64,
}

/// The latest impulse, or `None` when the project has none yet.
pub async fn latest(db: &Db, project_id: ProjectId) -> Result<Option<StoredImpulse>> {
    let row = sqlx::query(
        "SELECT version, config, created_at FROM impulses WHERE project_id = $1 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(project_id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(StoredImpulse {
            version: row.try_get("version")?,
            config: serde_json::from_str(&row.try_get::<String, _>("config")?)
                .map_err(|e| StorageError::Corrupt(format!("impulse: {e}")))?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// One version of the project's impulse.
pub async fn get_version(db: &Db, project_id: ProjectId, version: i64) -> Result<StoredImpulse> {
    let row = sqlx::query(
        "SELECT version, config, created_at FROM impulses WHERE project_id = $1 AND version = $2",
    )
    .bind(project_id.to_string())
    .bind(version)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StorageError::NotFound("impulse version"))?;
    Ok(StoredImpulse {
        version: row.try_get("version")?,
        config: serde_json::from_str(&row.try_get::<String, _>("config")?)
            .map_err(|e| StorageError::Corrupt(format!("impulse: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Saves `config` as the next version (unless it equals the latest).
pub async fn save(db: &Db, project_id: ProjectId, config: &ImpulseConfig) -> Result<StoredImpulse> {
    if let Some(latest) = latest(db, project_id).await?
        && &latest.config == config
    {
        return Ok(latest);
    }
    let json = serde_json::to_string(config).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    // As for models: MAX + 1, retried if a concurrent save took the number.
    for _ in 0..20 {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO impulses (project_id, version, config, created_at) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM impulses WHERE project_id = $1 \
             RETURNING version",
        )
        .bind(project_id.to_string())
        .bind(&json)
        .bind(now)
        .fetch_one(&db.pool)
        .await;
        match inserted {
            Ok(row) => {
                return Ok(StoredImpulse {
                    version: row.try_get(0)?,
                    config: config.clone(),
                    created_at: now,
                });
            }
            Err(e) if crate::db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Conflict(
        "could not number the impulse: too many concurrent saves".into(),
    ))
}
