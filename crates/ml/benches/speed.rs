//! Images per second of feature extraction and of fine-tuning, the cases
//! `benches/tensorflow_speed.py` times in TensorFlow, on the same images
//! (CIFAR-3's train and test JPEGs upscaled to 96x96 and repeated):
//!
//! - feature extraction: the whole frozen MobileNetV1 0.25 with global
//!   average pooling, `FeatureExtractor::extract` called with batches of 64;
//! - fine-tuning with the last N = 4 and N = 13 blocks trainable: `train` on
//!   cached cut-point activations, batch 32, every epoch fine-tuning (no
//!   frozen phase, no validation), so the time is forward, backward and Adam
//!   on head and blocks plus the loop's own bookkeeping; images/s counts
//!   training rows times epochs.
//!
//! `cargo bench -p tinystudio-ml --bench speed` (or, sharing the test build,
//! `cargo test -p tinystudio-ml --bench speed`). Needs the shared data folder.
//! Prints numbers only; the machine is shared, so run it and the TensorFlow
//! script back to back, several times.

use std::path::PathBuf;
use std::time::Instant;

use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::data::ImageShape;
use tinystudio_ml::inference::FeatureExtractor;
use tinystudio_ml::training::{Control, TrainConfig, TrainingSet, train};

const IMAGES: usize = 1000;
const SIZE: u32 = 96;
const REPEATS: usize = 3;

fn shared() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    assert!(
        p.join("datasets/cifar3").is_dir(),
        "missing shared folder {} (datasets/cifar3)",
        p.display()
    );
    p
}

fn load_images(shared: &std::path::Path) -> (Vec<Vec<u8>>, Vec<usize>) {
    let mut files = Vec::new();
    for split in ["train", "test"] {
        for (label, class) in ["airplane", "ship", "horse"].iter().enumerate() {
            let dir = shared.join("datasets/cifar3").join(split).join(class);
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.expect("dir entry").path())
                .collect();
            names.sort();
            files.extend(names.into_iter().map(|p| (p, label)));
        }
    }
    (0..IMAGES)
        .map(|i| {
            let (path, label) = &files[i % files.len()];
            let img = image::open(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .to_rgb8();
            let img =
                image::imageops::resize(&img, SIZE, SIZE, image::imageops::FilterType::Triangle);
            (img.into_raw(), *label)
        })
        .unzip()
}

/// Best of [`REPEATS`] runs of `f`, in seconds.
fn best(mut f: impl FnMut()) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // `-- fine` runs only the cases whose name contains "fine" (for profiling).
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let shared = shared();
    let (images, labels) = load_images(&shared);
    let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let backbone = ensure_backbone(0.25, &shared.join("backbones"), &mut |_| {}).expect("backbone");
    let shape = ImageShape::rgb(96, 96);

    let name = "feature extraction, batches of 64";
    if name.contains(&filter) {
        let extractor = FeatureExtractor::new(&backbone, shape, 0).expect("extractor");
        extractor.extract(&refs[..64]).expect("warm-up");
        let s = best(|| {
            for batch in refs.chunks(64) {
                extractor.extract(batch).expect("features");
            }
        });
        println!("{name}: {:.0} images/s", IMAGES as f64 / s);
    }

    for blocks in [4, 13] {
        let name = format!("fine-tuning, last {blocks} blocks, batch 32");
        if !name.contains(&filter) {
            continue;
        }
        let extractor = FeatureExtractor::new(&backbone, shape, blocks).expect("extractor");
        let set = TrainingSet {
            inputs: extractor.extract(&refs).expect("activations"),
            labels: labels.clone(),
            origin: Vec::new(),
            class_names: vec!["airplane".into(), "ship".into(), "horse".into()],
        };
        let epochs = 2;
        let config = TrainConfig {
            epochs,
            frozen_epochs: Some(0),
            validation_share: 0.0,
            batch_size: 32,
            ..TrainConfig::default()
        };
        let s = best(|| {
            train(&extractor, &set, &config, &mut |_| Control::Continue).expect("train");
        });
        println!("{name}: {:.0} images/s", (IMAGES * epochs) as f64 / s);
    }
}
