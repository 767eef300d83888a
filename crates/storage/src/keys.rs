//! Project API keys. Only a SHA-256 of each key is stored: keys are 256
//! random bits, so a fast hash is as safe as a slow one and keeps every
//! authenticated request cheap. A key carries a scope (the whole project
//! API, or uploads only) and remembers who made it, because a key may do
//! no more than its maker.

use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::{KeyId, KeyScope, ProjectId, UserId};

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
    pub scope: KeyScope,
    /// The account that made the key; `None`: the studio's operator (the
    /// local user or the command line).
    pub created_by: Option<UserId>,
    /// Whether the key's maker may use server-wide things (the operator, or
    /// an admin now): what lets a key reach this machine's boards.
    #[serde(skip)]
    pub by_operator: bool,
}

fn hash_key(secret: &str) -> String {
    crate::blobs::sha256_hex(secret.as_bytes())
}

/// Columns of `api_keys k` joined with its maker `u`.
const COLUMNS: &str = "k.id, k.project_id, k.name, k.prefix, k.created_at, k.revoked_at, \
     k.scope, k.created_by, u.is_admin AS maker_is_admin";
const FROM: &str = "api_keys k LEFT JOIN users u ON u.id = k.created_by";

fn from_row(row: &AnyRow) -> Result<ApiKey> {
    let created_by: Option<String> = row.try_get("created_by")?;
    let maker_is_admin: Option<i64> = row.try_get("maker_is_admin")?;
    Ok(ApiKey {
        scope: row
            .try_get::<String, _>("scope")?
            .parse()
            .map_err(|e| StorageError::Corrupt(format!("api key: {e}")))?,
        by_operator: created_by.is_none() || maker_is_admin == Some(1),
        created_by: created_by.map(|id| parse_id(&id, "user id")).transpose()?,
        id: parse_id(&row.try_get::<String, _>("id")?, "key id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Creates a full-scope key made by the studio's operator and returns it
/// with its secret, which is not stored and cannot be shown again.
pub async fn create(db: &Db, project_id: ProjectId, name: &str) -> Result<(ApiKey, String)> {
    create_with(db, project_id, name, KeyScope::Full, None).await
}

/// Creates a key with `scope`, made by `created_by` (`None`: the operator).
pub async fn create_with(
    db: &Db,
    project_id: ProjectId,
    name: &str,
    scope: KeyScope,
    created_by: Option<UserId>,
) -> Result<(ApiKey, String)> {
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
        scope,
        created_by,
        by_operator: false,
    };
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, name, prefix, key_hash, created_at, scope, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(key.id.to_string())
    .bind(project_id.to_string())
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(hash_key(&secret))
    .bind(key.created_at)
    .bind(scope.as_str())
    .bind(created_by.map(|id| id.to_string()))
    .execute(&db.pool)
    .await?;
    // Read back, so `by_operator` is what the database says of the maker.
    let key = get(db, project_id, key.id).await?;
    Ok((key, secret))
}

async fn get(db: &Db, project_id: ProjectId, id: KeyId) -> Result<ApiKey> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE k.id = $1 AND k.project_id = $2"
    ))
    .bind(id.to_string())
    .bind(project_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StorageError::NotFound("API key"))?;
    from_row(&row)
}

pub async fn list(db: &Db, project_id: ProjectId) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE k.project_id = $1 ORDER BY k.created_at, k.id"
    ))
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
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
    ))
    .bind(hash_key(secret))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}
