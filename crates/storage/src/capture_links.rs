//! Capture links: the credential behind the QR code that lets a phone add
//! photos to one project for a short while. Like API keys, only a SHA-256
//! of each token is stored (tokens are 256 random bits, so a fast hash is as
//! safe as a slow one). Unlike keys, a link expires by itself, and a lookup
//! returns expired and revoked links too, so the phone can be told which of
//! the two happened instead of a bare "invalid".

use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::{CaptureLinkId, ProjectId};

use crate::projects::parse_id;
use crate::{Db, Result, StorageError, now_ms};

/// Tokens start with this, so a token pasted where an API key belongs (or
/// the other way round) is recognised for what it is.
pub const TOKEN_PREFIX: &str = "cap_";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureLink {
    pub id: CaptureLinkId,
    pub project_id: ProjectId,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// Why a link no longer opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Active,
    Expired,
    Revoked,
}

impl CaptureLink {
    pub fn state(&self, now: i64) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if now >= self.expires_at {
            LinkState::Expired
        } else {
            LinkState::Active
        }
    }
}

fn hash_token(secret: &str) -> String {
    crate::blobs::sha256_hex(secret.as_bytes())
}

const COLUMNS: &str = "id, project_id, created_at, expires_at, revoked_at";

fn from_row(row: &AnyRow) -> Result<CaptureLink> {
    Ok(CaptureLink {
        id: parse_id(&row.try_get::<String, _>("id")?, "capture link id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Creates a link that lives `lifetime_ms` and returns it with its token,
/// which is not stored and cannot be shown again.
pub async fn create(
    db: &Db,
    project_id: ProjectId,
    lifetime_ms: i64,
) -> Result<(CaptureLink, String)> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let now = now_ms();
    let link = CaptureLink {
        id: CaptureLinkId::new(),
        project_id,
        created_at: now,
        expires_at: now + lifetime_ms,
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO capture_links (id, project_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(link.id.to_string())
    .bind(project_id.to_string())
    .bind(hash_token(&secret))
    .bind(link.created_at)
    .bind(link.expires_at)
    .execute(&db.pool)
    .await?;
    Ok((link, secret))
}

/// The project's links that still open it, newest first.
pub async fn list_active(db: &Db, project_id: ProjectId) -> Result<Vec<CaptureLink>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM capture_links \
         WHERE project_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(project_id.to_string())
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a link of this project at once; revoking one that already
/// stopped working is a not-found, so the caller learns nothing changed.
pub async fn revoke(db: &Db, project_id: ProjectId, id: CaptureLinkId) -> Result<()> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE capture_links SET revoked_at = $1 \
         WHERE id = $2 AND project_id = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(project_id.to_string())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("active capture link"));
    }
    Ok(())
}

/// The link with this token, whatever its state; `None` for a token that
/// was never issued.
pub async fn find(db: &Db, secret: &str) -> Result<Option<CaptureLink>> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM capture_links WHERE token_hash = $1"
    ))
    .bind(hash_token(secret))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}
