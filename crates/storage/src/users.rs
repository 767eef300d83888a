//! People with accounts. Passwords are stored as argon2id hashes (PHC
//! strings, salt and parameters included), never in clear. Hashing is slow
//! on purpose, so it runs on a blocking thread, off the async runtime.
//!
//! The first account is special: it turns a local studio into one where
//! everyone signs in, so [`create_first_admin`] makes it at most once and
//! hands it the projects made before accounts existed.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::UserId;

use crate::projects::parse_id;
use crate::{Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub password_changed_at: i64,
}

const COLUMNS: &str = "id, name, is_admin, created_at, password_changed_at";

pub(crate) fn from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: parse_id(&row.try_get::<String, _>("id")?, "user id")?,
        name: row.try_get("name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        created_at: row.try_get("created_at")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
/// recommended minimum), on a blocking thread.
async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| StorageError::Corrupt(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| StorageError::Corrupt(format!("password hashing thread: {e}")))?
}

/// Whether `password` matches `stored`, on a blocking thread.
async fn verify_password(password: &str, stored: String) -> Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let hash = PasswordHash::new(&stored)
            .map_err(|e| StorageError::Corrupt(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok())
    })
    .await
    .map_err(|e| StorageError::Corrupt(format!("password hashing thread: {e}")))?
}

/// A hash of no one's password, checked when the name is unknown so that a
/// wrong name takes as long as a wrong password and timing does not tell
/// which names exist.
fn decoy_hash() -> Result<String> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DECOY.get() {
        return Ok(hash.clone());
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(b"no one's password", &salt)
        .map_err(|e| StorageError::Corrupt(format!("hashing a password: {e}")))?
        .to_string();
    Ok(DECOY.get_or_init(|| hash).clone())
}

/// Whether any account exists: the studio's mode depends on it.
pub async fn any_exist(db: &Db) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM (SELECT 1 FROM users LIMIT 1) AS one")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Creates an account. `name` must be parsed (`parse_user_name`) and
/// `password` checked (`check_password`). A taken name is a conflict.
pub async fn create(db: &Db, name: &str, password: &str, is_admin: bool) -> Result<User> {
    let hash = hash_password(password).await?;
    let mut tx = db.pool.begin().await?;
    let user = insert(&mut tx, name, &hash, is_admin).await?;
    tx.commit().await?;
    Ok(user)
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    hash: &str,
    is_admin: bool,
) -> Result<User> {
    let now = now_ms();
    let user = User {
        id: UserId::new(),
        name: name.to_owned(),
        is_admin,
        created_at: now,
        password_changed_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO users (id, name, password_hash, is_admin, created_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id.to_string())
    .bind(name)
    .bind(hash)
    .bind(i64::from(is_admin))
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(user),
        Err(e) if crate::db::is_unique_violation(&e) => Err(StorageError::Conflict(format!(
            "the user name {name:?} is taken; choose another"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Creates the studio's first account, an admin, and makes it the owner of
/// every project that has no members (projects made before accounts
/// existed, which would otherwise be nobody's). Fails with a conflict when
/// an account already exists, also when two first-run setups race.
pub async fn create_first_admin(db: &Db, name: &str, password: &str) -> Result<User> {
    let hash = hash_password(password).await?;
    let mut tx = db.pool.begin().await?;
    let already = || {
        StorageError::Conflict(
            "this studio already has accounts: sign in, or ask an admin for one".into(),
        )
    };
    // Writing this row makes a second setup wait until the first one has
    // committed (or rolled back), and then see its account.
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ('first_admin', $1) \
         ON CONFLICT (name) DO UPDATE SET value = $1",
    )
    .bind(name)
    .execute(&mut *tx)
    .await?;
    let existing = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?;
    if existing > 0 {
        return Err(already());
    }
    let user = insert(&mut tx, name, &hash, true).await?;
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, added_at) \
         SELECT p.id, $1, 'owner', $2 FROM projects p \
         WHERE NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id)",
    )
    .bind(user.id.to_string())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn get(db: &Db, id: UserId) -> Result<User> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(StorageError::NotFound("user"))?;
    from_row(&row)
}

/// The account with this (parsed) name.
pub async fn by_name(db: &Db, name: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE name = $1"))
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every account, by name.
pub async fn list(db: &Db) -> Result<Vec<User>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The account `name` if `password` is its password. Takes as long for an
/// unknown name as for a wrong password.
pub async fn verify(db: &Db, name: &str, password: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(row) => {
            let stored: String = row.try_get("password_hash")?;
            let user = from_row(&row)?;
            Ok(verify_password(password, stored).await?.then_some(user))
        }
        None => {
            verify_password(password, decoy_hash()?).await?;
            Ok(None)
        }
    }
}

/// Replaces the password (already checked). Sessions are the caller's to
/// end ([`crate::sessions::delete_for_user`]).
pub async fn set_password(db: &Db, id: UserId, password: &str) -> Result<()> {
    let hash = hash_password(password).await?;
    let done =
        sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&db.pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("user"));
    }
    Ok(())
}

/// Grants or withdraws admin rights. The last admin cannot withdraw
/// their own: a studio with accounts and no admin could not be managed.
pub async fn set_admin(db: &Db, id: UserId, is_admin: bool) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET is_admin = $1 WHERE id = $2 \
         AND ($1 = 1 OR (SELECT COUNT(*) FROM users WHERE is_admin = 1 AND id <> $2) > 0)",
    )
    .bind(i64::from(is_admin))
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        get(db, id).await?;
        return Err(StorageError::Conflict(
            "this is the studio's last admin: make another admin first".into(),
        ));
    }
    Ok(())
}
