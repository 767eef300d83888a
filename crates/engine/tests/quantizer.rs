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
