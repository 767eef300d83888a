//! Fresh, migrated databases for the storage tests: a SQLite file in a
//! temporary folder, or a new database on the server named by
//! `TINYSTUDIO_TEST_POSTGRES`.

#![allow(dead_code)]

use tinystudio_storage::Db;

/// A SQLite database; it lives as long as the returned folder.
pub async fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::default_url(dir.path())).await.unwrap();
    db.migrate().await.unwrap();
    (dir, db)
}

/// A new database on the PostgreSQL test server.
pub async fn postgres() -> Db {
    let admin = std::env::var("TINYSTUDIO_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!("TINYSTUDIO_TEST_POSTGRES is not set: this test needs a PostgreSQL server")
    });
    let db = Db::connect(&admin).await.unwrap();
    let name = format!("tinystudio_storage_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&db.pool)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
    db.migrate().await.unwrap();
    db
}
