//! Training: loads the training set and the impulse version, runs the
//! training pipeline (`tinystudio_pipeline::train`) on a blocking thread,
//! relays its reports, stores the model's files and then its row.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use tinystudio_domain::artifacts::{FLOAT_MODEL_FILES, MODEL_BLOB, MODEL_TFLITE};
use tinystudio_domain::jobs::{Train, TrainOutput, TrainPayload};
use tinystudio_domain::{ModelId, Report};
use tinystudio_pipeline::{TrainInput, Update};
use tinystudio_storage::blobs::sha256_hex;
use tinystudio_storage::{BlobKey, impulses, models};
use tokio::sync::mpsc;

use super::RunJob;
use crate::dataset::{TrainingSet, load_pixels};
use crate::{JobContext, Permanent};

impl RunJob for Train {
    async fn run(ctx: JobContext, payload: TrainPayload) -> anyhow::Result<TrainOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: TrainPayload) -> anyhow::Result<TrainOutput> {
    let project = ctx.job.project_id;
    // A retried job whose earlier run already saved its model is done.
    if let Some(model) = models::by_job(&ctx.db, ctx.job.id).await? {
        ctx.log(format!(
            "model v{} was already saved by an earlier attempt",
            model.version
        ))
        .await?;
        return Ok(output(model));
    }

    let impulse = impulses::get_version(&ctx.db, project, payload.impulse_version)
        .await
        .map_err(|e| Permanent(format!("impulse version {}: {e}", payload.impulse_version)))?
        .config;
    let set = TrainingSet::load(&ctx, project).await?;
    let (samples, class_names) = (&set.samples, &set.class_names);
    ctx.log(format!(
        "training on {} samples of {} labels ({}) with impulse v{}: {}x{} {:?}, MobileNetV1 {}",
        samples.len(),
        class_names.len(),
        class_names.join(", "),
        payload.impulse_version,
        impulse.input.width,
        impulse.input.height,
        impulse.image.color_depth,
        impulse.learning.alpha
    ))
    .await?;

    let started = Instant::now();
    let pixels = load_pixels(&ctx, samples, &impulse).await?;
    let decode_ms = started.elapsed().as_millis() as u64;
    ctx.log(format!(
        "decoded and resized {} images in {decode_ms} ms",
        pixels.len()
    ))
    .await?;
    ctx.set_progress(0.1);

    let hashes = set.hashes();
    let model_id = ModelId::new();
    let work_dir = ctx.config.work_dir.clone();
    let input = TrainInput {
        impulse,
        pixels,
        labels: set.labels.clone(),
        hashes,
        class_names: set.class_names.clone(),
        model_dir: work_dir.join("models").join(model_id.to_string()),
        work_dir,
        backbones_dir: ctx.config.backbones_dir.clone(),
        cancel: ctx.cancel_flag(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let blocking = tokio::task::spawn_blocking(move || {
        tinystudio_pipeline::train(input, &|update| {
            let _ = tx.send(update);
        })
    });
    // Relay reports to the database while the blocking part runs.
    while let Some(update) = rx.recv().await {
        match update {
            Update::Log(line) => ctx.log(line).await?,
            Update::Epoch(epoch) => ctx.report(&Report::Epoch(epoch)).await?,
            Update::Progress(p) => ctx.set_progress(p),
        }
    }
    let trained = blocking.await.context("training task")??;

    // Files first, then the row that points to them.
    let save_started = Instant::now();
    let owner = model_id.to_string();
    let mut file_hashes = std::collections::BTreeMap::new();
    for name in FLOAT_MODEL_FILES {
        let bytes = std::fs::read(trained.model_dir.join(name))
            .with_context(|| format!("reading {name}"))?;
        file_hashes.insert(name.to_owned(), sha256_hex(&bytes));
        ctx.blobs
            .put(&BlobKey::artifact(&owner, name)?, Bytes::from(bytes))
            .await?;
    }
    for (name, bytes) in [(MODEL_BLOB, trained.blob), (MODEL_TFLITE, trained.tflite)] {
        file_hashes.insert(name.to_owned(), sha256_hex(&bytes));
        ctx.blobs
            .put(&BlobKey::artifact(&owner, name)?, Bytes::from(bytes))
            .await?;
    }
    let mut metrics = trained.metrics;
    metrics.timing_ms.decode_ms = decode_ms;
    metrics.timing_ms.save_ms = save_started.elapsed().as_millis() as u64;
    let new = models::NewModel {
        impulse_version: payload.impulse_version,
        job_id: ctx.job.id,
        labels: &trained.class_names,
        metrics: &metrics,
        artifact_hashes: &file_hashes,
        imported: None,
    };
    let model = models::insert(&ctx.db, model_id, project, new).await?;
    ctx.log(format!(
        "saved model v{} in {} ms in all",
        model.version,
        started.elapsed().as_millis()
    ))
    .await?;
    Ok(output(model))
}

fn output(model: models::Model) -> TrainOutput {
    TrainOutput {
        model_id: model.id,
        model_version: model.version,
        metrics: model.metrics,
    }
}
