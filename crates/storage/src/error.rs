/// Storage failures. `NotFound` and `Conflict` are the caller's to turn into
/// 404 and 409; the rest are internal errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("blob store error: {0}")]
    Blob(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether trying again later may succeed: the database or the blob
    /// store was unreachable or failed, rather than the request being wrong.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Database(_) | StorageError::Blob(_))
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Blob(e.to_string())
    }
}
