//! Models the studio did not make (`tests/models/`, written by TensorFlow's
//! converter): imported, they give exactly what TFLite's reference kernels
//! give. Needs python3 with `ai-edge-litert`; fails loudly without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tinystudio_engine::{HostRunner, Model};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/models")
        .join(name)
}

/// TFLite's reference kernels on `inputs` (raw int8 tensors).
fn tflite_reference(model: &Path, inputs: &[Vec<i8>]) -> Vec<Vec<i8>> {
    let dir = tempfile::tempdir().unwrap();
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
        .arg(model)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; `pip install ai-edge-litert`"));
    assert!(
        out.status.success(),
        "TFLite reference run failed (is `pip install ai-edge-litert` done?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    paths
        .iter()
        .map(|p| {
            std::fs::read(p.with_extension("i8.out"))
                .expect("TFLite output")
                .into_iter()
                .map(|b| b as i8)
                .collect()
        })
        .collect()
}

/// Random inputs, and the two extremes.
fn inputs(len: usize, count: usize, seed: u64) -> Vec<Vec<i8>> {
    let mut s = seed | 1;
    (0..count)
        .map(|case| {
            (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    match case {
                        0 => -128,
                        1 => 127,
                        _ => s as i8,
                    }
                })
                .collect()
        })
        .collect()
}

/// Imports `name`, checks that it has `operators`, and compares the host
/// engine with TFLite's reference kernels on random inputs: the file as
/// the converter wrote it, and, written back by the engine's exporter, the
/// graph up to its last convolution or ADD (or dense layer, in a dense
/// stack): random weights make the pooled and soft-maxed outputs nearly
/// constant, the feature maps must vary.
fn check(name: &str, operators: &[&str]) {
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model = Model::from_tflite(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let names: Vec<&str> = model.ops.iter().map(|o| o.name()).collect();
    for op in operators {
        assert!(names.contains(op), "{name}: no {op} in {names:?}");
    }
    let len = model.input_tensor().unwrap().elements();
    let xs = inputs(len, 24, name.len() as u64 * 7919);
    let compare = |model: &Model, tflite: &Path, what: &str| {
        let theirs = tflite_reference(tflite, &xs);
        let mut runner = HostRunner::new(model.to_blob().unwrap()).unwrap();
        let mut distinct = std::collections::HashSet::new();
        for (i, (x, t)) in xs.iter().zip(&theirs).enumerate() {
            assert_eq!(&runner.run(x).unwrap(), t, "{name} ({what}), input {i}");
            distinct.insert(t.clone());
        }
        distinct.len()
    };
    compare(&model, &path, "as converted");
    let last = names
        .iter()
        .rposition(|n| matches!(*n, "CONV_2D" | "DEPTHWISE_CONV_2D" | "ADD"))
        .or_else(|| names.iter().rposition(|n| *n == "FULLY_CONNECTED"))
        .unwrap();
    let mut cut = model.clone();
    cut.ops.truncate(last + 1);
    cut.output = cut.ops[last].output();
    let dir = tempfile::tempdir().unwrap();
    let cut_path = dir.path().join("cut.tflite");
    std::fs::write(&cut_path, cut.to_tflite().unwrap()).unwrap();
    let what = format!("up to operator {last}, {}", names[last]);
    let distinct = compare(&cut, &cut_path, &what);
    assert!(
        distinct > 20,
        "{name} ({what}): only {distinct} distinct outputs of 24"
    );
}

#[test]
fn resnet8_with_add_matches_tflite_reference() {
    check(
        "resnet8.tflite",
        &["CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED"],
    );
}

#[test]
fn ds_cnn_matches_tflite_reference() {
    check(
        "ds_cnn.tflite",
        &["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"],
    );
}

#[test]
fn fully_connected_stack_matches_tflite_reference() {
    check("fc_stack.tflite", &["FULLY_CONNECTED", "SOFTMAX"]);
}

#[test]
fn conv1d_with_expand_dims_squeeze_and_mean_matches_tflite_reference() {
    check(
        "conv1d_audio.tflite",
        &["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "MEAN"],
    );
}

#[test]
fn depth_multipliers_over_several_channels_match_tflite_reference() {
    check("depth_multiplier.tflite", &["DEPTHWISE_CONV_2D", "MEAN"]);
}
