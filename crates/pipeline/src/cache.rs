//! Backbone features computed once per (image content, input settings,
//! backbone), so re-training with another head or more epochs skips the
//! backbone.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Feature rows kept as little-endian f32 files under a work folder. A
/// cache miss only costs time, so read and write errors are not fatal.
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    pub fn new(work_dir: &Path) -> Self {
        Self {
            dir: work_dir.join("features"),
        }
    }

    /// The cache key of one input row.
    pub fn key(parts: &[&str]) -> String {
        let mut hasher = Sha256::new();
        for p in parts {
            hasher.update(p.as_bytes());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(key)
    }

    pub fn get(&self, key: &str, len: usize) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        (bytes.len() == len * 4).then(|| {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    pub fn put(&self, key: &str, row: &[f32]) {
        let path = self.path(key);
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(&tmp, &bytes))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::debug!(error = %e, "feature cache write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FeatureCache;

    #[test]
    fn keeps_rows_and_refuses_a_wrong_length() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let key = FeatureCache::key(&["abc", "96x96"]);
        assert_ne!(key, FeatureCache::key(&["ab", "c96x96"]));
        assert_eq!(cache.get(&key, 3), None);
        cache.put(&key, &[1.0, -2.5, 3.25]);
        assert_eq!(cache.get(&key, 3), Some(vec![1.0, -2.5, 3.25]));
        assert_eq!(cache.get(&key, 4), None);
    }
}
