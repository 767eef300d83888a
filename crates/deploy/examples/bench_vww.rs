//! Instructions per inference of `vww_96_int8.tflite` on the emulated
//! Cortex-M4 (QEMU mps2-an386, `-icount shift=0`), whole model and per
//! operator, plus the flash and RAM of every board's firmware.
//!
//! ```sh
//! cd /work/main && CARGO_TARGET_DIR=/work/target-fw \
//!     cargo run --release -p tinystudio-deploy --example bench_vww [-- [--core m0plus] <target-dir> [MODEL.tsmb|MODEL.tflite ...]]
//! ```
//!
//! `--core m0plus` measures the Cortex-M0+ (Pico) build instead: the
//! firmware built for `thumbv6m-none-eabi` on the same emulated board
//! ([`MPS2_AN386_ARMV6M`]; the M4 runs the Armv6-M subset), so the counts
//! are the Pico build's instructions, not M0+ cycles.
//!
//! Models after the target dir (a studio-trained `model.tsmb`, say) are
//! measured the same way on a fixed pseudo-random input (and the boards'
//! size reports, which are for vww, are left out).
//!
//! The headline number comes from the plain build (the firmware reads the
//! counter just before and after `invoke`); the per-operator numbers from the
//! `profile` build, which reads it after every operator as well.

use std::path::PathBuf;
use std::time::Duration;

use tinystudio_deploy::{
    BOARDS, BuildOptions, Config, Cpu, Emulator, MPS2_AN386_ARMV6M, board, build_with,
};
use tinystudio_engine::kernels::{cortex_m0, cortex_m4};
use tinystudio_engine::{Model, ModelView, PixelScaling};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("TINYSTUDIO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    // `--core m0plus` anywhere selects the Armv6-M build; the rest are positional.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let m0plus = match args.iter().position(|a| a == "--core") {
        Some(i) => {
            let core = args.get(i + 1).cloned().unwrap_or_default();
            args.drain(i..(i + 2).min(args.len()));
            match core.as_str() {
                "m4" => false,
                "m0plus" => true,
                other => return Err(format!("--core takes m4 or m0plus, not {other:?}").into()),
            }
        }
        None => false,
    };
    let target_dir = args
        .first()
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
    // Longer under a tracing QEMU (`m4cycles`): BENCH_TIMEOUT_S.
    let timeout = Duration::from_secs(
        std::env::var("BENCH_TIMEOUT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let golden = shared.join("reference-models/golden/case00.input.i8");
    let pixels: Vec<u8> = std::fs::read(&golden)
        .map_err(|e| format!("{}: {e}", golden.display()))?
        .into_iter()
        .map(|b| b.wrapping_add(128))
        .collect();

    let emulated = if m0plus {
        &MPS2_AN386_ARMV6M
    } else {
        board("mps2-an386").ok_or("no mps2 board")?
    };
    let bench = Bench {
        config: &config,
        board: emulated,
        target_dir: &target_dir,
        timeout,
    };
    bench.run("vww_96_int8", &blob, &pixels)?;
    // Further models (a studio-trained `model.tsmb` or a `.tflite`), on noise.
    for path in args.iter().skip(1).map(PathBuf::from) {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let blob = if path.extension().is_some_and(|e| e == "tflite") {
            let mut model = Model::from_tflite(&bytes)?;
            // The firmware maps pixels to the input; any mapping will do here.
            if model.metadata.pixel_scaling.is_none() {
                model.metadata.pixel_scaling = Some(PixelScaling::ZeroToOne);
            }
            if model.metadata.labels.is_empty() {
                let classes = model.output_tensor()?.shape.iter().product::<usize>();
                model.metadata.labels = (0..classes).map(|i| format!("class {i}")).collect();
            }
            model.to_blob()?
        } else {
            bytes
        };
        let view = ModelView::parse(&blob)?;
        let len = view.input()?.shape().iter().product::<usize>();
        let pixels: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        println!();
        bench.run(&path.display().to_string(), &blob, &pixels)?;
    }

    // The boards' size reports are for vww alone.
    if args.len() > 1 || m0plus {
        return Ok(());
    }
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

struct Bench<'a> {
    config: &'a Config,
    board: &'static tinystudio_deploy::Board,
    target_dir: &'a std::path::Path,
    timeout: Duration,
}

impl Bench<'_> {
    /// The plain build's count, then the profile build's per-operator
    /// table with the share of MACs in the board's micro-kernels (Cortex-M4
    /// or Cortex-M0+).
    fn run(
        &self,
        name: &str,
        blob: &[u8],
        pixels: &[u8],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut quiet = |_: &str| {};
        let view = ModelView::parse(blob)?;
        let ops = (0..view.op_count())
            .map(|i| view.op(i))
            .collect::<Result<Vec<_>, _>>()?;
        let macs: u64 = ops.iter().map(|o| o.macs()).sum();
        let fast_path_macs = if self.board.cpu == Cpu::CortexM0Plus {
            cortex_m0::fast_path_macs
        } else {
            cortex_m4::fast_path_macs
        };
        let fast: u64 = ops.iter().map(fast_path_macs).sum();
        let plain = build_with(
            self.config,
            self.board,
            blob,
            self.target_dir,
            &BuildOptions::default(),
            &mut quiet,
        )?;
        let mut emu = Emulator::start(&plain.elf, self.timeout)?;
        let out = emu.classify(pixels, self.timeout)?;
        let instructions = out.instructions().ok_or("no instruction count")?;
        println!(
            "{name}: {instructions} instructions per inference, {macs} MACs, {:.3} instructions/MAC, \
             {:.1} % of the MACs on the fast path, DSP (pixel mapping) {} instructions, stack {} B, raw {:?}",
            instructions as f64 / macs as f64,
            100.0 * fast as f64 / macs.max(1) as f64,
            out.cost.map_or(0, |c| c.dsp),
            out.stack_used.unwrap_or(0),
            out.raw
        );
        drop(emu);

        let profiled = build_with(
            self.config,
            self.board,
            blob,
            self.target_dir,
            &BuildOptions {
                profile: true,
                ..BuildOptions::default()
            },
            &mut quiet,
        )?;
        let mut emu = Emulator::start(&profiled.elf, self.timeout)?;
        let out = emu.classify(pixels, self.timeout)?;
        println!(
            "\n op operator           kernel                                 MACs   fast MACs   instructions  instr/MAC"
        );
        for op in &out.ops {
            let per_mac = if op.macs > 0 {
                format!("{:.2}", op.cost as f64 / op.macs as f64)
            } else {
                "-".into()
            };
            let fast = ops.get(op.index).map_or(0, fast_path_macs);
            println!(
                "{:3} {:18} {:32} {:>10} {:>11} {:>14} {:>10}",
                op.index, op.name, op.kernel, op.macs, fast, op.cost, per_mac
            );
        }
        let total: u64 = out.ops.iter().map(|o| o.cost).sum();
        println!("sum of operators (profile build): {total}");
        Ok(())
    }
}
