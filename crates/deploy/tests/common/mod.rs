//! Shared by the deploy tests: the reference model from `/work/shared`, the
//! firmware build directory kept between runs, one build per board per process.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tinystudio_deploy::{BuildOptions, BuildOutput, Config, board, build_with};
use tinystudio_engine::float_graph::FloatGraph;
use tinystudio_engine::{Calibration, Model, PixelScaling, quantize};

/// Generous: one inference is ~20-70 M emulated instructions (1-3 s of
/// wall time on a loaded 2-core machine).
pub const INFERENCE_TIMEOUT: Duration = Duration::from_secs(60);

/// `../shared` beside the repository (or `TINYSTUDIO_SHARED`).
pub fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("TINYSTUDIO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = root.join(rel);
    assert!(
        p.exists(),
        "missing shared test data {} (expected the project's shared/ directory beside the \
         repository, or set TINYSTUDIO_SHARED)",
        p.display()
    );
    p
}

/// `vww_96_int8.tflite` as a blob, with the pixel scaling its input
/// quantization implies (x/255, zero point -128: int8 = pixel - 128) and
/// the MLPerf Tiny class names.
pub fn vww_blob() -> &'static [u8] {
    static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
    BLOB.get_or_init(|| {
        let path = shared("reference-models/vww_96_int8.tflite");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut model = Model::from_tflite(&bytes).expect("vww imports");
        model.metadata.pixel_scaling = Some(PixelScaling::ZeroToOne);
        model.metadata.labels = vec!["no_person".into(), "person".into()];
        model.to_blob().expect("vww blob")
    })
}

/// Firmware builds live in the test target directory and survive between
/// runs, so only the first run compiles `core` and the dependencies.
pub fn firmware_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware")
}

/// Builds (once per test process) the firmware for `board` with vww.
pub fn vww_build(board_name: &str, profile: bool) -> BuildOutput {
    static BUILDS: OnceLock<Mutex<HashMap<(String, bool), BuildOutput>>> = OnceLock::new();
    let builds = BUILDS.get_or_init(Default::default);
    let mut builds = builds.lock().unwrap_or_else(|e| e.into_inner());
    builds
        .entry((board_name.to_string(), profile))
        .or_insert_with(|| {
            build_vww(
                board_name,
                &BuildOptions {
                    profile,
                    ..BuildOptions::default()
                },
            )
        })
        .clone()
}

/// The firmware for the emulated board, built with the kernel self-check.
pub fn selftest_build() -> BuildOutput {
    build_vww(
        "mps2-an386",
        &BuildOptions {
            selftest: true,
            ..BuildOptions::default()
        },
    )
}

/// Builds the firmware for `board_name` with vww, logging to stderr.
fn build_vww(board_name: &str, options: &BuildOptions) -> BuildOutput {
    let board = board(board_name).expect("known board");
    build_with(
        &Config::from_env(),
        board,
        vww_blob(),
        &firmware_target_dir(),
        options,
        &mut |line: &str| eprintln!("[{board_name}] {line}"),
    )
    .unwrap_or_else(|e| panic!("building for {board_name} ({options:?}): {e}"))
}

/// The 11 golden cases: (name, int8 input, int8 output).
pub fn golden_cases() -> Vec<(String, Vec<i8>, Vec<i8>)> {
    let dir = shared("reference-models/golden");
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).expect("cases.json"))
            .expect("cases.json parses");
    let read = |name: &str| -> Vec<i8> {
        std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_iter()
            .map(|b| b as i8)
            .collect()
    };
    cases["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                read(c["input"].as_str().unwrap()),
                read(c["output"].as_str().unwrap()),
            )
        })
        .collect()
}

/// vww's input mapping is `pixel - 128`, so the pixels of an int8 input are `x + 128`.
pub fn pixels_of(input: &[i8]) -> Vec<u8> {
    input.iter().map(|&x| (i16::from(x) + 128) as u8).collect()
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// Weights for the tests' small models: each call gives `n` pseudo-random
/// values in `[-scale/2, scale/2)`, from one xorshift stream per `seed`.
pub fn random_weights(mut seed: u64) -> impl FnMut(usize, f32) -> Vec<f32> {
    move |n, scale| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            })
            .collect()
    }
}

/// `graph` through the studio's quantizer, calibrated on the eight pictures
/// `picture(0..8)`, as a blob.
pub fn quantized_blob(graph: &FloatGraph, picture: impl Fn(u8) -> Vec<u8>) -> Vec<u8> {
    let samples: Vec<Vec<f32>> = (0..8u8).map(|i| graph.scale_pixels(&picture(i))).collect();
    let calibration = Calibration::from_samples(graph, &samples).expect("calibrates");
    quantize(graph, &calibration)
        .expect("quantizes")
        .to_blob()
        .expect("blob")
}
