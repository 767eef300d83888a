//! Files: originals (content-addressed by SHA-256), thumbnails and job
//! artifacts, behind one small interface so the local folder can be swapped
//! for S3-compatible storage.

mod gc;
mod local;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;

pub use gc::{GcReport, collect_garbage};
pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, S3Config};

use crate::{Result, StorageError};

/// Where a blob lives. Keys are built from hashes and ids the studio made,
/// never from user-supplied names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlobKey {
    /// An uploaded original, by the hex SHA-256 of its bytes.
    Sample(String),
    /// The cached thumbnail of an original.
    Thumbnail(String),
    /// A file a job produced (model weights, firmware), grouped by the id of
    /// what owns it.
    Artifact { owner: String, name: String },
}

impl BlobKey {
    pub fn sample(sha256_hex: &str) -> Result<Self> {
        check_sha(sha256_hex)?;
        Ok(BlobKey::Sample(sha256_hex.to_owned()))
    }

    pub fn thumbnail(sha256_hex: &str) -> Result<Self> {
        check_sha(sha256_hex)?;
        Ok(BlobKey::Thumbnail(sha256_hex.to_owned()))
    }

    pub fn artifact(owner: &str, name: &str) -> Result<Self> {
        let ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if !ok(owner) || !ok(name) {
            return Err(StorageError::Blob(format!(
                "invalid artifact key {owner:?}/{name:?}"
            )));
        }
        Ok(BlobKey::Artifact {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The key as a relative path, fanned out by hash prefix so no folder
    /// holds millions of files.
    pub fn path(&self) -> String {
        match self {
            BlobKey::Sample(sha) => format!("samples/{}/{sha}", &sha[..2]),
            BlobKey::Thumbnail(sha) => format!("thumbs/{}/{sha}.jpg", &sha[..2]),
            BlobKey::Artifact { owner, name } => format!("artifacts/{owner}/{name}"),
        }
    }

    /// Parses a path produced by [`BlobKey::path`].
    pub fn from_path(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["samples", _, sha] => BlobKey::sample(sha).ok(),
            ["thumbs", _, file] => BlobKey::thumbnail(file.strip_suffix(".jpg")?).ok(),
            ["artifacts", owner, name] => BlobKey::artifact(owner, name).ok(),
            _ => None,
        }
    }
}

fn check_sha(sha: &str) -> Result<()> {
    if sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(StorageError::Blob(format!("invalid SHA-256 {sha:?}")))
    }
}

/// One stored blob, as listed for garbage collection.
#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub key: BlobKey,
    /// Last write, in Unix milliseconds.
    pub modified_ms: i64,
}

/// A durable key-value store for files.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there. When this
    /// returns, the bytes are durable (synced), so a database row that points
    /// to them may commit. Writing an existing key again refreshes its
    /// modification time, which protects it from a concurrent collection.
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<()>;

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>>;

    async fn delete(&self, key: &BlobKey) -> Result<()>;

    /// Every blob whose path starts with `prefix` (e.g. `"samples/"`).
    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>>;
}

/// Checks a blob read back from a store against its name where the name is
/// its hash (originals): a damaged file is reported rather than served.
///
/// Thumbnails pass unchecked: they are a cache made from their (checked)
/// original. Artifacts are checked against the hashes their owner recorded
/// (`models::read_artifact`).
pub(crate) fn verified(key: &BlobKey, bytes: Bytes) -> Result<Bytes> {
    match key {
        BlobKey::Sample(expected) => check_hash(key, expected, bytes),
        _ => Ok(bytes),
    }
}

/// `bytes` if they hash to `expected`; otherwise [`StorageError::DamagedBlob`],
/// logged here once per blob and process, however often it is read.
pub fn check_hash(key: &BlobKey, expected: &str, bytes: Bytes) -> Result<Bytes> {
    let actual = sha256_hex(&bytes);
    if actual == expected {
        return Ok(bytes);
    }
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let path = key.path();
    let first = REPORTED
        .lock()
        .map(|mut seen| {
            if seen.contains(&path) {
                false
            } else {
                seen.push(path.clone());
                true
            }
        })
        .unwrap_or(true);
    if first {
        tracing::error!(
            blob.key = %path,
            blob.sha256 = %actual,
            blob.expected_sha256 = %expected,
            blob.bytes = bytes.len(),
            "damaged blob: its bytes no longer match the SHA-256 recorded for it; \
             restore it from a backup or make it again (upload the sample, train the model)"
        );
    }
    Err(StorageError::DamagedBlob { key: path })
}

/// Hex SHA-256 of `bytes`: the content address of an original.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_paths() {
        let sha = sha256_hex(b"hello");
        for key in [
            BlobKey::sample(&sha).unwrap(),
            BlobKey::thumbnail(&sha).unwrap(),
            BlobKey::artifact("0191-abc", "model.safetensors").unwrap(),
        ] {
            assert_eq!(BlobKey::from_path(&key.path()), Some(key));
        }
    }

    #[test]
    fn an_original_must_match_its_hash() {
        let sha = sha256_hex(b"hello");
        let key = BlobKey::sample(&sha).unwrap();
        assert!(verified(&key, Bytes::from_static(b"hello")).is_ok());
        for _ in 0..2 {
            assert!(matches!(
                verified(&key, Bytes::from_static(b"hellO")),
                Err(StorageError::DamagedBlob { .. })
            ));
        }
        // Nothing to check a thumbnail against.
        let thumb = BlobKey::thumbnail(&sha).unwrap();
        assert!(verified(&thumb, Bytes::from_static(b"x")).is_ok());
    }

    #[test]
    fn refuses_keys_that_could_escape() {
        assert!(BlobKey::sample("../etc/passwd").is_err());
        assert!(BlobKey::artifact("..", "x").is_err());
        assert!(BlobKey::artifact("a", "b/c").is_err());
        assert!(BlobKey::artifact("a", ".hidden").is_err());
    }
}
