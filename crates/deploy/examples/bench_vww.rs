//! Instructions per inference of `vww_96_int8.tflite` on the emulated
//! Cortex-M4 (QEMU mps2-an386, `-icount shift=0`), whole model and per
//! operator, plus the flash and RAM of every board's firmware.
//!
//! ```sh
//! cd /work/main && CARGO_TARGET_DIR=/work/target-fw \
//!     cargo run --release -p tinystudio-deploy --example bench_vww [-- <target-dir>]
//! ```
//!
//! The headline number comes from the plain build (the firmware reads the
//! counter just before and after `invoke`); the per-operator numbers from the
//! `profile` build, which reads it after every operator as well.

use std::path::PathBuf;
use std::time::Duration;

use tinystudio_deploy::{BOARDS, BuildOptions, Config, Emulator, board, build_with};
use tinystudio_engine::{Model, PixelScaling};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("TINYSTUDIO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    let target_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/tinystudio-firmware"));
    let tflite = shared.join("reference-models/vww_96_int8.tflite");
    let bytes = std::fs::read(&tflite).map_err(|e| format!("{}: {e}", tflite.display()))?;
    let mut model = Model::from_tflite(&bytes)?;
    model.metadata.pixel_scaling = Some(PixelScaling::ZeroToOne);
    model.metadata.labels = vec!["no_person".into(), "person".into()];
    let blob = model.to_blob()?;
    let config = Config::from_env();
    let mut quiet = |_: &str| {};
    let timeout = Duration::from_secs(120);
    let golden = shared.join("reference-models/golden/case00.input.i8");
    let pixels: Vec<u8> = std::fs::read(&golden)
        .map_err(|e| format!("{}: {e}", golden.display()))?
        .into_iter()
        .map(|b| b.wrapping_add(128))
        .collect();

    let mps2 = board("mps2-an386").ok_or("no mps2 board")?;
    let plain = build_with(
        &config,
        mps2,
        &blob,
        &target_dir,
        &BuildOptions::default(),
        &mut quiet,
    )?;
    let mut emu = Emulator::start(&plain.elf, timeout)?;
    let out = emu.classify(&pixels, timeout)?;
    let instructions = out.instructions().ok_or("no instruction count")?;
    let macs: u64 = model.macs()?.iter().map(|m| m.2).sum();
    println!(
        "vww_96_int8: {instructions} instructions per inference, {macs} MACs, {:.3} instructions/MAC, \
         DSP (pixel mapping) {} instructions, stack {} B, raw {:?}",
        instructions as f64 / macs as f64,
        out.cost.map_or(0, |c| c.dsp),
        out.stack_used.unwrap_or(0),
        out.raw
    );
    drop(emu);

    let profiled = build_with(
        &config,
        mps2,
        &blob,
        &target_dir,
        &BuildOptions {
            profile: true,
            ..BuildOptions::default()
        },
        &mut quiet,
    )?;
    let mut emu = Emulator::start(&profiled.elf, timeout)?;
    let out = emu.classify(&pixels, timeout)?;
    println!(
        "\n op operator           kernel                                 MACs   instructions  instr/MAC"
    );
    for op in &out.ops {
        let per_mac = if op.macs > 0 {
            format!("{:.2}", op.cost as f64 / op.macs as f64)
        } else {
            "-".into()
        };
        println!(
            "{:3} {:18} {:32} {:>10} {:>14} {:>10}",
            op.index, op.name, op.kernel, op.macs, op.cost, per_mac
        );
    }
    let total: u64 = out.ops.iter().map(|o| o.cost).sum();
    println!("sum of operators (profile build): {total}");
    drop(emu);

    println!();
    for b in BOARDS {
        let built = build_with(
            &config,
            b,
            &blob,
            &target_dir,
            &BuildOptions::default(),
            &mut quiet,
        )?;
        println!("{}", built.size);
    }
    Ok(())
}
