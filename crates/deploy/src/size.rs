//! Flash and RAM of a linked firmware, read off its ELF ([`SizeReport`]);
//! the estimate before building is `footprint::check_fits`.

use std::fmt;

use tinystudio_domain::footprint::FirmwareSize;

use crate::artifacts::ElfImage;
use crate::boards::Board;
use crate::footprint::{STACK_RESERVE, kb};

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
            // The firmware's arena (the blob's plan and room for the
            // kernels' scratch), or the blob's plan for an ELF without it.
            arena_bytes: elf
                .symbol_size(ARENA_SYMBOL)
                .unwrap_or_else(|| tinystudio_engine::blob::arena_size_const(blob) as u64),
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

    /// The figures the studio keeps with a deployment.
    pub fn firmware_size(&self) -> FirmwareSize {
        FirmwareSize {
            flash_used: self.flash_used,
            flash_limit: self.flash_limit,
            model_bytes: self.model_bytes,
            code_bytes: self.code_bytes,
            ram_static: self.ram_static,
            ram_limit: self.ram_limit,
            arena_bytes: self.arena_bytes,
            stack_available: self.stack_available,
            fits: self.fits(),
        }
    }
}

/// The firmware's tensor arena (`crates/firmware/src/main.rs`).
pub const ARENA_SYMBOL: &str = "tinystudio_arena";

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
