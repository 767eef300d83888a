//! Samples to model inputs: fetch the originals, decode them and run the
//! impulse's preprocessing (the same `tinystudio_images::preprocess` the
//! studio uses everywhere), in parallel on blocking threads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::impulse::ColorDepth;
use tinystudio_images::{DecodeLimits, decode, preprocess};
use tinystudio_ml::data::ImageShape;
use tinystudio_storage::BlobKey;
use tinystudio_storage::samples::Sample;

use crate::{JobContext, Permanent};

/// The model's input shape for an impulse.
pub fn image_shape(impulse: &ImpulseConfig) -> ImageShape {
    let (w, h) = (impulse.input.width as usize, impulse.input.height as usize);
    match impulse.image.color_depth {
        ColorDepth::Rgb => ImageShape::rgb(w, h),
        ColorDepth::Grayscale => ImageShape::gray(w, h),
    }
}

/// Preprocessed pixels (HWC u8) of each sample, in order.
pub async fn load_pixels(
    ctx: &JobContext,
    samples: &[Sample],
    impulse: &ImpulseConfig,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut originals = Vec::with_capacity(samples.len());
    for (i, sample) in samples.iter().enumerate() {
        let bytes = ctx
            .blobs
            .get(&BlobKey::sample(&sample.sha256)?)
            .await?
            .ok_or_else(|| {
                Permanent(format!(
                    "the file of sample {} ({}) is missing",
                    sample.id, sample.file_name
                ))
            })?;
        originals.push(bytes);
        if i % 64 == 0 {
            ctx.check_cancelled()?;
        }
    }
    let impulse = impulse.clone();
    let names: Vec<String> = samples.iter().map(|s| s.file_name.clone()).collect();
    tokio::task::spawn_blocking(move || preprocess_all(&originals, &names, &impulse)).await?
}

/// Decodes and preprocesses images in parallel; blocking.
pub fn preprocess_all<B: AsRef<[u8]> + Sync>(
    originals: &[B],
    names: &[String],
    impulse: &ImpulseConfig,
) -> anyhow::Result<Vec<Vec<u8>>> {
    originals
        .par_iter()
        .zip(names.par_iter())
        .map(|(bytes, name)| {
            let decoded = decode(bytes.as_ref(), &DecodeLimits::default())
                .with_context(|| format!("decoding {name}"))?;
            Ok(preprocess(
                &decoded.image,
                &impulse.input,
                impulse.image.color_depth,
            ))
        })
        .collect()
}

/// Preprocessed pixels of one image given as bytes (live classification).
pub fn pixels_of(bytes: &[u8], impulse: &ImpulseConfig) -> anyhow::Result<Vec<u8>> {
    let decoded = decode(bytes, &DecodeLimits::default())?;
    Ok(preprocess(
        &decoded.image,
        &impulse.input,
        impulse.image.color_depth,
    ))
}

/// Features computed once per (image content, input settings, backbone),
/// kept as little-endian f32 files under the worker's work folder. A cache
/// miss only costs time, so read and write errors are not fatal.
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
