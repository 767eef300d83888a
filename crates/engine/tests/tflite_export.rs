//! Exported `.tflite` files run in the real TFLite interpreter (reference
//! kernels) and give exactly our engine's outputs. Needs python3 with
//! `ai-edge-litert` (see README); fails loudly when it is missing.

mod common;

use common::*;
use tinystudio_engine::Model;

#[test]
fn exported_vww_matches_tflite_reference() {
    let model = Model::from_tflite(&read_shared("reference-models/vww_96_int8.tflite")).unwrap();
    let exported = model.to_tflite().unwrap();
    // Our own importer reads the export back to the same model.
    let reimported = Model::from_tflite(&exported).unwrap();
    assert_eq!(reimported.ops, model.ops);
    let cases = golden_cases();
    let inputs: Vec<Vec<i8>> = cases.iter().map(|c| c.1.clone()).collect();
    let theirs = tflite_outputs(&exported, &inputs);
    for ((name, input, golden), t) in cases.iter().zip(&theirs) {
        assert_eq!(
            t, golden,
            "{name}: TFLite on the exported model differs from the golden output"
        );
        assert_eq!(&reimported.run(input).unwrap(), t, "{name}");
    }
}

#[test]
fn exported_person_detect_matches_tflite_reference() {
    let model = Model::from_tflite(&read_shared("reference-models/person_detect.tflite")).unwrap();
    let exported = model.to_tflite().unwrap();
    let inputs: Vec<Vec<i8>> = ["images/person.bmp", "images/no_person.bmp"]
        .iter()
        .map(|p| read_gray_bmp(p).into_iter().map(|b| b as i8).collect())
        .collect();
    let theirs = tflite_outputs(&exported, &inputs);
    for (x, t) in inputs.iter().zip(&theirs) {
        assert_eq!(&model.run(x).unwrap(), t);
    }
}

#[test]
fn every_operator_matches_tflite_reference() {
    let mut inputs = Vec::new();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for case in 0..40 {
        inputs.push(
            (0..8 * 8 * 3)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    match case {
                        0 => -128,
                        1 => 127,
                        _ => (s as i8).wrapping_add(i as i8 / 4),
                    }
                })
                .collect::<Vec<i8>>(),
        );
    }
    for seed in [1u64, 77, 12345] {
        let model = every_op_model(seed);
        let theirs = tflite_outputs(&model.to_tflite().unwrap(), &inputs);
        let mut distinct = std::collections::HashSet::new();
        for (x, t) in inputs.iter().zip(&theirs) {
            assert_eq!(&model.run(x).unwrap(), t, "seed {seed}");
            distinct.insert(t.clone());
        }
        assert!(
            distinct.len() > 3,
            "degenerate test model (seed {seed}): outputs {distinct:?}"
        );
    }
}

#[test]
fn quantized_float_graph_exports_and_matches_tflite_reference() {
    use tinystudio_engine::{Calibration, quantize};
    let graph = random_float_graph(42);
    let n: usize = graph.input_shape.iter().product();
    let calib: Vec<Vec<f32>> = (0..16)
        .map(|i| graph.scale_pixels(&random_pixels(i, n)))
        .collect();
    let model = quantize(&graph, &Calibration::from_samples(&graph, &calib).unwrap()).unwrap();
    let inputs: Vec<Vec<i8>> = (50..70)
        .map(|i| {
            random_pixels(i, n)
                .into_iter()
                .map(|p| (i32::from(p) - 128) as i8)
                .collect()
        })
        .collect();
    let theirs = tflite_outputs(&model.to_tflite().unwrap(), &inputs);
    for (x, t) in inputs.iter().zip(&theirs) {
        assert_eq!(&model.run(x).unwrap(), t);
    }
}

#[test]
fn float_input_quantize_is_dropped_at_import() {
    use tinystudio_engine::model::{DType, Op, Tensor};
    let mut model = every_op_model(5);
    let int8_input = model.input;
    model.tensors.push(Tensor {
        name: "float_input".into(),
        shape: model.tensors[int8_input].shape.clone(),
        dtype: DType::Float32,
        quant: None,
        data: None,
    });
    let float_input = model.tensors.len() - 1;
    model.ops.insert(
        0,
        Op::Quantize {
            input: float_input,
            output: int8_input,
        },
    );
    model.input = float_input;
    let imported = Model::from_tflite(&model.to_tflite().unwrap()).unwrap();
    assert_eq!(imported.ops.len(), model.ops.len() - 1);
    assert_eq!(imported.input_tensor().unwrap().name, "x");
    let x: Vec<i8> = (0..8 * 8 * 3).map(|i| (i * 7) as i8).collect();
    assert_eq!(
        imported.run(&x).unwrap(),
        every_op_model(5).run(&x).unwrap()
    );
}

/// MEAN (Keras' global average pooling) over 4-D and 3-D (Conv1D-style)
/// inputs, with and without `keep_dims`, axes as converters write them, and
/// output quantizations that shrink, keep and widen the input's.
#[test]
fn mean_matches_tflite_reference() {
    use tinystudio_engine::model::*;
    // Input shape, axes, keep_dims, output quantization, what it shows.
    type Case<'a> = (&'a [usize], &'a [i32], bool, (f32, i32), &'a str);
    let cases: [Case<'_>; 6] = [
        (
            &[1, 4, 5, 8],
            &[1, 2],
            true,
            (0.031, 9),
            "keep_dims, axes (1, 2)",
        ),
        (
            &[1, 4, 5, 8],
            &[2, 1],
            true,
            (0.007, -60),
            "axes (2, 1), a finer output",
        ),
        (
            &[1, 4, 5, 8],
            &[1, 2],
            false,
            (0.05, -3),
            "the input's quantization",
        ),
        (&[1, 4, 5, 8], &[1, 2], false, (0.031, 9), "no keep_dims"),
        (
            &[1, 4, 5, 8],
            &[-3, -2],
            true,
            (0.2, 100),
            "negative axes, a coarser output",
        ),
        (&[1, 7, 6], &[1], false, (0.011, -20), "3-D, one axis"),
    ];
    for (shape, axes, keep_dims, (out_scale, out_zp), what) in cases {
        let channels = *shape.last().unwrap();
        let out_shape = match (keep_dims, shape.len()) {
            (true, 4) => vec![1, 1, 1, channels],
            (true, _) => vec![1, 1, channels],
            (false, _) => vec![1, channels],
        };
        let model = Model {
            tensors: vec![
                activation("x", shape.to_vec(), 0.05, -3),
                activation("mean", out_shape, out_scale, out_zp),
            ],
            ops: vec![Op::Mean {
                input: 0,
                output: 1,
                axes: axes.to_vec(),
                keep_dims,
            }],
            input: 0,
            output: 1,
            metadata: Default::default(),
        };
        let elements: usize = shape.iter().product();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let inputs: Vec<Vec<i8>> = (0..24)
            .map(|case| match case {
                0 => vec![-128; elements],
                1 => vec![127; elements],
                _ => rng.vec_i8(elements),
            })
            .collect();
        let tflite = model.to_tflite().unwrap();
        // What the importer reads back is what was exported.
        assert_eq!(
            Model::from_tflite(&tflite).unwrap().ops,
            model.ops,
            "{what}"
        );
        let theirs = tflite_outputs(&tflite, &inputs);
        let mut distinct = std::collections::HashSet::new();
        for (x, t) in inputs.iter().zip(&theirs) {
            assert_eq!(&model.run(x).unwrap(), t, "{what}");
            distinct.extend(t.iter().copied());
        }
        assert!(
            distinct.len() > 8,
            "{what}: degenerate outputs {distinct:?}"
        );
    }
}

/// FULLY_CONNECTED with per-tensor and per-unit weight scales, on enough
/// inputs that rescaling with `MultiplyByQuantizedMultiplier` (whose double
/// rounding crosses a half about once in 2,500 outputs) would differ from
/// TFLite's reference kernel, which rescales in `double`.
#[test]
fn fully_connected_rescales_as_tflite_reference() {
    use tinystudio_engine::model::*;
    let (depth, units) = (200, 64);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for per_unit in [false, true] {
        let scales: Vec<f32> = if per_unit {
            (0..units)
                .map(|u| 0.0007 + 0.00003 * (u % 11) as f32)
                .collect()
        } else {
            vec![0.00072154]
        };
        let model = Model {
            tensors: vec![
                activation("x", vec![1, depth], 0.0301, -7),
                Tensor {
                    name: "w".into(),
                    shape: vec![units, depth],
                    dtype: DType::Int8,
                    quant: Some(Quantization {
                        zero_point: vec![0; scales.len()],
                        scale: scales.clone(),
                        axis: 0,
                    }),
                    data: Some((0..units * depth).map(|_| rng.next() as u8).collect()),
                },
                Tensor {
                    name: "b".into(),
                    shape: vec![units],
                    dtype: DType::Int32,
                    quant: None,
                    data: Some(
                        (0..units)
                            .flat_map(|_| ((rng.next() % 20_001) as i32 - 10_000).to_le_bytes())
                            .collect(),
                    ),
                },
                activation("y", vec![1, units], 0.0165, 3),
            ],
            ops: vec![Op::FullyConnected {
                input: 0,
                filter: 1,
                bias: Some(2),
                output: 3,
                activation: Activation::None,
            }],
            input: 0,
            output: 3,
            metadata: Default::default(),
        };
        let inputs: Vec<Vec<i8>> = (0..200).map(|_| rng.vec_i8(depth)).collect();
        let theirs = tflite_outputs(&model.to_tflite().unwrap(), &inputs);
        for (i, (x, t)) in inputs.iter().zip(&theirs).enumerate() {
            assert_eq!(&model.run(x).unwrap(), t, "per unit {per_unit}, input {i}");
        }
    }
}
