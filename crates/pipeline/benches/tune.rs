//! The tuner against hand-picked impulses on CIFAR-3 (450 training, 150
//! test images of three classes): a search for the Nano 33 BLE within the
//! default budget, then the default impulse, the search's best and a few
//! hand-picked settings each trained on the training set and scored, int8,
//! on the test set the search never saw. Prints one row per impulse.
//!
//! `cargo bench -p tinystudio-pipeline --bench tune` (or, sharing the test
//! build, `cargo test --workspace --bench tune`). `TUNE_BUDGET_SECONDS`
//! overrides the budget. Needs the shared data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tinystudio_deploy::footprint::estimate;
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::impulse::ColorDepth;
use tinystudio_domain::jobs::DEFAULT_BUDGET_SECONDS;
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_pipeline::{
    OneAtATime, TrainInput, TrainingData, TrialEnv, TuneInput, argmax_i8, preprocess_all, train,
    tune,
};

const CLASSES: [&str; 3] = ["airplane", "ship", "horse"];
const BOARD: &str = "nano33ble";

struct Set {
    files: Vec<Vec<u8>>,
    names: Vec<String>,
    labels: Vec<usize>,
}

fn shared() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    assert!(
        p.join("datasets/cifar3").is_dir(),
        "missing shared folder {} (datasets/cifar3)",
        p.display()
    );
    p
}

fn load(root: &Path, split: &str) -> Set {
    let mut set = Set {
        files: Vec::new(),
        names: Vec::new(),
        labels: Vec::new(),
    };
    for (label, class) in CLASSES.iter().enumerate() {
        let dir = root.join("datasets/cifar3").join(split).join(class);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        paths.sort();
        for path in paths {
            set.files.push(std::fs::read(&path).expect("image"));
            set.names.push(path.display().to_string());
            set.labels.push(label);
        }
    }
    set
}

fn hashes(set: &Set) -> Vec<String> {
    set.files
        .iter()
        .map(|f| hex::encode(Sha256::digest(f)))
        .collect()
}

fn describe(i: &ImpulseConfig) -> String {
    let l = &i.learning;
    format!(
        "{}x{} {} a{} d{}{}{} lr {:.1e} e{}",
        i.input.width,
        i.input.height,
        match i.image.color_depth {
            ColorDepth::Rgb => "rgb",
            ColorDepth::Grayscale => "gray",
        },
        l.alpha,
        l.dense_neurons,
        if l.augmentation { " aug" } else { "" },
        if l.fine_tune_blocks > 0 {
            format!(" ft{}", l.fine_tune_blocks)
        } else {
            String::new()
        },
        l.learning_rate,
        l.epochs
    )
}

/// Trains `impulse` on `train_set` and scores its int8 model on `test`:
/// (validation int8, test int8, fits the board, latency ms, seconds).
fn score(
    impulse: &ImpulseConfig,
    train_set: &Set,
    test: &Set,
    work: &Path,
    backbones: &Path,
) -> (f64, f64, bool, f64, f64) {
    let started = Instant::now();
    let pixels = preprocess_all(&train_set.files, &train_set.names, impulse).expect("preprocess");
    let model_dir = work.join(uuid::Uuid::new_v4().to_string());
    let trained = train(
        TrainInput {
            impulse: impulse.clone(),
            pixels,
            labels: train_set.labels.clone(),
            hashes: hashes(train_set),
            class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
            model_dir,
            work_dir: work.to_owned(),
            backbones_dir: backbones.to_owned(),
            cancel: Arc::new(AtomicBool::new(false)),
        },
        &|_| {},
    )
    .expect("training");
    let seconds = started.elapsed().as_secs_f64();
    let test_pixels = preprocess_all(&test.files, &test.names, impulse).expect("preprocess");
    let mut runner = HostRunner::new(trained.blob.clone()).expect("int8 model");
    let correct = test_pixels
        .iter()
        .zip(&test.labels)
        .filter(|(px, label)| argmax_i8(&runner.run_pixels(px).expect("inference")) == **label)
        .count();
    let board = tinystudio_deploy::board(BOARD).expect("board");
    let footprint = estimate(board, &trained.blob).expect("footprint");
    (
        trained.metrics.int8_validation_accuracy.unwrap_or(f64::NAN),
        correct as f64 / test.labels.len() as f64,
        footprint.fits(),
        footprint.latency.map_or(f64::NAN, |l| l.ms),
        seconds,
    )
}

fn main() {
    let shared = shared();
    let backbones = shared.join("backbones");
    let train_set = load(&shared, "train");
    let test = load(&shared, "test");
    let work = tempfile::tempdir().expect("work dir");
    let budget = std::env::var("TUNE_BUDGET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_BUDGET_SECONDS);
    let base = ImpulseConfig::default();

    let started = Instant::now();
    let input = TuneInput {
        base: base.clone(),
        data: Arc::new(TrainingData {
            originals: train_set.files.clone(),
            names: train_set.names.clone(),
            labels: train_set.labels.clone(),
            hashes: hashes(&train_set),
            class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
        }),
        env: TrialEnv {
            work_dir: work.path().to_owned(),
            backbones_dir: backbones.clone(),
            board: tinystudio_deploy::board(BOARD).expect("board"),
            latency_budget_ms: None,
        },
        budget: Duration::from_secs(budget.into()),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let runner = OneAtATime {
        data: &input.data,
        env: &input.env,
        cancel: &input.cancel,
    };
    // The search's log on stderr, the table on stdout.
    let searched = tune(&input, &runner, &|update| {
        if let tinystudio_pipeline::Update::Log(line) = update {
            eprintln!("{line}");
        }
    })
    .expect("search");
    let best = &searched.trials[searched.best.expect("a trial that fits")];
    println!(
        "search for {BOARD}: {} trials in {:.0} s (budget {budget} s); best: validation int8 {:.1} % on its split, {:.1} % on average over {} splits",
        searched.trials.len(),
        started.elapsed().as_secs_f64(),
        best.int8_accuracy.unwrap_or(f64::NAN) * 100.0,
        best.mean_accuracy().unwrap_or(f64::NAN) * 100.0,
        best.checks.len() + 1
    );
    let best = best.impulse.clone();

    let hand_picked = |f: &dyn Fn(&mut ImpulseConfig)| {
        let mut i = base.clone();
        f(&mut i);
        i
    };
    let candidates = [
        ("default", base.clone()),
        ("tuner's best", best),
        (
            "hand: dense 64, augmentation",
            hand_picked(&|i| {
                i.learning.dense_neurons = 64;
                i.learning.augmentation = true;
            }),
        ),
        (
            "hand: 128x128, dense 64",
            hand_picked(&|i| {
                i.input.width = 128;
                i.input.height = 128;
                i.learning.dense_neurons = 64;
            }),
        ),
        (
            "hand: fine-tune 4, augmentation, 30 epochs",
            hand_picked(&|i| {
                i.learning.dense_neurons = 64;
                i.learning.augmentation = true;
                i.learning.fine_tune_blocks = 4;
                i.learning.epochs = 30;
            }),
        ),
    ];
    println!("| impulse | settings | val int8 | test int8 | fits {BOARD} | latency ms | train s |");
    println!("| --- | --- | ---: | ---: | --- | ---: | ---: |");
    for (name, impulse) in candidates {
        let (val, test_acc, fits, ms, seconds) =
            score(&impulse, &train_set, &test, work.path(), &backbones);
        println!(
            "| {name} | {} | {:.1} % | {:.1} % | {} | {ms:.0} | {seconds:.1} |",
            describe(&impulse),
            val * 100.0,
            test_acc * 100.0,
            if fits { "yes" } else { "no" }
        );
    }
}
