//! End-to-end training benchmark: 1,000 96x96 RGB images (cifar3 train and test
//! images, upscaled and repeated), MobileNetV1 0.25 frozen, 30 epochs, no
//! augmentation. Prints the wall time of each stage.
//!
//! `cargo bench -p tinystudio-ml --bench train` (or, sharing the test build,
//! `cargo test -p tinystudio-ml --bench train`). Needs the shared data folder.

use std::path::PathBuf;
use std::time::Instant;

use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::data::ImageShape;
use tinystudio_ml::inference::FeatureExtractor;
use tinystudio_ml::training::{Control, TrainConfig, TrainingSet, train};

const IMAGES: usize = 1000;
const SIZE: u32 = 96;

fn shared() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    assert!(
        p.join("datasets/cifar3").is_dir(),
        "missing shared folder {} (datasets/cifar3)",
        p.display()
    );
    p
}

fn main() {
    let shared = shared();
    let classes = ["airplane", "ship", "horse"];
    let mut files = Vec::new();
    for split in ["train", "test"] {
        for (label, class) in classes.iter().enumerate() {
            let dir = shared.join("datasets/cifar3").join(split).join(class);
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.expect("dir entry").path())
                .collect();
            names.sort();
            files.extend(names.into_iter().map(|p| (p, label)));
        }
    }
    let total = Instant::now();

    let t = Instant::now();
    let mut images = Vec::with_capacity(IMAGES);
    let mut labels = Vec::with_capacity(IMAGES);
    for i in 0..IMAGES {
        let (path, label) = &files[i % files.len()];
        let img = image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        let img = image::imageops::resize(&img, SIZE, SIZE, image::imageops::FilterType::Triangle);
        images.push(img.into_raw());
        labels.push(*label);
    }
    let decode = t.elapsed();

    let t = Instant::now();
    let backbone = ensure_backbone(0.25, &shared.join("backbones"), &mut |_| {}).expect("backbone");
    let extractor =
        FeatureExtractor::new(&backbone, ImageShape::rgb(96, 96), 0).expect("extractor");
    let load = t.elapsed();

    let t = Instant::now();
    let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let features = extractor.extract(&refs).expect("features");
    let extract = t.elapsed();

    let t = Instant::now();
    let set = TrainingSet {
        inputs: features,
        labels,
        origin: Vec::new(),
        class_names: classes.iter().map(|s| s.to_string()).collect(),
    };
    let config = TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    };
    let mut last = None;
    let outcome = train(&extractor, &set, &config, &mut |m| {
        last = Some(m.clone());
        Control::Continue
    })
    .expect("train");
    let training = t.elapsed();

    let t = Instant::now();
    let dir = std::env::temp_dir().join(format!("tinystudio-bench-{}", std::process::id()));
    outcome.model.save(&dir).expect("save");
    let save = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let all = total.elapsed();

    // Steady-state extraction throughput, as the worker calls it (batches of 32),
    // best of three passes over the 1,000 images.
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            for batch in refs.chunks(32) {
                extractor.extract(batch).expect("features");
            }
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);

    let last = last.expect("epochs ran");
    let t = Instant::now();
    extractor
        .extract_reference(&refs[..256])
        .expect("reference features");
    let reference = 256.0 / t.elapsed().as_secs_f64();

    println!("1,000 images 96x96x3, MobileNetV1 0.25 frozen, 30 epochs, batch 32");
    println!("decode + resize     {:>8.3} s", decode.as_secs_f64());
    println!("load backbone       {:>8.3} s", load.as_secs_f64());
    println!(
        "feature extraction  {:>8.3} s  ({:.0} images/s)",
        extract.as_secs_f64(),
        IMAGES as f64 / extract.as_secs_f64()
    );
    println!(
        "head training       {:>8.3} s  (final loss {:.3} acc {:.3} val_acc {:.3})",
        training.as_secs_f64(),
        last.loss,
        last.accuracy,
        last.val_accuracy.unwrap_or(f32::NAN)
    );
    println!("save                {:>8.3} s", save.as_secs_f64());
    println!("total               {:>8.3} s", all.as_secs_f64());
    println!(
        "extraction, batches of 32, best of 3: {:.0} images/s",
        IMAGES as f64 / best
    );
    println!("burn flex reference forward (batches of 32): {reference:.0} images/s");
}
