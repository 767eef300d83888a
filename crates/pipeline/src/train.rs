//! Labelled images and an impulse in; a float model, its int8 version (the
//! engine's blob and `.tflite`) and their metrics out.
//!
//! The frozen backbone's features are computed once per image and cached
//! (keyed by content, input settings and backbone), so the epochs only train
//! the small head; with augmentation a fixed number of variants per image is
//! cached instead of recomputing every epoch.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::model::{Epoch, ModelMetrics, TrainingTime};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_engine::quantizer::quantize;
use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::data::{Augmentation, augment_variants};
use tinystudio_ml::export::export;
use tinystudio_ml::inference::FeatureExtractor;
use tinystudio_ml::training::{Control, TrainConfig, TrainingSet, train as train_head};

use crate::cache::FeatureCache;
use crate::preprocess::image_shape;

/// Augmented variants cached per training image.
const AUGMENTED_VARIANTS: usize = 4;
/// An int8 validation accuracy this far below float is reported as a warning.
const INT8_WARNING_POINTS: f64 = 3.0;

/// The error [`train`] returns when it stopped because it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// What the pipeline reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Log(String),
    Epoch(Epoch),
    /// 0..1 of the whole pipeline.
    Progress(f64),
}

/// Everything the pipeline needs.
pub struct TrainInput {
    pub impulse: ImpulseConfig,
    /// Preprocessed images ([`preprocess_all`](crate::preprocess_all)).
    pub pixels: Vec<Vec<u8>>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// Content hash of each image: the feature cache's key.
    pub hashes: Vec<String>,
    pub class_names: Vec<String>,
    /// Where the float model is saved.
    pub model_dir: PathBuf,
    /// Feature cache and scratch space.
    pub work_dir: PathBuf,
    pub backbones_dir: PathBuf,
    /// Set by someone else to stop the pipeline between steps.
    pub cancel: Arc<AtomicBool>,
}

/// What the pipeline made: the float model (its files in `model_dir`), the
/// int8 model as the engine's blob and as `.tflite`, and the metrics (of
/// the timing, the stages the pipeline ran).
pub struct Trained {
    pub class_names: Vec<String>,
    pub model_dir: PathBuf,
    pub blob: Vec<u8>,
    pub tflite: Vec<u8>,
    pub metrics: ModelMetrics,
}

fn cancelled(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}

/// Features (cached), head training, quantization and int8 evaluation,
/// reporting through `report` as it goes. Fails with [`Cancelled`] when
/// `input.cancel` is set.
pub fn train(input: TrainInput, report: &(dyn Fn(Update) + Sync)) -> anyhow::Result<Trained> {
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
    } = input;
    let log = |line: String| report(Update::Log(line));
    let learning = impulse.learning;
    let mut timing = TrainingTime::default();

    let backbone = ensure_backbone(learning.alpha, &backbones_dir, &mut |line| {
        log(line.to_owned())
    })
    .map_err(|e| anyhow::anyhow!("backbone: {e}"))?;
    log(format!("backbone: {}", backbone.description()));
    let shape = image_shape(&impulse);
    let extractor = FeatureExtractor::new(&backbone, shape, learning.fine_tune_blocks as usize)?;

    // Rows: originals, then augmented variants, from the cache where possible.
    let started = Instant::now();
    let cache = FeatureCache::new(&work_dir);
    let settings = feature_settings(&impulse);
    let fingerprint = extractor.backbone_fingerprint().to_owned();
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
    let inputs: Vec<(&str, &[u8])> = jobs
        .iter()
        .map(|(key, px, _, _)| (key.as_str(), px.as_slice()))
        .collect();
    let (rows, cached) = cache.rows(&extractor, &inputs, &cancel, &mut |done| {
        report(Update::Progress(0.1 + 0.3 * done))
    })?;
    let features_ms = started.elapsed().as_millis() as u64;
    timing.features_ms = features_ms;
    log(format!(
        "features of {} rows ({} from the cache) in {features_ms} ms",
        jobs.len(),
        cached
    ));
    report(Update::Progress(0.4));

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
        ..TrainConfig::default()
    };
    let started = Instant::now();
    let epochs = config.epochs;
    let outcome = train_head(&extractor, &set, &config, &mut |m| {
        report(Update::Epoch(epoch_row(m)));
        report(Update::Progress(
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
    timing.train_ms = started.elapsed().as_millis() as u64;
    let kept = outcome.kept_epoch;
    let float_accuracy = outcome
        .history
        .get(kept.wrapping_sub(1))
        .and_then(|m| m.val_accuracy);
    log(format!(
        "trained {} epochs in {} ms; validation accuracy {}{}",
        outcome.history.len(),
        started.elapsed().as_millis(),
        float_accuracy
            .map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "n/a".into()),
        if kept < outcome.history.len() {
            format!(" (the weights of epoch {kept}, the best on the validation set)")
        } else {
            String::new()
        }
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
    timing.quantize_ms = started.elapsed().as_millis() as u64;

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
    report(Update::Progress(0.95));

    let metrics = ModelMetrics {
        labels: class_names.clone(),
        validation_accuracy: float_accuracy,
        int8_validation_accuracy: int8_accuracy,
        confusion_matrix: outcome.confusion,
        history: outcome.history.iter().map(epoch_row).collect(),
        training_samples: outcome.train_rows.len() as u64,
        validation_samples: outcome.validation_rows.len() as u64,
        macs,
        arena_bytes: arena_bytes as u64,
        blob_bytes: blob.len() as u64,
        backbone: backbone.description(),
        imagenet_pretrained: backbone.is_imagenet_pretrained(),
        warning,
        timing_ms: timing,
    };
    Ok(Trained {
        class_names,
        model_dir,
        blob,
        tflite,
        metrics,
    })
}

/// The part of a feature's cache key that says how its pixels were made.
/// The preprocessing version keeps features of pixels resized by older code
/// (version 1 keys did not name it) from being reused.
/// What a feature row depends on besides the image and the backbone.
pub(crate) fn feature_settings(impulse: &ImpulseConfig) -> String {
    format!(
        "pp{}:{}x{}:{:?}:{:?}:ft{}",
        tinystudio_engine::preprocess::VERSION,
        impulse.input.width,
        impulse.input.height,
        impulse.input.resize_mode,
        impulse.image.color_depth,
        impulse.learning.fine_tune_blocks
    )
}

fn epoch_row(m: &tinystudio_ml::training::EpochMetrics) -> Epoch {
    Epoch {
        epoch: m.epoch as u32,
        loss: m.loss,
        accuracy: m.accuracy,
        val_loss: m.val_loss,
        val_accuracy: m.val_accuracy,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_keys_name_the_preprocessing_version() {
        let impulse = ImpulseConfig::default();
        let settings = feature_settings(&impulse);
        assert_eq!(
            settings,
            format!(
                "pp{}:96x96:Squash:Rgb:ft0",
                tinystudio_engine::preprocess::VERSION
            )
        );
        // The key the image crate's resize used, before versions.
        assert_ne!(settings, "96x96:Squash:Rgb:ft0");
    }
}
