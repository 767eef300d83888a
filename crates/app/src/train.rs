//! `tinystudio train DIR`: the training pipeline (`tinystudio_pipeline`,
//! which the training job runs too) on a folder of
//! labelled images, without a server or a database — for scripts and
//! benchmarks. Prints the same per-epoch lines the job log shows.
//!
//! The folder holds one sub-folder per label (`DIR/cat/*.jpg`), or
//! `train/` and `test/` folders that do (`DIR/train/cat/*.jpg`); with a
//! test folder the int8 model is scored on it too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::artifacts::{MODEL_BLOB, MODEL_TFLITE};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_pipeline::{TrainInput, Update, argmax_i8, preprocess_all};
use tinystudio_storage::blobs::sha256_hex;

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Folder of labelled images (see `tinystudio train --help`).
    pub dir: PathBuf,
    /// The impulse as JSON (the API's format; every field optional).
    #[arg(long)]
    pub impulse: Option<PathBuf>,
    /// Overrides the impulse's number of epochs.
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Where pretrained backbones are kept (downloaded when missing).
    #[arg(
        long,
        env = "TINYSTUDIO_BACKBONES_DIR",
        default_value = "./data/backbones"
    )]
    pub backbones_dir: PathBuf,
    /// Feature cache and scratch space.
    #[arg(long, default_value = "./data/work")]
    pub work_dir: PathBuf,
    /// Where the model goes: the float model, `model.tsmb` and `model.tflite`.
    #[arg(long, default_value = "./model")]
    pub output: PathBuf,
}

/// Labelled image files under `dir/<label>/`.
fn list_labelled(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut labels: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    labels.sort_by_key(|e| e.file_name());
    for label in labels {
        let name = label.file_name().to_string_lossy().into_owned();
        let mut images: Vec<PathBuf> = std::fs::read_dir(label.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        images.sort();
        files.extend(images.into_iter().map(|p| (name.clone(), p)));
    }
    Ok(files)
}

fn read_all(files: &[(String, PathBuf)]) -> anyhow::Result<(Vec<Vec<u8>>, Vec<String>)> {
    let bytes = files
        .iter()
        .map(|(_, p)| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names = files.iter().map(|(_, p)| p.display().to_string()).collect();
    Ok((bytes, names))
}

pub async fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut impulse: ImpulseConfig = match &args.impulse {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not an impulse", path.display()))?,
        None => ImpulseConfig::default(),
    };
    if let Some(epochs) = args.epochs {
        impulse.learning.epochs = epochs;
    }
    impulse.validate()?;
    let (train_dir, test_dir) = if args.dir.join("train").is_dir() {
        (
            args.dir.join("train"),
            Some(args.dir.join("test")).filter(|d| d.is_dir()),
        )
    } else {
        (args.dir.clone(), None)
    };
    let files = list_labelled(&train_dir)?;
    let class_names: Vec<String> = files
        .iter()
        .map(|(l, _)| l.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if class_names.len() < 2 {
        bail!(
            "{} needs sub-folders of at least 2 labels",
            train_dir.display()
        );
    }
    println!(
        "training on {} images of {} labels ({})",
        files.len(),
        class_names.len(),
        class_names.join(", ")
    );

    let started = Instant::now();
    let (bytes, names) = read_all(&files)?;
    let hashes: Vec<String> = bytes.iter().map(|b| sha256_hex(b)).collect();
    let decode_impulse = impulse.clone();
    let pixels =
        tokio::task::spawn_blocking(move || preprocess_all(&bytes, &names, &decode_impulse))
            .await??;
    println!("decode and resize: {} ms", started.elapsed().as_millis());
    let labels = files
        .iter()
        .map(|(l, _)| class_names.iter().position(|c| c == l).unwrap_or(0))
        .collect();

    let input = TrainInput {
        impulse: impulse.clone(),
        pixels,
        labels,
        hashes,
        class_names,
        model_dir: args.output.clone(),
        work_dir: args.work_dir.clone(),
        backbones_dir: args.backbones_dir.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let epochs = impulse.learning.epochs;
    let print = move |update: Update| match update {
        Update::Log(line) => println!("{line}"),
        Update::Epoch(m) => println!(
            "epoch {}/{epochs}: loss {:.4} accuracy {:.1}% val_loss {} val_accuracy {}",
            m.epoch,
            m.loss,
            m.accuracy * 100.0,
            m.val_loss
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into()),
            m.val_accuracy
                .map(|v| format!("{:.1}%", v * 100.0))
                .unwrap_or_else(|| "-".into()),
        ),
        Update::Progress(_) => {}
    };
    let mut trained =
        tokio::task::spawn_blocking(move || tinystudio_pipeline::train(input, &print)).await??;
    let save_started = Instant::now();
    std::fs::write(args.output.join(MODEL_BLOB), &trained.blob)?;
    std::fs::write(args.output.join(MODEL_TFLITE), &trained.tflite)?;
    std::fs::write(
        args.output.join("impulse.json"),
        serde_json::to_vec_pretty(&impulse)?,
    )?;
    trained.metrics.timing_ms.save_ms = save_started.elapsed().as_millis() as u64;
    std::fs::write(
        args.output.join("metrics.json"),
        serde_json::to_vec_pretty(&trained.metrics)?,
    )?;
    let t = &trained.metrics.timing_ms;
    println!(
        "time: features {} ms, head training {} ms, quantization {} ms, saving {} ms; total {} ms",
        t.features_ms,
        t.train_ms,
        t.quantize_ms,
        t.save_ms,
        started.elapsed().as_millis()
    );
    println!("model written to {}", args.output.display());

    if let Some(test_dir) = test_dir {
        let files = list_labelled(&test_dir)?;
        let (bytes, names) = read_all(&files)?;
        let pixels = preprocess_all(&bytes, &names, &impulse)?;
        let mut runner =
            HostRunner::new(trained.blob.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut correct = 0;
        for ((label, _), px) in files.iter().zip(&pixels) {
            let out = runner.run_pixels(px).map_err(|e| anyhow::anyhow!("{e}"))?;
            if trained.class_names.get(argmax_i8(&out)) == Some(label) {
                correct += 1;
            }
        }
        println!(
            "int8 test accuracy: {:.1}% ({correct} of {})",
            100.0 * correct as f64 / files.len().max(1) as f64,
            files.len()
        );
    }
    Ok(())
}
