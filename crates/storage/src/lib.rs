//! Everything the studio keeps: metadata in SQLite or PostgreSQL, files in a
//! blob store.
//!
//! The database is reached through sqlx's `Any` driver with portable SQL
//! (`$1` placeholders, BIGINT times, TEXT ids and JSON), so one set of
//! queries serves both databases; the few statements that must differ (the
//! job queue's claim) branch on [`Dialect`].

pub mod blobs;
pub mod capture_links;
pub mod classes;
mod db;
mod error;
pub mod impulses;
pub mod jobs;
pub mod keys;
pub mod members;
pub mod models;
pub mod projects;
pub mod samples;
pub mod sessions;
pub mod settings;
pub mod users;

pub use blobs::{BlobKey, BlobStore, LocalBlobStore, S3BlobStore, S3Config};
pub use db::{Db, Dialect, now_ms};
pub use error::StorageError;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
