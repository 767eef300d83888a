//! Project API keys. Only a SHA-256 of each key is stored: keys are 256
//! random bits, so a fast hash is as safe as a slow one and keeps every
//! authenticated request cheap.

use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::{KeyId, ProjectId};

use crate::projects::parse_id;
use crate::{Db, Result, StorageError, now_ms};

/// Keys look like Edge Impulse's (`ei_` + 64 hex digits), because its
/// uploader refuses keys of any other form.
pub const KEY_PREFIX: &str = "ei_";
/// How much of a key is kept in clear, to tell keys apart in lists.
const SHOWN_CHARS: usize = 11;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: KeyId,
    pub project_id: ProjectId,
    pub name: String,
    /// The first characters of the key, e.g. `ei_3fa81c0d`.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn hash_key(secret: &str) -> String {
    crate::blobs::sha256_hex(secret.as_bytes())
}

fn from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse_id(&row.try_get::<String, _>("id")?, "key id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Creates a key and returns it with its secret, which is not stored and
/// cannot be shown again.
pub async fn create(db: &Db, project_id: ProjectId, name: &str) -> Result<(ApiKey, String)> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let key = ApiKey {
        id: KeyId::new(),
        project_id,
        name: name.to_owned(),
        prefix: secret[..SHOWN_CHARS].to_owned(),
        created_at: now_ms(),
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, name, prefix, key_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.id.to_string())
    .bind(project_id.to_string())
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(hash_key(&secret))
    .bind(key.created_at)
    .execute(&db.pool)
    .await?;
    Ok((key, secret))
}

pub async fn list(db: &Db, project_id: ProjectId) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(
        "SELECT id, project_id, name, prefix, created_at, revoked_at FROM api_keys \
         WHERE project_id = $1 ORDER BY created_at, id",
    )
    .bind(project_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn revoke(db: &Db, project_id: ProjectId, key_id: KeyId) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 \
         WHERE id = $2 AND project_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id.to_string())
    .bind(project_id.to_string())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("active API key"));
    }
    Ok(())
}

/// The live key with this secret, if any.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Option<ApiKey>> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, project_id, name, prefix, created_at, revoked_at FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_key(secret))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}
