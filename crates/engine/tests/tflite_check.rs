//! `tflite::check` names every operator the engine cannot run, not only the
//! first, on a real model with some of its operators changed into ones the
//! engine lacks.

mod common;

use tinystudio_engine::tflite::{self, flatbuf::Table};

/// `vww_96_int8.tflite` with every operator of builtin code `from` turned
/// into builtin code `to` (both opcode fields patched in place).
fn with_opcode_replaced(from: u8, to: u8) -> Vec<u8> {
    let mut file = common::read_shared("reference-models/vww_96_int8.tflite");
    let mut patches = Vec::new();
    let root = Table::root(&file).unwrap();
    let opcodes = root.vector(1, 4).unwrap();
    for i in 0..opcodes.len() {
        let t = opcodes.table(i).unwrap();
        let code = t.u8(0, 0).unwrap().max(t.i32(3, 0).unwrap() as u8);
        if code == from {
            patches.push((t.field(0).unwrap(), 1));
            patches.push((t.field(3).unwrap(), 4));
        }
    }
    assert!(!patches.is_empty(), "no operator code {from} in the model");
    for (at, len) in patches {
        if let Some(at) = at {
            file[at] = to;
            file[at + 1..at + len].fill(0);
        }
    }
    file
}

#[test]
fn a_supported_model_has_no_problems() {
    let file = common::read_shared("reference-models/vww_96_int8.tflite");
    assert_eq!(tflite::check(&file).unwrap(), []);
}

#[test]
fn every_unsupported_operator_is_named() {
    // DEPTHWISE_CONV_2D (4) -> TANH (28): the model's 13 depthwise layers.
    let file = with_opcode_replaced(4, 28);
    let problems = tflite::check(&file).unwrap();
    assert_eq!(problems.len(), 13, "{problems:#?}");
    for p in &problems {
        assert_eq!(p.operator, "TANH");
        let line = p.to_string();
        assert!(
            line.starts_with(&format!(
                "operator {} (TANH): unsupported operator",
                p.index
            )),
            "{line}"
        );
    }
    // The depthwise layers alternate with the pointwise ones after conv1.
    let indices: Vec<usize> = problems.iter().map(|p| p.index).collect();
    assert_eq!(indices, (0..13).map(|i| 1 + 2 * i).collect::<Vec<_>>());
    // `import` stops at the first, as before.
    let e = tflite::import(&file).unwrap_err();
    assert_eq!(e, problems[0].error);
}

#[test]
fn files_that_are_not_models_are_errors_not_problem_lists() {
    for bytes in [&b""[..], b"not a flatbuffer at all", &[0xff; 64]] {
        assert!(tflite::check(bytes).is_err(), "{bytes:?}");
    }
}
