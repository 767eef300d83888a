//! Samples to model inputs: fetch the originals from the blob store, then
//! decode and preprocess them in parallel on a blocking thread
//! (`tinystudio_pipeline::preprocess_all`).

use anyhow::Context;
use tinystudio_domain::ImpulseConfig;
use tinystudio_pipeline::preprocess_all;
use tinystudio_storage::BlobKey;
use tinystudio_storage::samples::Sample;

use crate::{JobContext, Permanent};

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
    let impulse = impulse.clone();
    let names: Vec<String> = samples.iter().map(|s| s.file_name.clone()).collect();
    tokio::task::spawn_blocking(move || preprocess_all(&originals, &names, &impulse)).await?
}
