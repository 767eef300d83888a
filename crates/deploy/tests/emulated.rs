//! The firmware on the emulated Cortex-M4 (QEMU mps2-an386) gives the same
//! bytes as TensorFlow Lite's reference kernels and the host engine, and
//! survives malformed frames.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    INFERENCE_TIMEOUT, golden_cases, noise, pixels_of, selftest_build, vww_blob, vww_build,
};
use tinystudio_deploy::footprint::{estimate_instructions, latency};
use tinystudio_deploy::{Emulator, Response, frame, wire};
use tinystudio_domain::footprint::Basis;
use tinystudio_engine::HostRunner;

#[test]
fn golden_vectors_are_bit_exact_on_the_emulated_m4() {
    let build = vww_build("mps2-an386", false);
    eprintln!("{}", build.size);
    let mut emu = Emulator::start(&build.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
    assert_eq!(emu.ready().input, [96, 96, 3]);
    assert_eq!(emu.ready().labels, 2);
    let mut host = HostRunner::new(vww_blob().to_vec()).unwrap();
    let cases = golden_cases();
    assert_eq!(cases.len(), 11, "the golden set has 11 cases");
    for (name, input, expected) in &cases {
        let pixels = pixels_of(input);
        let out = emu.classify(&pixels, INFERENCE_TIMEOUT).expect(name);
        assert_eq!(
            &out.raw, expected,
            "{name}: board output differs from TFLite's"
        );
        assert_eq!(
            out.raw,
            host.run_pixels(&pixels).unwrap(),
            "{name}: board vs host engine"
        );
        // Scores are the dequantized bytes: (q + 128) / 256.
        for ((label, score), &q) in out.scores.iter().zip(&out.raw) {
            let want = (f32::from(q) + 128.0) / 256.0;
            assert!(
                (score - want).abs() < 1e-5,
                "{name} {label}: {score} vs {want}"
            );
        }
        assert_eq!(out.scores[0].0, "no_person");
        let stack = out.stack_used.expect("the firmware reports its stack");
        // The kernels' scratch is in the arena, not on the stack (22 KB
        // before; 2.1 KB measured since).
        assert!(stack <= 4096, "{name}: {stack} B of stack used");
        assert!(
            stack <= tinystudio_deploy::STACK_RESERVE,
            "{name}: {stack} B of stack used, more than the {} B size checks reserve",
            tinystudio_deploy::STACK_RESERVE
        );
        let instructions = out.instructions().expect("the MPS2 counts instructions");
        // The estimate before building comes from these measurements.
        let estimate =
            estimate_instructions(&tinystudio_engine::ModelView::parse(vww_blob()).unwrap())
                .unwrap();
        assert!(
            estimate.abs_diff(instructions) * 50 < instructions,
            "{name}: estimated {estimate} instructions, measured {instructions}"
        );
        eprintln!(
            "{name}: raw {:?}, {instructions} instructions (estimated {estimate}), stack {:?} B, nano33ble {:.1} ms",
            out.raw,
            out.stack_used,
            latency(
                tinystudio_deploy::board("nano33ble").unwrap(),
                instructions,
                Basis::Measured
            )
            .unwrap()
            .ms
        );
    }
}

#[test]
fn other_inputs_match_the_host_engine() {
    let build = vww_build("mps2-an386", false);
    let mut emu = Emulator::start(&build.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
    let mut host = HostRunner::new(vww_blob().to_vec()).unwrap();
    let n = 96 * 96 * 3;
    let inputs = [
        vec![0u8; n],
        vec![255u8; n],
        noise(1, n),
        noise(2, n),
        noise(3, n),
    ];
    for (i, pixels) in inputs.iter().enumerate() {
        let out = emu.classify(pixels, INFERENCE_TIMEOUT).expect("classifies");
        assert_eq!(out.raw, host.run_pixels(pixels).unwrap(), "input {i}");
    }
}

/// Each malformed frame gets one `error:` line, and the next good frame is
/// classified as if nothing had happened.
#[test]
fn malformed_frames_are_reported_and_the_board_keeps_running() {
    let build = vww_build("mps2-an386", false);
    let mut emu = Emulator::start(&build.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
    let good = pixels_of(&golden_cases()[0].1);
    let expected = golden_cases()[0].2.clone();
    let n = good.len();

    let mut bad_magic = frame(&good);
    bad_magic[..4].copy_from_slice(b"XXXX");
    let mut wrong_length = wire::header(&good[..100]).to_vec();
    wrong_length.extend_from_slice(&good[..100]);
    let mut bad_checksum = frame(&good);
    bad_checksum[12 + n / 2] ^= 0x40;
    let truncated = frame(&good)[..12 + n / 3].to_vec();
    let header_only = frame(&good)[..7].to_vec();

    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("bad magic", bad_magic, "bad magic"),
        ("wrong length", wrong_length, "wrong length"),
        ("bad checksum", bad_checksum, "bad checksum"),
        ("payload cut short", truncated, "timeout"),
        ("header cut short", header_only, "timeout"),
    ];
    for (what, bytes, error) in cases {
        emu.send(&bytes).unwrap();
        match emu.read_response(INFERENCE_TIMEOUT).unwrap() {
            Response::Error(e) => assert!(e.starts_with(error), "{what}: got error {e:?}"),
            Response::Output(o) => panic!("{what}: classified a malformed frame: {:?}", o.lines),
        }
        let out = emu
            .classify(&good, INFERENCE_TIMEOUT)
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
        assert_eq!(out.raw, expected, "after {what}");
    }

    // Noise straight before a good frame: reported, then the frame is classified.
    let mut noisy = b"hello\r\n".to_vec();
    noisy.extend_from_slice(&frame(&good));
    emu.send(&noisy).unwrap();
    match emu.read_response(INFERENCE_TIMEOUT).unwrap() {
        Response::Error(e) => assert!(e.contains("skipped 7 bytes"), "{e}"),
        Response::Output(_) => panic!("noise was not reported"),
    }
    match emu.read_response(INFERENCE_TIMEOUT).unwrap() {
        Response::Output(o) => assert_eq!(o.raw, expected),
        Response::Error(e) => panic!("the frame after the noise was rejected: {e}"),
    }

    // The wrong pixel count is refused on the host before sending.
    assert!(emu.classify(&good[..10], Duration::from_secs(1)).is_err());
}

/// The Cortex-M4 assembly kernels against the reference kernels on 400
/// random layers, on the emulated M4 itself (the host runs Rust models of
/// the assembly in the engine's unit tests).
#[test]
fn m4_kernels_are_bit_exact_on_random_layers() {
    let build = selftest_build();
    let emu = Emulator::start(&build.elf, Duration::from_secs(300)).expect("QEMU starts");
    let line = emu
        .boot_lines()
        .iter()
        .find(|l| l.starts_with("selftest:"))
        .unwrap_or_else(|| panic!("no selftest line in {:?}", emu.boot_lines()));
    eprintln!("{line}");
    assert!(line.starts_with("selftest: ok"), "{line}");
    let count = |name: &str| -> usize {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("convolutions") > 300
            && count("depthwise") > 200
            && count("add") > 60
            && count("in_place") > 80,
        "{line}"
    );
}

/// A model from the studio's quantizer (the firmware's default model: pixel
/// scaling [-1, 1], conv, depthwise, pointwise, pooling, dense, softmax)
/// classifies on the emulated board exactly as on the host, through the
/// same API the studio's worker uses.
#[test]
fn a_quantizer_model_matches_the_host_engine() {
    let blob = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/models/default.tsmb"),
    )
    .expect("the firmware's default model");
    let board = tinystudio_deploy::board("mps2-an386").unwrap();
    let target = common::firmware_target_dir().join("default-model");
    let build =
        tinystudio_deploy::build(board, &blob, &target, &mut |l| eprintln!("[default] {l}"))
            .expect("builds");
    let mut emu = Emulator::start(&build.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
    assert_eq!(emu.ready().input, [16, 16, 3]);
    let mut host = HostRunner::new(blob).unwrap();
    for seed in 1..=20 {
        let pixels = noise(seed, 16 * 16 * 3);
        let out = emu
            .classify(&pixels, INFERENCE_TIMEOUT)
            .expect("classifies");
        assert_eq!(out.raw, host.run_pixels(&pixels).unwrap(), "image {seed}");
        assert_eq!(out.scores[0].0, "dark");
    }
}

/// Models TensorFlow's converter wrote (`crates/engine/tests/models/`, the
/// kinds people bring: a residual network with ADD, a keyword spotter, a
/// dense stack, Conv1D, depth multipliers over several channels) give the
/// host engine's bytes on the emulated board, with nearly all their MACs in
/// the Cortex-M4 micro-kernels. They take raw int8 tensors.
#[test]
fn models_the_studio_did_not_make_match_the_host_engine() {
    use tinystudio_engine::kernels::cortex_m4::fast_path_macs;
    let board = tinystudio_deploy::board("mps2-an386").unwrap();
    let target = common::firmware_target_dir().join("hidden-style");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/models");
    for name in [
        "resnet8",
        "ds_cnn",
        "fc_stack",
        "conv1d_audio",
        "depth_multiplier",
    ] {
        let path = models.join(format!("{name}.tflite"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let blob = tinystudio_engine::Model::from_tflite(&bytes)
            .and_then(|m| m.to_blob())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let view = tinystudio_engine::ModelView::parse(&blob).unwrap();
        let ops: Vec<_> = (0..view.op_count()).map(|i| view.op(i).unwrap()).collect();
        let macs: u64 = ops.iter().map(|o| o.macs()).sum();
        let fast: u64 = ops.iter().map(fast_path_macs).sum();
        // Conv1D's 1x5 depthwise layer (1.1 % of its MACs) is the one left.
        assert!(
            fast * 100 >= macs * 98,
            "{name}: {fast} of {macs} MACs on the fast path"
        );
        let build = tinystudio_deploy::build(board, &blob, &target, &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut emu = Emulator::start(&build.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
        let mut host = HostRunner::new(blob.clone()).unwrap();
        let len = view.input().unwrap().len;
        let mut instructions = None;
        for seed in 1..=3 {
            let input = noise(seed, len);
            let out = emu.classify(&input, INFERENCE_TIMEOUT).expect(name);
            let x: Vec<i8> = input.iter().map(|&b| b as i8).collect();
            assert_eq!(out.raw, host.run(&x).unwrap(), "{name}, input {seed}");
            instructions = out.instructions();
        }
        eprintln!(
            "{name}: {instructions:?} instructions for {macs} MACs, {:.1} % of them on the fast path",
            100.0 * fast as f64 / macs as f64
        );
    }
}
