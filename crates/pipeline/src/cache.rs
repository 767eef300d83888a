//! Backbone features computed once per (image content, input settings,
//! backbone), so re-training with another head or more epochs skips the
//! backbone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tinystudio_ml::inference::FeatureExtractor;

use crate::train::Cancelled;

/// Images extracted at a time between cancellation checks.
const EXTRACT_CHUNK: usize = 256;

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

impl FeatureCache {
    /// The feature rows of `inputs` (cache key, preprocessed pixels), one
    /// after the other: from the cache where it has them, the rest
    /// extracted (and kept) in chunks, reporting the share done and
    /// checking `cancel` between chunks. Also returns how many came from
    /// the cache.
    pub fn rows(
        &self,
        extractor: &FeatureExtractor,
        inputs: &[(&str, &[u8])],
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(f64),
    ) -> anyhow::Result<(Vec<f32>, usize)> {
        let row_len = extractor.row_len();
        let mut rows = vec![0f32; inputs.len() * row_len];
        let mut missing = Vec::new();
        for (j, (key, _)) in inputs.iter().enumerate() {
            match self.get(key, row_len) {
                Some(row) => rows[j * row_len..(j + 1) * row_len].copy_from_slice(&row),
                None => missing.push(j),
            }
        }
        for (done, chunk) in missing.chunks(EXTRACT_CHUNK).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled.into());
            }
            let images: Vec<&[u8]> = chunk.iter().map(|&j| inputs[j].1).collect();
            let features = extractor.extract(&images)?;
            for (k, &j) in chunk.iter().enumerate() {
                let row = &features[k * row_len..(k + 1) * row_len];
                rows[j * row_len..(j + 1) * row_len].copy_from_slice(row);
                self.put(inputs[j].0, row);
            }
            progress(((done + 1) * EXTRACT_CHUNK).min(missing.len()) as f64 / missing.len() as f64);
        }
        Ok((rows, inputs.len() - missing.len()))
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
