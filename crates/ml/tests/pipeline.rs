//! Feature extraction, training, save/load and export on real data (cifar3 at
//! 96x96), as the worker runs them.

mod common;

use std::sync::OnceLock;
use std::time::Instant;

use tinystudio_ml::backbones::{Backbone, ensure_backbone};
use tinystudio_ml::data::{Augmentation, ImageShape, augment_variants};
use tinystudio_ml::export::{calibrate, export, float_graph};
use tinystudio_ml::inference::{FeatureExtractor, TrainedModel};
use tinystudio_ml::training::{Control, TrainConfig, TrainingSet, train};

const CLASSES: [&str; 3] = ["airplane", "ship", "horse"];

struct Cifar {
    train: Vec<Vec<u8>>,
    train_labels: Vec<usize>,
    test: Vec<Vec<u8>>,
    test_labels: Vec<usize>,
}

/// cifar3 upscaled to 96x96 (triangle filter), decoded once for all tests.
fn cifar() -> &'static Cifar {
    static DATA: OnceLock<Cifar> = OnceLock::new();
    DATA.get_or_init(|| {
        let load = |split: &str| {
            let mut images = Vec::new();
            let mut labels = Vec::new();
            for (label, class) in CLASSES.iter().enumerate() {
                let dir = common::shared(&format!("datasets/cifar3/{split}/{class}"));
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for n in names {
                    images.push(common::load_rgb(
                        &format!("datasets/cifar3/{split}/{class}/{n}"),
                        96,
                        96,
                    ));
                    labels.push(label);
                }
            }
            (images, labels)
        };
        let (train, train_labels) = load("train");
        let (test, test_labels) = load("test");
        Cifar {
            train,
            train_labels,
            test,
            test_labels,
        }
    })
}

fn backbone() -> &'static Backbone {
    static B: OnceLock<Backbone> = OnceLock::new();
    B.get_or_init(|| ensure_backbone(0.25, &common::backbones_dir(), &mut |_| {}).unwrap())
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

fn class_names() -> Vec<String> {
    CLASSES.iter().map(|s| s.to_string()).collect()
}

fn train_cifar(
    fine_tune_blocks: usize,
    config: &TrainConfig,
) -> tinystudio_ml::training::TrainOutcome {
    let data = cifar();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), fine_tune_blocks).unwrap();
    let inputs = ex.extract(&refs(&data.train)).unwrap();
    let set = TrainingSet {
        inputs,
        labels: data.train_labels.clone(),
        origin: Vec::new(),
        class_names: class_names(),
    };
    train(&ex, &set, config, &mut |_| Control::Continue).unwrap()
}

fn accuracy(model: &TrainedModel, images: &[Vec<u8>], labels: &[usize]) -> f32 {
    let probs = model.predict(&refs(images)).unwrap();
    let correct = probs
        .iter()
        .zip(labels)
        .filter(|(p, l)| {
            let best = p
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            best.0 == **l
        })
        .count();
    correct as f32 / labels.len() as f32
}

#[test]
fn frozen_backbone_learns_cifar3() {
    let data = cifar();
    let mut epochs_seen = Vec::new();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    assert_eq!(ex.row_len(), 256);
    let inputs = ex.extract(&refs(&data.train)).unwrap();
    assert!(inputs.iter().all(|v| v.is_finite()));
    let set = TrainingSet {
        inputs,
        labels: data.train_labels.clone(),
        origin: Vec::new(),
        class_names: class_names(),
    };
    let outcome = train(&ex, &set, &TrainConfig::default(), &mut |m| {
        epochs_seen.push(m.clone());
        Control::Continue
    })
    .unwrap();
    assert_eq!(epochs_seen.len(), 20);
    assert!(!outcome.stopped);
    let first = &epochs_seen[0];
    let last = epochs_seen.last().unwrap();
    eprintln!("first {first:?}\nlast {last:?}");
    assert!(last.loss < first.loss, "loss did not fall");
    assert_eq!(outcome.validation_rows.len(), 90);
    assert_eq!(outcome.train_rows.len(), 360);
    let total: u32 = outcome.confusion.iter().flatten().sum();
    assert_eq!(total, 90);
    let diag: u32 = (0..3).map(|i| outcome.confusion[i][i]).sum();
    let val_acc = last.val_accuracy.unwrap();
    assert!((diag as f32 / 90.0 - val_acc).abs() < 1e-6);
    assert!(val_acc > 0.7, "validation accuracy {val_acc}");
    let test_acc = accuracy(&outcome.model, &data.test, &data.test_labels);
    eprintln!("cifar3 test accuracy {test_acc} (Keras: 0.833)");
    assert!(test_acc > 0.75, "test accuracy {test_acc}");
}

#[test]
fn training_is_deterministic_and_can_be_stopped() {
    let config = TrainConfig {
        epochs: 5,
        seed: 3,
        ..TrainConfig::default()
    };
    let a = train_cifar(0, &config);
    let b = train_cifar(0, &config);
    assert_eq!(a.history, b.history);

    let data = cifar();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    let set = TrainingSet {
        inputs: ex.extract(&refs(&data.train[..60])).unwrap(),
        labels: data.train_labels[..60].to_vec(),
        origin: Vec::new(),
        class_names: vec!["a".into(), "b".into(), "c".into()],
    };
    // Labels of the first 60 are all class 0: training must still run.
    let mut calls = 0;
    let out = train(&ex, &set, &TrainConfig::default(), &mut |m| {
        calls += 1;
        if m.epoch == 3 {
            Control::Stop
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_eq!(calls, 3);
    assert!(out.stopped);
    assert_eq!(out.history.len(), 3);
}

#[test]
fn bad_training_sets_are_errors() {
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    let set = TrainingSet {
        inputs: vec![0.0; 256 * 2],
        labels: vec![0, 5],
        origin: Vec::new(),
        class_names: vec!["a".into(), "b".into()],
    };
    assert!(
        train(&ex, &set, &TrainConfig::default(), &mut |_| {
            Control::Continue
        })
        .is_err()
    );
    let set = TrainingSet {
        inputs: vec![0.0; 10],
        labels: vec![0, 1],
        origin: Vec::new(),
        class_names: vec!["a".into(), "b".into()],
    };
    assert!(
        train(&ex, &set, &TrainConfig::default(), &mut |_| {
            Control::Continue
        })
        .is_err()
    );
    assert!(ex.extract(&[&[0u8; 5][..]]).is_err());
}

#[test]
fn head_training_learns_1000_rows_in_30_epochs() {
    // 1,000 rows of 256 features, one of them shifted by the label.
    let mut rng = tinystudio_ml::data::Rng::new(1);
    let labels: Vec<usize> = (0..1000).map(|i| i % 4).collect();
    let inputs: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            let mut row: Vec<f32> = (0..256).map(|_| rng.next_f32()).collect();
            row[l] += 2.0;
            row
        })
        .collect();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    let set = TrainingSet {
        inputs,
        labels,
        origin: Vec::new(),
        class_names: (0..4).map(|i| i.to_string()).collect(),
    };
    let config = TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    };
    // How fast is the benchmark's business (`cargo bench -p tinystudio-ml`);
    // the time is printed for the curious.
    let t = Instant::now();
    let out = train(&ex, &set, &config, &mut |_| Control::Continue).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!("1,000 x 30 epochs: {secs:.3} s, {:?}", out.history.last());
    assert!(out.history.last().unwrap().val_accuracy.unwrap() > 0.9);
}

#[test]
fn save_load_predict_and_export_match() {
    let data = cifar();
    let outcome = train_cifar(
        0,
        &TrainConfig {
            epochs: 5,
            ..TrainConfig::default()
        },
    );
    let model = outcome.model;
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = TrainedModel::load(dir.path(), backbone()).unwrap();
    assert_eq!(loaded.config, model.config);
    let sample = refs(&data.test[..8]);
    let a = model.predict(&sample).unwrap();
    let b = loaded.predict(&sample).unwrap();
    assert_eq!(a, b);

    // A model does not load on another backbone.
    let other = ensure_backbone(0.2, &common::backbones_dir(), &mut |_| {}).unwrap();
    let e = TrainedModel::load(dir.path(), &other)
        .err()
        .expect("must fail");
    assert!(e.to_string().contains("different backbone"), "{e}");

    check_export(&loaded, &data.test, &data.test_labels);
}

/// The engine's float graph reproduces burn's probabilities, calibration covers every
/// layer, and the quantized model agrees with the float one on most test images.
fn check_export(model: &TrainedModel, images: &[Vec<u8>], labels: &[usize]) {
    let (graph, cal) = export(model, &refs(&images[..32])).unwrap();
    assert_eq!(cal.ranges.len(), graph.layers.len());
    for (i, (lo, hi)) in cal.ranges.iter().enumerate() {
        assert!(
            lo.is_finite() && hi.is_finite() && lo <= hi,
            "layer {i}: {lo} {hi}"
        );
    }
    let probs = model.predict(&refs(&images[..4])).unwrap();
    for (img, p) in images[..4].iter().zip(&probs) {
        let outs = graph.forward(&graph.scale_pixels(img)).unwrap();
        let q = outs.last().unwrap();
        for (x, y) in p.iter().zip(q) {
            assert!((x - y).abs() < 1e-3, "burn {p:?} vs float graph {q:?}");
        }
        // Every layer output lies inside its calibrated range when the image was
        // part of calibration.
        for (i, out) in outs.iter().enumerate() {
            let (lo, hi) = cal.ranges[i];
            assert!(
                out.iter().all(|v| *v >= lo - 1e-4 && *v <= hi + 1e-4),
                "layer {i}"
            );
        }
    }
    // Calibrating on the engine's own float executor gives the same ranges.
    let samples: Vec<Vec<f32>> = images[..2].iter().map(|i| graph.scale_pixels(i)).collect();
    let slow = tinystudio_engine::Calibration::from_samples(&graph, &samples).unwrap();
    let fast = calibrate(model, &refs(&images[..2])).unwrap();
    for (i, (a, b)) in slow.ranges.iter().zip(&fast.ranges).enumerate() {
        assert!(
            (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3,
            "layer {i}: {a:?} vs {b:?}"
        );
    }

    let started = Instant::now();
    let int8 = tinystudio_engine::quantize(&graph, &cal).unwrap();
    eprintln!(
        "quantized with bias correction in {} ms",
        started.elapsed().as_millis()
    );
    let mut runner = tinystudio_engine::HostRunner::new(int8.to_blob().unwrap()).unwrap();
    let n = 48;
    let float_top: Vec<usize> = model
        .predict(&refs(&images[..n]))
        .unwrap()
        .iter()
        .map(|p| argmax(p))
        .collect();
    let mut agree = 0;
    for (img, f) in images[..n].iter().zip(&float_top) {
        let out = runner.run_pixels(img).unwrap();
        let q: Vec<f32> = out
            .iter()
            .map(|&v| (f32::from(v) + 128.0) / 256.0)
            .collect();
        if argmax(&q) == *f {
            agree += 1;
        }
    }
    eprintln!(
        "int8 agrees with float on {agree}/{n} (labels {:?}...)",
        &labels[..3]
    );
    // Measured: 45/48. Without the quantizer's bias correction 38/48, and TFLite's
    // own converter on the same float graph and calibration images 39/48: this
    // model's weights lose that much to plain per-channel rounding.
    assert!(
        agree * 100 >= n * 90,
        "int8 top-1 agrees with float on only {agree}/{n}"
    );
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

#[test]
fn fine_tuning_last_blocks_trains_and_exports() {
    let data = cifar();
    let config = TrainConfig {
        epochs: 3,
        ..TrainConfig::default()
    };
    let frozen = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 2).unwrap();
    // Blocks 12 and 13 start from the 6x6x128 output of block 11.
    assert_eq!(ex.row_shape(), vec![128, 6, 6]);
    let outcome = train_cifar(2, &config);
    assert_eq!(outcome.history.len(), 3);
    let model = outcome.model;
    assert_eq!(model.config.fine_tune_blocks, 2);
    // The fine-tuned layers moved away from the backbone's.
    let before = frozen.model().layers[26].weight.val().into_data();
    let after = model.backbone().layers[26].weight.val().into_data();
    assert_ne!(before, after);
    let earlier_same = frozen.model().layers[20].weight.val().into_data()
        == model.backbone().layers[20].weight.val().into_data();
    assert!(earlier_same, "frozen layers must not change");
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = TrainedModel::load(dir.path(), backbone()).unwrap();
    let sample = refs(&data.test[..4]);
    assert_eq!(
        model.predict(&sample).unwrap(),
        loaded.predict(&sample).unwrap()
    );
    let graph = float_graph(&loaded).unwrap();
    let p = loaded.predict(&sample).unwrap();
    for (img, p) in data.test[..4].iter().zip(&p) {
        let q = graph
            .forward(&graph.scale_pixels(img))
            .unwrap()
            .pop()
            .unwrap();
        for (x, y) in p.iter().zip(&q) {
            assert!((x - y).abs() < 1e-3);
        }
    }
}

/// Fine-tuning every block used to end at 70 % here, and at chance on a
/// larger set, with no warning. Now it learns at least as well as the frozen
/// backbone across the learning rates people try, and a rate that wrecks
/// training fails with a message instead of saving a chance-level model.
#[test]
fn fine_tuning_every_block_learns_or_says_why_not() {
    let data = cifar();
    let ex = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 13).unwrap();
    let set = TrainingSet {
        inputs: ex.extract(&refs(&data.train)).unwrap(),
        labels: data.train_labels.clone(),
        origin: Vec::new(),
        class_names: class_names(),
    };
    for learning_rate in [0.0005, 0.05, 0.5] {
        let config = TrainConfig {
            epochs: 10,
            learning_rate,
            ..TrainConfig::default()
        };
        match train(&ex, &set, &config, &mut |_| Control::Continue) {
            Ok(outcome) => {
                let test_acc = accuracy(&outcome.model, &data.test, &data.test_labels);
                eprintln!(
                    "13 blocks, lr {learning_rate}: kept epoch {}, test accuracy {test_acc}",
                    outcome.kept_epoch
                );
                assert!(
                    test_acc > 0.75,
                    "lr {learning_rate}: test accuracy {test_acc}"
                );
            }
            Err(e) => {
                eprintln!("13 blocks, lr {learning_rate}: {e}");
                assert!(learning_rate > 0.1, "lr {learning_rate} failed: {e}");
                assert!(
                    matches!(e, tinystudio_ml::Error::Diverged(_))
                        && e.to_string().contains("learning rate"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn augmented_variants_train_without_leaking_into_validation() {
    let data = cifar();
    let shape = ImageShape::rgb(96, 96);
    let ex = FeatureExtractor::new(backbone(), shape, 0).unwrap();
    let n = 90;
    let mut images: Vec<Vec<u8>> = data.train.iter().step_by(5).take(n).cloned().collect();
    let mut labels: Vec<usize> = data
        .train_labels
        .iter()
        .step_by(5)
        .take(n)
        .copied()
        .collect();
    let mut origin: Vec<usize> = (0..n).collect();
    for i in 0..n {
        for v in augment_variants(&images[i], shape, &Augmentation::default(), 2, i as u64).unwrap()
        {
            images.push(v);
            labels.push(labels[i]);
            origin.push(i);
        }
    }
    let set = TrainingSet {
        inputs: ex.extract(&refs(&images)).unwrap(),
        labels,
        origin,
        class_names: class_names(),
    };
    let out = train(
        &ex,
        &set,
        &TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        },
        &mut |_| Control::Continue,
    )
    .unwrap();
    assert_eq!(out.validation_rows.len(), 18);
    assert_eq!(out.train_rows.len(), (n - 18) * 3);
    for &v in &out.validation_rows {
        assert!(v < n);
        assert!(!out.train_rows.iter().any(|&t| set.origin[t] == v));
    }
}

#[test]
fn grayscale_uses_luma_in_all_three_channels() {
    let person = common::shared("images/person.bmp");
    let img = image::open(&person).unwrap().to_luma8();
    assert_eq!(img.dimensions(), (96, 96));
    let gray = img.into_raw();
    let rgb: Vec<u8> = gray.iter().flat_map(|&p| [p, p, p]).collect();
    let g = FeatureExtractor::new(backbone(), ImageShape::gray(96, 96), 0).unwrap();
    let c = FeatureExtractor::new(backbone(), ImageShape::rgb(96, 96), 0).unwrap();
    let fg = g.extract(&[&gray]).unwrap();
    let fc = c.extract(&[&rgb]).unwrap();
    for (a, b) in fg.iter().zip(&fc) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }

    // The exported graph takes one channel and gives the same features.
    let set = TrainingSet {
        inputs: [fg.clone(), fg.iter().map(|v| v * 0.5).collect()].concat(),
        labels: vec![0, 1],
        origin: Vec::new(),
        class_names: vec!["person".into(), "no person".into()],
    };
    let out = train(
        &g,
        &set,
        &TrainConfig {
            epochs: 1,
            validation_share: 0.0,
            ..TrainConfig::default()
        },
        &mut |_| Control::Continue,
    )
    .unwrap();
    let graph = float_graph(&out.model).unwrap();
    assert_eq!(graph.input_shape, [96, 96, 1]);
    let outs = graph.forward(&graph.scale_pixels(&gray)).unwrap();
    let pooled = &outs[27];
    for (a, b) in pooled.iter().zip(&fg) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}
