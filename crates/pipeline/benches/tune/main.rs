//! The tuner against hand-picked impulses: a search for the Nano 33 BLE
//! within the default budget, then the default impulse, the search's best
//! and a few hand-picked settings each trained on the training set and
//! scored, int8, on the test set the search never saw. Prints one row per
//! impulse.
//!
//! `TUNE_SET` picks the photo set:
//! - `cifar3` (the default): CIFAR-3, 450 training and 150 test images of
//!   three classes, 32x32;
//! - `objects`: "hand-held objects" rendered at 128x128 ([`photoset`]), 200
//!   training and 100 test photos of each of nine classes; rendering them
//!   took 50 s in the unoptimised test build on the shared 2-core machine.
//!
//! `cargo bench -p tinystudio-pipeline --bench tune` (or, sharing the test
//! build, `cargo test --workspace --bench tune`). `TUNE_BUDGET_SECONDS`
//! overrides the budget; `TUNE_SKIP_SEARCH=1` scores the default and the
//! hand-picked impulses only; `TUNE_SAMPLES=<dir>` also writes four training
//! photos of each class there as PNG. Needs the shared data folder.

mod photoset;

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

const BOARD: &str = "nano33ble";

/// Labelled image files, as an upload would bring them.
struct Set {
    files: Vec<Vec<u8>>,
    names: Vec<String>,
    labels: Vec<usize>,
    classes: Vec<String>,
}

impl Set {
    fn new(classes: &[&str]) -> Self {
        Self {
            files: Vec::new(),
            names: Vec::new(),
            labels: Vec::new(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
        }
    }
}

fn shared() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    assert!(
        p.join("datasets/cifar3").is_dir() && p.join("images").is_dir(),
        "missing shared folder {} (datasets/cifar3, images)",
        p.display()
    );
    p
}

/// The files in `dir`, sorted by name.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
}

/// One of CIFAR-3's splits, read from the shared folder.
fn cifar3(root: &Path, split: &str) -> Set {
    const CLASSES: [&str; 3] = ["airplane", "ship", "horse"];
    let mut set = Set::new(&CLASSES);
    for (label, class) in CLASSES.iter().enumerate() {
        for path in files_in(&root.join("datasets/cifar3").join(split).join(class)) {
            set.files.push(std::fs::read(&path).expect("image"));
            set.names.push(path.display().to_string());
            set.labels.push(label);
        }
    }
    set
}

/// Training set and test set that `TUNE_SET` asks for.
fn photo_set(shared: &Path) -> (Set, Set) {
    let set = std::env::var("TUNE_SET").unwrap_or_else(|_| "cifar3".into());
    match set.as_str() {
        "cifar3" => (cifar3(shared, "train"), cifar3(shared, "test")),
        "objects" => {
            let started = Instant::now();
            let train_set = photoset::generate(
                &photoset::Backgrounds::load(shared, "train"),
                200,
                1,
                "train",
            );
            let test =
                photoset::generate(&photoset::Backgrounds::load(shared, "test"), 100, 2, "test");
            println!(
                "rendered {} training and {} test photos in {:.1} s",
                train_set.files.len(),
                test.files.len(),
                started.elapsed().as_secs_f64()
            );
            (train_set, test)
        }
        other => panic!("TUNE_SET={other}: expected cifar3 or objects"),
    }
}

/// The hand-picked impulses (changes to the default), the same for both
/// sets. Only MobileNetV1 0.25 is on disk (and the narrower widths derived
/// from it), so these vary the rest; measured on both sets, input size
/// matters most, so most are larger.
fn hand_picked_impulses() -> Vec<(&'static str, ImpulseConfig)> {
    vec![
        (
            "hand: dense 64, augmentation",
            hand_picked(96, 64, true, 0, 20),
        ),
        (
            "hand: 128x128, dense 64",
            hand_picked(128, 64, false, 0, 20),
        ),
        (
            "hand: 160x160, dense 64",
            hand_picked(160, 64, false, 0, 20),
        ),
        (
            "hand: 160x160, dense 64, augmentation",
            hand_picked(160, 64, true, 0, 20),
        ),
        (
            "hand: fine-tune 4, augmentation, 30 epochs",
            hand_picked(96, 64, true, 4, 30),
        ),
        (
            "hand: 128x128, fine-tune 2, augmentation, 30 epochs",
            hand_picked(128, 64, true, 2, 30),
        ),
        (
            "hand: 160x160, fine-tune 2, augmentation, 30 epochs",
            hand_picked(160, 64, true, 2, 30),
        ),
    ]
}

/// The default impulse at `side`x`side` with the given learning settings.
fn hand_picked(
    side: u32,
    dense: u32,
    augmentation: bool,
    fine_tune_blocks: u32,
    epochs: u32,
) -> ImpulseConfig {
    let mut i = ImpulseConfig::default();
    i.input.width = side;
    i.input.height = side;
    i.learning.dense_neurons = dense;
    i.learning.augmentation = augmentation;
    i.learning.fine_tune_blocks = fine_tune_blocks;
    i.learning.epochs = epochs;
    i
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
            class_names: train_set.classes.clone(),
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
    let (train_set, test) = photo_set(&shared);
    if let Ok(dir) = std::env::var("TUNE_SAMPLES") {
        photoset::save_samples(&train_set, 4, Path::new(&dir));
    }
    let work = tempfile::tempdir().expect("work dir");
    let base = ImpulseConfig::default();
    let mut candidates = vec![("default", base.clone())];
    if std::env::var("TUNE_SKIP_SEARCH").is_err() {
        let best = search(&base, &train_set, work.path(), &backbones);
        candidates.push(("tuner's best", best));
    }
    candidates.extend(hand_picked_impulses());

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

/// The tuner's search from `base` on `train_set`; returns its best impulse.
fn search(base: &ImpulseConfig, train_set: &Set, work: &Path, backbones: &Path) -> ImpulseConfig {
    let budget = std::env::var("TUNE_BUDGET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_BUDGET_SECONDS);
    let started = Instant::now();
    let input = TuneInput {
        base: base.clone(),
        data: Arc::new(TrainingData {
            originals: train_set.files.clone(),
            names: train_set.names.clone(),
            labels: train_set.labels.clone(),
            hashes: hashes(train_set),
            class_names: train_set.classes.clone(),
        }),
        env: TrialEnv {
            work_dir: work.to_owned(),
            backbones_dir: backbones.to_owned(),
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
    best.impulse.clone()
}
