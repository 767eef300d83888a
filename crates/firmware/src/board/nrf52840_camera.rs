//! The Arduino Tiny Machine Learning Kit's OV7675 on the Nano 33 BLE Sense.
//!
//! All register work is `tinystudio_device::ports::nrf52840` (pins as the
//! kit's shield wires them, XCLK at 16 MHz from the I2S master clock, SCCB
//! on TWIM0, the video port from P0 and P1 IN), which the host tests run
//! against a simulated nRF52840 and sensor. This file opens it at boot with
//! the board's registers and masks interrupts around a capture.
//!
//! The shield uses the Nano's D0 and D1 (P1.03 and P1.10, the UART's TX and
//! RX) for two of the camera's data lines, so the board opens the camera
//! before its UART: with the shield it talks over USB only; without it the
//! UART is connected as before.

use tinystudio_device::camera::{Camera, Frame};
use tinystudio_device::ov7675::{self, Config, Resolution};
use tinystudio_device::ports::nrf52840::{self, ShieldCamera, TwimError};
use tinystudio_device::ports::{Mmio, OpenError};

use super::CoreDelay;
use crate::config;

/// The shield's camera, ready to capture.
pub struct ShieldOv7675(ShieldCamera<Mmio, CoreDelay>);

/// Why the board has no camera, for its one boot line.
pub enum Absent {
    BuiltOut,
    Port(OpenError<TwimError>),
}

impl core::fmt::Display for Absent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Absent::BuiltOut => f.write_str(
                "camera: none: the camera loop is built out (TINYSTUDIO_CAMERA_INTERVAL_MS=0)",
            ),
            Absent::Port(e) => write!(f, "camera: none: {e}"),
        }
    }
}

/// The boot line of a board whose camera opened.
pub const READY: &str = "camera: OV7675 on the shield, QQVGA RGB565 at 1 fps";

/// Opens the camera (about 1.1 s: the sensor's power-up wait and its
/// set-up). The board prints [`READY`] or why there is none once it knows
/// which serial ports it has.
pub fn open(cpu_hz: u32) -> Result<ShieldOv7675, Absent> {
    if config::CAMERA_INTERVAL_MS == 0 {
        return Err(Absent::BuiltOut);
    }
    // SAFETY: this is the nRF52840; the port reads UARTE0/1 and the GPIO
    // input registers and writes only the camera pins' PIN_CNF, I2S and
    // TWIM0, which nothing else in this firmware uses.
    let regs = unsafe { Mmio::new() };
    let delay = CoreDelay { hz: cpu_hz };
    let setup = Config {
        // The camera loop's frame (`tinystudio_device::camera::LOOP_FRAME`)
        // at the Arduino library's 1 fps for this board.
        resolution: Resolution::Qqvga,
        fps: 1,
        ..Config::default()
    };
    nrf52840::open(regs, delay, setup)
        .map(ShieldOv7675)
        .map_err(Absent::Port)
}

impl Camera for ShieldOv7675 {
    type Error = ov7675::Error<TwimError>;

    /// With interrupts masked, as the Arduino library's `readFrame`: the
    /// driver polls PCLK in tight loops, and an interrupt (USB's, once the
    /// board talks over USB) that outlasts a pixel clock period would make
    /// it miss a byte and shift the rest of the row.
    fn capture(&mut self, buffer: &mut [u8]) -> Result<Frame, Self::Error> {
        cortex_m::interrupt::free(|_| self.0.capture_into(buffer))
    }
}
