//! A full training job on 1,000 images of 96x96x3: MobileNetV1 0.25 frozen,
//! 30 epochs, no augmentation, through `tinystudio train`'s pipeline (the
//! training job's code without the server): decode and resize, feature
//! extraction, head training, int8 quantization, saving. Prints the time of
//! each stage, first with an empty feature cache, then with a warm one (a
//! re-training after changing only the head).
//!
//! `cargo bench --bench training --profile dev`. The images are the 600
//! CIFAR-3 images of the shared data folder upscaled to 96x96, plus 400 of
//! them mirrored, so all 1,000 are distinct.

use std::path::{Path, PathBuf};

use image::imageops::{FilterType, flip_horizontal, resize};
use tinystudio::train::{TrainArgs, run};

const IMAGES: usize = 1000;
const SIDE: u32 = 96;

fn shared() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("datasets/cifar3").is_dir() && p.join("backbones").is_dir(),
        "missing shared data folder {} (datasets/cifar3, backbones)",
        p.display()
    );
    p
}

/// Writes the 1,000 images as JPEGs under `out/<label>/`.
fn write_images(shared: &Path, out: &Path) {
    let mut sources = Vec::new();
    for split in ["train", "test"] {
        for label in ["airplane", "horse", "ship"] {
            let dir = shared.join("datasets/cifar3").join(split).join(label);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            sources.extend(files.into_iter().map(|f| (label, f)));
        }
    }
    for (n, (label, path)) in sources.iter().cycle().take(IMAGES).enumerate() {
        let img = image::open(path).unwrap().to_rgb8();
        let mut img = resize(&img, SIDE, SIDE, FilterType::Triangle);
        if n >= sources.len() {
            img = flip_horizontal(&img);
        }
        let dir = out.join(label);
        std::fs::create_dir_all(&dir).unwrap();
        img.save(dir.join(format!("{n:04}.jpg"))).unwrap();
    }
}

#[tokio::main]
async fn main() {
    let shared = shared();
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_images(&shared, &images);
    let impulse = dir.path().join("impulse.json");
    std::fs::write(
        &impulse,
        r#"{"learning": {"alpha": 0.25, "epochs": 30, "augmentation": false, "fineTuneBlocks": 0}}"#,
    )
    .unwrap();
    for pass in ["empty feature cache", "warm feature cache"] {
        println!("\n== {IMAGES} images of {SIDE}x{SIDE}x3, {pass}");
        run(TrainArgs {
            dir: images.clone(),
            impulse: Some(impulse.clone()),
            epochs: None,
            backbones_dir: shared.join("backbones"),
            work_dir: dir.path().join("work"),
            output: dir.path().join("model"),
        })
        .await
        .expect("training");
    }
}
