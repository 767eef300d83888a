use std::io::ErrorKind;

/// Storage failures. `NotFound` and `Conflict` are the caller's to turn into
/// 404 and 409; `DiskFull`, `NotWritable`, `DamagedBlob` and an unreachable
/// database ([`StorageError::is_unavailable`]) are server faults the web
/// layer names to the client; the rest are internal errors.
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
    /// No room left where blobs are written (no space, quota, file-size limit).
    #[error("the blob storage is full: {0}")]
    DiskFull(String),
    /// The blob folder refuses writes (read-only file system, permissions).
    #[error("the blob storage cannot be written: {0}")]
    NotWritable(String),
    /// A content-addressed blob whose bytes no longer hash to its name: the
    /// disk or someone changed it after it was stored.
    #[error("the stored file {key} is damaged: its bytes no longer match their SHA-256")]
    DamagedBlob { key: String },
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether trying again later may succeed: the database or the blob
    /// store was unreachable or failed, rather than the request being wrong.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StorageError::Database(_)
                | StorageError::Blob(_)
                | StorageError::DiskFull(_)
                | StorageError::NotWritable(_)
        )
    }

    /// Whether the database could not be reached at all (connection lost or
    /// refused, server shutting down or starting, pool exhausted), as opposed
    /// to a query that failed: such a request may simply be tried again.
    pub fn is_unavailable(&self) -> bool {
        let StorageError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception) and 57P01-57P03
            // (administrator shutdown, crash shutdown, cannot connect now):
            // what PostgreSQL answers while it restarts.
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                StorageError::DiskFull(e.to_string())
            }
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
                StorageError::NotWritable(e.to_string())
            }
            _ => StorageError::Blob(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_fault() {
        let of = |code| StorageError::from(std::io::Error::from_raw_os_error(code));
        // ENOSPC, EDQUOT, EFBIG
        for code in [28, 122, 27] {
            assert!(matches!(of(code), StorageError::DiskFull(_)), "{code}");
        }
        // EROFS, EACCES, EPERM
        for code in [30, 13, 1] {
            assert!(matches!(of(code), StorageError::NotWritable(_)), "{code}");
        }
        assert!(matches!(of(5), StorageError::Blob(_)));
        assert!(of(28).is_transient());
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_bad_query_is_not() {
        let lost = StorageError::Database(sqlx::Error::Io(std::io::Error::from(
            ErrorKind::ConnectionRefused,
        )));
        assert!(lost.is_unavailable());
        assert!(StorageError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StorageError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StorageError::Blob("x".into()).is_unavailable());
    }
}
