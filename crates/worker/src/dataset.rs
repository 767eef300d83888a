//! Samples to model inputs: fetch the originals from the blob store, then
//! decode and preprocess them in parallel on a blocking thread
//! (`tinystudio_pipeline::preprocess_all`).

use std::collections::BTreeSet;

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tinystudio_domain::{Category, ImpulseConfig, ProjectId};
use tinystudio_pipeline::{TrainingData, preprocess_all};
use tinystudio_storage::samples::Sample;
use tinystudio_storage::{BlobKey, samples};

use crate::{JobContext, Permanent};

/// The labelled training samples of a project, with their labels' names
/// (sorted) and each sample's class index.
pub struct TrainingSet {
    pub samples: Vec<Sample>,
    pub class_names: Vec<String>,
    pub labels: Vec<usize>,
}

impl TrainingSet {
    pub async fn load(ctx: &JobContext, project: ProjectId) -> anyhow::Result<Self> {
        let samples: Vec<_> = samples::all_in_category(&ctx.db, project, Category::Training)
            .await?
            .into_iter()
            .filter(|s| s.label.is_some())
            .collect();
        let class_names: Vec<String> = samples
            .iter()
            .filter_map(|s| s.label.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if class_names.len() < 2 {
            return Err(Permanent(format!(
                "training needs labelled samples of at least 2 labels; the training set has {}",
                class_names.len()
            ))
            .into());
        }
        let labels = samples
            .iter()
            .map(|s| {
                class_names
                    .iter()
                    .position(|c| Some(c) == s.label.as_ref())
                    .unwrap_or(0)
            })
            .collect();
        Ok(Self {
            samples,
            class_names,
            labels,
        })
    }

    /// Content hash of each sample: the feature cache's key.
    pub fn hashes(&self) -> Vec<String> {
        self.samples.iter().map(|s| s.sha256.clone()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.samples.iter().map(|s| s.file_name.clone()).collect()
    }

    /// Names this set, its samples' contents and labels in order: a
    /// search's trials check that they train on the set the search began on.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for (sample, &label) in self.samples.iter().zip(&self.labels) {
            hash.update(sample.sha256.as_bytes());
            hash.update(self.class_names[label].as_bytes());
            hash.update([0]);
        }
        hex::encode(hash.finalize())
    }

    /// The originals fetched from the blob store, as the pipeline's search
    /// takes them.
    pub async fn data(self, ctx: &JobContext) -> anyhow::Result<TrainingData> {
        let originals = load_originals(ctx, &self.samples)
            .await?
            .into_iter()
            .map(|b| b.to_vec())
            .collect();
        Ok(TrainingData {
            originals,
            names: self.names(),
            hashes: self.hashes(),
            labels: self.labels,
            class_names: self.class_names,
        })
    }
}

/// Preprocessed pixels (HWC u8) of each sample, in order.
pub async fn load_pixels(
    ctx: &JobContext,
    samples: &[Sample],
    impulse: &ImpulseConfig,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let originals = load_originals(ctx, samples).await?;
    let impulse = impulse.clone();
    let names: Vec<String> = samples.iter().map(|s| s.file_name.clone()).collect();
    tokio::task::spawn_blocking(move || preprocess_all(&originals, &names, &impulse)).await?
}

/// The original file of each sample, in order.
pub async fn load_originals(ctx: &JobContext, samples: &[Sample]) -> anyhow::Result<Vec<Bytes>> {
    let mut originals = Vec::with_capacity(samples.len());
    for (i, sample) in samples.iter().enumerate() {
        let bytes = ctx
            .blobs
            .get(&BlobKey::sample(&sample.sha256)?)
            .await
            .with_context(|| format!("sample {} ({})", sample.id, sample.file_name))?
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
    Ok(originals)
}
