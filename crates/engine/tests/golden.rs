//! Bit-exactness against TensorFlow Lite's reference int8 kernels.

mod common;

use common::*;
use tinystudio_engine::{HostRunner, Model, ModelView};

fn vww() -> Model {
    Model::from_tflite(&read_shared("reference-models/vww_96_int8.tflite"))
        .expect("vww_96_int8.tflite must import")
}

#[test]
fn vww_golden_vectors_match_byte_for_byte() {
    let mut runner = HostRunner::new(vww().to_blob().expect("blob")).expect("runner");
    let cases = golden_cases();
    assert_eq!(cases.len(), 11);
    let mut failures = Vec::new();
    for (name, input, expected) in &cases {
        let out = runner.run(input).expect("inference");
        if &out != expected {
            failures.push(format!("{name}: got {out:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn vww_arena_is_at_most_60_kb() {
    let blob = vww().to_blob().unwrap();
    let view = ModelView::parse(&blob).unwrap();
    assert!(
        view.arena_size() <= 60 * 1024,
        "arena {} B",
        view.arena_size()
    );
    // In-place row-by-row execution of the windowed layers brings the
    // activations below the 55,296 B that separate input and output buffers
    // need (regression guard); the interpreter's plan adds a byte per operator.
    assert!(
        view.activations_size() <= 37_632,
        "activations {} B",
        view.activations_size()
    );
    assert_eq!(view.arena_size(), view.activations_size() + 32); // 31 operators
    assert_eq!(
        tinystudio_engine::blob::arena_size_const(&blob),
        view.arena_size()
    );
}

#[test]
fn blob_roundtrip_gives_identical_outputs() {
    let model = vww();
    let blob = model.to_blob().unwrap();
    // Re-parse from a copy at a different address and alignment.
    let mut shifted = vec![0u8; 1];
    shifted.extend_from_slice(&blob);
    let view = ModelView::parse(&shifted[1..]).unwrap();
    let mut arena = vec![0u8; view.arena_size()];
    for (name, input, expected) in golden_cases() {
        let mut it = tinystudio_engine::Interpreter::new(view, &mut arena).unwrap();
        it.input_mut().copy_from_slice(&input);
        it.invoke().unwrap();
        assert_eq!(it.output(), &expected[..], "{name}");
        assert_eq!(model.run(&input).unwrap(), expected, "{name}");
    }
}

#[test]
fn person_detect_prefers_the_person_image() {
    let model = Model::from_tflite(&read_shared("reference-models/person_detect.tflite"))
        .expect("person_detect.tflite must import");
    let input = model.input_tensor().unwrap().clone();
    assert_eq!(input.shape, vec![1, 96, 96, 1]);
    let mut runner = HostRunner::new(model.to_blob().unwrap()).unwrap();
    let mut score = |img: &str| {
        let pixels = read_gray_bmp(img);
        // These BMPs are TFLite Micro's test data: the stored bytes are the
        // int8 input tensor itself (its generator casts pixels with
        // `np.int8`), so they are fed unchanged.
        let x: Vec<i8> = pixels.iter().map(|&p| p as i8).collect();
        let out = runner.run(&x).unwrap();
        assert_eq!(out.len(), 2);
        out
    };
    let person = score("images/person.bmp");
    let no_person = score("images/no_person.bmp");
    // Output classes: [no person, person].
    assert!(
        person[1] > no_person[1],
        "person {person:?} vs no person {no_person:?}"
    );
    assert!(
        person[1] > person[0],
        "person.bmp should be classified as person: {person:?}"
    );
    assert!(
        no_person[0] > no_person[1],
        "no_person.bmp should be classified as no person: {no_person:?}"
    );
}

#[test]
fn illegal_in_place_overlap_is_rejected() {
    let mut blob = vww().to_blob().unwrap();
    let view = ModelView::parse(&blob).unwrap();
    // The first pointwise layer (op 2) may only start its output 18,816 B below its input.
    let (input, output) = match view.op(2).unwrap() {
        tinystudio_engine::blob::PreparedOp::Conv { input, output, .. } => (input, output),
        other => panic!("op 2 is {}", other.name()),
    };
    let input_offset = view.tensor(input).unwrap().offset as u32;
    let at = view.header().tensors_off + output * tinystudio_engine::blob::TENSOR_RECORD_LEN + 28;
    blob[at..at + 4].copy_from_slice(&input_offset.to_le_bytes());
    tinystudio_engine::blob::write_checksum(&mut blob).unwrap();
    assert!(matches!(
        ModelView::parse(&blob),
        Err(tinystudio_engine::Error::Malformed(_))
    ));
}

/// What the network sees: every operator's output with its shape, as the
/// same inference computes it; the last is the model's output.
#[test]
fn every_layer_is_shown_with_its_shape() {
    let blob = vww().to_blob().unwrap();
    let ops = ModelView::parse(&blob).unwrap().op_count();
    let mut runner = HostRunner::new(blob).unwrap();
    let (_, input, _) = &golden_cases()[0];
    let layers = runner.run_layers(input).unwrap();
    assert_eq!(layers.len(), ops);
    assert_eq!(layers[0].op, "CONV_2D");
    assert_eq!(layers[0].shape, [1, 48, 48, 8]);
    assert_eq!(layers[1].op, "DEPTHWISE_CONV_2D");
    for layer in &layers {
        assert_eq!(layer.data.len(), layer.shape.iter().product::<usize>());
    }
    assert_eq!(layers.last().unwrap().data, runner.run(input).unwrap());
}

/// The Prepare step (`Interpreter::new`) picks each operator's kernel once
/// and keeps it in the arena's last bytes; what it picks is what the
/// dispatcher picks, and the arena the blob asks for includes that plan.
#[test]
fn prepare_picks_every_kernel_once_in_the_arena_it_asks_for() {
    use tinystudio_engine::Interpreter;
    use tinystudio_engine::error::Error;
    use tinystudio_engine::kernels::set::{ALL, KernelSet};

    let blob = vww().to_blob().unwrap();
    let view = ModelView::parse(&blob).unwrap();
    let mut short = vec![0u8; view.arena_size() - 1];
    assert!(matches!(
        Interpreter::new(view, &mut short),
        Err(Error::ArenaTooSmall { needed, .. }) if needed == view.arena_size()
    ));

    let mut arena = vec![0u8; view.arena_size()];
    let mut it = Interpreter::new(view, &mut arena).unwrap();
    for i in 0..view.op_count() {
        let op = view.op(i).unwrap();
        assert_eq!(it.kernel_name(i), Some(op.kernel_name()), "operator {i}");
    }
    assert_eq!(it.kernel_name(view.op_count()), None);
    let (_, input, expected) = &golden_cases()[0];
    // The same plan serves every inference (the input is set each time:
    // layers in place may write over it).
    for _ in 0..2 {
        it.input_mut().copy_from_slice(input);
        it.invoke().unwrap();
        assert_eq!(it.output(), &expected[..]);
    }

    // A build without a kernel one layer needs fails at start-up, naming it,
    // not at the first inference.
    static NO_SOFTMAX: KernelSet = KernelSet {
        softmax: None,
        ..ALL
    };
    let mut arena = vec![0u8; view.arena_size()];
    match Interpreter::with_kernels(view, &mut arena, &NO_SOFTMAX) {
        Err(Error::Unsupported(what)) => assert!(what.contains("SOFTMAX"), "{what}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a build without SOFTMAX prepared a model that needs it"),
    }
}

/// The Cortex-M4 kernels (their host models here) run VWW's in-place layers
/// (operators 0, 2 and 3) whole, one call each, as the firmware's kernel
/// set has them do: through the interpreter, the golden outputs byte for
/// byte.
#[test]
fn vww_in_place_layers_run_whole_match_the_golden_vectors() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tinystudio_engine::Interpreter;
    use tinystudio_engine::error::Result;
    use tinystudio_engine::kernels::cortex_m4 as m4;
    use tinystudio_engine::kernels::set::{ALL, KernelSet};
    use tinystudio_engine::kernels::{ConvKernel, ConvParams, DepthwiseKernel, DepthwiseParams};

    static WHOLE: AtomicUsize = AtomicUsize::new(0);
    type Ranges = (std::ops::Range<usize>, std::ops::Range<usize>);
    fn conv(p: &ConvParams<'_>, span: &mut [i8], r: Ranges, s: &mut [u32]) -> Result<bool> {
        let ran = m4::conv_eval_in_place(p, span, r, s)?;
        WHOLE.fetch_add(usize::from(ran), Ordering::Relaxed);
        Ok(ran)
    }
    fn depthwise(
        p: &DepthwiseParams<'_>,
        span: &mut [i8],
        r: Ranges,
        s: &mut [u32],
    ) -> Result<bool> {
        let ran = m4::depthwise_eval_in_place(p, span, r, s)?;
        WHOLE.fetch_add(usize::from(ran), Ordering::Relaxed);
        Ok(ran)
    }
    static M4_WHOLE: KernelSet = KernelSet {
        conv: &[ConvKernel {
            name: "conv_m4_gemm_model",
            supports: m4::conv_supports,
            eval: m4::conv_eval,
        }],
        depthwise: &[DepthwiseKernel {
            name: "depthwise_m4_3x3_model",
            supports: m4::depthwise_supports,
            eval: m4::depthwise_eval,
        }],
        conv_in_place: &[Some(conv)],
        depthwise_in_place: &[Some(depthwise)],
        ..ALL
    };

    let blob = vww().to_blob().unwrap();
    let view = ModelView::parse(&blob).unwrap();
    let mut arena = vec![0u8; view.arena_size()];
    let mut it = Interpreter::with_kernels(view, &mut arena, &M4_WHOLE).unwrap();
    let cases = golden_cases();
    for (name, input, expected) in &cases {
        it.input_mut().copy_from_slice(input);
        it.invoke().unwrap();
        assert_eq!(it.output(), &expected[..], "{name}");
    }
    assert_eq!(WHOLE.load(Ordering::Relaxed), 3 * cases.len());
}
