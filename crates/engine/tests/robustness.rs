//! Hostile input: truncations and bit flips of real files at every offset
//! must give errors, never panics or out-of-bounds reads. (The libFuzzer
//! targets in `crates/fuzz` explore further; these loops run in every `cargo test`.)

mod common;

use common::*;
use tinystudio_engine::blob::{self, ModelView};
use tinystudio_engine::{Interpreter, Model};

/// Parses a blob and, if it is accepted, runs it: both must return, not panic.
fn exercise_blob(bytes: &[u8], verified: bool) {
    let parsed = if verified {
        ModelView::parse_verified(bytes)
    } else {
        ModelView::parse(bytes)
    };
    if let Ok(view) = parsed {
        // A hostile header may ask for a huge arena; the caller would refuse it.
        if view.arena_size() <= 1 << 20 {
            let mut arena = vec![0u8; view.arena_size()];
            if let Ok(mut it) = Interpreter::new(view, &mut arena) {
                let _ = it.invoke();
                let _ = it.output();
            }
        }
        let _ = view.label(0);
        let _ = view.input_mapper();
    }
}

#[test]
fn small_tflite_every_truncation_and_bit_flip() {
    let tflite = every_op_model(3).to_tflite().unwrap();
    assert!(Model::from_tflite(&tflite).is_ok());
    for len in 0..tflite.len() {
        assert!(Model::from_tflite(&tflite[..len]).is_err() || len > tflite.len() - 64);
    }
    let mut m = tflite.clone();
    for i in 0..m.len() {
        for bit in 0..8 {
            m[i] ^= 1 << bit;
            if let Ok(model) = Model::from_tflite(&m) {
                // Whatever imports must either be rejected by the blob writer or run.
                if let Ok(blob) = model.to_blob() {
                    exercise_blob(&blob, false);
                }
            }
            m[i] ^= 1 << bit;
        }
    }
}

#[test]
fn small_blob_every_truncation_and_bit_flip() {
    let mut b = every_op_model(3).to_blob().unwrap();
    b.extend_from_slice(&[0; 3]); // trailing bytes past total_len are ignored
    for len in 0..b.len() - 3 {
        assert!(
            ModelView::parse(&b[..len]).is_err(),
            "truncated at {len} parsed"
        );
    }
    for i in 0..b.len() - 3 {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            // Without a fixed checksum every flip must be caught...
            assert!(
                ModelView::parse(&b).is_err(),
                "flip at {i}.{bit} undetected"
            );
            // ...and with the checksum recomputed the validator must hold on its own.
            let mut fixed = b.clone();
            if blob::write_checksum(&mut fixed).is_ok() {
                exercise_blob(&fixed, false);
            }
            exercise_blob(&b, true);
            b[i] ^= 1 << bit;
        }
    }
}

/// Byte ranges of the large constant buffers, where flips change values but not structure.
fn data_regions(file: &[u8]) -> Vec<(usize, usize)> {
    use tinystudio_engine::tflite::flatbuf::Table;
    let root = Table::root(file).unwrap();
    let buffers = root.vector(4, 4).unwrap();
    (0..buffers.len())
        .filter_map(|i| {
            let data = buffers.table(i).unwrap().vector(0, 1).unwrap().bytes();
            let start = data.as_ptr() as usize - file.as_ptr() as usize;
            (data.len() >= 256).then_some((start, start + data.len()))
        })
        .collect()
}

#[test]
fn real_tflite_files_truncated_and_flipped() {
    for name in [
        "reference-models/vww_96_int8.tflite",
        "reference-models/person_detect.tflite",
    ] {
        let file = read_shared(name);
        assert!(Model::from_tflite(&file).is_ok());
        let data = data_regions(&file);
        let in_data = |i: usize| data.iter().any(|&(s, e)| s + 64 <= i && i + 64 < e);
        // Every offset outside the weight data, every 251st inside it.
        let offsets: Vec<usize> = (0..file.len())
            .filter(|&i| !in_data(i) || i % 251 == 0)
            .collect();
        assert!(
            offsets.len() < file.len() / 2,
            "{name}: weights not located ({} of {} offsets, {} regions)",
            offsets.len(),
            file.len(),
            data.len()
        );
        // Files may end in padding, so only nearly every truncation must fail.
        let accepted = offsets
            .iter()
            .filter(|&&len| Model::from_tflite(&file[..len]).is_ok())
            .count();
        assert!(accepted < 64, "{name}: {accepted} truncations imported");
        // Bit flips at every 7th of those offsets (each import copies the
        // weights; the small model above gets every bit of every byte).
        let mut m = file.clone();
        for (k, &i) in offsets.iter().enumerate().filter(|(k, _)| k % 7 == 0) {
            let bit = k % 8;
            m[i] ^= 1 << bit;
            if let Ok(model) = Model::from_tflite(&m)
                && k % 448 == 0
                && let Ok(blob) = model.to_blob()
            {
                exercise_blob(&blob, true);
            }
            m[i] ^= 1 << bit;
        }
    }
}

#[test]
fn real_blob_truncated_and_flipped() {
    let model = Model::from_tflite(&read_shared("reference-models/vww_96_int8.tflite")).unwrap();
    let mut b = model.to_blob().unwrap();
    let data_off = blob::Header::parse(&b).unwrap().data_off;
    for len in 0..b.len() {
        assert!(ModelView::parse(&b[..len]).is_err());
    }
    // Every bit of the header, tensor and operator tables, with the checksum
    // recomputed so that the structural validation is what gets tested.
    for i in 0..data_off {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            if (i * 8 + bit) % 16 == 0 {
                exercise_blob(&b, true);
            } else {
                let _ = ModelView::parse_verified(&b);
            }
            b[i] ^= 1 << bit;
        }
    }
    // Data flips are caught by the checksum.
    for i in (data_off..b.len()).step_by(4099) {
        b[i] ^= 0x10;
        assert!(matches!(
            ModelView::parse(&b),
            Err(tinystudio_engine::Error::ChecksumMismatch { .. })
        ));
        b[i] ^= 0x10;
    }
}

/// The fuzz crate's seeds (`crates/fuzz/seeds/`) are models these tests
/// build. A seed the parser refuses at its first bytes teaches the fuzzer
/// nothing, so this checks that every committed seed still parses and runs
/// after a format change; `TINYSTUDIO_WRITE_FUZZ_SEEDS=1` rewrites them.
#[test]
fn fuzz_seeds_parse_and_run() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let write = std::env::var_os("TINYSTUDIO_WRITE_FUZZ_SEEDS").is_some();
    for seed in [1u64, 2] {
        let model = every_op_model(seed);
        for (target, file, bytes) in [
            ("tflite_import", "tflite", model.to_tflite().unwrap()),
            ("blob_parse", "tsmb", model.to_blob().unwrap()),
        ] {
            let path = seeds.join(target).join(format!("every_op_{seed}.{file}"));
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "fuzz seed {} is missing ({e}); write it with TINYSTUDIO_WRITE_FUZZ_SEEDS=1",
                    path.display()
                )
            });
            let blob = if target == "tflite_import" {
                Model::from_tflite(&committed).unwrap().to_blob().unwrap()
            } else {
                committed
            };
            let mut runner = tinystudio_engine::HostRunner::new(blob).unwrap();
            let n = runner.view().unwrap().input().unwrap().len;
            assert!(!runner.run(&vec![0; n]).unwrap().is_empty());
        }
    }
}
