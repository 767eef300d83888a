//! The libraries for people's own firmware (`tinystudio_deploy::library`):
//! the C library's example linked with `arm-none-eabi-gcc` and run under
//! QEMU's mps2-an386 (Cortex-M4) for each static library (hard float,
//! softfp, and the Cortex-M0+ build, whose Armv6-M code runs unchanged on
//! the M4), its outputs byte-equal to the host engine on the VWW golden
//! inputs and on a studio-like model; the Arduino zip against the library
//! specification, and its sketch compiled as C++ against the header
//! (a stub `Arduino.h`), linked and run; the Rust crate built with the
//! engine on the host.
//!
//! Tools: `arm-none-eabi-gcc`/`g++` with newlib (`apt-get install
//! gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib`),
//! `qemu-system-arm` (`qemu-system-arm`); a missing one fails the test
//! naming its package.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    firmware_target_dir, golden_cases, noise, pixels_of, quantized_blob, random_weights, shared,
    vww_blob,
};
use image::DynamicImage;
use tinystudio_deploy::Config;
use tinystudio_deploy::library::{
    ExampleImage, LIBRARY_TARGETS, LibraryKind, LibraryModel, Package, StaticLibraries,
    build_static_libraries, example_inputs, package,
};
use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};
use tinystudio_engine::PixelScaling;
use tinystudio_engine::float_graph::{FloatGraph, Layer};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_engine::ops::{Activation, Padding};

/// The static libraries, built once per test process (cargo keeps them
/// between runs in the firmware's target directory).
fn libraries() -> &'static StaticLibraries {
    static LIBS: OnceLock<StaticLibraries> = OnceLock::new();
    LIBS.get_or_init(|| {
        build_static_libraries(
            &Config::from_env(),
            &firmware_target_dir(),
            &mut |l: &str| eprintln!("[clib] {l}"),
        )
        .expect("the C library builds for every target")
    })
}

/// Fails loudly when a tool is missing, naming the Debian package.
fn tool(name: &str, package: &str) -> PathBuf {
    which::which(name).unwrap_or_else(|_| {
        panic!("{name} is not installed; install it with `apt-get install {package}`")
    })
}

fn gcc() -> PathBuf {
    tool(
        "arm-none-eabi-gcc",
        "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    )
}

fn qemu() -> PathBuf {
    tool("qemu-system-arm", "qemu-system-arm")
}

/// Unpacks a package into a fresh directory; returns its top folder.
fn unpack(package: &Package, into: &Path) -> PathBuf {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&package.bytes)).expect("a zip");
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let path = into.join(file.enclosed_name().expect("a relative path"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    into.join(&package.folder)
}

/// One file of `package`'s zip, as text.
fn zip_file(package: &Package, path: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&package.bytes)).expect("a zip");
    let mut file = zip
        .by_name(&format!("{}/{path}", package.folder))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs an ELF on the emulated Cortex-M4 with semihosting and returns what
/// it printed; the program ends by exiting through semihosting.
fn run_on_qemu(elf: &Path) -> String {
    run_on_qemu_with(elf, &[])
}

fn run_on_qemu_with(elf: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(qemu())
        .args(["-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
        .args(extra)
        .args(["-monitor", "none", "-serial", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("QEMU starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} did not finish under QEMU in 300 s", elf.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    assert!(
        status.success(),
        "{} exited with {status}:\n{out}",
        elf.display()
    );
    out
}

/// The `raw:` lines of the example's output, one per picture.
fn raw_lines(out: &str) -> Vec<Vec<i8>> {
    assert!(
        !out.contains("error:"),
        "the example reported an error:\n{out}"
    );
    assert!(out.trim_end().ends_with("done"), "no `done`:\n{out}");
    out.lines()
        .filter_map(|l| l.strip_prefix("raw:"))
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// The C library of `blob` unpacked, with `images` as the example's
/// pictures, linked for every static library: (label, ELF).
fn c_example(
    name: &str,
    blob: &[u8],
    resize_mode: ResizeMode,
    images: &[ExampleImage],
) -> Vec<(String, PathBuf)> {
    let model = LibraryModel {
        title: name,
        version: 1,
        blob,
        resize_mode,
    };
    let package = package(LibraryKind::C, &model, Some(libraries())).expect("packages");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("library-c-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    let root = unpack(&package, &dir);
    let (header, source) = example_inputs(blob, images).unwrap();
    std::fs::write(root.join("examples/input_data.h"), header).unwrap();
    std::fs::write(root.join("examples/input_data.c"), source).unwrap();
    let examples = root.join("examples");
    // The zip's own Makefile: the hard-float M4 and the M0+ builds.
    run(Command::new("make")
        .current_dir(&examples)
        .arg(format!("CC={}", gcc().display())));
    let mut elves = vec![
        ("cortex-m4".to_string(), examples.join("example.elf")),
        (
            "cortex-m0plus".to_string(),
            examples.join("example-m0plus.elf"),
        ),
    ];
    // The softfp build (the Nano 33 BLE's Arduino core's ABI), by hand with
    // the Makefile's other flags.
    let softfp = LIBRARY_TARGETS
        .iter()
        .find(|t| t.c_dir == "cortex-m4-softfp")
        .unwrap();
    let elf = examples.join("example-softfp.elf");
    run(Command::new(gcc())
        .current_dir(&examples)
        .args(softfp.gcc_flags)
        .args([
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I../include",
            "-I../model",
            "-I.",
        ])
        .args([
            "main.c",
            "input_data.c",
            "startup.c",
            "../model/model_data.c",
        ])
        .arg("../lib/cortex-m4-softfp/libtinystudio.a")
        .args([
            "-T",
            "mps2-an386.ld",
            "-nostartfiles",
            "--specs=rdimon.specs",
        ])
        .args(["-Wl,--gc-sections", "-Wl,--no-warn-execstack", "-o"])
        .arg(&elf));
    elves.push(("cortex-m4-softfp".to_string(), elf));
    elves
}

#[test]
fn the_c_example_gives_the_golden_vww_outputs_on_every_library() {
    let cases = golden_cases();
    assert_eq!(cases.len(), 11);
    let mut images: Vec<ExampleImage> = cases
        .iter()
        .map(|(name, input, _)| ExampleImage {
            name: name.clone(),
            width: 96,
            height: 96,
            channels: 3,
            pixels: pixels_of(input),
        })
        .collect();
    // And one photo of another size, resized on the board as the studio
    // resizes uploads.
    let photo = image::open(shared("images/person.bmp")).unwrap();
    let small = photo.resize_exact(160, 120, image::imageops::FilterType::Triangle);
    images.push(ExampleImage {
        name: "person 160x120".into(),
        width: 160,
        height: 120,
        channels: 3,
        pixels: small.to_rgb8().into_raw(),
    });
    let mut host = HostRunner::new(vww_blob().to_vec()).unwrap();
    let studio_pixels = tinystudio_images::preprocess(
        &small,
        &InputBlock {
            width: 96,
            height: 96,
            resize_mode: ResizeMode::FitShortest,
        },
        ColorDepth::Rgb,
    );
    let mut expected: Vec<Vec<i8>> = cases.iter().map(|c| c.2.clone()).collect();
    expected.push(host.run_pixels(&studio_pixels).unwrap());
    for (case, want) in cases.iter().zip(&expected) {
        assert_eq!(
            &host.run(&case.1).unwrap(),
            want,
            "host engine on {}",
            case.0
        );
    }

    for (library, elf) in c_example("vww", vww_blob(), ResizeMode::FitShortest, &images) {
        let out = run_on_qemu(&elf);
        assert!(out.starts_with("ready: tinystudio"), "{library}: {out}");
        assert!(
            out.contains("Predictions (case00):\n  no_person: "),
            "{library}: {out}"
        );
        assert_eq!(
            raw_lines(&out),
            expected,
            "{library}: the outputs differ from the host engine"
        );
    }
}

/// Grayscale 32x32, MobileNet-like (conv, depthwise, pointwise, pool,
/// dense, softmax), the studio's pixel scaling and three labels, one of
/// them needing escapes in C.
fn studio_like_blob() -> Vec<u8> {
    let mut rand = random_weights(0x9E37_79B9_7F4A_7C15u64);
    let graph = FloatGraph {
        input_shape: [32, 32, 1],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec!["cup".into(), "say \"cheese\"?".into(), "café".into()],
        layers: vec![
            Layer::Conv2d {
                weights: rand(8 * 3 * 3, 0.8),
                shape: [8, 3, 3, 1],
                bias: rand(8, 0.2),
                stride: 2,
                padding: Padding::Same,
                activation: Activation::Relu6,
            },
            Layer::DepthwiseConv2d {
                weights: rand(3 * 3 * 8, 0.8),
                shape: [3, 3, 8],
                bias: rand(8, 0.2),
                stride: 1,
                padding: Padding::Same,
                activation: Activation::Relu6,
            },
            Layer::Conv2d {
                weights: rand(16 * 8, 0.6),
                shape: [16, 1, 1, 8],
                bias: rand(16, 0.2),
                stride: 1,
                padding: Padding::Same,
                activation: Activation::Relu6,
            },
            Layer::GlobalAveragePool,
            Layer::FullyConnected {
                weights: rand(3 * 16, 1.5),
                shape: [3, 16],
                bias: vec![0.0, 0.1, -0.1],
                activation: Activation::None,
            },
            Layer::Softmax,
        ],
    };
    quantized_blob(&graph, |i| {
        (0..32 * 32)
            .map(|j| (j as u8).wrapping_mul(29).wrapping_add(i.wrapping_mul(37)))
            .collect()
    })
}

#[test]
fn the_c_example_matches_the_host_engine_on_a_studio_like_model() {
    let blob = studio_like_blob();
    let resize_mode = ResizeMode::FitLongest;
    let input = InputBlock {
        width: 32,
        height: 32,
        resize_mode,
    };
    let mut host = HostRunner::new(blob.clone()).unwrap();
    let mut images = Vec::new();
    let mut expected = Vec::new();
    for (n, (name, w, h)) in [
        ("parrot.jpg", 120, 90),
        ("cat.bmp", 47, 61),
        ("grace_hopper.bmp", 32, 32),
    ]
    .into_iter()
    .enumerate()
    {
        let picture = image::open(shared(&format!("images/{name}")))
            .unwrap()
            .resize_exact(w, h, image::imageops::FilterType::Triangle);
        // Every other picture comes as grayscale, as a mono camera sends it.
        let (picture, channels, pixels) = if n % 2 == 1 {
            let gray = DynamicImage::ImageLuma8(picture.to_luma8());
            let raw = gray.to_luma8().into_raw();
            (gray, 1, raw)
        } else {
            let raw = picture.to_rgb8().into_raw();
            (picture, 3, raw)
        };
        let studio = tinystudio_images::preprocess(&picture, &input, ColorDepth::Grayscale);
        expected.push(host.run_pixels(&studio).unwrap());
        images.push(ExampleImage {
            name: format!("{name} {w}x{h}"),
            width: w,
            height: h,
            channels,
            pixels,
        });
    }
    for (library, elf) in c_example("studio-like", &blob, resize_mode, &images) {
        let out = run_on_qemu(&elf);
        assert!(out.contains("  say \"cheese\"?: "), "{library}: {out}");
        assert!(out.contains("  café: "), "{library}: {out}");
        assert_eq!(
            raw_lines(&out),
            expected,
            "{library}: the outputs differ from the host engine"
        );
    }
}

/// Counts one inference through the library the way the firmware's
/// benchmark does: the MPS2's CMSDK timer 0 (25 MHz) read just before and
/// after `ts_invoke`, under `-icount shift=0` (one instruction per
/// nanosecond, so a tick is 40 instructions).
const BENCH_C: &str = r#"#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "model_data.h"
#include "tinystudio.h"
#define TIMER0 ((volatile uint32_t *)0x40000000u)
static ts_context ctx;
static uint8_t arena[TS_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
static uint8_t pixels[TS_MODEL_INPUT_HEIGHT * TS_MODEL_INPUT_WIDTH * TS_MODEL_INPUT_CHANNELS];
int main(void)
{
    TIMER0[0] = 0;
    TIMER0[2] = 0xFFFFFFFFu;
    TIMER0[1] = 0xFFFFFFFFu;
    TIMER0[0] = 1;
    if (ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, sizeof arena) != TS_OK) return 1;
    memset(pixels, 128, sizeof pixels);
    ts_set_input_pixels(&ctx, pixels, sizeof pixels);
    uint32_t before = TIMER0[1];
    ts_status status = ts_invoke(&ctx);
    uint32_t after = TIMER0[1];
    printf("instructions: %lu status: %d\n", (unsigned long)(before - after) * 40ul, (int)status);
    return 0;
}
"#;

/// Instructions per inference of vww through each static library; the
/// Cortex-M4 builds run the engine's M4 kernels, as fast as the firmware
/// (`README.md`, "Performance": 10,995,880), the Cortex-M0+ build the
/// engine's Armv6-M kernels (`bench_vww --core m0plus`; the portable ones
/// took 102,630,480).
#[test]
fn the_c_library_runs_the_firmware_s_kernels() {
    let model = LibraryModel {
        title: "vww bench",
        version: 1,
        blob: vww_blob(),
        resize_mode: ResizeMode::Squash,
    };
    let package = package(LibraryKind::C, &model, Some(libraries())).expect("packages");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-c-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let root = unpack(&package, &dir);
    let examples = root.join("examples");
    std::fs::write(examples.join("bench.c"), BENCH_C).unwrap();
    let mut counts = Vec::new();
    for target in LIBRARY_TARGETS {
        let elf = examples.join(format!("bench-{}.elf", target.c_dir));
        run(Command::new(gcc())
            .current_dir(&examples)
            .args(target.gcc_flags)
            .args(["-O2", "-Wall", "-Werror", "-I../include", "-I../model"])
            .args(["bench.c", "startup.c", "../model/model_data.c"])
            .arg(format!("../lib/{}/libtinystudio.a", target.c_dir))
            .args([
                "-T",
                "mps2-an386.ld",
                "-nostartfiles",
                "--specs=rdimon.specs",
            ])
            .args(["-Wl,--gc-sections", "-Wl,--no-warn-execstack", "-o"])
            .arg(&elf));
        let out = run_on_qemu_with(&elf, &["-icount", "shift=0"]);
        let count: u64 = out
            .trim()
            .strip_prefix("instructions: ")
            .and_then(|s| s.strip_suffix(" status: 0"))
            .unwrap_or_else(|| panic!("{}: {out}", target.c_dir))
            .parse()
            .unwrap();
        eprintln!(
            "vww through {}: {count} instructions per inference ({:.3} per MAC)",
            target.c_dir,
            count as f64 / 7_489_664.0
        );
        counts.push(count);
    }
    // The M4 builds: the firmware's kernels, within 5 % of its count.
    for &m4 in &counts[..2] {
        assert!((10_400_000..11_600_000).contains(&m4), "{counts:?}");
    }
    // The M0+ build: the Armv6-M kernels, well under the portable
    // kernels' 13.7 instructions per MAC on this build.
    assert!(
        counts[2] > counts[0] && counts[2] < 7 * 7_489_664,
        "the M0+ build runs the Cortex-M0+ kernels: {counts:?}"
    );
}

/// Every refusal of the C API, with its status and the engine's message.
const ERRORS_C: &str = r#"#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "model_data.h"
#include "tinystudio.h"
static ts_context ctx;
static uint8_t arena[TS_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
static uint8_t copy[400000] __attribute__((aligned(8)));
static uint8_t pixels[TS_MODEL_INPUT_HEIGHT * TS_MODEL_INPUT_WIDTH * TS_MODEL_INPUT_CHANNELS];
static void show(const char *what, ts_status s)
{
    char message[200];
    ts_last_error(&ctx, message, sizeof message);
    printf("%s: %s: %s\n", what, ts_status_name(s), message);
}
int main(void)
{
    static ts_context zeroed;
    printf("uninitialised: %s\n", ts_status_name(ts_invoke(&zeroed)));
    printf("null: %s\n", ts_status_name(ts_init(NULL, ts_model_blob, ts_model_blob_len, arena, sizeof arena)));
    printf("arena size: %u\n", (unsigned)ts_arena_size(ts_model_blob, ts_model_blob_len));
    memcpy(copy, ts_model_blob, ts_model_blob_len);
    copy[ts_model_blob_len / 2] ^= 1;
    show("corrupted", ts_init(&ctx, copy, ts_model_blob_len, arena, sizeof arena));
    show("small arena", ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, 1000));
    show("init", ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, sizeof arena));
    show("short input", ts_set_input_pixels(&ctx, pixels, 10));
    uint8_t scratch[64];
    printf("scratch for 160x120: %u\n", (unsigned)ts_scratch_size(&ctx, 160, 120));
    show("small scratch", ts_set_input_image(&ctx, copy, 160, 120, TS_PIXEL_RGB888, TS_RESIZE_SQUASH, scratch, sizeof scratch));
    show("bad mode", ts_set_input_image(&ctx, copy, 160, 120, TS_PIXEL_RGB888, 7, scratch, sizeof scratch));
    show("no pixels", ts_set_input_image(&ctx, copy, 0, 120, TS_PIXEL_RGB888, TS_RESIZE_SQUASH, copy, 100000));
    float scores[TS_MODEL_CLASS_COUNT];
    show("scores count", ts_scores(&ctx, scores, 1));
    show("still runs", ts_invoke(&ctx));
    return 0;
}
"#;

#[test]
fn the_c_api_refuses_bad_calls_with_a_status_and_a_reason() {
    let model = LibraryModel {
        title: "vww errors",
        version: 1,
        blob: vww_blob(),
        resize_mode: ResizeMode::Squash,
    };
    let package = package(LibraryKind::C, &model, Some(libraries())).expect("packages");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-c-errors");
    let _ = std::fs::remove_dir_all(&dir);
    let root = unpack(&package, &dir);
    let examples = root.join("examples");
    std::fs::write(examples.join("errors.c"), ERRORS_C).unwrap();
    let target = &LIBRARY_TARGETS[0];
    let elf = examples.join("errors.elf");
    run(Command::new(gcc())
        .current_dir(&examples)
        .args(target.gcc_flags)
        .args(["-O2", "-Wall", "-Werror", "-I../include", "-I../model"])
        .args(["errors.c", "startup.c", "../model/model_data.c"])
        .arg(format!("../lib/{}/libtinystudio.a", target.c_dir))
        .args([
            "-T",
            "mps2-an386.ld",
            "-nostartfiles",
            "--specs=rdimon.specs",
        ])
        .args(["-Wl,--gc-sections", "-Wl,--no-warn-execstack", "-o"])
        .arg(&elf));
    let out = run_on_qemu(&elf);
    let arena = tinystudio_engine::ModelView::parse(vww_blob())
        .unwrap()
        .arena_size();
    for line in [
        "uninitialised: TS_ERR_INVALID_ARGUMENT".to_string(),
        "null: TS_ERR_INVALID_ARGUMENT".to_string(),
        format!("arena size: {arena}"),
        "corrupted: TS_ERR_INVALID_MODEL: model blob checksum mismatch".to_string(),
        "small arena: TS_ERR_ARENA_TOO_SMALL: ".to_string(),
        "init: TS_OK: ".to_string(),
        "short input: TS_ERR_LENGTH_MISMATCH: ".to_string(),
        "small scratch: TS_ERR_SCRATCH_TOO_SMALL: buffer length mismatch: expected 5104 bytes, got 64".to_string(),
        "bad mode: TS_ERR_BAD_IMAGE: ".to_string(),
        "no pixels: TS_ERR_BAD_IMAGE: ".to_string(),
        "scores count: TS_ERR_LENGTH_MISMATCH".to_string(),
        "still runs: TS_OK: ".to_string(),
    ] {
        assert!(out.lines().any(|l| l.starts_with(&line)), "no {line:?} in:\n{out}");
    }
    // A success leaves no message behind.
    for call in ["init", "still runs"] {
        assert!(
            out.lines().any(|l| l == format!("{call}: TS_OK: ")),
            "{call}: {out}"
        );
    }
    assert!(
        out.contains(&format!("the model needs {arena} bytes, 1000 given")),
        "{out}"
    );
}

fn arduino_package() -> Package {
    let model = LibraryModel {
        title: "Visual Wake Words",
        version: 3,
        blob: vww_blob(),
        resize_mode: ResizeMode::Squash,
    };
    package(LibraryKind::Arduino, &model, Some(libraries())).expect("packages")
}

/// The Arduino library specification (arduino-cli's
/// `docs/library-specification.md`), 1.5 format with a precompiled library.
#[test]
fn the_arduino_zip_follows_the_library_specification() {
    let package = arduino_package();
    assert!(package.file_name.ends_with(".zip"));
    // The folder is the library's name: letters, digits, `_`, `.`, `-`,
    // starting with a letter or digit, at most 63 characters.
    let folder = &package.folder;
    assert!(folder.len() <= 63 && folder.chars().next().unwrap().is_ascii_alphanumeric());
    assert!(
        folder
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        "{folder}"
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-arduino-layout");
    let _ = std::fs::remove_dir_all(&dir);
    let root = unpack(&package, &dir);
    // One top folder, as "Add .ZIP Library" expects.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let properties = std::fs::read_to_string(root.join("library.properties")).unwrap();
    let field = |name: &str| -> String {
        properties
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("library.properties has no {name}:\n{properties}"))
            .to_string()
    };
    // The required fields.
    for name in [
        "name",
        "version",
        "author",
        "maintainer",
        "sentence",
        "paragraph",
        "category",
        "url",
        "architectures",
    ] {
        assert!(!field(name).trim().is_empty(), "{name} is empty");
    }
    let version = field("version");
    assert_eq!(version.split('.').count(), 3, "semver: {version}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "semver: {version}"
    );
    let categories = [
        "Display",
        "Communication",
        "Signal Input/Output",
        "Sensors",
        "Device Control",
        "Timing",
        "Data Storage",
        "Data Processing",
        "Other",
    ];
    assert!(categories.contains(&field("category").as_str()));
    assert_eq!(field("precompiled"), "true");
    assert_eq!(field("ldflags"), "-ltinystudio");
    for header in field("includes").split(',') {
        assert!(
            root.join("src").join(header).is_file(),
            "includes names {header}"
        );
    }

    // Sources in src/, examples in examples/<name>/<name>.ino.
    assert!(root.join("src/tinystudio.h").is_file());
    assert!(root.join("src/tinystudio_model.h").is_file());
    assert!(root.join("src/tinystudio_model.c").is_file());
    assert!(root.join("examples/classify/classify.ino").is_file());

    // The precompiled archives where the builder looks: src/{build.mcu}/
    // {fpu}-{float-abi}/ for cores that pass an FPU and a float ABI (the
    // Nano 33 BLE's passes softfp), src/{build.mcu}/ otherwise; each one
    // built for that core and ABI.
    let readelf = tool("arm-none-eabi-readelf", "binutils-arm-none-eabi");
    for (dir, arch, hard_float) in [
        ("cortex-m4/fpv4-sp-d16-hard", "v7E-M", true),
        ("cortex-m4/fpv4-sp-d16-softfp", "v7E-M", false),
        ("cortex-m0plus", "v6S-M", false),
    ] {
        let archive = root.join("src").join(dir).join("libtinystudio.a");
        assert!(archive.is_file(), "{} is missing", archive.display());
        let attributes = run(Command::new(&readelf).arg("-A").arg(&archive));
        let cpu = format!("Tag_CPU_arch: {arch}");
        assert!(
            attributes.contains(&cpu),
            "{dir}: not {arch}:\n{attributes}"
        );
        assert_eq!(
            attributes.contains("Tag_ABI_VFP_args: VFP registers"),
            hard_float,
            "{dir}: float ABI"
        );
        let symbols = run(
            Command::new(tool("arm-none-eabi-nm", "binutils-arm-none-eabi"))
                .args(["-g", "--defined-only"])
                .arg(&archive),
        );
        for f in ["ts_init", "ts_invoke", "ts_set_input_image", "ts_scores"] {
            assert!(symbols.contains(&format!(" T {f}\n")), "{dir} lacks {f}");
        }
    }
}

/// A stub `Arduino.h`: what the sketch uses, with `Serial` printing by
/// semihosting, so the sketch runs on the emulated board.
const ARDUINO_H: &str = r#"#pragma once
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long ms);
class SerialStub {
public:
    void begin(unsigned long) {}
    explicit operator bool() const { return true; }
    void print(const char *s) { fputs(s, stdout); }
    void print(unsigned long v) { printf("%lu", v); }
    void println(const char *s) { printf("%s\r\n", s); }
    void println(float v, int digits) { printf("%.*f\r\n", digits, (double)v); }
};
extern SerialStub Serial;
"#;

const ARDUINO_MAIN: &str = r#"#include "Arduino.h"
SerialStub Serial;
static unsigned long now_us;
unsigned long millis(void) { return now_us / 1000; }
unsigned long micros(void) { return now_us += 1000; }
void delay(unsigned long ms) { now_us += ms * 1000; }
void setup(void);
void loop(void);
int main(void) {
    setup();
    loop();
    loop();
    return 0;
}
"#;

#[test]
fn the_arduino_sketch_compiles_against_the_header_and_runs() {
    let mut host = HostRunner::new(vww_blob().to_vec()).unwrap();
    let grey = host.run_pixels(&vec![128; 96 * 96 * 3]).unwrap();
    sketch_prints_the_host_scores(
        "vww",
        &arduino_package(),
        &["no_person", "person"],
        &scores(&host, &grey),
    );

    // A model of raw tensors: the sketch's other branch (int8 zeros).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/models/fc_stack.tflite");
    let blob = tinystudio_engine::Model::from_tflite(&std::fs::read(&path).unwrap())
        .unwrap()
        .to_blob()
        .unwrap();
    let model = LibraryModel {
        title: "features",
        version: 1,
        blob: &blob,
        resize_mode: ResizeMode::Squash,
    };
    let package = package(LibraryKind::Arduino, &model, Some(libraries())).unwrap();
    let mut host = HostRunner::new(blob.clone()).unwrap();
    let zeros = host.run(&[0; 64]).unwrap();
    let labels: Vec<String> = (0..10).map(|i| format!("class{i}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    sketch_prints_the_host_scores("features", &package, &labels, &scores(&host, &zeros));
}

/// Dequantized scores of an output, as `ts_scores` computes them.
fn scores(host: &HostRunner, raw: &[i8]) -> Vec<f32> {
    let output = host.view().unwrap().output().unwrap();
    raw.iter()
        .map(|&q| (i32::from(q) - output.zero_point) as f32 * output.scale)
        .collect()
}

/// Builds `package`'s example sketch as the Arduino builder would (C++,
/// `Arduino.h` first) against each static library, runs it on the emulated
/// board, and checks it prints Edge Impulse's predictions with `want`.
fn sketch_prints_the_host_scores(name: &str, package: &Package, labels: &[&str], want: &[f32]) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("library-arduino-sketch-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    let root = unpack(package, &dir);
    let build = dir.join("build");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(build.join("Arduino.h"), ARDUINO_H).unwrap();
    std::fs::write(build.join("main.cpp"), ARDUINO_MAIN).unwrap();
    // As the Arduino builder does: the sketch becomes C++ with Arduino.h
    // included first.
    let sketch = std::fs::read_to_string(root.join("examples/classify/classify.ino")).unwrap();
    std::fs::write(
        build.join("classify.ino.cpp"),
        format!("#include \"Arduino.h\"\n{sketch}"),
    )
    .unwrap();
    let startup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clib/examples/c");
    let gxx = tool("arm-none-eabi-g++", "gcc-arm-none-eabi");
    for target in LIBRARY_TARGETS {
        let archive = root
            .join("src")
            .join(target.arduino_dir)
            .join("libtinystudio.a");
        let elf = build.join(format!("classify-{}.elf", target.c_dir));
        let flags = ["-O2", "-Wall", "-Wextra", "-Werror", "-I."];
        // The sketch as C++ (g++ 12's default C++17), compiled only: it
        // needs nothing of libstdc++, so the C driver links.
        run(Command::new(&gxx)
            .current_dir(&build)
            .args(target.gcc_flags)
            .args(flags)
            .args(["-fno-exceptions", "-fno-rtti", "-c"])
            .arg(format!("-I{}", root.join("src").display()))
            .args(["classify.ino.cpp", "main.cpp"]));
        run(Command::new(gcc())
            .current_dir(&build)
            .args(target.gcc_flags)
            .args(flags)
            .arg(format!("-I{}", root.join("src").display()))
            .args(["classify.ino.o", "main.o"])
            .arg(root.join("src/tinystudio_model.c"))
            .arg(startup.join("startup.c"))
            .arg(&archive)
            .arg("-T")
            .arg(startup.join("mps2-an386.ld"))
            .args(["-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections"])
            .args(["-Wl,--no-warn-execstack", "-o"])
            .arg(&elf));
        let out = run_on_qemu(&elf);
        let what = format!("{name}, {}", target.c_dir);
        assert!(
            out.starts_with("tinystudio 0.1.0 ready\r\n"),
            "{what}: {out}"
        );
        // Edge Impulse's format, twice (two loops), with the host's scores.
        assert_eq!(
            out.matches("Predictions (DSP: ").count(),
            2,
            "{what}: {out}"
        );
        assert_eq!(
            out.matches("Anomaly: 0 ms.):\r\n").count(),
            2,
            "{what}: {out}"
        );
        for (label, want) in labels.iter().zip(want) {
            let printed: Vec<f32> = out
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("  {label}: ")))
                .map(|v| v.trim().parse().unwrap())
                .collect();
            assert_eq!(printed.len(), 2, "{what}: {out}");
            for p in printed {
                assert!(
                    (p - want).abs() <= 0.000_005_1,
                    "{what}: {label} {p} vs {want}"
                );
            }
        }
    }
}

#[test]
fn the_rust_crate_runs_with_the_engine() {
    // A project name with what TOML, Rust and Markdown must escape.
    let model = LibraryModel {
        title: "Visual \"Wake\" Words \\ café\n",
        version: 2,
        blob: vww_blob(),
        resize_mode: ResizeMode::FitShortest,
    };
    let package =
        package(LibraryKind::Rust, &model, None).expect("packages without static libraries");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-rust");
    let _ = std::fs::remove_dir_all(dir.join(&package.folder));
    let root = unpack(&package, &dir);
    // A program of a user's: the crate and the engine by path.
    let user = dir.join("user");
    std::fs::create_dir_all(user.join("src")).unwrap();
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine");
    std::fs::write(
        user.join("Cargo.toml"),
        format!(
            "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [dependencies]\n{name} = {{ path = {root:?} }}\n\
             tinystudio-engine = {{ path = {engine:?}, default-features = false }}\n",
            name = package.folder,
        ),
    )
    .unwrap();
    std::fs::write(
        user.join("src/main.rs"),
        format!(
            "use tinystudio_engine::{{Interpreter, ModelView}};\n\
             fn main() {{\n    let m = {name}::blob();\n    assert_eq!(m.as_ptr() as usize % 8, 0);\n    \
             let view = ModelView::parse(m).unwrap();\n    \
             let mut arena = vec![0u8; {name}::ARENA_SIZE];\n    \
             let mut it = Interpreter::new(view, &mut arena).unwrap();\n    \
             let (h, w, c) = {name}::INPUT_SHAPE;\n    \
             it.set_input_pixels(&vec![200u8; h * w * c]).unwrap();\n    it.invoke().unwrap();\n    \
             println!(\"{{}} {{:?}} {{:?}}\", {name}::RESIZE_MODE, {name}::LABELS, it.output());\n}}\n",
            name = package.folder,
        ),
    )
    .unwrap();
    let out = run(Command::new(env!("CARGO"))
        .current_dir(&user)
        .args(["run", "--quiet", "--offline", "--target-dir"])
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("library-rust-target"))
        .env_remove("RUSTFLAGS"));
    let want = HostRunner::new(vww_blob().to_vec())
        .unwrap()
        .run_pixels(&vec![200; 96 * 96 * 3])
        .unwrap();
    assert_eq!(
        out.trim(),
        format!("fitShortest [\"no_person\", \"person\"] {want:?}")
    );
}

#[test]
fn a_blob_the_library_cannot_use_is_refused() {
    let model = LibraryModel {
        title: "x",
        version: 1,
        blob: b"not a model",
        resize_mode: ResizeMode::Squash,
    };
    let garbage = package(LibraryKind::Rust, &model, None).unwrap_err();
    assert!(garbage.to_string().contains("not valid"), "{garbage}");
}

/// A model imported as raw tensors (no pixel scaling: here a dense
/// classifier over 64 features that TensorFlow's converter wrote): its
/// library says so (`TS_MODEL_TAKES_PIXELS 0`, `TAKES_PIXELS: false`), and
/// the C example feeds int8 tensors through `ts_set_input_int8` and gives
/// the host engine's outputs on every static library.
#[test]
fn a_model_of_raw_tensors_gets_libraries_that_take_int8_tensors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/models/fc_stack.tflite");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let blob = tinystudio_engine::Model::from_tflite(&bytes)
        .unwrap()
        .to_blob()
        .unwrap();
    let model = LibraryModel {
        title: "features",
        version: 3,
        blob: &blob,
        resize_mode: ResizeMode::Squash,
    };
    let rust = package(LibraryKind::Rust, &model, None).unwrap();
    let lib = zip_file(&rust, "src/lib.rs");
    assert!(
        lib.contains("pub const TAKES_PIXELS: bool = false;"),
        "{lib}"
    );

    let mut host = HostRunner::new(blob.clone()).unwrap();
    let mut tensors = Vec::new();
    let mut expected = Vec::new();
    for seed in 0..3u64 {
        let bytes: Vec<u8> = if seed == 0 {
            vec![0; 64]
        } else {
            noise(seed, 64)
        };
        let x: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        expected.push(host.run(&x).unwrap());
        tensors.push(ExampleImage {
            name: format!("tensor {seed}"),
            width: 1,
            height: 1,
            channels: 64,
            pixels: bytes,
        });
    }
    assert!(expected.iter().any(|e| e != &expected[0]), "{expected:?}");
    for (library, elf) in c_example("features", &blob, ResizeMode::Squash, &tensors) {
        let out = run_on_qemu(&elf);
        assert_eq!(
            raw_lines(&out),
            expected,
            "{library}: the outputs differ from the host engine\n{out}"
        );
    }
    let header = zip_file(
        &package(LibraryKind::C, &model, Some(libraries())).unwrap(),
        "model/model_data.h",
    );
    assert!(
        header.contains("#define TS_MODEL_TAKES_PIXELS 0"),
        "{header}"
    );
}
