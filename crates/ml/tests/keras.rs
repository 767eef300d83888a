//! The Keras weights load correctly: ImageNet predictions match Keras's, both file
//! layouts parse, bad files give errors that name what is wrong.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use tinystudio_ml::Error;
use tinystudio_ml::backbones::{BackboneSource, ensure_backbone};
use tinystudio_ml::data::{ImageShape, InputScaling};
use tinystudio_ml::inference::FeatureExtractor;
use tinystudio_ml::keras_h5::{
    Array, BatchNorm, Classifier, ConvBn, MobileNetV1Weights, NUM_BLOCKS, load_mobilenet_v1,
    load_mobilenet_v1_from_bytes, save_mobilenet_v1,
};
use tinystudio_ml::model::ImageNetHead;

/// ImageNet probabilities for one 224x224 RGB image, scaled as Keras's
/// `preprocess_input` does (`p / 127.5 - 1`).
fn imagenet_probs(rel: &str) -> Vec<f32> {
    let weights = load_mobilenet_v1(&common::shared(
        "backbones/mobilenet_v1_0.25_224_imagenet.h5",
    ))
    .expect("load full Keras model");
    let classifier = weights
        .classifier
        .clone()
        .expect("full model has conv_preds");
    let backbone = tinystudio_ml::backbones::Backbone {
        alpha: 0.25,
        weights,
        source: BackboneSource::ImageNet {
            file: "mobilenet_v1_0.25_224_imagenet.h5".into(),
        },
    };
    let extractor = FeatureExtractor::new(&backbone, ImageShape::rgb(224, 224), 0)
        .unwrap()
        .with_scaling(InputScaling::Keras);
    // Resize: bilinear (triangle filter, antialiased when shrinking) to 224x224.
    let pixels = common::load_rgb(rel, 224, 224);
    let features = extractor.extract(&[&pixels]).unwrap();
    assert_eq!(features.len(), 256);
    let device = Device::flex();
    let head = ImageNetHead::from_keras(&classifier, &device);
    let x = Tensor::<2>::from_data(TensorData::new(features, [1, 256]), &device);
    head.forward(x).into_data().try_into_vec::<f32>().unwrap()
}

fn top1(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, v)| if v > b.1 { (i, v) } else { b })
}

#[test]
fn parrot_is_a_macaw() {
    let p = imagenet_probs("images/parrot.jpg");
    let (class, prob) = top1(&p);
    eprintln!("parrot: class {class} p {prob:.4}");
    assert_eq!(class, 88, "macaw expected");
    assert!(
        prob > 0.85,
        "macaw probability {prob} (Keras gives about 0.94)"
    );
}

#[test]
fn cat_is_a_cat() {
    let p = imagenet_probs("images/cat.bmp");
    let (class, prob) = top1(&p);
    eprintln!("cat: class {class} p {prob:.4}");
    assert!(
        (281..=285).contains(&class),
        "cat class expected, got {class}"
    );
}

#[test]
fn no_top_layout_round_trips() {
    let full = load_mobilenet_v1(&common::shared(
        "backbones/mobilenet_v1_0.25_224_imagenet.h5",
    ))
    .unwrap();
    assert_eq!(full.alpha(), Some(0.25));
    assert_eq!(full.feature_dim(), 256);
    let mut no_top = full.clone();
    no_top.classifier = None;
    let dir = tempfile::tempdir().unwrap();
    // Keras's own name for this width, so ensure_backbone finds it without a download.
    let path = dir.path().join("mobilenet_2_5_224_tf_no_top.h5");
    save_mobilenet_v1(&no_top, &path).unwrap();
    let back = load_mobilenet_v1(&path).unwrap();
    assert_eq!(back, no_top);
    let mut lines = Vec::new();
    let b = ensure_backbone(0.25, dir.path(), &mut |l| lines.push(l.to_owned())).unwrap();
    assert!(b.is_imagenet_pretrained());
    assert_eq!(b.weights, no_top);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("mobilenet_2_5_224_tf_no_top.h5")),
        "{lines:?}"
    );
}

/// Removes one object from an HDF5 file in place, as `h5py`'s `del f[name]` does.
fn unlink(path: &std::path::Path, name: &str) {
    let f = hdf5_pure::File::open_rw(path).unwrap();
    f.root().delete(name).unwrap();
    f.commit().unwrap();
}

#[test]
fn bad_files_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // Not HDF5 at all.
    let junk = dir.path().join("junk.h5");
    std::fs::write(&junk, b"not an hdf5 file").unwrap();
    let e = load_mobilenet_v1(&junk).unwrap_err();
    assert!(matches!(e, Error::Hdf5 { .. }), "{e}");

    // A layer missing.
    let full = load_mobilenet_v1(&common::shared(
        "backbones/mobilenet_v1_0.25_224_imagenet.h5",
    ))
    .unwrap();
    let mut w = full.clone();
    w.classifier = None;
    let path = dir.path().join("partial.h5");
    save_mobilenet_v1(&w, &path).unwrap();
    unlink(&path, "conv_pw_7_bn");
    let e = load_mobilenet_v1(&path).unwrap_err();
    assert!(e.to_string().contains("conv_pw_7_bn"), "{e}");

    // A dataset missing.
    let path = dir.path().join("partial2.h5");
    save_mobilenet_v1(&w, &path).unwrap();
    unlink(&path, "conv_dw_3/conv_dw_3/depthwise_kernel:0");
    let e = load_mobilenet_v1(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("conv_dw_3") && msg.contains("depthwise_kernel"),
        "{msg}"
    );

    // Wrong shape.
    let mut w2 = w.clone();
    w2.pointwise[4].bn.gamma.pop();
    let path = dir.path().join("shape.h5");
    save_mobilenet_v1(&w2, &path).unwrap();
    let e = load_mobilenet_v1(&path).unwrap_err();
    assert!(e.to_string().contains("conv_pw_5_bn"), "{e}");

    // Missing file.
    let e = load_mobilenet_v1(&dir.path().join("nope.h5")).unwrap_err();
    assert!(e.to_string().contains("nope.h5"), "{e}");
}

/// A cut-off download or a damaged disk must give an error (or, where the damage
/// hits only weight values, a file that still validates), never a panic or an
/// attempt to allocate what a corrupted size field claims.
#[test]
fn truncated_or_corrupted_files_are_errors_not_panics() {
    let original = std::fs::read(common::shared(
        "backbones/mobilenet_v1_0.25_224_imagenet.h5",
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.h5");
    let len = original.len();

    // Truncated anywhere, from inside the superblock to the last byte: always an error.
    for cut in [
        0,
        7,
        8,
        40,
        100,
        1_000,
        4_096,
        50_000,
        len / 2,
        len - 8,
        len - 1,
    ] {
        std::fs::write(&path, &original[..cut]).unwrap();
        let e = load_mobilenet_v1(&path).expect_err(&format!("truncated at {cut}"));
        assert!(
            matches!(e, Error::Hdf5 { .. } | Error::BadModelFile { .. }),
            "truncated at {cut}: {e}"
        );
        assert!(e.to_string().contains("damaged.h5"), "{e}");
    }

    // A wrong signature is an error.
    let mut bad = original.clone();
    bad[1] = b'X';
    std::fs::write(&path, &bad).unwrap();
    assert!(load_mobilenet_v1(&path).is_err());

    // Corrupted metadata: bytes overwritten across the superblock, object headers,
    // B-trees and heaps (h5py puts them in the first 64 KiB and between datasets).
    // Each load must return, and a load that succeeds must still be a valid model.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut errors, mut loaded) = (0, 0);
    for i in 0..300 {
        let mut bad = original.clone();
        let limit = if i % 2 == 0 { 65_536 } else { len };
        for _ in 0..1 + next() % 4 {
            let pos = (next() % limit as u64) as usize;
            bad[pos] = next() as u8;
        }
        std::fs::write(&path, &bad).unwrap();
        match load_mobilenet_v1(&path) {
            Ok(w) => {
                assert_eq!(w.alpha(), Some(0.25));
                loaded += 1;
            }
            Err(_) => errors += 1,
        }
    }
    eprintln!("corrupted: {errors} errors, {loaded} loaded (damage in weight values)");
    assert!(errors > 0, "no corruption was detected");
}

#[test]
fn derived_widths_build_and_give_finite_features() {
    let dir = common::backbones_dir();
    for alpha in [0.1f32, 0.2] {
        let mut log = Vec::new();
        let b = ensure_backbone(alpha, &dir, &mut |l| log.push(l.to_owned())).unwrap();
        assert!(!b.is_imagenet_pretrained());
        assert_eq!(
            b.source,
            BackboneSource::Derived {
                from_alpha: 0.25,
                file: "mobilenet_v1_0.25_224_imagenet.h5".into()
            }
        );
        assert_eq!(b.weights.alpha(), Some(alpha));
        assert!(log.iter().any(|l| l.contains("derived")), "{log:?}");
        let ex = FeatureExtractor::new(&b, ImageShape::rgb(96, 96), 0).unwrap();
        let expected_dim = (1024.0 * f64::from(alpha)) as usize;
        assert_eq!(ex.feature_dim(), expected_dim);
        let img = common::load_rgb("images/parrot.jpg", 96, 96);
        let f = ex.extract(&[&img, &img]).unwrap();
        assert_eq!(f.len(), 2 * expected_dim);
        assert!(f.iter().all(|v| v.is_finite()));
        assert!(f.iter().any(|&v| v > 0.0), "features all zero");
    }
}

#[test]
fn unsupported_alpha_is_an_error() {
    let dir = common::backbones_dir();
    let e = ensure_backbone(0.3, &dir, &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::UnsupportedAlpha(_)), "{e}");
}

#[test]
fn fused_extraction_matches_burn() {
    let dir = common::backbones_dir();
    let img = common::load_rgb("images/grace_hopper.bmp", 96, 96);
    let img2 = common::load_rgb("images/parrot.jpg", 96, 96);
    for alpha in [0.25f32, 0.1] {
        let b = ensure_backbone(alpha, &dir, &mut |_| {}).unwrap();
        for blocks in [0, 2] {
            let ex = FeatureExtractor::new(&b, ImageShape::rgb(96, 96), blocks).unwrap();
            let fast = ex.extract(&[&img, &img2]).unwrap();
            let reference = ex.extract_reference(&[&img, &img2]).unwrap();
            assert_eq!(fast.len(), reference.len());
            for (a, r) in fast.iter().zip(&reference) {
                assert!(
                    (a - r).abs() < 1e-4,
                    "alpha {alpha} blocks {blocks}: {a} vs {r}"
                );
            }
        }
    }
    // Odd sizes exercise the asymmetric SAME padding everywhere.
    let b = ensure_backbone(0.25, &dir, &mut |_| {}).unwrap();
    let odd = common::load_rgb("images/parrot.jpg", 67, 45);
    let ex = FeatureExtractor::new(&b, ImageShape::rgb(67, 45), 0).unwrap();
    let (f, r) = (
        ex.extract(&[&odd]).unwrap(),
        ex.extract_reference(&[&odd]).unwrap(),
    );
    for (a, r) in f.iter().zip(&r) {
        assert!((a - r).abs() < 1e-4, "{a} vs {r}");
    }
}

/// Serves `body` with `status` to each of `requests` connections on loopback;
/// returns the base URL.
fn serve(body: Vec<u8>, status: &'static str, requests: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
    });
    format!("http://{addr}")
}

#[test]
fn missing_backbone_is_downloaded_verified_and_kept() {
    let mut weights = load_mobilenet_v1(&common::shared(
        "backbones/mobilenet_v1_0.25_224_imagenet.h5",
    ))
    .unwrap();
    weights.classifier = None;
    let served = tempfile::tempdir().unwrap();
    let file = served.path().join("w.h5");
    save_mobilenet_v1(&weights, &file).unwrap();
    let url = serve(std::fs::read(&file).unwrap(), "200 OK", 1);

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("backbones");
    let mut log = Vec::new();
    let b = tinystudio_ml::backbones::ensure_backbone_from(0.1, &store, &url, &mut |l| {
        log.push(l.to_owned())
    })
    .unwrap();
    assert_eq!(b.weights.alpha(), Some(0.1));
    assert!(log.iter().any(|l| l.contains("downloading")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("sha256")), "{log:?}");
    let names: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["mobilenet_2_5_224_tf_no_top.h5".to_owned()]);
    // The second time the file is there: no server needed.
    let again = ensure_backbone(0.25, &store, &mut |_| {}).unwrap();
    assert_eq!(again.weights, weights);
}

#[test]
fn failed_downloads_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    for (body, status) in [
        (b"<html>not found</html>".to_vec(), "404 Not Found"),
        (b"this is not hdf5".to_vec(), "200 OK"),
    ] {
        let url = serve(body, status, 1);
        let e = tinystudio_ml::backbones::ensure_backbone_from(0.5, dir.path(), &url, &mut |_| {})
            .unwrap_err();
        eprintln!("{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{e}");
    }
}

/// The fuzz crate's seed for `keras_h5` (`crates/fuzz/seeds/`): a MobileNetV1
/// one channel wide, in Keras's layout, so the fuzzer starts from a file the
/// reader accepts whole (every layer group, dataset and shape check) yet that
/// weighs a few kilobytes. The seed must keep loading after a change to the
/// reader; `TINYSTUDIO_WRITE_FUZZ_SEEDS=1` rewrites it.
#[test]
fn fuzz_seed_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/keras_h5/mobilenet_v1_1_channel.h5");
    let conv = |shape: Vec<usize>| ConvBn {
        kernel: Array::new(shape.clone(), vec![0.5; shape.iter().product()]),
        bn: BatchNorm {
            gamma: vec![1.0],
            beta: vec![0.0],
            moving_mean: vec![0.0],
            moving_variance: vec![1.0],
        },
    };
    let tiny = MobileNetV1Weights {
        conv1: conv(vec![3, 3, 3, 1]),
        depthwise: vec![conv(vec![3, 3, 1, 1]); NUM_BLOCKS],
        pointwise: vec![conv(vec![1, 1, 1, 1]); NUM_BLOCKS],
        classifier: Some(Classifier {
            kernel: Array::new(vec![1, 1, 1, 2], vec![1.0, -1.0]),
            bias: vec![0.0, 0.1],
        }),
    };
    if std::env::var_os("TINYSTUDIO_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        save_mobilenet_v1(&tiny, &path).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "fuzz seed {} is missing ({e}); write it with TINYSTUDIO_WRITE_FUZZ_SEEDS=1",
            path.display()
        )
    });
    assert_eq!(load_mobilenet_v1_from_bytes(bytes, &path).unwrap(), tiny);
}
