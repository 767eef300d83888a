//! Builds the C library for every target and packages the reference model
//! as each library kind, printing the times and sizes that
//! `crates/deploy/README.md` ("Libraries") quotes:
//!
//! ```sh
//! cargo run --release -p tinystudio-deploy --example build_libraries -- <target dir>
//! ```
//!
//! Run it twice on the same target directory: the first run compiles `core`
//! and the engine for three targets, the second finds them built.

use std::path::PathBuf;
use std::time::Instant;

use tinystudio_deploy::Config;
use tinystudio_deploy::library::{LibraryKind, LibraryModel, build_static_libraries, package};
use tinystudio_domain::impulse::ResizeMode;
use tinystudio_engine::{Model, PixelScaling};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target_dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: build_libraries <target dir>")?,
    );
    let shared = std::env::var_os("TINYSTUDIO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let tflite = std::fs::read(shared.join("reference-models/vww_96_int8.tflite"))?;
    let mut model = Model::from_tflite(&tflite)?;
    model.metadata.pixel_scaling = Some(PixelScaling::ZeroToOne);
    model.metadata.labels = vec!["no_person".into(), "person".into()];
    let blob = model.to_blob()?;

    let libraries = build_static_libraries(&Config::from_env(), &target_dir, &mut |_| {})?;
    println!(
        "static libraries: {:.1} s ({})",
        libraries.duration.as_secs_f64(),
        libraries.toolchain
    );
    for (target, path) in &libraries.libraries {
        println!(
            "  {:<24} {} bytes",
            target.triple,
            std::fs::metadata(path)?.len()
        );
    }
    let model = LibraryModel {
        title: "Visual Wake Words",
        version: 1,
        blob: &blob,
        resize_mode: ResizeMode::Squash,
    };
    for kind in LibraryKind::ALL {
        let started = Instant::now();
        let p = package(kind, &model, Some(&libraries))?;
        println!(
            "{:<16} {} bytes, {} files, packaged in {} ms",
            p.file_name,
            p.bytes.len(),
            p.files.len(),
            started.elapsed().as_millis()
        );
    }
    Ok(())
}
