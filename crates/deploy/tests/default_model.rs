//! `crates/firmware/models/default.tsmb`, the tiny model the firmware builds
//! with when no model is given (so `cargo build` works in a fresh checkout),
//! must stay a valid blob for the current engine. It comes from the
//! generator below; regenerate it after a blob format change with
//! `TINYSTUDIO_UPDATE_DEFAULT_MODEL=1 cargo test -p tinystudio-deploy --test default_model`.
//! (Byte equality with the generator is not required: quantizer changes
//! alter the weights without making the checked-in model invalid.)

mod common;

use std::path::Path;

use common::{quantized_blob, random_weights};
use tinystudio_engine::float_graph::{FloatGraph, Layer};
use tinystudio_engine::ops::{Activation, Padding};
use tinystudio_engine::{ModelView, PixelScaling};

/// 16x16 RGB -> conv 3x3/2 (8) -> depthwise 3x3 -> pointwise (16) -> pool ->
/// dense (2) -> softmax: one operator of each kind the firmware's MobileNets
/// use, with fixed pseudo-random weights. It classifies nothing useful.
fn tiny_model() -> Vec<u8> {
    let mut rand = random_weights(0x2545_F491_4F6C_DD1Du64);
    let graph = FloatGraph {
        input_shape: [16, 16, 3],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec!["dark".into(), "bright".into()],
        layers: vec![
            Layer::Conv2d {
                weights: rand(8 * 3 * 3 * 3, 0.6),
                shape: [8, 3, 3, 3],
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
                weights: rand(2 * 16, 1.0),
                shape: [2, 16],
                bias: vec![0.0, 0.0],
                activation: Activation::None,
            },
            Layer::Softmax,
        ],
    };
    quantized_blob(&graph, |i| {
        (0..16 * 16 * 3)
            .map(|j| (j as u8).wrapping_mul(37).wrapping_add(i * 31))
            .collect()
    })
}

#[test]
fn the_checked_in_default_model_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/models/default.tsmb");
    let blob = tiny_model();
    ModelView::parse(&blob).expect("the tiny model is a valid blob");
    if std::env::var_os("TINYSTUDIO_UPDATE_DEFAULT_MODEL").is_some() {
        std::fs::write(&path, &blob).unwrap();
    }
    let stored = std::fs::read(&path).unwrap_or_default();
    let view = ModelView::parse(&stored).unwrap_or_else(|e| {
        panic!(
            "{} is not a valid blob for this engine ({e}); regenerate it with \
             TINYSTUDIO_UPDATE_DEFAULT_MODEL=1 cargo test -p tinystudio-deploy --test default_model",
            path.display()
        )
    });
    assert!(
        view.pixel_scaling().is_some(),
        "the default model takes pictures: it needs a pixel scaling"
    );
    assert_eq!(view.label_count(), 2);
}
