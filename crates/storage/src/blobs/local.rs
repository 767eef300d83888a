use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobEntry, BlobKey, BlobStore};
use crate::{Result, StorageError};

/// Blobs as files under one folder. Writes go to a temporary file that is
/// synced and then renamed into place (and the folder synced), so a crash
/// leaves either the old state or the complete new file, never a torn one.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp"))?;
        sweep_temporaries(&root.join("tmp"), ABANDONED_AFTER);
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind `key`; for tools that need a path (e.g. firmware builds).
    pub fn file_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.path())
    }
}

/// A temporary file this old belongs to a write that will never finish (its
/// process was killed mid-write): a live write lasts seconds at most. Younger
/// ones may be another process's write in progress (servers and workers share
/// the folder), so they are left alone.
const ABANDONED_AFTER: Duration = Duration::from_secs(60 * 60);

/// Removes abandoned temporary files. Best effort: what cannot be removed
/// now is tried again at the next start.
fn sweep_temporaries(tmp: &Path, older_than: Duration) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    let mut removed = 0usize;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > older_than);
        if old && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            blobs.removed = removed,
            "removed temporary files of writes interrupted by a crash"
        );
    }
}

fn put_sync(root: &Path, key: &BlobKey, bytes: &[u8]) -> std::io::Result<()> {
    let target = root.join(key.path());
    let parent = target.parent().ok_or(ErrorKind::InvalidInput)?;
    fs::create_dir_all(parent)?;
    let tmp = root.join("tmp").join(uuid::Uuid::new_v4().to_string());
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(parent)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn list_sync(root: &Path, prefix: &str) -> std::io::Result<Vec<BlobEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel == "tmp" {
                continue;
            }
            let meta = entry.metadata()?;
            if meta.is_dir() {
                // Only descend where the prefix can still match.
                if prefix.starts_with(&format!("{rel}/")) || rel.starts_with(prefix) {
                    stack.push(path);
                }
            } else if rel.starts_with(prefix)
                && let Some(key) = BlobKey::from_path(&rel)
            {
                let modified_ms = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                out.push(BlobEntry { key, modified_ms });
            }
        }
    }
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Blob(format!("blob task failed: {e}")))?
        .map_err(StorageError::from)
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<()> {
        let (root, key) = (self.root.clone(), key.clone());
        blocking(move || put_sync(&root, &key, &bytes)).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>> {
        let path = self.file_path(key);
        let read = blocking(move || match fs::read(&path) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        read.map(|bytes| super::verified(key, bytes)).transpose()
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        let path = self.file_path(key);
        blocking(move || match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>> {
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        blocking(move || list_sync(&root, &prefix)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::sha256_hex;

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path()).unwrap();
        let sha = sha256_hex(b"abc");
        let key = BlobKey::sample(&sha).unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
        store.put(&key, Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(
            store.get(&key).await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        let thumb = BlobKey::thumbnail(&sha).unwrap();
        store.put(&thumb, Bytes::from_static(b"t")).await.unwrap();
        let listed = store.list("samples/").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, key);
        assert_eq!(store.list("").await.unwrap().len(), 2);
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_restart_removes_only_abandoned_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let abandoned = tmp.join("killed-mid-write");
        let hour_ago = SystemTime::now() - Duration::from_secs(2 * 60 * 60);
        File::create(&abandoned)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let in_progress = tmp.join("being-written");
        File::create(&in_progress).unwrap();
        LocalBlobStore::new(dir.path()).unwrap();
        assert!(!abandoned.exists());
        assert!(in_progress.exists());
    }
}
