//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A file under the shared data folder beside the repository; panics with its name
/// when missing, so a test never passes by skipping.
pub fn shared(rel: &str) -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "missing shared test file {} (expected at {}); the tests need the shared data folder",
        rel,
        path.display()
    );
    path
}

pub fn backbones_dir() -> PathBuf {
    shared("backbones/mobilenet_v1_0.25_224_imagenet.h5");
    shared("backbones")
}

/// Decodes an image to RGB8 and resizes it with a triangle (bilinear, antialiased
/// when shrinking) filter, like PIL's `BILINEAR`.
pub fn load_rgb(rel: &str, width: u32, height: u32) -> Vec<u8> {
    let path = shared(rel);
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()))
        .to_rgb8();
    image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle).into_raw()
}
