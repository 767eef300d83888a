//! The Arduino Tiny Machine Learning Kit's OV7675 on the Nano 33 BLE Sense.
//!
//! All register work is `tinystudio_device::ports::nrf52840` (pins as the
//! kit's shield wires them, XCLK at 16 MHz from the I2S master clock, SCCB
//! on TWIM0, the video port from P0 and P1 IN), which the host tests run
//! against a simulated nRF52840 and sensor. This file opens it at boot with
//! the board's registers and masks interrupts around a capture.
//!
//! The shield uses the Nano's D0 and D1 (P1.03 and P1.10, the UART's TX and
//! RX) for two of the camera's data lines: while UARTE0 is connected there
//! the port refuses and the board runs without a camera, answering frames
//! over the UART as before. With the shield, talk to the board over USB.

use tinystudio_device::camera::{Camera, Frame};
use tinystudio_device::ov7675::{self, Config, Resolution};
use tinystudio_device::ports::Mmio;
use tinystudio_device::ports::nrf52840::{self, ShieldCamera, TwimError};

use super::{Board, CoreDelay, say};
use crate::config;

/// The shield's camera, ready to capture.
pub struct ShieldOv7675(ShieldCamera<Mmio, CoreDelay>);

/// Opens the camera (about 1.1 s: the sensor's power-up wait and its
/// set-up), printing one line: that it is ready, or why there is none.
pub fn open<B: Board>(board: &mut B) -> Option<ShieldOv7675> {
    if config::CAMERA_INTERVAL_MS == 0 {
        say(
            board,
            format_args!(
                "camera: none: the camera loop is built out (TINYSTUDIO_CAMERA_INTERVAL_MS=0)"
            ),
        );
        return None;
    }
    // SAFETY: this is the nRF52840; the port reads UARTE0/1 and the GPIO
    // input registers and writes only the camera pins' PIN_CNF, I2S and
    // TWIM0, which nothing else in this firmware uses.
    let regs = unsafe { Mmio::new() };
    let delay = CoreDelay { hz: B::CPU_HZ };
    let setup = Config {
        // The camera loop's frame (`tinystudio_device::camera::LOOP_FRAME`)
        // at the Arduino library's 1 fps for this board.
        resolution: Resolution::Qqvga,
        fps: 1,
        ..Config::default()
    };
    match nrf52840::open(regs, delay, setup) {
        Ok(camera) => {
            say(
                board,
                format_args!("camera: OV7675 on the shield, QQVGA RGB565 at 1 fps"),
            );
            Some(ShieldOv7675(camera))
        }
        Err(e) => {
            say(board, format_args!("camera: none: {e}"));
            None
        }
    }
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
