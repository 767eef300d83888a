//! What a model needs on a board (flash, RAM, time per inference), in one
//! shape whether it was estimated before a build or measured after one, so
//! every page shows the same quantities with their origin beside them.
//! `tinystudio_deploy::footprint` computes them.

use serde::{Deserialize, Serialize};

/// Where a number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Computed from the model before building.
    Estimated,
    /// Read off a build (the linked firmware) or a run (the emulated board).
    Measured,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Estimated => "estimated",
            Basis::Measured => "measured",
        }
    }
}

/// A model on a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Footprint {
    pub board: String,
    /// Of the flash and RAM figures.
    pub basis: Basis,
    /// The model plus the firmware's code and constants.
    pub flash_bytes: u64,
    pub flash_limit: u64,
    /// Of `flash_bytes`: the model.
    pub model_bytes: u64,
    /// Static RAM (the tensor arena, buffers) plus the stack the firmware keeps free.
    pub ram_bytes: u64,
    pub ram_limit: u64,
    /// Of `ram_bytes`: the tensor arena.
    pub arena_bytes: u64,
    /// Of `ram_bytes`: the stack reserve.
    pub stack_reserve: u64,
    /// The deepest stack of an inference, measured on the emulated board.
    pub stack_used: Option<u64>,
    /// `None` where nothing here can tell (a core the emulator does not run).
    pub latency: Option<Latency>,
}

impl Footprint {
    pub fn fits(&self) -> bool {
        self.flash_bytes <= self.flash_limit && self.ram_bytes <= self.ram_limit
    }
}

/// Time of one inference on a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub ms: f64,
    /// Instructions of one inference on the Cortex-M4.
    pub instructions: u64,
    /// Estimated core cycles of those instructions on a Cortex-M4 (what
    /// `ms` is computed from); 0 in results stored before cycles were.
    #[serde(default)]
    pub cycles: u64,
    pub basis: Basis,
    /// How the number was obtained and what it assumes, for people.
    pub how: String,
}

/// Flash and RAM of a linked firmware (a build's size report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareSize {
    /// Bytes written to flash: code, constants, the model.
    pub flash_used: u64,
    pub flash_limit: u64,
    /// Of `flash_used`: the model blob.
    pub model_bytes: u64,
    /// Of `flash_used`: everything else.
    pub code_bytes: u64,
    /// RAM taken by statics.
    pub ram_static: u64,
    pub ram_limit: u64,
    /// Of `ram_static`: the tensor arena.
    pub arena_bytes: u64,
    /// RAM left for the stack.
    pub stack_available: u64,
    /// Within flash, with the stack reserve left free.
    pub fits: bool,
}

/// One inference of a build on the emulated board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Instructions of the inference alone (not the pixel mapping).
    pub instructions: u64,
    /// The deepest stack, in bytes.
    pub stack_used: Option<u64>,
}
