//! The real boards' firmware builds with the reference model and fits;
//! models that cannot fit are refused before building, with a suggestion.

mod common;

use common::{vww_blob, vww_build};
use tinystudio_deploy::artifacts::ElfImage;
use tinystudio_deploy::{ArtifactKind, BOARDS, Error, board, check_fits};
use tinystudio_engine::kernels::set::{Core, Scratch, needed};
use tinystudio_engine::{Model, ModelView};

#[test]
fn nano33ble_and_pico_build_with_vww_and_fit() {
    for name in ["nano33ble", "nano33ble-bossac", "pico"] {
        let built = vww_build(name, false);
        let b = built.board;
        eprintln!("{}", built.size);
        assert!(built.size.fits(), "{name}: {}", built.size);
        assert!(built.size.flash_used <= b.flash_bytes);
        assert_eq!(built.size.model_bytes, vww_blob().len() as u64);
        // The blob's plan, the interpreter's (a byte per operator, 31
        // operators), and on the Cortex-M4 boards room for the kernels'
        // scratch, as the engine's kernel set computes it (its bounds:
        // tests/kernel_sets.rs).
        let view = ModelView::parse(vww_blob()).unwrap();
        assert_eq!(view.arena_size(), 37_632 + 32);
        let extra = if b.cpu == tinystudio_deploy::Cpu::CortexM4F {
            needed(&view, Core::CortexM4, Scratch::Full)
                .unwrap()
                .arena_extra
        } else {
            0
        };
        assert_eq!(
            built.size.arena_bytes,
            (view.arena_size() + extra) as u64,
            "{name}"
        );
        for &kind in b.artifacts {
            let path = built
                .artifact(kind)
                .unwrap_or_else(|| panic!("{name}: no {kind:?}"));
            assert!(path.metadata().unwrap().len() > 0, "{}", path.display());
        }
        let image = ElfImage::read(&built.elf).unwrap();
        let (start, end) = image.span().unwrap();
        assert_eq!(
            start, b.flash_origin,
            "{name}: the image starts at the board's flash origin"
        );
        assert!(end - start <= b.flash_bytes);
        let bin = std::fs::read(built.artifact(ArtifactKind::Bin).unwrap()).unwrap();
        assert_eq!(bin.len() as u64, end - start);
        // Vector table: initial stack pointer at the top of RAM, reset handler in flash (Thumb bit set).
        let vectors = if name == "pico" {
            &bin[256..]
        } else {
            &bin[..]
        };
        let word = |i: usize| u32::from_le_bytes(vectors[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(
            u64::from(word(0)),
            0x2000_0000 + b.ram_bytes,
            "{name}: initial SP"
        );
        let reset = u64::from(word(1));
        assert!(
            reset & 1 == 1 && (start..end).contains(&(reset & !1)),
            "{name}: reset {reset:#x}"
        );
        if name == "pico" {
            // boot2 ends with its CRC-32 (the boot ROM checks it).
            let crc = tinystudio_deploy::artifacts::boot2_crc(&bin[..252]);
            assert_eq!(crc.to_le_bytes(), bin[252..256], "boot2 checksum");
            let uf2 = std::fs::read(built.artifact(ArtifactKind::Uf2).unwrap()).unwrap();
            assert_eq!(uf2.len() % 512, 0);
            assert_eq!(uf2.len() / 512, bin.len().div_ceil(256));
        }
        if name == "nano33ble" {
            let hex = std::fs::read_to_string(built.artifact(ArtifactKind::Hex).unwrap()).unwrap();
            assert!(hex.ends_with(":00000001FF\n"));
        }
    }
}

#[test]
fn the_bin_matches_objcopy_when_binutils_are_installed() {
    let built = vww_build("nano33ble", false);
    let out = std::env::temp_dir().join(format!("tinystudio-objcopy-{}.bin", std::process::id()));
    let status = std::process::Command::new("arm-none-eabi-objcopy")
        .args(["-O", "binary"])
        .arg(&built.elf)
        .arg(&out)
        .status();
    let Ok(status) = status else {
        eprintln!("arm-none-eabi-objcopy not installed; skipped");
        return;
    };
    assert!(status.success());
    let theirs = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let ours = std::fs::read(built.artifact(ArtifactKind::Bin).unwrap()).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn check_fits_accepts_vww_everywhere() {
    for b in BOARDS {
        let e = check_fits(b, vww_blob()).unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert!(e.fits());
        assert_eq!(e.basis, tinystudio_domain::footprint::Basis::Estimated);
        // The pico is a Cortex-M0+: no latency is claimed for it.
        assert_eq!(
            e.latency.is_some(),
            b.cpu == tinystudio_deploy::Cpu::CortexM4F
        );
    }
}

/// A blob whose planned arena is larger than the board's RAM.
fn with_arena(blob: &[u8], arena: u32) -> Vec<u8> {
    let mut b = blob.to_vec();
    let off = tinystudio_engine::blob::ARENA_SIZE_OFFSET;
    b[off..off + 4].copy_from_slice(&arena.to_le_bytes());
    tinystudio_engine::blob::write_checksum(&mut b).unwrap();
    b
}

#[test]
fn a_model_needing_too_much_ram_is_refused_with_a_suggestion() {
    let nano = board("nano33ble").unwrap();
    let big = with_arena(vww_blob(), 300 * 1024);
    let Err(Error::DoesNotFit(d)) = check_fits(nano, &big) else {
        panic!("a 300 KB arena fits in 256 KB?");
    };
    let msg = d.to_string();
    assert!(msg.contains("RAM"), "{msg}");
    assert!(
        msg.contains("smaller input") && msg.contains("grayscale"),
        "{msg}"
    );
    assert!(d.footprint.ram_bytes > d.footprint.ram_limit);
    // And `build` refuses before running cargo.
    let target = std::env::temp_dir().join("tinystudio-never-built");
    let err = tinystudio_deploy::build(nano, &big, &target, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::DoesNotFit(_)), "{err}");
}

#[test]
fn a_model_too_large_for_flash_is_refused_with_a_suggestion() {
    // A fully connected layer with 1.5 M int8 weights.
    use tinystudio_engine::float_graph::{FloatGraph, Layer};
    use tinystudio_engine::{Calibration, PixelScaling, quantize};
    let (inputs, units) = (1536, 1000);
    let graph = FloatGraph {
        input_shape: [1, 1, inputs],
        pixel_scaling: PixelScaling::ZeroToOne,
        labels: vec![],
        layers: vec![
            Layer::FullyConnected {
                weights: (0..inputs * units)
                    .map(|i| ((i % 7) as f32 - 3.0) * 0.01)
                    .collect(),
                shape: [units, inputs],
                bias: vec![0.0; units],
                activation: tinystudio_engine::ops::Activation::None,
            },
            Layer::Softmax,
        ],
    };
    let sample: Vec<f32> = (0..inputs).map(|i| (i % 5) as f32 * 0.2).collect();
    let model: Model = quantize(
        &graph,
        &Calibration::from_samples(&graph, &[sample]).unwrap(),
    )
    .unwrap();
    let blob = model.to_blob().unwrap();
    let nano = board("nano33ble").unwrap();
    let Err(Error::DoesNotFit(d)) = check_fits(nano, &blob) else {
        panic!("1.5 MB of weights fit in 1 MB of flash?");
    };
    assert!(d.to_string().contains("alpha"), "{d}");
    // The Pico has 2 MB.
    check_fits(board("pico").unwrap(), &blob).unwrap();
}
