//! Instance-wide settings, shared by every web server through the database.

use sqlx::Row;

use crate::{Db, Result};

/// The value of `name`, creating it with `make()` if it does not exist yet.
/// Concurrent callers all get the value of whichever insert won.
pub async fn get_or_init(db: &Db, name: &str, make: impl FnOnce() -> String) -> Result<String> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(make())
        .execute(&db.pool)
        .await?;
    let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get(0)?)
}
