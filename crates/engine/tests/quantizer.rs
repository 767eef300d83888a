//! Post-training quantization: the int8 model tracks the float graph.

mod common;

use common::*;
use tinystudio_engine::float_graph::*;
use tinystudio_engine::{Calibration, HostRunner, ModelView, quantize};

#[test]
fn float_forward_hand_checked() {
    // 2x2x1 input, 3x3 SAME conv of ones + bias 1, ReLU6; then GAP; FC doubling; softmax.
    let g = FloatGraph {
        input_shape: [2, 2, 1],
        pixel_scaling: PixelScaling::ZeroToOne,
        labels: vec![],
        layers: vec![
            Layer::Conv2d {
                weights: vec![1.0; 9],
                shape: [1, 3, 3, 1],
                bias: vec![1.0],
                stride: 1,
                padding: Padding::Same,
                activation: Activation::Relu6,
            },
            Layer::GlobalAveragePool,
            Layer::FullyConnected {
                weights: vec![2.0, -2.0],
                shape: [2, 1],
                bias: vec![0.0, 0.0],
                activation: Activation::None,
            },
            Layer::Softmax,
        ],
    };
    let out = g.forward(&[1.0, 2.0, 3.0, -10.0]).unwrap();
    // Every output sees all four inputs: 1+2+3-10+1 = -3 -> ReLU6 -> 0.
    assert_eq!(out[0], vec![0.0; 4]);
    let out = g.forward(&[1.0, 2.0, 3.0, 1.0]).unwrap();
    assert_eq!(out[0], vec![6.0; 4]); // 8 clipped to 6
    assert_eq!(out[1], vec![6.0]);
    assert_eq!(out[2], vec![12.0, -12.0]);
    assert!((out[3][0] - 1.0).abs() < 1e-6);
    assert!(g.forward(&[1.0; 3]).is_err());
}

#[test]
fn quantized_model_tracks_float_model() {
    let graph = random_float_graph(42);
    let n: usize = graph.input_shape.iter().product();
    let calib: Vec<Vec<f32>> = (0..32)
        .map(|i| graph.scale_pixels(&random_pixels(i, n)))
        .collect();
    let calibration = Calibration::from_samples(&graph, &calib).unwrap();
    let model = quantize(&graph, &calibration).unwrap();
    let blob = model.to_blob().unwrap();
    let view = ModelView::parse(&blob).unwrap();
    assert_eq!(view.label_count(), 4);
    assert_eq!(view.label(1), Some("horse"));
    assert_eq!(view.pixel_scaling(), Some(PixelScaling::MinusOneToOne));
    let input = view.input().unwrap();
    assert_eq!((input.scale, input.zero_point), (1.0 / 127.5, 0));
    let mut runner = HostRunner::new(blob.clone()).unwrap();
    let (mut err_sum, mut agree, total) = (0f32, 0, 40);
    for i in 100..100 + total {
        let pixels = random_pixels(i, n);
        let float = graph.forward(&graph.scale_pixels(&pixels)).unwrap();
        let probs = float.last().unwrap();
        let q = runner.run_pixels(&pixels).unwrap();
        let deq: Vec<f32> = q.iter().map(|&v| (f32::from(v) + 128.0) / 256.0).collect();
        for (a, b) in deq.iter().zip(probs) {
            err_sum += (a - b).abs();
        }
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|x| x.0)
        };
        agree += usize::from(argmax(&deq) == argmax(probs));
        // Input mapping is exact: p - 128.
        let mut direct = vec![0i8; n];
        view.input_mapper()
            .unwrap()
            .map(&pixels, &mut direct)
            .unwrap();
        assert!(
            direct
                .iter()
                .zip(&pixels)
                .all(|(&q, &p)| i32::from(q) == i32::from(p) - 128)
        );
    }
    let mean_err = err_sum / (total as f32 * 4.0);
    assert!(mean_err < 0.03, "mean |p_int8 - p_float| = {mean_err}");
    assert!(
        agree >= total as usize * 9 / 10,
        "top-1 agreement {agree}/{total}"
    );
}

#[test]
fn relu6_ranges_are_clipped_and_pooling_keeps_quantization() {
    let graph = random_float_graph(7);
    let n: usize = graph.input_shape.iter().product();
    let mut calibration =
        Calibration::from_samples(&graph, &[graph.scale_pixels(&random_pixels(1, n))]).unwrap();
    // A caller that recorded pre-activation ranges: the quantizer clips them.
    calibration.ranges[0] = (-50.0, 50.0);
    let model = quantize(&graph, &calibration).unwrap();
    let conv0 = model.tensors.iter().find(|t| t.name == "conv2d_0").unwrap();
    assert_eq!(conv0.zero_point(), -128);
    assert!((conv0.scale() - 6.0 / 255.0).abs() < 1e-7);
    let pool = model
        .tensors
        .iter()
        .find(|t| t.name == "global_average_pool_5")
        .unwrap();
    let before = model.tensors.iter().find(|t| t.name == "conv2d_4").unwrap();
    assert_eq!(
        (pool.scale(), pool.zero_point()),
        (before.scale(), before.zero_point())
    );
    let out = model.output_tensor().unwrap();
    assert_eq!((out.scale(), out.zero_point()), (1.0 / 256.0, -128));
}

/// Pixels in the upper half (float inputs in [0, 1), mean ~0.5), like the
/// non-negative outputs of a ReLU6 layer.
fn bright_pixels(seed: u64, n: usize) -> Vec<u8> {
    random_pixels(seed, n)
        .into_iter()
        .map(|p| 128 + p / 2)
        .collect()
}

/// Runs `model` on `pixels` and dequantizes its output.
fn run_dequantized(model: &tinystudio_engine::Model, pixels: &[u8]) -> Vec<f32> {
    let out = model.output_tensor().unwrap();
    let (scale, zp) = (out.scale(), out.zero_point());
    let mut runner = HostRunner::new(model.to_blob().unwrap()).unwrap();
    runner
        .run_pixels(pixels)
        .unwrap()
        .iter()
        .map(|&q| (f32::from(q) - zp as f32) * scale)
        .collect()
}

/// Mean over `images` of (int8 - float) per output channel, in output steps.
fn mean_offset_steps(
    graph: &FloatGraph,
    calibration: &Calibration,
    images: &[Vec<u8>],
) -> Vec<f32> {
    let model = quantize(graph, calibration).unwrap();
    let step = model.output_tensor().unwrap().scale();
    let c = graph.output_shapes().unwrap().last().unwrap()[2];
    let mut offset = vec![0f32; c];
    for px in images {
        let float = graph
            .forward(&graph.scale_pixels(px))
            .unwrap()
            .pop()
            .unwrap();
        let int8 = run_dequantized(&model, px);
        let positions = (float.len() / c) as f32;
        for (j, (q, f)) in int8.iter().zip(&float).enumerate() {
            offset[j % c] += (q - f) / step / positions / images.len() as f32;
        }
    }
    offset
}

/// Regression (cifar3 MobileNet: int8 agreed with float on 38/48 images): in a
/// channel whose scale is set by one large weight, the small weights all round
/// the same way, and over non-negative inputs their errors add up to a fixed
/// offset instead of averaging out. The quantizer must correct the bias for it.
#[test]
fn weight_rounding_offsets_are_corrected_in_the_bias() {
    let (ic, oc) = (64, 3);
    let mut weights = Vec::new();
    for o in 0..oc {
        // One weight of 1.0 sets the scale to 1/127; the other 63 are 0.49 steps
        // (round to 0: the int8 channel loses 63 * 0.0039 * E[x] ~ 0.12 = 25 output
        // steps), -0.49 steps (gains it) or alternate in sign.
        let small = 0.49 / 127.0;
        weights.push(1.0);
        for i in 1..ic {
            weights.push(match o {
                0 => small,
                1 => -small,
                _ if i % 2 == 0 => small,
                _ => -small,
            });
        }
    }
    let graph = FloatGraph {
        input_shape: [6, 6, ic],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec![],
        layers: vec![Layer::Conv2d {
            weights,
            shape: [oc, 1, 1, ic],
            bias: vec![0.1; oc],
            stride: 1,
            padding: Padding::Same,
            activation: Activation::Relu6,
        }],
    };
    let n = 6 * 6 * ic;
    let calib: Vec<Vec<f32>> = (0..16)
        .map(|i| graph.scale_pixels(&bright_pixels(i, n)))
        .collect();
    let held_out: Vec<Vec<u8>> = (100..116).map(|i| bright_pixels(i, n)).collect();
    let calibration = Calibration::from_samples(&graph, &calib).unwrap();

    // Without the samples: TFLite's converter's result, offsets of ~25 steps.
    let plain = Calibration {
        samples: Vec::new(),
        ..calibration.clone()
    };
    let before = mean_offset_steps(&graph, &plain, &held_out);
    assert!(before[0] < -15.0 && before[1] > 15.0, "{before:?}");

    // What remains (about one step) is the difference between the mean inputs of
    // the calibration and the held-out images.
    let after = mean_offset_steps(&graph, &calibration, &held_out);
    eprintln!("mean offset per channel, steps: plain {before:?}, corrected {after:?}");
    for (c, o) in after.iter().enumerate() {
        assert!(
            o.abs() < 2.0,
            "channel {c}: mean offset {o} steps ({after:?})"
        );
    }
}

/// Regression: a channel whose folded weights are (nearly) all zero but whose
/// bias is positive outputs that bias. Its per-channel scale was ~1e-30 / 127,
/// so the int32 bias saturated, the output multiplier underflowed to 0 and the
/// int8 channel output 0. TFLite (`AdjustWeightsForBiasScale`) widens such a
/// scale until the bias fits; so must we, with and without bias correction.
#[test]
fn dead_channels_keep_their_bias() {
    let ic = 8;
    let mut weights = vec![0.5f32; ic]; // channel 0: alive
    weights.extend((0..ic).map(|i| if i % 2 == 0 { 1e-30 } else { -1e-30 })); // channel 1: dead
    weights.extend(vec![0.0; ic]); // channel 2: all zero
    let graph = FloatGraph {
        input_shape: [4, 4, ic],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec![],
        layers: vec![Layer::Conv2d {
            weights,
            shape: [3, 1, 1, ic],
            bias: vec![0.5, 2.0, 3.0],
            stride: 1,
            padding: Padding::Same,
            activation: Activation::Relu6,
        }],
    };
    let n = 4 * 4 * ic;
    let calib: Vec<Vec<f32>> = (0..4)
        .map(|i| graph.scale_pixels(&random_pixels(i, n)))
        .collect();
    let calibration = Calibration::from_samples(&graph, &calib).unwrap();
    let plain = Calibration {
        samples: Vec::new(),
        ..calibration.clone()
    };
    for cal in [&plain, &calibration] {
        let model = quantize(&graph, cal).unwrap();
        let step = model.output_tensor().unwrap().scale();
        let px = random_pixels(9, n);
        let float = graph
            .forward(&graph.scale_pixels(&px))
            .unwrap()
            .pop()
            .unwrap();
        let int8 = run_dequantized(&model, &px);
        for (j, (q, f)) in int8.iter().zip(&float).enumerate() {
            assert!(
                (q - f).abs() <= 1.5 * step,
                "channel {}: int8 {q} float {f}",
                j % 3
            );
        }
    }
}

#[test]
fn calibration_keeps_a_bounded_spread_of_samples() {
    use tinystudio_engine::quantizer::BIAS_CORRECTION_SAMPLES;
    let graph = random_float_graph(3);
    let n: usize = graph.input_shape.iter().product();
    let samples: Vec<Vec<f32>> = (0..150)
        .map(|i| graph.scale_pixels(&random_pixels(i, n)))
        .collect();
    let calibration = Calibration::from_samples(&graph, &samples).unwrap();
    assert!(calibration.samples.len() <= BIAS_CORRECTION_SAMPLES);
    assert!(calibration.samples.len() >= BIAS_CORRECTION_SAMPLES / 2);
    assert_eq!(calibration.samples[0], samples[0]);
    assert_eq!(calibration.samples[1], samples[3]);
    let few = Calibration::from_samples(&graph, &samples[..5]).unwrap();
    assert_eq!(few.samples, samples[..5]);
}
