//! Signed-in browsers. A session is a random token in a cookie; like API
//! keys, only its SHA-256 is stored (256 random bits need no slow hash), so
//! a copy of the database opens no session.

use rand::RngCore;
use sqlx::Row;
use tinystudio_domain::{SessionId, UserId};

use crate::projects::parse_id;
use crate::users::User;
use crate::{Db, Result, now_ms};

/// Tokens start with this, so one pasted where a key belongs is recognised.
pub const TOKEN_PREFIX: &str = "ses_";

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

fn hash_token(token: &str) -> String {
    crate::blobs::sha256_hex(token.as_bytes())
}

/// Starts a session for `user` that lasts `lifetime_ms`; returns it with
/// its token, which is not stored.
pub async fn create(db: &Db, user: UserId, lifetime_ms: i64) -> Result<(Session, String)> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let now = now_ms();
    let session = Session {
        id: SessionId::new(),
        user_id: user,
        created_at: now,
        expires_at: now.saturating_add(lifetime_ms),
    };
    // Expired sessions of anyone are dropped here, so the table does not
    // grow with every sign-in.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.id.to_string())
    .bind(user.to_string())
    .bind(hash_token(&token))
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(&db.pool)
    .await?;
    Ok((session, token))
}

/// The live session with this token and its user.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<(Session, User)>> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT s.id AS session_id, s.created_at AS session_created_at, s.expires_at, \
                u.id, u.name, u.is_admin, u.created_at, u.password_changed_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(hash_token(token))
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user = crate::users::from_row(&row)?;
    let session = Session {
        id: parse_id(&row.try_get::<String, _>("session_id")?, "session id")?,
        user_id: user.id,
        created_at: row.try_get("session_created_at")?,
        expires_at: row.try_get("expires_at")?,
    };
    Ok(Some((session, user)))
}

/// Ends one session (logging out).
pub async fn delete(db: &Db, id: SessionId) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Ends every session of `user` but `keep`: after a password change, other
/// browsers that knew the old password are signed out.
pub async fn delete_for_user(db: &Db, user: UserId, keep: Option<SessionId>) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.to_string())
        .bind(keep.map(|id| id.to_string()).unwrap_or_default())
        .execute(&db.pool)
        .await?;
    Ok(())
}
