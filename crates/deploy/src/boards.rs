//! The boards the firmware builds for, with the numbers that decide whether
//! a model fits and how fast it runs there.

use std::fmt;

/// A file the build produces for flashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// The linked ELF (probe-rs, debuggers, QEMU).
    Elf,
    /// Raw flash image from the board's first flash address (bossac, drag-and-drop loaders).
    Bin,
    /// Intel HEX with addresses (nRF tools, most programmers).
    Hex,
    /// USB Flashing Format, for the RP2040's boot ROM mass-storage mode.
    Uf2,
}

impl ArtifactKind {
    pub fn extension(self) -> &'static str {
        match self {
            ArtifactKind::Elf => "elf",
            ArtifactKind::Bin => "bin",
            ArtifactKind::Hex => "hex",
            ArtifactKind::Uf2 => "uf2",
        }
    }
}

/// The processor core, which decides the instruction set and so which
/// kernels run and whether the emulated M4's counts say anything about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cpu {
    /// Armv7E-M with the DSP extension (SMLAD) and single-precision FPU.
    CortexM4F,
    /// Armv6-M: Thumb-1 only, no DSP instructions, single-cycle multiplier.
    CortexM0Plus,
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cpu::CortexM4F => "Cortex-M4F",
            Cpu::CortexM0Plus => "Cortex-M0+",
        })
    }
}

/// One build target of the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Stable identifier (URLs, job payloads, artifact names).
    pub name: &'static str,
    /// For people.
    pub title: &'static str,
    pub cpu: Cpu,
    /// Rust target triple.
    pub target: &'static str,
    /// Cargo features of `crates/firmware` selecting the board.
    pub features: &'static str,
    /// First flash address available to the application.
    pub flash_origin: u64,
    /// Flash available to the application, bytes.
    pub flash_bytes: u64,
    pub ram_bytes: u64,
    /// Core clock the firmware runs at.
    pub clock_hz: u64,
    pub artifacts: &'static [ArtifactKind],
    /// Runs under QEMU here (the others only build).
    pub emulated: bool,
    /// How to get the firmware onto the board.
    pub flashing: &'static str,
}

/// Every supported board.
pub static BOARDS: &[Board] = &[
    Board {
        name: "mps2-an386",
        title: "Arm MPS2 AN386 (Cortex-M4, emulated by QEMU)",
        cpu: Cpu::CortexM4F,
        target: "thumbv7em-none-eabihf",
        features: "mps2-an386",
        flash_origin: 0,
        // The emulated board has 4 MB; the memory layout gives the firmware
        // the Nano 33 BLE's 1 MB / 256 KB so that running here means fitting there.
        flash_bytes: 1024 * 1024,
        ram_bytes: 256 * 1024,
        clock_hz: 25_000_000,
        artifacts: &[ArtifactKind::Elf, ArtifactKind::Bin],
        emulated: true,
        flashing: "qemu-system-arm -M mps2-an386 -cpu cortex-m4 -icount shift=0 -nographic -semihosting-config enable=on,target=native -kernel firmware.elf (the camera takes its photos from tinystudio-camera.frames in the working directory)",
    },
    Board {
        name: "nano33ble",
        title: "Arduino Nano 33 BLE (nRF52840, Cortex-M4F 64 MHz), flashed with a debug probe",
        cpu: Cpu::CortexM4F,
        target: "thumbv7em-none-eabihf",
        features: "nano33ble",
        flash_origin: 0,
        flash_bytes: 1024 * 1024,
        ram_bytes: 256 * 1024,
        clock_hz: 64_000_000,
        artifacts: &[ArtifactKind::Elf, ArtifactKind::Bin, ArtifactKind::Hex],
        emulated: false,
        flashing: "probe-rs download --chip nRF52840_xxAA firmware.elf (replaces the Arduino bootloader)",
    },
    Board {
        name: "nano33ble-bossac",
        title: "Arduino Nano 33 BLE (nRF52840), keeping the Arduino bootloader (flash over USB with bossac)",
        cpu: Cpu::CortexM4F,
        target: "thumbv7em-none-eabihf",
        features: "nano33ble-bossac",
        flash_origin: 0x1_0000,
        flash_bytes: 960 * 1024,
        ram_bytes: 256 * 1024,
        clock_hz: 64_000_000,
        artifacts: &[ArtifactKind::Elf, ArtifactKind::Bin, ArtifactKind::Hex],
        emulated: false,
        flashing: "double-tap reset, then bossac -d --port=ttyACM0 -U -i -e -w firmware.bin -R (the image starts at 0x10000)",
    },
    Board {
        name: "pico",
        title: "Raspberry Pi Pico (RP2040, Cortex-M0+ 125 MHz)",
        cpu: Cpu::CortexM0Plus,
        target: "thumbv6m-none-eabi",
        features: "pico",
        flash_origin: 0x1000_0000,
        flash_bytes: 2048 * 1024,
        ram_bytes: 264 * 1024,
        clock_hz: 125_000_000,
        artifacts: &[ArtifactKind::Elf, ArtifactKind::Bin, ArtifactKind::Uf2],
        emulated: false,
        flashing: "hold BOOTSEL while plugging in, copy firmware.uf2 to the RPI-RP2 drive (or probe-rs download --chip RP2040 firmware.elf)",
    },
];

/// The emulated MPS2 board running the Armv6-M (`thumbv6m-none-eabi`) build
/// of the firmware: how the Pico's kernels are measured without a Pico. The
/// M4 executes the Armv6-M subset, so QEMU counts the Pico build's
/// instructions (not its cycles: the M0+ has a two-stage pipeline, loads and
/// taken branches cost two cycles). Not in [`BOARDS`]: nobody deploys it.
pub static MPS2_AN386_ARMV6M: Board = Board {
    name: "mps2-an386-armv6m",
    title: "Arm MPS2 AN386 running the Cortex-M0+ (Armv6-M) build, emulated by QEMU",
    cpu: Cpu::CortexM0Plus,
    target: "thumbv6m-none-eabi",
    features: "mps2-an386",
    flash_origin: 0,
    flash_bytes: 1024 * 1024,
    ram_bytes: 256 * 1024,
    clock_hz: 25_000_000,
    artifacts: &[ArtifactKind::Elf],
    emulated: true,
    flashing: "qemu-system-arm -M mps2-an386 -cpu cortex-m4 -icount shift=0 -nographic -semihosting-config enable=on,target=native -kernel firmware.elf",
};

/// The board called `name`.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// The board that runs under QEMU.
pub fn emulated() -> &'static Board {
    BOARDS.iter().find(|b| b.emulated).unwrap_or(&BOARDS[0])
}
