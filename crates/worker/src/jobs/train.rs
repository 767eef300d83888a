//! Training: impulse + training set -> a float model, its int8 version, and
//! their metrics.
//!
//! The frozen backbone's features are computed once per image and cached
//! (keyed by content, input settings and backbone), so the epochs only train
//! the small head; with augmentation a fixed number of variants per image is
//! cached instead of recomputing every epoch.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{Category, ImpulseConfig, ModelId};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_engine::quantizer::quantize;
use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::data::{Augmentation, augment_variants};
use tinystudio_ml::export::export;
use tinystudio_ml::inference::FeatureExtractor;
use tinystudio_ml::training::{Control, EpochMetrics, TrainConfig, TrainingSet, train};
use tinystudio_storage::{BlobKey, impulses, models, samples};
use tokio::sync::mpsc;

use crate::dataset::{FeatureCache, image_shape, load_pixels};
use crate::{Cancelled, JobContext, Permanent};

/// Augmented variants cached per training image.
const AUGMENTED_VARIANTS: usize = 4;
/// An int8 validation accuracy this far below float is reported as a warning.
const INT8_WARNING_POINTS: f64 = 3.0;

/// The files of a model, as artifacts owned by its id.
pub const WEIGHTS_FILES: [&str; 2] = ["model.json", "model.safetensors"];
pub const BLOB_FILE: &str = "model.tsmb";
pub const TFLITE_FILE: &str = "model.tflite";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    impulse_version: i64,
}

/// What the training pipeline reports while it runs.
pub enum Report {
    Log(String),
    Epoch(EpochMetrics),
    Progress(f64),
}

pub async fn run(ctx: JobContext) -> anyhow::Result<Value> {
    let project = ctx.job.project_id;
    let payload: Payload = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| Permanent(format!("invalid training payload: {e}")))?;

    // A retried job whose earlier run already saved its model is done.
    if let Some(model) = models::by_job(&ctx.db, ctx.job.id).await? {
        ctx.log(format!(
            "model v{} was already saved by an earlier attempt",
            model.version
        ))
        .await?;
        return Ok(result_json(&model.id, model.version, &model.metrics));
    }

    let impulse = impulses::get_version(&ctx.db, project, payload.impulse_version)
        .await
        .map_err(|e| Permanent(format!("impulse version {}: {e}", payload.impulse_version)))?
        .config;
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
    let pixels = load_pixels(&ctx, &samples, &impulse).await?;
    let decode_ms = started.elapsed().as_millis() as u64;
    ctx.log(format!(
        "decoded and resized {} images in {decode_ms} ms",
        pixels.len()
    ))
    .await?;
    ctx.set_progress(0.1);

    let labels: Vec<usize> = samples
        .iter()
        .map(|s| {
            class_names
                .iter()
                .position(|c| Some(c) == s.label.as_ref())
                .unwrap_or(0)
        })
        .collect();
    let hashes: Vec<String> = samples.iter().map(|s| s.sha256.clone()).collect();
    let model_id = ModelId::new();
    let work_dir = ctx.config.work_dir.clone();
    let backbones_dir = ctx.config.backbones_dir.clone();
    let cancel = ctx.cancel_flag();
    let (tx, mut rx) = mpsc::unbounded_channel();

    let blocking = tokio::task::spawn_blocking(move || {
        train_blocking(TrainInput {
            impulse,
            pixels,
            labels,
            hashes,
            class_names,
            model_dir: work_dir.join("models").join(model_id.to_string()),
            work_dir,
            backbones_dir,
            cancel,
            tx,
        })
    });
    // Relay reports to the database while the blocking part runs.
    while let Some(report) = rx.recv().await {
        match report {
            Report::Log(line) => ctx.log(line).await?,
            Report::Epoch(m) => {
                ctx.event(
                    "epoch",
                    json!({
                        "epoch": m.epoch,
                        "loss": m.loss,
                        "accuracy": m.accuracy,
                        "valLoss": m.val_loss,
                        "valAccuracy": m.val_accuracy,
                    }),
                )
                .await?
            }
            Report::Progress(p) => ctx.set_progress(p),
        }
    }
    let trained = blocking.await.context("training task")??;
    let mut timing = trained.timing.clone();
    timing["decodeMs"] = json!(decode_ms);

    // Artifacts first, then the row that points to them.
    let save_started = Instant::now();
    let owner = model_id.to_string();
    for name in WEIGHTS_FILES {
        let bytes = std::fs::read(trained.model_dir.join(name))
            .with_context(|| format!("reading {name}"))?;
        ctx.blobs
            .put(&BlobKey::artifact(&owner, name)?, Bytes::from(bytes))
            .await?;
    }
    ctx.blobs
        .put(
            &BlobKey::artifact(&owner, BLOB_FILE)?,
            Bytes::from(trained.blob),
        )
        .await?;
    ctx.blobs
        .put(
            &BlobKey::artifact(&owner, TFLITE_FILE)?,
            Bytes::from(trained.tflite),
        )
        .await?;
    timing["saveMs"] = json!(save_started.elapsed().as_millis() as u64);

    let mut metrics = trained.metrics;
    metrics["timingMs"] = timing;
    let model = models::insert(
        &ctx.db,
        model_id,
        project,
        payload.impulse_version,
        ctx.job.id,
        &trained.class_names,
        &metrics,
    )
    .await?;
    ctx.log(format!(
        "saved model v{} in {} ms in all",
        model.version,
        started.elapsed().as_millis()
    ))
    .await?;
    Ok(result_json(&model.id, model.version, &model.metrics))
}

/// The job result: the model's id and version plus its headline metrics.
fn result_json(id: &ModelId, version: i64, metrics: &Value) -> Value {
    let mut result = metrics.clone();
    result["modelId"] = json!(id);
    result["modelVersion"] = json!(version);
    result
}

/// Everything the blocking training pipeline needs.
pub struct TrainInput {
    pub impulse: ImpulseConfig,
    /// Preprocessed images (`dataset::preprocess_all`).
    pub pixels: Vec<Vec<u8>>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// Content hash of each image: the feature cache's key.
    pub hashes: Vec<String>,
    pub class_names: Vec<String>,
    /// Where the float model is saved.
    pub model_dir: std::path::PathBuf,
    /// Feature cache and scratch space.
    pub work_dir: std::path::PathBuf,
    pub backbones_dir: std::path::PathBuf,
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub tx: mpsc::UnboundedSender<Report>,
}

/// What the pipeline made: the float model (in `model_dir`), the int8 model
/// as our blob and as `.tflite`, and the metrics.
pub struct Trained {
    pub class_names: Vec<String>,
    pub model_dir: std::path::PathBuf,
    pub blob: Vec<u8>,
    pub tflite: Vec<u8>,
    pub metrics: Value,
    pub timing: Value,
}

fn cancelled(flag: &std::sync::atomic::AtomicBool) -> bool {
    flag.load(std::sync::atomic::Ordering::Relaxed)
}

/// Features (cached), head training, quantization and int8 evaluation.
/// Blocking and CPU-heavy: shared by the training job and `tinystudio train`.
pub fn train_blocking(input: TrainInput) -> anyhow::Result<Trained> {
    let TrainInput {
        impulse,
        pixels,
        labels,
        hashes,
        class_names,
        model_dir,
        work_dir,
        backbones_dir,
        cancel,
        tx,
    } = input;
    let log = |line: String| {
        let _ = tx.send(Report::Log(line));
    };
    let learning = impulse.learning;
    let mut timing = json!({});

    let backbone = ensure_backbone(learning.alpha, &backbones_dir, &mut |line| {
        log(line.to_owned())
    })
    .map_err(|e| Permanent(format!("backbone: {e}")))?;
    log(format!("backbone: {}", backbone.description()));
    let shape = image_shape(&impulse);
    let extractor = FeatureExtractor::new(&backbone, shape, learning.fine_tune_blocks as usize)?;

    // Rows: originals, then augmented variants, from the cache where possible.
    let started = Instant::now();
    let cache = FeatureCache::new(&work_dir);
    let settings = format!(
        "{}x{}:{:?}:{:?}:ft{}",
        impulse.input.width,
        impulse.input.height,
        impulse.input.resize_mode,
        impulse.image.color_depth,
        learning.fine_tune_blocks
    );
    let fingerprint = extractor.backbone_fingerprint().to_owned();
    let row_len = extractor.row_len();
    let mut jobs: Vec<(String, Vec<u8>, usize, usize)> = Vec::new(); // key, pixels, label, origin
    for (i, px) in pixels.iter().enumerate() {
        jobs.push((
            FeatureCache::key(&[&hashes[i], &settings, &fingerprint]),
            px.clone(),
            labels[i],
            i,
        ));
    }
    if learning.augmentation {
        let aug = Augmentation::default();
        for (i, px) in pixels.iter().enumerate() {
            let seed =
                u64::from_str_radix(&hashes[i][..16], 16).unwrap_or(i as u64) ^ learning.seed;
            for (v, variant) in augment_variants(px, shape, &aug, AUGMENTED_VARIANTS, seed)?
                .into_iter()
                .enumerate()
            {
                let key = FeatureCache::key(&[
                    &hashes[i],
                    &settings,
                    &fingerprint,
                    &format!("aug{v}:{}", learning.seed),
                ]);
                jobs.push((key, variant, labels[i], i));
            }
        }
    }
    let mut rows = vec![0f32; jobs.len() * row_len];
    let mut missing = Vec::new();
    for (j, (key, _, _, _)) in jobs.iter().enumerate() {
        match cache.get(key, row_len) {
            Some(row) => rows[j * row_len..(j + 1) * row_len].copy_from_slice(&row),
            None => missing.push(j),
        }
    }
    let cached = jobs.len() - missing.len();
    for (done, chunk) in missing.chunks(256).enumerate() {
        if cancelled(&cancel) {
            return Err(Cancelled.into());
        }
        let images: Vec<&[u8]> = chunk.iter().map(|&j| jobs[j].1.as_slice()).collect();
        let features = extractor.extract(&images)?;
        for (k, &j) in chunk.iter().enumerate() {
            let row = &features[k * row_len..(k + 1) * row_len];
            rows[j * row_len..(j + 1) * row_len].copy_from_slice(row);
            cache.put(&jobs[j].0, row);
        }
        let _ = tx.send(Report::Progress(
            0.1 + 0.3 * ((done + 1) * 256).min(missing.len()) as f64 / missing.len() as f64,
        ));
    }
    let features_ms = started.elapsed().as_millis() as u64;
    timing["featuresMs"] = json!(features_ms);
    log(format!(
        "features of {} rows ({} from the cache) in {features_ms} ms",
        jobs.len(),
        cached
    ));
    let _ = tx.send(Report::Progress(0.4));

    let set = TrainingSet {
        inputs: rows,
        labels: jobs.iter().map(|j| j.2).collect(),
        origin: jobs.iter().map(|j| j.3).collect(),
        class_names: class_names.clone(),
    };
    let config = TrainConfig {
        hidden_neurons: (learning.dense_neurons > 0).then_some(learning.dense_neurons as usize),
        dropout: learning.dropout,
        learning_rate: learning.learning_rate as f64,
        batch_size: learning.batch_size as usize,
        epochs: learning.epochs as usize,
        validation_share: learning.validation_share,
        seed: learning.seed,
    };
    let started = Instant::now();
    let epochs = config.epochs;
    let outcome = train(&extractor, &set, &config, &mut |m| {
        let _ = tx.send(Report::Epoch(m.clone()));
        let _ = tx.send(Report::Progress(
            0.4 + 0.45 * m.epoch as f64 / epochs as f64,
        ));
        if cancelled(&cancel) {
            Control::Stop
        } else {
            Control::Continue
        }
    })?;
    if outcome.stopped || cancelled(&cancel) {
        return Err(Cancelled.into());
    }
    timing["trainMs"] = json!(started.elapsed().as_millis() as u64);
    let float_accuracy = outcome.history.last().and_then(|m| m.val_accuracy);
    log(format!(
        "trained {} epochs in {} ms; validation accuracy {}",
        outcome.history.len(),
        started.elapsed().as_millis(),
        float_accuracy
            .map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "n/a".into())
    ));

    // The float model, then its int8 version calibrated on training images.
    let started = Instant::now();
    std::fs::create_dir_all(&model_dir)?;
    outcome.model.save(&model_dir)?;
    let calibration: Vec<&[u8]> = pixels
        .iter()
        .take(impulse.learning.calibration_samples as usize)
        .map(Vec::as_slice)
        .collect();
    let (graph, ranges) = export(&outcome.model, &calibration)?;
    let int8 = quantize(&graph, &ranges).map_err(|e| anyhow::anyhow!("quantizing: {e}"))?;
    let blob = int8
        .to_blob()
        .map_err(|e| anyhow::anyhow!("model blob: {e}"))?;
    let tflite = int8
        .to_tflite()
        .map_err(|e| anyhow::anyhow!(".tflite export: {e}"))?;
    let macs: u64 = int8
        .macs()
        .map(|ops| ops.iter().map(|op| op.2).sum())
        .unwrap_or(0);
    timing["quantizeMs"] = json!(started.elapsed().as_millis() as u64);

    // The int8 model on the same validation images the float one was scored on.
    let mut runner = HostRunner::new(blob.clone())
        .map_err(|e| anyhow::anyhow!("loading the int8 model: {e}"))?;
    let arena_bytes = runner.view().map(|v| v.arena_size()).unwrap_or(0);
    let mut correct = 0usize;
    for &row in &outcome.validation_rows {
        let out = runner
            .run_pixels(&pixels[row])
            .map_err(|e| anyhow::anyhow!("int8 inference: {e}"))?;
        if argmax_i8(&out) == labels[row] {
            correct += 1;
        }
    }
    let int8_accuracy = (!outcome.validation_rows.is_empty())
        .then(|| correct as f64 / outcome.validation_rows.len() as f64);
    let mut warning = None;
    if let (Some(f), Some(q)) = (float_accuracy, int8_accuracy) {
        let drop = (f as f64 - q) * 100.0;
        log(format!(
            "int8 validation accuracy {:.1}% (float {:.1}%)",
            q * 100.0,
            f * 100.0
        ));
        if drop > INT8_WARNING_POINTS {
            warning = Some(format!(
                "the int8 model scores {drop:.1} points below the float model on the validation set"
            ));
        }
    }
    let _ = tx.send(Report::Progress(0.95));

    let metrics = json!({
        "labels": class_names,
        "validationAccuracy": float_accuracy,
        "int8ValidationAccuracy": int8_accuracy,
        "confusionMatrix": outcome.confusion,
        "history": outcome.history.iter().map(|m| json!({
            "epoch": m.epoch, "loss": m.loss, "accuracy": m.accuracy,
            "valLoss": m.val_loss, "valAccuracy": m.val_accuracy,
        })).collect::<Vec<_>>(),
        "trainingSamples": outcome.train_rows.len(),
        "validationSamples": outcome.validation_rows.len(),
        "macs": macs,
        "arenaBytes": arena_bytes,
        "blobBytes": blob.len(),
        "backbone": backbone.description(),
        "imagenetPretrained": backbone.is_imagenet_pretrained(),
        "impulse": impulse,
        "warning": warning,
    });
    Ok(Trained {
        class_names,
        model_dir,
        blob,
        tflite,
        metrics,
        timing,
    })
}

/// Index of the largest score (the first on ties, like TFLite's argmax).
pub fn argmax_i8(scores: &[i8]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}
