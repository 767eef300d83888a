//! Will a model fit on a board? Estimated from the blob before building
//! ([`check_fits`]) and measured from the linked ELF after ([`SizeReport`]).

use std::fmt;

use tinystudio_engine::ModelView;

use crate::artifacts::ElfImage;
use crate::boards::{Board, Cpu};

/// Stack kept free beyond everything static. The deepest stack measured on
/// the emulated M4 with MobileNetV1 is 23 KB: the Cortex-M4 kernels keep
/// their scratch on the stack (a block of widened weights of up to 16 KB,
/// a widened input band of up to 8 KB, never both at once); the portable
/// kernels of the M0+ need about 4 KB.
pub const STACK_RESERVE: u64 = 32 * 1024;

/// Flash for everything but the model (engine, kernels, start-up, strings),
/// an upper bound of what the firmware measures per instruction set
/// (`code_bytes` of [`SizeReport`]), rounded up.
pub fn code_estimate(cpu: Cpu) -> u64 {
    match cpu {
        Cpu::CortexM4F => 96 * 1024,
        Cpu::CortexM0Plus => 96 * 1024,
    }
}

/// RAM for everything but the arena and the stack (DMA buffers, counters,
/// alignment padding), an upper bound.
pub const STATIC_RAM_ESTIMATE: u64 = 1024;

/// What a model needs on a board, before building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeEstimate {
    pub board: &'static str,
    pub model_bytes: u64,
    pub code_bytes: u64,
    pub flash_needed: u64,
    pub flash_limit: u64,
    pub arena_bytes: u64,
    pub stack_reserve: u64,
    pub ram_needed: u64,
    pub ram_limit: u64,
    /// Input tensor `[h, w, c]`.
    pub input: [usize; 3],
}

/// Why a model cannot go on a board, and what would make it fit.
#[derive(Debug, Clone, PartialEq)]
pub struct DoesNotFit {
    pub estimate: SizeEstimate,
    pub suggestion: String,
}

impl fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.estimate;
        write!(
            f,
            "the model does not fit on {}: flash {} of {} (model {}, code {}), RAM {} of {} \
             (tensor arena {}, stack {}). {}",
            e.board,
            kb(e.flash_needed),
            kb(e.flash_limit),
            kb(e.model_bytes),
            kb(e.code_bytes),
            kb(e.ram_needed),
            kb(e.ram_limit),
            kb(e.arena_bytes),
            kb(e.stack_reserve),
            self.suggestion
        )
    }
}

impl std::error::Error for DoesNotFit {}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Checks a model blob against a board's flash and RAM before building, so
/// the studio can refuse early with a concrete suggestion.
pub fn check_fits(board: &Board, blob: &[u8]) -> Result<SizeEstimate, crate::error::Error> {
    let view = ModelView::parse(blob)?;
    let s = view.input()?.shape4();
    let code = code_estimate(board.cpu);
    let arena = view.arena_size() as u64;
    let estimate = SizeEstimate {
        board: board.name,
        model_bytes: blob.len() as u64,
        code_bytes: code,
        flash_needed: blob.len() as u64 + code,
        flash_limit: board.flash_bytes,
        arena_bytes: arena,
        stack_reserve: STACK_RESERVE,
        ram_needed: arena + STATIC_RAM_ESTIMATE + STACK_RESERVE,
        ram_limit: board.ram_bytes,
        input: [s.h, s.w, s.c],
    };
    if estimate.flash_needed <= estimate.flash_limit && estimate.ram_needed <= estimate.ram_limit {
        return Ok(estimate);
    }
    let suggestion = suggest(&estimate);
    Err(DoesNotFit {
        estimate,
        suggestion,
    }
    .into())
}

/// What to change in the impulse: MobileNet weights grow with the square of
/// the width multiplier (alpha) and do not depend on the input size; the
/// arena (activations) grows with the input area, with alpha, and with the
/// input channels for the first layers.
fn suggest(e: &SizeEstimate) -> String {
    let mut out = Vec::new();
    if e.flash_needed > e.flash_limit {
        let room = e.flash_limit.saturating_sub(e.code_bytes) as f64;
        let shrink = e.model_bytes as f64 / room.max(1.0);
        out.push(format!(
            "The weights must shrink {shrink:.2}x: choose a smaller width multiplier (alpha; \
             weights grow with alpha squared, so alpha x {:.2} or less), or fewer neurons in \
             the classifier head.",
            1.0 / shrink.sqrt()
        ));
    }
    if e.ram_needed > e.ram_limit {
        let room = e
            .ram_limit
            .saturating_sub(STATIC_RAM_ESTIMATE + e.stack_reserve) as f64;
        let shrink = e.arena_bytes as f64 / room.max(1.0);
        let [h, w, c] = e.input;
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

/// Flash and RAM of a linked firmware, by what uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeReport {
    pub board: &'static str,
    /// Bytes written to flash (code, constants, the model, `.data`'s initial values).
    pub flash_used: u64,
    pub flash_limit: u64,
    /// Of `flash_used`: the model blob.
    pub model_bytes: u64,
    /// Of `flash_used`: everything else (code, tables, vectors, boot2).
    pub code_bytes: u64,
    /// RAM taken by statics (`.data`, `.bss`, `.uninit`).
    pub ram_static: u64,
    pub ram_limit: u64,
    /// Of `ram_static`: the tensor arena.
    pub arena_bytes: u64,
    /// RAM left for the stack (`ram_limit - ram_static`).
    pub stack_available: u64,
    /// Allocated sections: (name, address, size).
    pub sections: Vec<(String, u64, u64)>,
}

impl SizeReport {
    pub fn from_elf(board: &Board, elf: &ElfImage, blob: &[u8]) -> SizeReport {
        let ram = RAM_ORIGIN..RAM_ORIGIN + board.ram_bytes;
        let flash_used: u64 = elf
            .sections
            .iter()
            .filter(|s| s.has_contents)
            .map(|s| s.size)
            .sum();
        let ram_static: u64 = elf
            .sections
            .iter()
            .filter(|s| ram.contains(&s.address))
            .map(|s| s.size)
            .sum();
        let model_bytes = blob.len() as u64;
        SizeReport {
            board: board.name,
            flash_used,
            flash_limit: board.flash_bytes,
            model_bytes,
            code_bytes: flash_used.saturating_sub(model_bytes),
            ram_static,
            ram_limit: board.ram_bytes,
            arena_bytes: tinystudio_engine::blob::arena_size_const(blob) as u64,
            stack_available: board.ram_bytes.saturating_sub(ram_static),
            sections: elf
                .sections
                .iter()
                .map(|s| (s.name.clone(), s.address, s.size))
                .collect(),
        }
    }

    /// Within flash, and at least [`STACK_RESERVE`] left for the stack.
    pub fn fits(&self) -> bool {
        self.flash_used <= self.flash_limit && self.stack_available >= STACK_RESERVE
    }
}

/// SRAM starts here on every supported board.
const RAM_ORIGIN: u64 = 0x2000_0000;

impl fmt::Display for SizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
        writeln!(
            f,
            "{}: flash {} of {} ({:.1} %): model {}, code and constants {}",
            self.board,
            kb(self.flash_used),
            kb(self.flash_limit),
            pct(self.flash_used, self.flash_limit),
            kb(self.model_bytes),
            kb(self.code_bytes)
        )?;
        write!(
            f,
            "{}: RAM {} static of {} ({:.1} %): tensor arena {}, other statics {}; {} left for the stack",
            self.board,
            kb(self.ram_static),
            kb(self.ram_limit),
            pct(self.ram_static, self.ram_limit),
            kb(self.arena_bytes),
            kb(self.ram_static.saturating_sub(self.arena_bytes)),
            kb(self.stack_available)
        )
    }
}
