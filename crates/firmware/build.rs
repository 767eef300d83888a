//! Picks the board's memory layout and builds the model in.
//!
//! - Exactly one board feature (`mps2-an386`, `nano33ble`, `pico`) selects
//!   `memory/<board>.x`, copied to `OUT_DIR/memory.x` where cortex-m-rt's
//!   `link.x` includes it.
//! - The model blob comes from `TINYSTUDIO_MODEL_BLOB` (a path; the studio's
//!   deploy crate sets it), or `models/default.tsmb`, a tiny checked-in model
//!   so the crate builds standalone. The blob is validated here with the
//!   host build of the engine, so a bad blob fails the build with the
//!   engine's own message instead of at boot.
//! - The kernels the model's layers select on this target become
//!   `OUT_DIR/kernels.rs` (`crate::kernels::KERNELS`), the only kernels the
//!   interpreter is given, so the linker leaves the others out.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));

    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let boards: Vec<&str> = [
        ("MPS2_AN386", "mps2-an386"),
        ("NANO33BLE", "nano33ble"),
        ("PICO", "pico"),
    ]
    .iter()
    .filter(|(f, _)| feature(f))
    .map(|&(_, b)| b)
    .collect();
    let board = match boards.as_slice() {
        [b] => *b,
        [] => fail(
            "no board selected: build with --features mps2-an386, nano33ble, nano33ble-bossac \
             or pico (and the matching --target)",
        ),
        more => fail(&format!(
            "several boards selected ({}); enable exactly one board feature",
            more.join(", ")
        )),
    };
    let layout = if board == "nano33ble" && feature("NANO33BLE_BOSSAC") {
        "nano33ble-bossac"
    } else {
        board
    };

    // Armv6-M (the Pico, or the emulated board's Cortex-M0+ build): the
    // board code's hand-written assembly has a Thumb-1 variant.
    println!("cargo:rustc-check-cfg=cfg(armv6m)");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) {
        println!("cargo:rustc-cfg=armv6m");
    }

    let memory = manifest.join("memory").join(format!("{layout}.x"));
    copy(&memory, &out.join("memory.x"));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", memory.display());
    // cortex-m-rt's linker script; it INCLUDEs memory.x from the search path.
    println!("cargo:rustc-link-arg-bins=-Tlink.x");

    println!("cargo:rerun-if-env-changed=TINYSTUDIO_MODEL_BLOB");
    let blob_path = match env::var_os("TINYSTUDIO_MODEL_BLOB") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => manifest.join("models").join("default.tsmb"),
    };
    println!("cargo:rerun-if-changed={}", blob_path.display());
    let blob = fs::read(&blob_path).unwrap_or_else(|e| {
        fail(&format!(
            "cannot read the model blob {} ({e}); set TINYSTUDIO_MODEL_BLOB to a .tsmb file \
             written by tinystudio_engine::Model::to_blob",
            blob_path.display()
        ))
    });
    let view = tinystudio_engine::ModelView::parse(&blob).unwrap_or_else(|e| {
        fail(&format!(
            "the model blob {} is not valid: {e}",
            blob_path.display()
        ))
    });
    let input = view
        .input()
        .unwrap_or_else(|e| fail(&format!("model input: {e}")));
    let s = input.shape4();
    if s.n != 1 {
        fail(&format!(
            "the model input is {:?}; the firmware takes one input at a time",
            input.shape()
        ));
    }
    // A model that records no pixel scaling takes raw tensors (its input
    // bytes are the int8 values): no camera loop for it.
    let picture = view.pixel_scaling().is_some() && (s.c == 1 || s.c == 3);
    fs::write(out.join("model.tsmb"), &blob)
        .unwrap_or_else(|e| fail(&format!("cannot write the model into OUT_DIR: {e}")));
    write_kernels(&out, &view);
    let mapper = view
        .input_mapper()
        .unwrap_or_else(|| fail("the model's input is not an int8 tensor the firmware can fill"));
    write_config(&out, s.h, s.w, s.c, picture, mapper.table());
}

/// `OUT_DIR/kernels.rs`: the kernel set of this model on this target (the
/// engine's `kernels::set::needed`), so the image carries no other kernel,
/// and the arena to add so that the kernels find their scratch in it (none
/// on the stack). The Cortex-M4 kernels exist on the Armv7E-M targets and
/// the Cortex-M0+ ones on Armv6-M, as the engine's own build script decides
/// (`kernels::set::Core::of_target`). `TINYSTUDIO_KERNEL_SCRATCH`:
/// `full` (default: the kernels run as fast as with stack scratch) or
/// `least` (the least RAM).
fn write_kernels(out: &Path, view: &tinystudio_engine::ModelView<'_>) {
    use tinystudio_engine::kernels::set::{Core, Scratch};
    let core = Core::of_target(&env::var("TARGET").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=TINYSTUDIO_KERNEL_SCRATCH");
    let scratch = match env::var("TINYSTUDIO_KERNEL_SCRATCH").as_deref() {
        Ok("") | Err(_) | Ok("full") => Scratch::Full,
        Ok("least") => Scratch::Least,
        Ok(other) => fail(&format!(
            "TINYSTUDIO_KERNEL_SCRATCH must be full or least, not {other:?}"
        )),
    };
    let needs = tinystudio_engine::kernels::set::needed(view, core, scratch)
        .unwrap_or_else(|e| fail(&format!("the model's kernels: {e}")));
    let code = format!(
        "// Generated by build.rs from the model: the kernels its layers select.\n{}",
        needs.to_rust("KERNELS", "tinystudio_engine")
    );
    fs::write(out.join("kernels.rs"), code)
        .unwrap_or_else(|e| fail(&format!("cannot write kernels.rs into OUT_DIR: {e}")));
}

/// `OUT_DIR/config.rs`: the camera loop's settings and buffer sizes.
///
/// - `TINYSTUDIO_CAMERA_INTERVAL_MS`: time between photos (default 2000;
///   0 leaves the camera loop and its buffers out, as does a model whose
///   input is not a `picture`).
/// - `PIXEL_MAP`: the model's pixel -> int8 table (`InputMapper`), made
///   here so the board carries no double-precision arithmetic for it.
/// - `TINYSTUDIO_RESIZE_MODE`: the impulse's `squash` (default),
///   `fitShortest` or `fitLongest`; the colour depth follows from the
///   model's input channels.
fn write_config(out: &Path, h: usize, w: usize, c: usize, picture: bool, pixel_map: &[i8; 256]) {
    use tinystudio_engine::preprocess::{ColorDepth, InputFormat, ResizeMode, Scratch};
    println!("cargo:rerun-if-env-changed=TINYSTUDIO_CAMERA_INTERVAL_MS");
    println!("cargo:rerun-if-env-changed=TINYSTUDIO_RESIZE_MODE");
    let interval: u32 = match env::var("TINYSTUDIO_CAMERA_INTERVAL_MS") {
        Ok(v) if !v.is_empty() => v.parse().unwrap_or_else(|_| {
            fail(&format!(
                "TINYSTUDIO_CAMERA_INTERVAL_MS must be a number of milliseconds, not {v:?}"
            ))
        }),
        _ => 2000,
    };
    let interval = if picture { interval } else { 0 };
    let (resize_mode, resize_name) = match env::var("TINYSTUDIO_RESIZE_MODE").as_deref() {
        Ok("") | Err(_) | Ok("squash") => (ResizeMode::Squash, "Squash"),
        Ok("fitShortest") => (ResizeMode::FitShortest, "FitShortest"),
        Ok("fitLongest") => (ResizeMode::FitLongest, "FitLongest"),
        Ok(other) => fail(&format!(
            "TINYSTUDIO_RESIZE_MODE must be squash, fitShortest or fitLongest, not {other:?}"
        )),
    };
    let color_depth = if c == 1 {
        ColorDepth::Grayscale
    } else {
        ColorDepth::Rgb
    };
    let format = InputFormat {
        width: w,
        height: h,
        resize_mode,
        color_depth,
    };
    let camera = interval > 0;
    let frame = tinystudio_device::camera::LOOP_FRAME;
    let (fw, fh) = (frame.width, frame.height);
    let rows = Scratch::rows_to_keep(fw, fh, &format);
    let size = |n: usize| if camera { n } else { 0 };
    let config = format!(
        "// Generated by build.rs from the model and the TINYSTUDIO_* settings.\n\
         pub const CAMERA_INTERVAL_MS: u32 = {interval};\n\
         pub const INPUT_FORMAT: tinystudio_engine::preprocess::InputFormat = \
         tinystudio_engine::preprocess::InputFormat {{ width: {w}, height: {h}, \
         resize_mode: tinystudio_engine::preprocess::ResizeMode::{resize_name}, \
         color_depth: tinystudio_engine::preprocess::ColorDepth::{} }};\n\
         pub const FRAME_BYTES: usize = {};\n\
         pub const SCRATCH_ROW: usize = {};\n\
         pub const SCRATCH_ACC: usize = {};\n\
         pub const SCRATCH_FILTERED: usize = {};\n",
        if c == 1 { "Grayscale" } else { "Rgb" },
        size(frame.len()),
        size(Scratch::row_len(fw)),
        size(Scratch::acc_len(w)),
        size(Scratch::filtered_len(w, rows)),
    );
    let map: Vec<String> = pixel_map.iter().map(|v| v.to_string()).collect();
    let config = format!(
        "{config}/// The model's pixel -> int8 table (`tinystudio_engine::InputMapper`).\n\
         pub static PIXEL_MAP: [i8; 256] = [{}];\n",
        map.join(", ")
    );
    fs::write(out.join("config.rs"), config)
        .unwrap_or_else(|e| fail(&format!("cannot write config.rs into OUT_DIR: {e}")));
}

fn copy(from: &Path, to: &Path) {
    if let Err(e) = fs::copy(from, to) {
        fail(&format!("cannot copy {}: {e}", from.display()));
    }
}
