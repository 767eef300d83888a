//! A firmware carries only the kernels its model's layers select
//! (`kernels::set::needed`, written by the firmware's build script), and its
//! arena holds the kernels' scratch: the size report's arena is the blob's
//! plan plus that room, and the stack stays small.

mod common;

use common::{
    INFERENCE_TIMEOUT, firmware_target_dir, quantized_blob, random_weights, vww_blob, vww_build,
};
use tinystudio_deploy::artifacts::ElfImage;
use tinystudio_deploy::{BuildOptions, Config, Emulator, board, build_with};
use tinystudio_engine::float_graph::{FloatGraph, Layer};
use tinystudio_engine::kernels::set::{Core, Scratch, needed};
use tinystudio_engine::ops::{Activation, Padding};
use tinystudio_engine::{HostRunner, ModelView, PixelScaling};

/// Function symbols of the firmware (v0-mangled names hold each path
/// segment, e.g. `...9cortex_m414depthwise_eval`).
fn symbols(elf: &std::path::Path) -> Vec<String> {
    ElfImage::read(elf)
        .unwrap()
        .symbols
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

/// 24x24 RGB -> conv 3x3/2 (8) -> pointwise (16) -> pool -> dense (3) ->
/// softmax: no depthwise layer.
fn conv_only_model() -> Vec<u8> {
    let mut rand = random_weights(0x9E37_79B9_7F4A_7C15u64);
    let graph = FloatGraph {
        input_shape: [24, 24, 3],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec!["a".into(), "b".into(), "c".into()],
        layers: vec![
            Layer::Conv2d {
                weights: rand(8 * 3 * 3 * 3, 0.6),
                shape: [8, 3, 3, 3],
                bias: rand(8, 0.2),
                stride: 2,
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
                weights: rand(3 * 16, 1.0),
                shape: [3, 16],
                bias: vec![0.0; 3],
                activation: Activation::None,
            },
            Layer::Softmax,
        ],
    };
    quantized_blob(&graph, |i| {
        (0..24 * 24 * 3)
            .map(|j| (j as u8).wrapping_mul(29).wrapping_add(i * 17))
            .collect()
    })
}

#[test]
fn a_model_without_depthwise_layers_gets_no_depthwise_kernel_and_runs() {
    let blob = conv_only_model();
    let mps2 = board("mps2-an386").unwrap();
    let built = build_with(
        &Config::from_env(),
        mps2,
        &blob,
        &firmware_target_dir(),
        &BuildOptions::default(),
        &mut |line: &str| eprintln!("[conv-only] {line}"),
    )
    .expect("builds");
    let names = symbols(&built.elf);
    assert!(
        names.iter().any(|n| n.contains("conv_eval")),
        "the convolution kernel is there"
    );
    let depthwise: Vec<&String> = names.iter().filter(|n| n.contains("depthwise_")).collect();
    assert!(depthwise.is_empty(), "depthwise kernels: {depthwise:?}");
    // The kernels it has are enough: the board answers as the host engine.
    let mut emu = Emulator::start(&built.elf, INFERENCE_TIMEOUT).expect("QEMU starts");
    let mut host = HostRunner::new(blob.clone()).unwrap();
    for k in 0..3u8 {
        let pixels: Vec<u8> = (0..24 * 24 * 3)
            .map(|j| (j as u8).wrapping_mul(13).wrapping_add(k * 71))
            .collect();
        let out = emu
            .classify(&pixels, INFERENCE_TIMEOUT)
            .expect("classifies");
        assert_eq!(out.raw, host.run_pixels(&pixels).unwrap(), "input {k}");
    }
}

#[test]
fn the_vww_firmware_leaves_out_the_kernels_vww_does_not_select() {
    let built = vww_build("nano33ble", false);
    let names = symbols(&built.elf);
    for kept in ["9cortex_m48conv_run", "9cortex_m413depthwise_run"] {
        assert!(names.iter().any(|n| n.contains(kept)), "{kept} is missing");
    }
    for gone in [
        "10conv_patch",
        "9pointwise4eval",
        "13depthwise_dm1",
        "9reference4conv",
        "9reference9depthwise",
        "9reference8max_pool",
        "9reference3add",
    ] {
        let found: Vec<&String> = names.iter().filter(|n| n.contains(gone)).collect();
        assert!(found.is_empty(), "{gone}: {found:?}");
    }
    // The arena: the blob's plan and room for the kernels' scratch, as the
    // footprint estimate computes it.
    let view = ModelView::parse(vww_blob()).unwrap();
    let extra = needed(&view, Core::CortexM4, Scratch::Full)
        .unwrap()
        .arena_extra;
    assert!(extra > 0 && extra <= 16 * 1024, "{extra}");
    assert_eq!(built.size.arena_bytes, (view.arena_size() + extra) as u64);
}
