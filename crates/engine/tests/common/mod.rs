//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tinystudio_engine::Model;
use tinystudio_engine::model::{DType, Quantization, Tensor};

/// Small deterministic generator (xorshift) for reproducible random cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn vec_i8(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
}

/// An int8 activation tensor quantized per tensor.
pub fn activation(name: &str, shape: Vec<usize>, scale: f32, zero_point: i32) -> Tensor {
    Tensor {
        name: name.into(),
        shape,
        dtype: DType::Int8,
        quant: Some(Quantization::per_tensor(scale, zero_point)),
        data: None,
    }
}

/// Runs a `.tflite` on `inputs` (raw int8 tensors) with TFLite's reference
/// kernels (`tests/tflite_reference.py`; python3 with `ai-edge-litert`,
/// failing loudly without it).
pub fn tflite_outputs(tflite: &[u8], inputs: &[Vec<i8>]) -> Vec<Vec<i8>> {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.tflite");
    std::fs::write(&model_path, tflite).unwrap();
    let paths: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let p = dir.path().join(format!("in{i}.i8"));
            std::fs::write(&p, x.iter().map(|&v| v as u8).collect::<Vec<_>>()).unwrap();
            p
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tflite_reference.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(&model_path)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e}; install Python 3 and `pip install ai-edge-litert`")
        });
    assert!(
        out.status.success(),
        "TFLite reference run failed (is `pip install ai-edge-litert` done?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    paths
        .iter()
        .map(|p| to_i8(std::fs::read(p.with_extension("i8.out")).expect("TFLite output missing")))
        .collect()
}

/// `/work/shared` (or wherever `shared/` sits beside the repository).
pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(rel)
}

/// Reads a file from `shared/`, failing loudly with its path when it is absent.
pub fn read_shared(rel: &str) -> Vec<u8> {
    let p = shared(rel);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "required test file {} is missing or unreadable: {e}",
            p.display()
        )
    })
}

pub fn to_i8(b: Vec<u8>) -> Vec<i8> {
    b.into_iter().map(|x| x as i8).collect()
}

/// (name, input, expected output) of every golden case for vww_96_int8.tflite.
pub fn golden_cases() -> Vec<(String, Vec<i8>, Vec<i8>)> {
    let json: serde_json::Value =
        serde_json::from_slice(&read_shared("reference-models/golden/cases.json"))
            .expect("cases.json is not valid JSON");
    let cases = json["cases"]
        .as_array()
        .expect("cases.json has no 'cases' array");
    cases
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("case without name").to_string();
            let input = to_i8(read_shared(&format!(
                "reference-models/golden/{}",
                c["input"].as_str().expect("input")
            )));
            let output = to_i8(read_shared(&format!(
                "reference-models/golden/{}",
                c["output"].as_str().expect("output")
            )));
            (name, input, output)
        })
        .collect()
}

/// A 96x96 8-bit grayscale BMP's pixels, top row first.
pub fn read_gray_bmp(rel: &str) -> Vec<u8> {
    let b = read_shared(rel);
    let u32_at = |p: usize| u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
    let offset = u32_at(10) as usize;
    let width = u32_at(18) as usize;
    let height = i32::from_le_bytes(b[22..26].try_into().unwrap());
    let bpp = u16::from_le_bytes(b[28..30].try_into().unwrap());
    assert_eq!(bpp, 8, "{rel}: expected an 8-bit grayscale BMP");
    let stride = width.div_ceil(4) * 4;
    let h = height.unsigned_abs() as usize;
    let mut out = Vec::with_capacity(width * h);
    for row in 0..h {
        let src = if height > 0 { h - 1 - row } else { row };
        out.extend_from_slice(&b[offset + src * stride..offset + src * stride + width]);
    }
    out
}

/// A hand-built graph using every operator the engine implements, with
/// random weights and awkward quantization, checked on random inputs.
pub fn every_op_model(seed: u64) -> Model {
    use tinystudio_engine::model::*;
    let mut s = seed;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut tensors: Vec<Tensor> = Vec::new();
    let act = |tensors: &mut Vec<Tensor>, name: &str, shape: Vec<usize>, scale: f32, zp: i32| {
        tensors.push(Tensor {
            name: name.into(),
            shape,
            dtype: DType::Int8,
            quant: Some(Quantization::per_tensor(scale, zp)),
            data: None,
        });
        tensors.len() - 1
    };
    let mut weights =
        |tensors: &mut Vec<Tensor>, name: &str, shape: Vec<usize>, axis: usize, channels: usize| {
            let n: usize = shape.iter().product();
            let data: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
            let scale: Vec<f32> = (0..channels)
                .map(|c| 0.002 + 0.001 * (c % 7) as f32)
                .collect();
            tensors.push(Tensor {
                name: name.into(),
                shape,
                dtype: DType::Int8,
                quant: Some(Quantization {
                    zero_point: vec![0; scale.len()],
                    scale,
                    axis,
                }),
                data: Some(data),
            });
            tensors.len() - 1
        };
    let bias = |tensors: &mut Vec<Tensor>, name: &str, n: usize, k: i32| {
        tensors.push(Tensor {
            name: name.into(),
            shape: vec![n],
            dtype: DType::Int32,
            quant: None,
            data: Some(
                (0..n as i32)
                    .flat_map(|i| ((i * 37 % 11 - 5) * k).to_le_bytes())
                    .collect(),
            ),
        });
        tensors.len() - 1
    };
    let x = act(&mut tensors, "x", vec![1, 8, 8, 3], 0.02, -3);
    let w1 = weights(&mut tensors, "w1", vec![8, 3, 3, 3], 0, 8);
    let b1 = bias(&mut tensors, "b1", 8, 300);
    let c1 = act(&mut tensors, "c1", vec![1, 4, 4, 8], 0.03, -128);
    let m = act(&mut tensors, "m", vec![1, 3, 3, 8], 0.03, -128);
    let w2 = weights(&mut tensors, "w2", vec![1, 3, 3, 8], 3, 8);
    let d = act(&mut tensors, "d", vec![1, 3, 3, 8], 0.05, 5);
    let a = act(&mut tensors, "a", vec![1, 3, 3, 8], 0.06, -20);
    let q = act(&mut tensors, "q", vec![1, 3, 3, 8], 0.1, 3);
    let p = act(&mut tensors, "p", vec![1, 1, 1, 8], 0.1, 3);
    let r = act(&mut tensors, "r", vec![1, 8], 0.1, 3);
    let w3 = weights(&mut tensors, "w3", vec![5, 8], 0, 1);
    let b3 = bias(&mut tensors, "b3", 5, 2000);
    let f = act(&mut tensors, "f", vec![1, 5], 0.02, 7);
    let sm = act(&mut tensors, "softmax", vec![1, 5], 1.0 / 256.0, -128);
    let ops = vec![
        Op::Conv2d {
            input: x,
            filter: w1,
            bias: Some(b1),
            output: c1,
            options: ConvOptions {
                stride: (2, 2),
                padding: Padding::Same,
                activation: Activation::Relu6,
            },
        },
        Op::MaxPool2d {
            input: c1,
            output: m,
            options: PoolOptions {
                filter: (2, 2),
                stride: (1, 1),
                padding: Padding::Valid,
                activation: Activation::None,
            },
        },
        Op::DepthwiseConv2d {
            input: m,
            filter: w2,
            bias: None,
            output: d,
            options: DepthwiseOptions {
                stride: (1, 1),
                padding: Padding::Same,
                activation: Activation::None,
                depth_multiplier: 1,
            },
        },
        Op::Add {
            inputs: [m, d],
            output: a,
            activation: Activation::Relu,
        },
        Op::Quantize {
            input: a,
            output: q,
        },
        Op::AveragePool2d {
            input: q,
            output: p,
            options: PoolOptions {
                filter: (3, 3),
                stride: (1, 1),
                padding: Padding::Valid,
                activation: Activation::None,
            },
        },
        Op::Reshape {
            input: p,
            output: r,
        },
        Op::FullyConnected {
            input: r,
            filter: w3,
            bias: Some(b3),
            output: f,
            activation: Activation::None,
        },
        Op::Softmax {
            input: f,
            output: sm,
            beta: 1.0,
        },
    ];
    Model {
        tensors,
        ops,
        input: x,
        output: sm,
        metadata: Default::default(),
    }
}

/// A small MobileNet-like float graph with random (He-initialised) weights.
pub fn random_float_graph(seed: u64) -> tinystudio_engine::FloatGraph {
    use tinystudio_engine::float_graph::*;
    let mut s = seed | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let mut rand = |n: usize, fan_in: usize| -> Vec<f32> {
        let a = (6.0 / fan_in as f32).sqrt();
        (0..n).map(|_| uniform() * a).collect()
    };
    let conv = |rand: &mut dyn FnMut(usize, usize) -> Vec<f32>,
                oc: usize,
                k: usize,
                ic: usize,
                stride: usize| Layer::Conv2d {
        weights: rand(oc * k * k * ic, k * k * ic),
        shape: [oc, k, k, ic],
        bias: rand(oc, 8),
        stride,
        padding: Padding::Same,
        activation: Activation::Relu6,
    };
    let dw = |rand: &mut dyn FnMut(usize, usize) -> Vec<f32>,
              c: usize,
              stride: usize,
              act: Activation| Layer::DepthwiseConv2d {
        weights: rand(9 * c, 9),
        shape: [3, 3, c],
        bias: rand(c, 8),
        stride,
        padding: if stride == 1 {
            Padding::Same
        } else {
            Padding::Valid
        },
        activation: act,
    };
    let layers = vec![
        conv(&mut rand, 8, 3, 3, 2),
        dw(&mut rand, 8, 1, Activation::Relu6),
        conv(&mut rand, 16, 1, 8, 1),
        dw(&mut rand, 16, 2, Activation::Relu),
        conv(&mut rand, 24, 1, 16, 1),
        Layer::GlobalAveragePool,
        Layer::FullyConnected {
            weights: rand(4 * 24, 24),
            shape: [4, 24],
            bias: rand(4, 8),
            activation: Activation::None,
        },
        Layer::Softmax,
    ];
    FloatGraph {
        input_shape: [20, 20, 3],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec![
            "airplane".into(),
            "horse".into(),
            "ship".into(),
            "other".into(),
        ],
        layers,
    }
}

/// Deterministic pseudo-random 8-bit images with some spatial structure.
pub fn random_pixels(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(n);
    let mut prev = 128i32;
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        prev = (prev + (s % 61) as i32 - 30).clamp(0, 255);
        v.push(prev as u8);
    }
    v
}
