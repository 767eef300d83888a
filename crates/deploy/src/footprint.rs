//! What a model needs on a board, the one source of the flash, RAM and
//! latency figures the studio shows: [`check_fits`] estimates them from the
//! model before building, [`measured`] reads them off a build and a run on
//! the emulated board. Both give a [`Footprint`] with the same definitions
//! (flash: model and code; RAM: statics and the stack reserve; latency:
//! instructions at the board's clock), so they can be compared.

use std::fmt;

use tinystudio_domain::footprint::{Basis, FirmwareSize, Footprint, Latency, Measurement};
use tinystudio_engine::ModelView;
use tinystudio_engine::blob::PreparedOp;
use tinystudio_engine::kernels::{cortex_m4, pointwise};

use crate::boards::{Board, Cpu};

/// Stack kept free beyond everything static. On the Cortex-M4 boards a
/// chain of layers (MobileNet) keeps the kernels' scratch in the arena: VWW
/// needs 2.1 KB of stack at its deepest on the emulated M4. Other graphs
/// (ADD) keep it on the stack (a block of widened weights of up to 16 KB,
/// a widened input band of up to 8 KB, never both at once: 23 KB deep);
/// the portable kernels of the M0+ need about 4 KB.
pub const STACK_RESERVE: u64 = 32 * 1024;

/// Flash for everything but the model (engine, kernels, start-up, strings,
/// and on the real boards USB serial and the camera port), an upper bound
/// of what builds measure. A build carries only the kernels its model
/// selects: with VWW `code_bytes` is 51.5 KB on the emulated M4, 66.5 KB on
/// the Nano 33 BLE, 61.7 KB on the Pico (BENCHMARKS.md, "Flash and RAM on
/// the boards"). With every kernel in the image the Nano 33 BLE measured
/// 76.5 KB at this profile, before 15.3 KB of newer kernels and operators
/// (109.0 -> 124.3 KB measured with every kernel at the old profile):
/// about 92 KB for a model that needs them all, rounded up.
pub const CODE_ESTIMATE: u64 = 96 * 1024;

/// RAM for everything but the arena, the camera loop and the stack (DMA
/// buffers, counters, alignment padding, and the real boards' USB serial
/// port: its device state and buffers; 2,020 B in all measured on the Nano
/// 33 BLE and 2,108 B on the Pico, `arm-none-eabi-size` less the arena), an
/// upper bound.
pub const STATIC_RAM_ESTIMATE: u64 = 3 * 1024;

/// RAM of the firmware's camera loop for a model whose input is `[h, w, c]`
/// (`crates/firmware/build.rs`): one QQVGA RGB565 frame and the
/// preprocessing's scratch for it, for the resize mode that needs the most.
pub fn camera_ram(h: usize, w: usize, c: usize) -> u64 {
    use tinystudio_engine::preprocess::{ColorDepth, InputFormat, ResizeMode, Scratch};
    let frame = tinystudio_device::camera::LOOP_FRAME;
    let (fw, fh) = (frame.width, frame.height);
    let rows = [
        ResizeMode::Squash,
        ResizeMode::FitShortest,
        ResizeMode::FitLongest,
    ]
    .into_iter()
    .map(|resize_mode| {
        let format = InputFormat {
            width: w,
            height: h,
            resize_mode,
            color_depth: if c == 1 {
                ColorDepth::Grayscale
            } else {
                ColorDepth::Rgb
            },
        };
        Scratch::rows_to_keep(fw, fh, &format)
    })
    .max()
    .unwrap_or(0);
    (frame.len() + Scratch::bytes(fw, w, rows)) as u64
}

/// Instructions per multiply-accumulate of the engine's kernels on the
/// Cortex-M4, by operator and kernel, measured on `vww_96_int8.tflite`
/// under QEMU (`cargo run --release -p tinystudio-deploy --example
/// bench_vww`; the per-operator table is in `crates/deploy/README.md`,
/// "Performance"). Layers the Cortex-M4 kernels take run at the first
/// rates, the others at the portable kernels' rates.
mod m4 {
    /// First convolution (3x3, stride 2, 3 input channels).
    pub const CONV: (f64, f64) = (1.597, 13.33);
    /// 1x1 convolutions.
    pub const POINTWISE: (f64, f64) = (0.905, 7.09);
    /// 3x3 depthwise convolutions.
    pub const DEPTHWISE: (f64, f64) = (2.972, 18.19);
    /// Fully connected layers, whichever kernel takes them: the portable
    /// rate; the Cortex-M4 GEMM runs dense heads at 4.7 (256 -> 16) to 10
    /// (256 -> 2) instructions per MAC, on too few MACs to matter.
    pub const FULLY_CONNECTED: f64 = 7.09;
    /// Everything without MACs (average pool, reshape, softmax) and the
    /// interpreter's dispatch: measured as one sum (VWW, 2026-12-08: the
    /// instructions less the rates above times the MACs; the rates are its
    /// operator kinds' instructions per MAC, their per-call work included).
    pub const OTHER: u64 = 19_200;
}

/// Estimated Cortex-M4 instructions of one inference of `view`.
pub fn estimate_instructions(view: &ModelView<'_>) -> tinystudio_engine::Result<u64> {
    let mut total = m4::OTHER as f64;
    for i in 0..view.op_count() {
        let op = view.op(i)?;
        let macs = op.macs() as f64;
        let pick =
            |(fast, portable): (f64, f64), is_fast: bool| if is_fast { fast } else { portable };
        total += macs
            * match &op {
                PreparedOp::Conv { params, .. } if pointwise::supports(params) => {
                    pick(m4::POINTWISE, cortex_m4::conv_supports(params))
                }
                PreparedOp::Conv { params, .. } => pick(m4::CONV, cortex_m4::conv_supports(params)),
                PreparedOp::Depthwise { params, .. } => {
                    pick(m4::DEPTHWISE, cortex_m4::depthwise_supports(params))
                }
                _ => m4::FULLY_CONNECTED,
            };
    }
    Ok(total.round() as u64)
}

/// Cortex-M4 core cycles per instruction of the engine's kernels: the
/// Technical Reference Manual's instruction timings applied to a QEMU trace
/// of one inference (`../shared/tools/m4cycles`: multi-register loads and
/// stores, taken branches, multiplies), divided by the instructions counted.
/// 14.19 M cycles / 8.96 M instructions on VWW (2026-12-08; 14.71 M /
/// 9.39 M on a studio-trained default model at the last trace of it,
/// 2026-12-07; BENCHMARKS.md, "int8 inference on the emulated
/// Cortex-M4"). Flash wait states are not in the model.
pub const CYCLES_PER_INSTRUCTION: f64 = 1.58;

/// One inference of `instructions` on `board`: the estimated cycles
/// ([`CYCLES_PER_INSTRUCTION`]) at the board's clock. Only the Cortex-M4
/// boards: the emulator runs the M4's kernels, and a Cortex-M0+ runs others
/// with another instruction set (`None`).
pub fn latency(board: &Board, instructions: u64, basis: Basis) -> Option<Latency> {
    if board.cpu != Cpu::CortexM4F {
        return None;
    }
    let mhz = board.clock_hz / 1_000_000;
    let cycles = (instructions as f64 * CYCLES_PER_INSTRUCTION).round() as u64;
    let counted = match basis {
        Basis::Estimated => {
            "estimated from the model's layers and the kernels' measured \
                             instructions per MAC"
        }
        Basis::Measured => "counted on the emulated Cortex-M4",
    };
    let how = format!(
        "about {:.1} M cycles (an estimate: {:.2} M instructions, {counted}, at \
         {CYCLES_PER_INSTRUCTION} cycles each, the ratio the Cortex-M4 Technical Reference \
         Manual's timing model gives these kernels on a traced inference; flash wait states \
         not included) at {mhz} MHz",
        cycles as f64 / 1e6,
        instructions as f64 / 1e6
    );
    Some(Latency {
        ms: cycles as f64 * 1000.0 / board.clock_hz as f64,
        instructions,
        cycles,
        basis,
        how,
    })
}

/// Why a model cannot go on a board, and what would make it fit.
#[derive(Debug, Clone, PartialEq)]
pub struct DoesNotFit {
    pub footprint: Footprint,
    /// The model's input tensor `[h, w, c]`.
    pub input: [usize; 3],
    pub suggestion: String,
}

impl fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.footprint;
        write!(
            f,
            "the model does not fit on {}: flash {} of {} (model {}, code {}), RAM {} of {} \
             (tensor arena {}, stack {}). {}",
            e.board,
            kb(e.flash_bytes),
            kb(e.flash_limit),
            kb(e.model_bytes),
            kb(e.flash_bytes - e.model_bytes),
            kb(e.ram_bytes),
            kb(e.ram_limit),
            kb(e.arena_bytes),
            kb(e.stack_reserve),
            self.suggestion
        )
    }
}

impl std::error::Error for DoesNotFit {}

pub(crate) fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Estimates a model blob on a board before building (flash, RAM and
/// latency), whether it fits or not.
pub fn estimate(board: &Board, blob: &[u8]) -> Result<Footprint, crate::error::Error> {
    let view = ModelView::parse(blob)?;
    let s = view.input()?.shape4();
    let arena = (view.arena_size() + kernel_scratch(board, &view)?) as u64;
    let camera = camera_ram(s.h, s.w, s.c);
    let model = blob.len() as u64;
    Ok(Footprint {
        board: board.name.to_owned(),
        basis: Basis::Estimated,
        flash_bytes: model + CODE_ESTIMATE,
        flash_limit: board.flash_bytes,
        model_bytes: model,
        ram_bytes: arena + camera + STATIC_RAM_ESTIMATE + STACK_RESERVE,
        ram_limit: board.ram_bytes,
        arena_bytes: arena,
        stack_reserve: STACK_RESERVE,
        stack_used: None,
        latency: latency(board, estimate_instructions(&view)?, Basis::Estimated),
    })
}

/// Arena the firmware adds to the blob's plan on `board` so its kernels
/// find their scratch there (`crates/firmware/build.rs`, the default
/// `TINYSTUDIO_KERNEL_SCRATCH=full`): on the Cortex-M4 boards.
fn kernel_scratch(board: &Board, view: &ModelView<'_>) -> Result<usize, crate::error::Error> {
    use tinystudio_engine::kernels::set::{Core, Scratch, needed};
    let core = match board.cpu {
        Cpu::CortexM4F => Core::CortexM4,
        Cpu::CortexM0Plus => Core::CortexM0,
    };
    Ok(needed(view, core, Scratch::Full)?.arena_extra)
}

/// [`estimate`], refusing a model that cannot fit with a concrete suggestion.
pub fn check_fits(board: &Board, blob: &[u8]) -> Result<Footprint, crate::error::Error> {
    let footprint = estimate(board, blob)?;
    let s = ModelView::parse(blob)?.input()?.shape4();
    if footprint.fits() {
        return Ok(footprint);
    }
    let input = [s.h, s.w, s.c];
    let suggestion = suggest(&footprint, input);
    Err(DoesNotFit {
        footprint,
        input,
        suggestion,
    }
    .into())
}

/// The footprint of a build, from its size report and, when the model ran
/// on the emulated board, that run (whose instructions hold for every
/// Cortex-M4 board: they run the same kernels).
pub fn measured(board: &Board, size: &FirmwareSize, run: Option<&Measurement>) -> Footprint {
    Footprint {
        board: board.name.to_owned(),
        basis: Basis::Measured,
        flash_bytes: size.flash_used,
        flash_limit: size.flash_limit,
        model_bytes: size.model_bytes,
        ram_bytes: size.ram_static + STACK_RESERVE,
        ram_limit: size.ram_limit,
        arena_bytes: size.arena_bytes,
        stack_reserve: STACK_RESERVE,
        stack_used: run.and_then(|r| r.stack_used),
        latency: run.and_then(|r| latency(board, r.instructions, Basis::Measured)),
    }
}

/// What to change in the impulse: MobileNet weights grow with the square of
/// the width multiplier (alpha) and do not depend on the input size; the
/// arena (activations) grows with the input area, with alpha, and with the
/// input channels for the first layers.
fn suggest(e: &Footprint, [h, w, c]: [usize; 3]) -> String {
    let mut out = Vec::new();
    if e.flash_bytes > e.flash_limit {
        let code = e.flash_bytes - e.model_bytes;
        let room = e.flash_limit.saturating_sub(code) as f64;
        let shrink = e.model_bytes as f64 / room.max(1.0);
        out.push(format!(
            "The weights must shrink {shrink:.2}x: choose a smaller width multiplier (alpha; \
             weights grow with alpha squared, so alpha x {:.2} or less), or fewer neurons in \
             the classifier head.",
            1.0 / shrink.sqrt()
        ));
    }
    if e.ram_bytes > e.ram_limit {
        let others = e.ram_bytes - e.arena_bytes;
        let room = e.ram_limit.saturating_sub(others) as f64;
        let shrink = e.arena_bytes as f64 / room.max(1.0);
        // Round the side down to a multiple of 8, MobileNet-friendly.
        let side = |x: usize| ((x as f64 / shrink.sqrt()) as usize / 8 * 8).max(8);
        let mut s = format!(
            "The activations must shrink {shrink:.2}x: use a smaller input ({}x{} instead of \
             {h}x{w}; the arena grows with the input area) or a smaller alpha",
            side(h),
            side(w)
        );
        if c == 3 {
            s.push_str(", or grayscale input (the first layers then hold a third of the data)");
        }
        s.push('.');
        out.push(s);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::board;

    #[test]
    fn latency_is_the_estimated_cycles_at_the_board_clock() {
        let nano = board("nano33ble").unwrap();
        let l = latency(nano, 64_000_000, Basis::Measured).unwrap();
        assert_eq!(l.cycles, 101_120_000);
        assert!((l.ms - 1580.0).abs() < 1e-9, "{}", l.ms);
        assert!(l.how.contains("Technical Reference Manual"), "{}", l.how);
        assert!(latency(board("pico").unwrap(), 1, Basis::Measured).is_none());
    }

    #[test]
    fn measured_ram_counts_the_stack_reserve_as_the_estimate_does() {
        let nano = board("nano33ble").unwrap();
        let size = FirmwareSize {
            flash_used: 300_000,
            flash_limit: nano.flash_bytes,
            model_bytes: 240_000,
            code_bytes: 60_000,
            ram_static: 40_000,
            ram_limit: nano.ram_bytes,
            arena_bytes: 37_632,
            stack_available: nano.ram_bytes - 40_000,
            fits: true,
        };
        let run = Measurement {
            instructions: 6_400_000,
            stack_used: Some(20_000),
        };
        let f = measured(nano, &size, Some(&run));
        assert_eq!(f.ram_bytes, 40_000 + STACK_RESERVE);
        assert_eq!(f.basis, Basis::Measured);
        // 6.4 M instructions at 1.58 cycles each, 64 MHz.
        assert!((f.latency.unwrap().ms - 158.0).abs() < 1e-9);
        assert!(measured(nano, &size, None).latency.is_none());
    }
}
